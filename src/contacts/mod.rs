//! Contact content helpers used by the engine.
//!
//! For now this is the minimal identity needed so a slow sync of data both
//! sides already have creates no duplicates: two vCards are "the same" when
//! their properties are equal after unfolding, ignoring property order and
//! the properties that differ between peers for reasons that are not data
//! (VERSION, PRODID, REV, UID, X-EVOLUTION-FILE-AS, empty values). The
//! contacts issue replaces this with real vCard parsing, normalised
//! identities and fuzzy matching behind the same functions.

use std::hash::{DefaultHasher, Hash, Hasher};

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

/// Canonical property lines of a vCard for comparison.
pub fn canonical_lines(data: &str) -> Vec<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for raw in data.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix([' ', '\t']) {
            if let Some(last) = unfolded.last_mut() {
                last.push_str(rest);
                continue;
            }
        }
        if !line.is_empty() {
            unfolded.push(line.to_owned());
        }
    }
    let mut out: Vec<String> = unfolded
        .into_iter()
        .filter_map(|l| {
            let (head, value) = l.split_once(':')?;
            let mut parts = head.split(';');
            let name = parts.next()?.rsplit('.').next()?.to_ascii_uppercase();
            if matches!(
                name.as_str(),
                "VERSION" | "PRODID" | "REV" | "UID" | "X-EVOLUTION-FILE-AS"
            ) {
                return None;
            }
            if value.trim().is_empty() || value.chars().all(|c| c == ';' || c == ',') {
                return None;
            }
            let mut params: Vec<String> = parts.map(|p| p.to_ascii_uppercase()).collect();
            params.sort();
            Some(format!("{name};{}:{value}", params.join(";")))
        })
        .collect();
    out.sort();
    out
}

/// Equal in content (see the module doc).
pub fn same_content(a: &str, b: &str) -> bool {
    a == b || canonical_lines(a) == canonical_lines(b)
}

/// A hash of [`canonical_lines`], the key of the slow-sync match index.
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
}
