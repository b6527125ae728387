//! Field-level merge of two versions of one contact, and "absent is not
//! deleted" for peers that cannot store every property.
//!
//! * Multi-valued properties (TEL, EMAIL, ADR, URL, IMPP, LABEL, unknown and
//!   most X- properties) are united, de-duplicated by normalised value
//!   (phones by E.164, emails lower-cased, text folded).
//! * CATEGORIES items are united into one property.
//! * Single-valued properties (N, FN, ORG, BDAY, PHOTO…) come from the
//!   winning side, chosen by the policy; a side that lacks one never
//!   deletes it from the other.
//! * NOTE keeps both texts when they differ (unless one contains the other).
//! * With a `base` (the version both sides last agreed on) a change on one
//!   side only is no conflict: it is taken, deletions included.

use std::collections::{HashMap, HashSet};

use super::canonical;
use super::normalize::{Region, fold_text, value_key};
use super::vcard::{Card, Property, Value};

/// Which side's single-valued properties win when both changed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergePolicy {
    ServerWins,
    ClientWins,
    /// The side with the later REV; the server when REV is missing or equal.
    NewerWins,
}

/// The merge result; `changed_*`: the merged card differs in content from
/// that side's version (so it must be written there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub card: Card,
    pub changed_server: bool,
    pub changed_client: bool,
}

/// Properties that hold one value per contact.
fn is_single(name: &str) -> bool {
    matches!(
        name,
        "N" | "FN"
            | "ORG"
            | "TITLE"
            | "ROLE"
            | "BDAY"
            | "ANNIVERSARY"
            | "PHOTO"
            | "LOGO"
            | "SOUND"
            | "GEO"
            | "TZ"
            | "GENDER"
            | "KIND"
            | "NICKNAME"
            | "SORT-STRING"
            | "CLASS"
            | "PRODID"
            | "UID"
            | "REV"
            | "NOTE"
            | "MAILER"
            | "X-ANNIVERSARY"
            | "X-MANAGER"
            | "X-ASSISTANT"
            | "X-SPOUSE"
            | "X-EVOLUTION-FILE-AS"
            | "X-EVOLUTION-SPOUSE"
            | "X-EVOLUTION-MANAGER"
            | "X-EVOLUTION-ASSISTANT"
            | "X-EVOLUTION-ANNIVERSARY"
    )
}

/// REV as comparable digits (basic or extended ISO 8601).
fn rev(card: &Card) -> Option<String> {
    let d: String = card
        .first("REV")?
        .text()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (!d.is_empty()).then(|| format!("{d:0<14}"))
}

fn lines_of(props: &[&Property]) -> Vec<String> {
    let mut l: Vec<String> = props.iter().filter_map(|p| canonical::line(p)).collect();
    l.sort();
    l
}

fn group_by_name(card: &Card) -> HashMap<&str, Vec<&Property>> {
    let mut m: HashMap<&str, Vec<&Property>> = HashMap::new();
    for p in &card.props {
        m.entry(p.name.as_str()).or_default().push(p);
    }
    m
}

/// Merge the server's and the client's version of one contact.
pub fn merge(
    base: Option<&Card>,
    server: &Card,
    client: &Card,
    policy: MergePolicy,
    region: Region,
) -> Merged {
    let server_wins = match policy {
        MergePolicy::ServerWins => true,
        MergePolicy::ClientWins => false,
        MergePolicy::NewerWins => rev(client) <= rev(server),
    };
    let (win, lose) = if server_wins {
        (server, client)
    } else {
        (client, server)
    };
    let (wg, lg) = (group_by_name(win), group_by_name(lose));
    let bg = base.map(group_by_name);
    let empty: Vec<&Property> = Vec::new();

    let mut names: Vec<&str> = Vec::new();
    for p in win.props.iter().chain(&lose.props) {
        if !names.contains(&p.name.as_str()) {
            names.push(&p.name);
        }
    }
    let mut card = Card::new(server.version);
    for name in names {
        let w = wg.get(name).unwrap_or(&empty);
        let l = lg.get(name).unwrap_or(&empty);
        let b = bg.as_ref().map(|g| g.get(name).unwrap_or(&empty));
        let merged = if name == "CATEGORIES" {
            categories(w, l, b)
        } else if is_single(name) {
            single(name, w, l, b)
        } else {
            multi(w, l, b, region)
        };
        card.props.extend(merged);
    }
    let lines = canonical::lines(&card);
    Merged {
        changed_server: lines != canonical::lines(server),
        changed_client: lines != canonical::lines(client),
        card,
    }
}

