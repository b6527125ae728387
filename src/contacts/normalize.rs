//! Normalised identity of a contact: the keys slow-sync matching compares.
//!
//! * Names: NFKC, Unicode case folding, whitespace collapsed; FN and N both
//!   give keys, as a sorted token set (so "Alice Anders", "Anders, Alice"
//!   and N `Anders;Alice` agree) and as the tokens run together (so the CJK
//!   "佐藤くみ子", "佐藤 くみ子" and N `佐藤;くみ子` agree).
//! * Phones: E.164 through `phonenumber` with a default region for numbers
//!   written without a country code, plus the last 8 digits as a fallback
//!   for numbers that do not parse or were written for another region.
//! * Emails: trimmed, `mailto:` dropped, lower-cased.

use std::collections::BTreeSet;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

use super::vcard::{Card, Property};

/// The default region for phone numbers written without a country code,
/// an ISO 3166-1 alpha-2 code such as `DE`, with what its dialling plan
/// needs for the common cases (looked up once, in `phonenumber`'s data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    id: Option<phonenumber::country::Id>,
    /// Country calling code (49).
    code: u16,
    /// International call prefix ("00"), when the region has a single one.
    idd: Option<&'static str>,
    /// National trunk prefix ("0"), when dropping it is all it takes.
    trunk: Option<&'static str>,
}

impl Region {
    /// From an ISO code; an unknown code means "no default region" (then
    /// only numbers with `+` get E.164, the rest the digit fallback).
    pub fn new(code: &str) -> Region {
        let code = code.trim().to_ascii_uppercase();
        let id = phonenumber::country::Id::from_str(&code).ok();
        let meta = id.and_then(|_| phonenumber::metadata::DATABASE.by_id(code.as_str()));
        let Some(meta) = meta else {
            return Region::none();
        };
        let plain = |p: &'static str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        Region {
            id,
            code: meta.country_code(),
            idd: meta.preferred_international_prefix().filter(|p| plain(p)),
            trunk: meta
                .national_prefix()
                .filter(|p| plain(p) && meta.national_prefix_transform_rule().is_none()),
        }
    }

    pub fn none() -> Region {
        Region {
            id: None,
            code: 0,
            idd: None,
            trunk: None,
        }
    }

    /// Was the code known?
    pub fn is_known(&self) -> bool {
        self.id.is_some()
    }
}

/// Characters written without spaces between names: CJK ideographs, kana,
/// hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK ext A
        | 0x4E00..=0x9FFF    // CJK unified
        | 0xF900..=0xFAFF    // compatibility ideographs
        | 0xAC00..=0xD7AF    // hangul syllables
        | 0x20000..=0x2FFFF) // CJK ext B+
}

/// NFKC + case fold + collapsed whitespace.
pub fn fold_text(s: &str) -> String {
    if s.is_ascii() {
        // NFKC is the identity on ASCII and case folding is lower-casing.
        return s
            .split_ascii_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
    }
    let nfkc: String = s.nfkc().collect();
    let folded: String = caseless::default_case_fold_str(&nfkc).nfkc().collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Name tokens: folded, split at whitespace and commas, dots dropped.
fn tokens(s: &str) -> Vec<String> {
    fold_text(s)
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|t| t.replace('.', ""))
        .filter(|t| !t.is_empty())
        .collect()
}

fn add_name_keys(toks: &[String], keys: &mut BTreeSet<String>) {
    if toks.is_empty() {
        return;
    }
    let mut sorted = toks.to_vec();
    sorted.sort();
    keys.insert(format!("s:{}", sorted.join(" ")));
    // Run together only where names are written without spaces; for Latin
    // names it would only add chance collisions ("Ann Alice"/"Anna Lice").
    if toks.iter().any(|t| t.chars().any(is_cjk)) {
        keys.insert(format!("j:{}", toks.concat()));
    }
}

/// The name keys of a card (empty if it has no name).
pub fn name_keys(card: &Card) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for f in card.all("FN") {
        add_name_keys(&tokens(&f.text()), &mut keys);
    }
    for n in card.all("N") {
        let family = tokens(&n.component(0));
        let given = tokens(&n.component(1));
        let additional = tokens(&n.component(2));
        // Western order with and without middle names, and family-first
        // (CJK, and "Family Given" as many phones display it).
        let mut western: Vec<String> = given.clone();
        western.extend(additional.iter().cloned());
        western.extend(family.iter().cloned());
        add_name_keys(&western, &mut keys);
        let mut short = given.clone();
        short.extend(family.iter().cloned());
        add_name_keys(&short, &mut keys);
        let mut eastern = family.clone();
        eastern.extend(given.iter().cloned());
        add_name_keys(&eastern, &mut keys);
    }
    keys
}

/// The keys of one phone number: `e:+4930…` when it parses as a valid
/// number, and `d:<last 8 digits>` (or `d:<all digits>` when shorter).
pub fn phone_keys(raw: &str, region: Region) -> Vec<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return Vec::new();
    }
    let mut keys = Vec::with_capacity(2);
    if let Some(e) = e164(raw, region) {
        keys.push(format!("e:{e}"));
    }
    let tail = &digits[digits.len().saturating_sub(8)..];
    keys.push(format!("d:{tail}"));
    keys
}

