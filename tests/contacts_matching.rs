//! The matching corpus: a slow sync of perturbed copies of the contacts-1k
//! people (phone formats, case, spacing, name order, 2.1 vs 3.0, fields
//! missing on one side) plus different people who share a name with one
//! of them, against the originals. Done when: 0 duplicates, 0 false merges.

mod contacts_support;

use std::collections::HashSet;

use syncmld::contacts::{Card, MatchIndex, Property, Region, VCardVersion, Value};

use contacts_support::corpus;

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The same number written another way (the subscriber digits stay).
fn reformat_phone(raw: &str, rng: &mut Rng) -> String {
    let (main, ext) = match raw.find(['x', 'X']) {
        Some(i) => (&raw[..i], &raw[i..]),
        None => (raw, ""),
    };
    let plus = main.trim_start().starts_with('+');
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let grouped = |sep: &str, n: usize| {
        digits
            .as_bytes()
            .chunks(n)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(sep)
    };
    let national = phonenumber::parse(None, main)
        .ok()
        .map(|n| n.format().mode(phonenumber::Mode::National).to_string());
    let out = match rng.below(5) {
        // +4930123 → 004930123 (international prefix instead of '+')
        0 if plus => format!("00{digits}"),
        // national form of an international number ("030 1234567")
        1 if national.is_some() => national.unwrap_or_default(),
        2 => format!("{}{}", if plus { "+" } else { "" }, grouped(" ", 3)),
        3 => format!("{}{}", if plus { "+" } else { "" }, grouped("-", 4)),
        _ => format!("{}{digits}", if plus { "+" } else { "" }),
    };
    format!("{out}{ext}")
}

fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn name_variant(card: &Card, rng: &mut Rng) -> Option<String> {
    let n = card.first("N")?;
    let (family, given) = (n.component(0), n.component(1));
    let cjk = family
        .chars()
        .chain(given.chars())
        .any(|c| c as u32 >= 0x3000);
    Some(match rng.below(5) {
        0 if cjk => format!("{family} {given}"),
        0 => format!("{family}, {given}"),
        1 => format!("  {}   {} ", given.to_uppercase(), family.to_lowercase()),
        2 if !cjk => fullwidth(&format!("{given} {family}")),
        3 => format!(
            "{}{}",
            given.to_lowercase(),
            if cjk { family } else { format!(" {family}") }
        ),
        _ => card.first("FN").map(Property::text).unwrap_or_default(),
    })
}

fn is_contact(p: &Property) -> bool {
    p.name == "TEL" || p.name == "EMAIL"
}

/// A copy of the same person as another device would send it.
fn perturb(orig: &Card, rng: &mut Rng) -> Card {
    let mut c = orig.clone();
    // Some copies differ only in version: identical content.
    if rng.chance(15) {
        return resend(orig, &c);
    }
    // Phones in another format, emails in another case.
    for p in &mut c.props {
        match p.name.as_str() {
            "TEL" => p.value = Value::text(&reformat_phone(&p.text(), rng)),
            "EMAIL" if rng.chance(50) => {
                p.value = Value::text(&format!(" {} ", p.text().to_uppercase()))
            }
            _ => {}
        }
    }
    // Names: other order, case, spacing, width.
    if let Some(fnv) = name_variant(orig, rng) {
        for p in &mut c.props {
            if p.name == "FN" {
                p.value = Value::text(&fnv);
            }
        }
    }
    // Fields missing on one side.
    let contacts = c.props.iter().filter(|p| is_contact(p)).count();
    let mut dropped_contacts = 0;
    let drop_name = rng.below(10);
    c.props.retain(|p| match p.name.as_str() {
        "ORG" | "TITLE" | "NOTE" | "ADR" | "BDAY" | "PHOTO" | "URL" | "UID" => !rng.chance(30),
        "FN" => drop_name != 0,
        "N" => drop_name != 1,
        "TEL" | "EMAIL" => {
            // Keep at least one unless this copy loses them all.
            let drop = contacts - dropped_contacts > 1 && rng.chance(30);
            dropped_contacts += usize::from(drop);
            !drop
        }
        _ => true,
    });
    if rng.chance(5) {
        c.props.retain(|p| !is_contact(p)); // no phones/emails at all
    } else if rng.chance(5) {
        c.props.retain(|p| p.name != "N" && p.name != "FN"); // nameless
    }
    resend(orig, &c)
}