/// One side changed relative to base → that side; `None` = real conflict.
fn three_way<'a>(
    w: &'a [&'a Property],
    l: &'a [&'a Property],
    b: Option<&'a Vec<&'a Property>>,
) -> Option<&'a [&'a Property]> {
    let (lw, ll) = (lines_of(w), lines_of(l));
    if lw == ll {
        return Some(w);
    }
    let lb = lines_of(b?);
    if lw == lb {
        Some(l)
    } else if ll == lb {
        Some(w)
    } else {
        None
    }
}

fn single(
    name: &str,
    w: &[&Property],
    l: &[&Property],
    b: Option<&Vec<&Property>>,
) -> Vec<Property> {
    if let Some(side) = three_way(w, l, b) {
        return side.iter().map(|p| (*p).clone()).collect();
    }
    if w.is_empty() {
        return l.iter().map(|p| (*p).clone()).collect();
    }
    if name == "NOTE" && !l.is_empty() {
        return vec![both_notes(w, l)];
    }
    w.iter().map(|p| (*p).clone()).collect()
}

/// One NOTE with both texts, unless one already contains the other.
fn both_notes(w: &[&Property], l: &[&Property]) -> Property {
    let text = |ps: &[&Property]| ps.iter().map(|p| p.text()).collect::<Vec<_>>().join("\n");
    let (tw, tl) = (text(w), text(l));
    let (fw, fl) = (fold_text(&tw), fold_text(&tl));
    let merged = if fw.contains(&fl) {
        tw
    } else if fl.contains(&fw) {
        tl
    } else {
        format!("{tw}\n\n{tl}")
    };
    let mut p = w[0].clone();
    p.value = Value::text(&merged);
    p
}

fn multi(
    w: &[&Property],
    l: &[&Property],
    b: Option<&Vec<&Property>>,
    region: Region,
) -> Vec<Property> {
    let key = |p: &Property| {
        let k = value_key(p, region);
        if k.is_empty() {
            fold_text(&p.text())
        } else {
            k
        }
    };
    let keys = |ps: &[&Property]| ps.iter().map(|p| key(p)).collect::<HashSet<String>>();
    let (kw, kl) = (keys(w), keys(l));
    // Deleted on one side since base: gone (a plain union would bring it back).
    let deleted: HashSet<String> = match b {
        Some(b) => keys(b)
            .into_iter()
            .filter(|k| !kw.contains(k) || !kl.contains(k))
            .collect(),
        None => HashSet::new(),
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for p in w.iter().chain(l) {
        let k = key(p);
        if p.value.is_empty() || deleted.contains(&k) || !seen.insert(k) {
            continue;
        }
        out.push((*p).clone());
    }
    out
}

fn categories(w: &[&Property], l: &[&Property], b: Option<&Vec<&Property>>) -> Vec<Property> {
    let items = |ps: &[&Property]| -> Vec<String> {
        ps.iter()
            .flat_map(|p| match &p.value {
                Value::Text(c) => c.iter().flatten().cloned().collect::<Vec<_>>(),
                Value::Binary(_) => Vec::new(),
            })
            .filter(|i| !i.trim().is_empty())
            .collect()
    };
    let folded = |v: &[String]| v.iter().map(|i| fold_text(i)).collect::<HashSet<_>>();
    let (iw, il) = (items(w), items(l));
    let (fw, fl) = (folded(&iw), folded(&il));
    let deleted: HashSet<String> = match b {
        Some(b) => folded(&items(b))
            .into_iter()
            .filter(|k| !fw.contains(k) || !fl.contains(k))
            .collect(),
        None => HashSet::new(),
    };
    let mut seen = HashSet::new();
    let merged: Vec<String> = iw
        .into_iter()
        .chain(il)
        .filter(|i| {
            let k = fold_text(i);
            !deleted.contains(&k) && seen.insert(k)
        })
        .collect();
    if merged.is_empty() {
        return Vec::new();
    }
    let Some(first) = w.first().or(l.first()) else {
        return Vec::new();
    };
    let mut p = (*first).clone();
    p.value = Value::Text(vec![merged]);
    vec![p]
}

/// Property names a peer can store (from its DevInf CTCap), upper case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertySet(HashSet<String>);

impl PropertySet {
    pub fn from_names<I, S>(names: I) -> PropertySet
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        PropertySet(
            names
                .into_iter()
                .map(|n| n.as_ref().trim().to_ascii_uppercase())
                .collect(),
        )
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name.to_ascii_uppercase())
    }
}

