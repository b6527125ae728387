//! Contacts: the vCard codec, normalised identity, slow-sync matching,
//! field merge and output format choice.
//!
//! * [`vcard`]: [`Card`] parses 2.1/3.0/4.0 losslessly and writes any
//!   version (docs/vcard.md).
//! * [`normalize`]: name/phone/email keys.
//! * [`matching`]: [`MatchIndex`], the slow-sync matcher (docs/matching.md).
//! * [`merge`]: field-level merge and "absent is not deleted".
//! * [`format`]: the version a peer gets.
//!
//! The four functions below are what the engine used before this library
//! existed; they keep their names and meaning on top of the parser.

pub mod canonical;
pub mod error;
pub mod format;
pub mod matching;
pub mod merge;
pub mod normalize;
pub mod vcard;

use std::hash::{DefaultHasher, Hash, Hasher};

pub use error::VCardError;
pub use format::{preferred_output, render};
pub use matching::{Match, MatchIndex, Probe, Taken, content_fingerprint};
pub use merge::{MergePolicy, Merged, PropertySet, apply_absent_is_not_deleted, merge};
pub use normalize::Region;
pub use vcard::{Card, Param, Property, VCardVersion, Value};

/// Does `data` look like one vCard? (BEGIN:VCARD … END:VCARD)
pub fn is_vcard(data: &str) -> bool {
    let t = data.trim();
    let head = t
        .get(..11)
        .map(|s| s.eq_ignore_ascii_case("BEGIN:VCARD"))
        .unwrap_or(false);
    let tail = t.len() >= 9
        && t.get(t.len() - 9..)
            .map(|s| s.eq_ignore_ascii_case("END:VCARD"))
            .unwrap_or(false);
    head && tail
}

/// Canonical property lines of a vCard for comparison (see [`canonical`]):
/// equal for the same content written as 2.1, 3.0 or 4.0.
pub fn canonical_lines(data: &str) -> Vec<String> {
    match Card::parse(data) {
        Ok(c) => canonical::lines(&c),
        Err(_) => canonical::raw_lines(data),
    }
}

/// Equal in content (see [`canonical`]).
pub fn same_content(a: &str, b: &str) -> bool {
    a == b || canonical_lines(a) == canonical_lines(b)
}

/// A hash of [`canonical_lines`].
pub fn identity_key(data: &str) -> u64 {
    let mut h = DefaultHasher::new();
    canonical_lines(data).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alice Anders\r\nN:Anders;Alice;;;\r\nTEL;TYPE=CELL:+49-555-0101\r\nEND:VCARD\r\n";

    #[test]
    fn same_person_written_differently_is_same_content() {
        let b = "BEGIN:VCARD\nVERSION:3.0\nPRODID:-//Synthesis AG//x\nREV:20100328T103410Z\nN:Anders;Alice;;;\nTITLE:\nFN:Alice\n  Anders\ntel;type=CELL:+49-555-0101\nEND:VCARD\n";
        assert!(same_content(A, b));
        assert_eq!(identity_key(A), identity_key(b));
        let c21 = "BEGIN:VCARD\nVERSION:2.1\nN:Anders;Alice\nFN:Alice Anders\nTEL;CELL:+49-555-0101\nEND:VCARD\n";
        assert!(same_content(A, c21));
    }

    #[test]
    fn different_data_differs() {
        let b = A.replace("0101", "0102");
        assert!(!same_content(A, &b));
        assert_ne!(identity_key(A), identity_key(&b));
    }

    #[test]
    fn recognises_vcards() {
        assert!(is_vcard(A));
        assert!(!is_vcard("BEGIN:VCARD\r\nFN:x\r\n"));
        assert!(!is_vcard(""));
    }

    #[test]
    fn unparseable_text_still_compares() {
        let bad = "BEGIN:VCARD\nT L:x\nEND:VCARD\n";
        assert!(same_content(bad, "BEGIN:VCARD\r\nT L:x\r\nEND:VCARD\r\n"));
        assert!(!same_content(bad, A));
    }
}