/// E.164 form of a number.
///
/// Numbers written with `+` are E.164 already once the formatting and a
/// national trunk `(0)` are dropped; everything else goes through
/// `phonenumber` with the default region. Validity is not checked: a wrong
/// reading (a foreign national number read in the default region) only
/// yields a key no other form of that number shares, and the digit key
/// still matches — while the check would cost as much as the parse.
pub fn e164(raw: &str, region: Region) -> Option<String> {
    let t = raw.trim();
    let t = t
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("tel:"))
        .map_or(t, |_| &t[4..]);
    let main = t.split(['x', 'X', ';', ',']).next().unwrap_or("");
    if let Some(rest) = main.trim_start().strip_prefix('+') {
        let digits: String = rest
            .replace("(0)", "")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        return (7..=15)
            .contains(&digits.len())
            .then(|| format!("+{digits}"));
    }
    // The common national forms without the (slow) general parser:
    // "0049 30 …" and "030/…" in region DE.
    if main
        .bytes()
        .all(|b| b.is_ascii_digit() || b" -/().".contains(&b))
    {
        let digits: String = main.chars().filter(char::is_ascii_digit).collect();
        if let Some(rest) = region.idd.and_then(|p| digits.strip_prefix(p)) {
            return (7..=15).contains(&rest.len()).then(|| format!("+{rest}"));
        }
        if let Some(rest) = region.trunk.and_then(|p| digits.strip_prefix(p))
            && rest.len() >= 4
            && !rest.starts_with('0')
        {
            return Some(format!("+{}{rest}", region.code));
        }
    }
    let n = phonenumber::parse(region.id, main).ok()?;
    let national = n.national();
    let zeros = "0".repeat(usize::from(national.zeros()));
    Some(format!("+{}{zeros}{}", n.code().value(), national.value()))
}

/// Normalised email address.
pub fn email_key(raw: &str) -> Option<String> {
    let t = raw.trim();
    let t = t
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(t, |_| &t[7..]);
    let k = fold_text(t.trim());
    (!k.is_empty()).then(|| format!("m:{k}"))
}

/// What matching compares: name keys and contact (phone/email) keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub names: BTreeSet<String>,
    pub contacts: BTreeSet<String>,
}

impl Identity {
    pub fn of(card: &Card, region: Region) -> Identity {
        let mut contacts = BTreeSet::new();
        for p in card.all("TEL") {
            contacts.extend(phone_keys(&p.text(), region));
        }
        for p in card.all("EMAIL") {
            contacts.extend(email_key(&p.text()));
        }
        Identity {
            names: name_keys(card),
            contacts,
        }
    }

    pub fn shares_name(&self, other: &Identity) -> bool {
        !self.names.is_disjoint(&other.names)
    }

    pub fn shares_contact(&self, other: &Identity) -> bool {
        !self.contacts.is_disjoint(&other.contacts)
    }
}

/// A property's value normalised for de-duplication in merges: phones by
/// E.164 (else digits), emails lower-cased, other text folded.
pub fn value_key(p: &Property, region: Region) -> String {
    let text = p.text();
    match p.name.as_str() {
        "TEL" => match e164(&text, region) {
            Some(e) => e,
            None => text.chars().filter(char::is_ascii_digit).collect(),
        },
        "EMAIL" => email_key(&text).unwrap_or_default(),
        "URL" => fold_text(text.trim_end_matches('/')),
        _ => match &p.value {
            super::vcard::Value::Binary(b) => format!("bin:{}", super::canonical::digest(b)),
            super::vcard::Value::Text(comps) => comps
                .iter()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| fold_text(i))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect::<Vec<_>>()
                .join(";")
                .trim_end_matches(';')
                .to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Card {
        match Card::parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn names_in_every_order_and_script() {
        let a = card("BEGIN:VCARD\nVERSION:3.0\nFN:Alice  ANDERS\nEND:VCARD\n");
        let b = card("BEGIN:VCARD\nVERSION:3.0\nFN:Anders, Alice\nEND:VCARD\n");
        let c = card("BEGIN:VCARD\nVERSION:3.0\nN:Anders;Alice;;;\nEND:VCARD\n");
        let (ka, kb, kc) = (name_keys(&a), name_keys(&b), name_keys(&c));
        assert!(!ka.is_disjoint(&kb) && !ka.is_disjoint(&kc));
        let j1 = card("BEGIN:VCARD\nVERSION:3.0\nFN:佐藤くみ子\nEND:VCARD\n");
        let j2 = card("BEGIN:VCARD\nVERSION:3.0\nN:佐藤;くみ子;;;\nEND:VCARD\n");
        let j3 = card("BEGIN:VCARD\nVERSION:3.0\nFN:佐藤 くみ子\nEND:VCARD\n");
        assert!(!name_keys(&j1).is_disjoint(&name_keys(&j2)));
        assert!(!name_keys(&j1).is_disjoint(&name_keys(&j3)));
        // Full-width and case folding.
        assert_eq!(fold_text("ＳＴＲＡẞE  x"), "strasse x");
        let other = card("BEGIN:VCARD\nVERSION:3.0\nFN:Alice Andersen\nEND:VCARD\n");
        assert!(name_keys(&other).is_disjoint(&ka));
    }

    #[test]
    fn phones_agree_across_formats() {
        let de = Region::new("de");
        let k = |s| phone_keys(s, de);
        let a = k("+49 30 1234567");
        assert_eq!(a[0], "e:+49301234567");
        assert_eq!(k("030/1234567")[0], a[0]);
        assert_eq!(k("0049301234567")[0], a[0]);
        // Written for another region: the digit tail still agrees.
        let ru1 = k("8 (845) 665-8462");
        let ru2 = phone_keys("+7 845 665 8462", Region::none());
        assert!(ru1.iter().any(|x| ru2.contains(x)));
        assert!(k("").is_empty());
    }

    #[test]
    fn emails() {
        assert_eq!(
            email_key(" mailto:Alice@Example.COM ").as_deref(),
            Some("m:alice@example.com")
        );
        assert_eq!(email_key("  "), None);
    }
}