/// The card to store for a Replace from a peer that can only store the
/// properties in `supported`: the incoming card, plus every stored
/// property the peer cannot store (so its absence is not a deletion).
pub fn apply_absent_is_not_deleted(
    stored: &Card,
    incoming: &Card,
    supported: &PropertySet,
) -> Card {
    let mut out = incoming.clone();
    for p in &stored.props {
        let kept = !supported.contains(&p.name) && incoming.first(&p.name).is_none();
        if kept && !canonical::is_volatile(&p.name) {
            out.props.push(p.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(body: &str) -> Card {
        let s = format!("BEGIN:VCARD\nVERSION:3.0\n{body}\nEND:VCARD\n");
        match Card::parse(&s) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn texts(c: &Card, name: &str) -> Vec<String> {
        c.all(name).map(Property::text).collect()
    }

    const DE: fn() -> Region = || Region::new("DE");

    #[test]
    fn multi_valued_are_united_and_deduplicated() {
        let s = card("FN:A\nTEL:+49 30 1234567\nEMAIL:a@x.de\nX-FOO:1\nCATEGORIES:Work,Friends");
        let c = card(
            "FN:A\nTEL:030/1234567\nTEL:0171 555\nEMAIL:A@X.DE\nX-FOO:2\nCATEGORIES:friends,VIP",
        );
        let m = merge(None, &s, &c, MergePolicy::ServerWins, DE());
        assert_eq!(texts(&m.card, "TEL"), ["+49 30 1234567", "0171 555"]);
        assert_eq!(texts(&m.card, "EMAIL"), ["a@x.de"]);
        assert_eq!(texts(&m.card, "X-FOO"), ["1", "2"]);
        assert_eq!(texts(&m.card, "CATEGORIES"), ["Work,Friends,VIP"]);
        assert!(m.changed_server && m.changed_client);
    }

    #[test]
    fn single_valued_follow_the_policy_and_notes_keep_both() {
        let s = card("FN:A\nORG:Old\nNOTE:server note\nREV:20240101T000000Z");
        let c = card("FN:A\nORG:New\nNOTE:client note\nBDAY:2000-01-01\nREV:2025-01-01T00:00:00Z");
        let m = merge(None, &s, &c, MergePolicy::ServerWins, DE());
        assert_eq!(texts(&m.card, "ORG"), ["Old"]);
        assert_eq!(texts(&m.card, "BDAY"), ["2000-01-01"]);
        assert_eq!(texts(&m.card, "NOTE"), ["server note\n\nclient note"]);
        let m = merge(None, &s, &c, MergePolicy::ClientWins, DE());
        assert_eq!(texts(&m.card, "ORG"), ["New"]);
        let m = merge(None, &s, &c, MergePolicy::NewerWins, DE());
        assert_eq!(texts(&m.card, "ORG"), ["New"]);
        let longer = card("FN:A\nNOTE:Server Note and more");
        let m = merge(None, &s, &longer, MergePolicy::ServerWins, DE());
        assert_eq!(texts(&m.card, "NOTE"), ["Server Note and more"]);
    }

    #[test]
    fn base_turns_one_sided_changes_into_no_conflict() {
        let b = card("FN:A\nORG:Old\nTEL:1111\nTEL:2222");
        let s = card("FN:A\nORG:Old\nTEL:1111");
        let c = card("FN:A\nORG:New\nTEL:1111\nTEL:2222\nTEL:3333");
        let m = merge(Some(&b), &s, &c, MergePolicy::ServerWins, DE());
        assert_eq!(texts(&m.card, "ORG"), ["New"]);
        assert_eq!(texts(&m.card, "TEL"), ["1111", "3333"]);
    }

    #[test]
    fn identical_content_changes_nothing() {
        let s = card("FN:A\nTEL;TYPE=CELL:1");
        let m = merge(None, &s, &s.clone(), MergePolicy::ClientWins, DE());
        assert!(!m.changed_server && !m.changed_client);
    }

    #[test]
    fn absent_is_not_deleted() {
        let stored = card("FN:A\nTEL:1\nBDAY:2000-01-01\nX-SECRET:s\nNOTE:n");
        let incoming = card("FN:A B\nTEL:2");
        let caps = PropertySet::from_names(["fn", "N", "TEL", "NOTE"]);
        let out = apply_absent_is_not_deleted(&stored, &incoming, &caps);
        assert_eq!(texts(&out, "FN"), ["A B"]);
        assert_eq!(texts(&out, "TEL"), ["2"]);
        assert_eq!(texts(&out, "BDAY"), ["2000-01-01"]);
        assert_eq!(texts(&out, "X-SECRET"), ["s"]);
        // NOTE is supported, so its absence is a deletion.
        assert!(texts(&out, "NOTE").is_empty());
    }
}