/// `c` sent as the other version than `orig`, read back as the server
/// reads it.
fn resend(orig: &Card, c: &Card) -> Card {
    let v = if orig.version == VCardVersion::V21 {
        VCardVersion::V30
    } else {
        VCardVersion::V21
    };
    let mut sent = c.clone();
    if !sent.props.iter().any(|p| p.name == "N" || p.name == "FN") {
        // The writer would derive a name from ORG; a nameless copy stays
        // nameless as its sender meant.
        sent.props.retain(|p| p.name != "ORG");
    }
    match Card::parse(&sent.to_string_as(v)) {
        Ok(mut back) => {
            if !c.props.iter().any(|p| p.name == "N" || p.name == "FN") {
                back.props.retain(|p| p.name != "N" && p.name != "FN");
            }
            back
        }
        Err(e) => panic!("perturbed copy unreadable: {e}"),
    }
}

/// Someone else with the same name: other phones, other email.
fn namesake(orig: &Card, i: usize, rng: &mut Rng) -> Card {
    let mut c = Card::new(VCardVersion::V30);
    for p in orig.all("N").chain(orig.all("FN")) {
        c.props.push(p.clone());
    }
    let prefix = orig
        .first("TEL")
        .map(|t| t.text())
        .filter(|t| t.starts_with('+'))
        .map(|t| t.chars().take(3).collect::<String>())
        .unwrap_or_else(|| "+49".into());
    for _ in 0..1 + rng.below(2) {
        let number: String = (0..9)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        c.props.push(
            Property::new("TEL", Value::text(&format!("{prefix} {number}")))
                .with_param("TYPE", &["CELL"]),
        );
    }
    if rng.chance(60) {
        c.props.push(Property::new(
            "EMAIL",
            Value::text(&format!("namesake.{i}@example.invalid")),
        ));
    }
    c
}

#[derive(Debug)]
enum Expect {
    Same(String),
    Other,
}

#[test]
fn slow_sync_of_perturbed_copies_has_no_duplicates_and_no_false_merges() {
    let Some(files) = corpus() else { return };
    let mut rng = Rng(0x5EED_C0DE);
    let originals: Vec<(String, Card)> = files
        .iter()
        .map(|(name, b)| match Card::parse_bytes(b) {
            Ok(c) => (name.clone(), c),
            Err(e) => panic!("{name}: {e}"),
        })
        .collect();

    let mut index = MatchIndex::new(Region::new("DE"));
    for (guid, c) in &originals {
        index.insert(guid, c);
    }

    let mut incoming: Vec<(Expect, Card)> = Vec::new();
    for (guid, c) in &originals {
        incoming.push((Expect::Same(guid.clone()), perturb(c, &mut rng)));
    }
    for (i, (_, c)) in originals.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        incoming.push((Expect::Other, namesake(c, i, &mut rng)));
    }
    // Interleave: namesakes must not steal their namesake's slot either.
    for i in (1..incoming.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        incoming.swap(i, j);
    }

    let mut taken: HashSet<String> = HashSet::new();
    let (mut duplicates, mut false_merges, mut exact, mut merged) = (0, 0, 0, 0);
    for (expect, card) in &incoming {
        let found = index.find(card, &taken);
        if let Some(m) = &found {
            taken.insert(m.guid.clone());
        }
        match (expect, found) {
            (Expect::Same(g), Some(m)) if &m.guid == g => {
                if m.exact {
                    exact += 1;
                } else {
                    merged += 1;
                }
            }
            (Expect::Same(g), Some(m)) => {
                false_merges += 1;
                duplicates += 1;
                eprintln!(
                    "copy of {g} matched {}:\n{}",
                    m.guid,
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Same(g), None) => {
                duplicates += 1;
                eprintln!(
                    "copy of {g} not matched:\n{}",
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Other, Some(m)) => {
                false_merges += 1;
                eprintln!(
                    "namesake matched {}:\n{}",
                    m.guid,
                    card.to_string_as(VCardVersion::V30)
                );
            }
            (Expect::Other, None) => {}
        }
    }
    let copies = originals.len();
    let namesakes = incoming.len() - copies;
    println!(
        "matching corpus: {copies} perturbed copies ({exact} identical, {merged} same person), \
         {namesakes} namesakes → duplicates: {duplicates}, false merges: {false_merges}"
    );
    assert_eq!(duplicates, 0, "duplicates");
    assert_eq!(false_merges, 0, "false merges");
}
