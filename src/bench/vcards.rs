//! Contacts for the load generator: generated (deterministic, about the
//! size and shape of real address-book entries: several scripts, phones in
//! different formats, some with a note) or read from a vdir / .vcf file.
//!
//! Deterministic so that two runs, or the seeding client and the server's
//! prepared book, hold the same cards: slow-sync matching then pairs them.

use std::path::Path;

use crate::ops::import_export;

const GIVEN: [&str; 24] = [
    "Anna", "Ben", "Chloé", "David", "Emma", "Felix", "Greta", "Hiro", "Ivan", "Julia", "Kenji",
    "Lena", "Mia", "Noah", "Olga", "Paul", "Qing", "Rosa", "Sven", "Tomás", "Ute", "Vera", "Wei",
    "Yuki",
];
const FAMILY: [&str; 24] = [
    "Müller", "Schmidt", "Dubois", "García", "Rossi", "Nowak", "Ivanova", "Tanaka", "Suzuki",
    "Wang", "Li", "Smith", "Johnson", "Brown", "Petrov", "Kowalski", "Novak", "Jensen", "Silva",
    "Costa", "Fischer", "Weber", "Moreau", "Sato",
];
const ORGS: [&str; 8] = [
    "Acme GmbH",
    "Globex Ltd",
    "Initech",
    "Umbrella SA",
    "北京科技有限公司",
    "ООО «Ромашка»",
    "Stark Industries",
    "Hooli",
];
const CITIES: [&str; 8] = [
    "Berlin", "Lyon", "Madrid", "Osaka", "Shanghai", "Kazan", "Boston", "Porto",
];

/// A small, fast, deterministic generator (xorshift64*): no dependency and
/// the same cards on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

/// Card `index` of the generated set `seed` (vCard 3.0, CRLF, about
/// 300–450 bytes). Distinct indexes give distinct contacts.
pub fn generated(seed: u64, index: u64) -> String {
    let mut r = Rng::new(seed ^ index.wrapping_mul(0x0100_0000_01B3));
    let given = r.pick(&GIVEN);
    let family = r.pick(&FAMILY);
    let org = r.pick(&ORGS);
    let city = r.pick(&CITIES);
    let mut card = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{family};{given};;;\r\nFN:{given} {family} {index}\r\n\
         TEL;TYPE=CELL:+49 1{} {}\r\nTEL;TYPE=WORK:0{}-{}\r\n\
         EMAIL;TYPE=INTERNET:{}.{}{index}@example.org\r\nORG:{org}\r\nTITLE:Engineer\r\n\
         ADR;TYPE=HOME:;;Hauptstraße {};{city};;{};\r\n",
        r.digits(2),
        r.digits(8),
        r.digits(3),
        r.digits(6),
        given.to_lowercase(),
        family.to_lowercase(),
        1 + r.next() % 200,
        r.digits(5),
    );
    if r.next().is_multiple_of(3) {
        card.push_str("NOTE:Met at the conference\\, call back about the offer.\r\n");
    }
    card.push_str("END:VCARD\r\n");
    card
}

/// `count` cards: generated, or cycled from `source` (the `n`-th pass over
/// it gets a distinguishing NOTE so every card stays a distinct contact).
pub fn book(seed: u64, count: usize, source: Option<&[String]>) -> Vec<String> {
    match source.filter(|s| !s.is_empty()) {
        None => (0..count as u64).map(|i| generated(seed, i)).collect(),
        Some(src) => (0..count)
            .map(|i| {
                let card = &src[i % src.len()];
                match i / src.len() {
                    0 => card.clone(),
                    pass => with_note(card, &format!("copy {pass}")),
                }
            })
            .collect(),
    }
}

/// Read the cards of a vdir or a multi-vCard file.
pub fn read(path: &Path) -> Result<Vec<String>, import_export::VcfError> {
    import_export::read_cards(path)
}

/// The card with a NOTE line (before END:VCARD) replaced or added: an edit
/// the peer sees as a real content change.
pub fn with_note(card: &str, note: &str) -> String {
    let mut out = String::with_capacity(card.len() + note.len() + 8);
    for line in card.split_inclusive('\n') {
        let upper = line.trim_end().to_ascii_uppercase();
        if upper.starts_with("NOTE:") || upper.starts_with("NOTE;") {
            continue;
        }
        if upper == "END:VCARD" {
            out.push_str("NOTE:");
            out.push_str(note);
            out.push_str("\r\n");
        }
        out.push_str(line);
    }
    out
}

/// The same contact as a phone that stores vCard 2.1 writes it (another
/// version, parameter syntax, QUOTED-PRINTABLE for non-ASCII): different
/// bytes, same content. `None` if the card does not parse.
pub fn as_vcard21(card: &str) -> Option<String> {
    let parsed = crate::contacts::Card::parse(card).ok()?;
    Some(crate::contacts::render(&parsed, crate::contacts::VCardVersion::V21).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_rewritten_as_21_is_other_bytes_with_the_same_content() {
        let card = generated(1, 3);
        let other = as_vcard21(&card).unwrap();
        assert_ne!(other, card);
        assert!(other.contains("VERSION:2.1"));
        assert!(crate::contacts::same_content(&card, &other));
    }

    #[test]
    fn generated_cards_are_stable_distinct_vcards() {
        let a = generated(1, 7);
        assert_eq!(a, generated(1, 7));
        assert_ne!(a, generated(1, 8));
        assert!(crate::contacts::is_vcard(&a), "{a}");
        let sizes: Vec<usize> = (0..100).map(|i| generated(1, i).len()).collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((250..500).contains(&mean), "mean size {mean}");
    }

    #[test]
    fn notes_are_replaced_and_copies_differ() {
        let c = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nNOTE:x\r\nEND:VCARD\r\n";
        assert_eq!(
            with_note(c, "y"),
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nNOTE:y\r\nEND:VCARD\r\n"
        );
        let src = vec![c.to_owned()];
        let b = book(0, 3, Some(&src));
        assert_eq!(b[0], c);
        assert_ne!(b[1], b[2]);
    }
}
