//! Slow-sync matching through an index (docs/matching.md has the rule).
//!
//! Same person =
//! * identical content (after decoding, see `canonical`), or
//! * a shared name key AND (a shared phone/email key, or no phones/emails
//!   on one side), or
//! * no name on one side AND a shared phone/email key.
//!
//! Two people with the same name whose phones and emails all differ stay
//! two contacts. Every lookup touches only the index buckets of the
//! incoming card's own keys, so matching a whole book is linear in its size.

use std::collections::{HashMap, HashSet};

use super::canonical::{self, fingerprint, fingerprint_lines, raw_lines};
use super::normalize::{Identity, Region};
use super::vcard::Card;

/// A stored contact the incoming card is the same person as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub guid: String,
    /// Identical content: nothing to change on either side.
    pub exact: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    guid: String,
    fingerprint: u128,
    identity: Identity,
}

type Bucket = Vec<u32>;

/// An incoming item read for matching: its content fingerprint, from its
/// text without building a card ([`canonical::fingerprint_text`]); the card
/// itself is parsed only when the item has to be matched as a person.
/// Text the parser refuses gets the fingerprint of its raw lines, and then
/// only an identical copy matches it.
#[derive(Debug, Clone)]
pub struct Probe<'a> {
    data: &'a str,
    parses: bool,
    fingerprint: u128,
}

impl<'a> Probe<'a> {
    pub fn of(data: &'a str) -> Probe<'a> {
        match canonical::fingerprint_text(data) {
            Ok(fingerprint) => Probe {
                data,
                parses: true,
                fingerprint,
            },
            Err(_) => Probe {
                data,
                parses: false,
                fingerprint: fingerprint_lines(&raw_lines(data)),
            },
        }
    }

    /// The fingerprint the stored keys carry for the same content
    /// ([`fingerprint_key`]).
    pub fn fingerprint(&self) -> u128 {
        self.fingerprint
    }
}

/// The stored contacts a match may not return (already matched or mapped
/// in this session): a set of GUIDs, or whatever else knows them.
pub trait Taken {
    fn is_taken(&self, guid: &str) -> bool;
}

impl<S: std::hash::BuildHasher> Taken for HashSet<String, S> {
    fn is_taken(&self, guid: &str) -> bool {
        self.contains(guid)
    }
}

/// The content fingerprint of an item's text ([`Probe::fingerprint`]): the
/// same for the same content however written, stored with the item's
/// content-index row and its people keys.
pub fn content_fingerprint(data: &str) -> u128 {
    Probe::of(data).fingerprint()
}

/// The index of a book's contacts for matching. Build it once per slow
/// sync (or keep it up to date with `insert`/`remove`).
#[derive(Debug, Clone)]
pub struct MatchIndex {
    region: Region,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    ids: HashMap<String, u32>,
    by_exact: HashMap<u128, Bucket>,
    by_contact: HashMap<String, Bucket>,
    /// All entries by name key.
    by_name: HashMap<String, Bucket>,
    /// Entries without phones or emails, by name key: the ones a name
    /// alone may match when the incoming card has phones or emails.
    by_name_bare: HashMap<String, Bucket>,
}

fn push(map: &mut HashMap<String, Bucket>, key: &str, id: u32) {
    map.entry(key.to_owned()).or_default().push(id);
}

fn pull(map: &mut HashMap<String, Bucket>, key: &str, id: u32) {
    if let Some(b) = map.get_mut(key) {
        b.retain(|x| *x != id);
        if b.is_empty() {
            map.remove(key);
        }
    }
}

impl MatchIndex {
    /// An empty index; `region` is the default for phone numbers written
    /// without a country code.
    pub fn new(region: Region) -> MatchIndex {
        MatchIndex {
            region,
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            by_exact: HashMap::new(),
            by_contact: HashMap::new(),
            by_name: HashMap::new(),
            by_name_bare: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Add (or replace) the stored contact `guid`.
    pub fn insert(&mut self, guid: &str, card: &Card) {
        let identity = Identity::of(card, self.region);
        self.insert_entry(guid, fingerprint(card), identity);
    }

    /// Add (or replace) a stored item by its text. Text the parser refuses
    /// is indexed by its raw lines, so only an identical copy matches it.
    pub fn insert_vcard(&mut self, guid: &str, data: &str) {
        match Card::parse(data) {
            Ok(card) => self.insert(guid, &card),
            Err(_) => self.insert_entry(
                guid,
                fingerprint_lines(&raw_lines(data)),
                Identity::default(),
            ),
        }
    }

    /// Add (or replace) a stored contact from the keys
    /// [`index_keys_of_vcard`] gave it, without its text. `false` (and
    /// nothing added) when the keys carry no fingerprint — keys written
    /// before fingerprints were kept; index the text instead.
    pub fn insert_keys(&mut self, guid: &str, keys: &[String]) -> bool {
        let mut fp = None;
        let mut identity = Identity::default();
        for k in keys {
            match k.split_once(':') {
                Some(("f", hex)) => fp = u128::from_str_radix(hex, 16).ok(),
                Some(("n", name)) => {
                    identity.names.insert(name.to_owned());
                }
                Some(("c", contact)) => {
                    identity.contacts.insert(contact.to_owned());
                }
                // "b:" repeats the names of contacts without phones/emails.
                _ => {}
            }
        }
        match fp {
            Some(fp) => {
                self.insert_entry(guid, fp, identity);
                true
            }
            None => false,
        }
    }

    /// [`find`](Self::find) for an item's text; text the parser refuses
    /// matches only an identical copy.
    pub fn find_vcard(&self, data: &str, taken: &dyn Taken) -> Option<Match> {
        self.find_probe(&Probe::of(data), taken)
    }

    /// [`find_vcard`](Self::find_vcard) for an item parsed already.
    pub fn find_probe(&self, probe: &Probe<'_>, taken: &dyn Taken) -> Option<Match> {
        let card = probe.parses.then(|| Card::parse(probe.data).ok()).flatten();
        match card {
            Some(card) => self.find_with(&card, probe.fingerprint, taken),
            None => self.find_exact(probe.fingerprint, taken),
        }
    }

    fn insert_entry(&mut self, guid: &str, fp: u128, identity: Identity) {
        self.remove(guid);
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_exact.entry(fp).or_default().push(id);
        for k in &identity.contacts {
            push(&mut self.by_contact, k, id);
        }
        for k in &identity.names {
            push(&mut self.by_name, k, id);
            if identity.contacts.is_empty() {
                push(&mut self.by_name_bare, k, id);
            }
        }
        self.ids.insert(guid.to_owned(), id);
        if let Some(slot) = self.slots.get_mut(id as usize) {
            *slot = Some(Entry {
                guid: guid.to_owned(),
                fingerprint: fp,
                identity,
            });
        }
    }

    /// Forget `guid` (deleted, or claimed for good).
    pub fn remove(&mut self, guid: &str) {
        let Some(id) = self.ids.remove(guid) else {
            return;
        };
        let Some(e) = self.slots.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        if let Some(b) = self.by_exact.get_mut(&e.fingerprint) {
            b.retain(|x| *x != id);
            if b.is_empty() {
                self.by_exact.remove(&e.fingerprint);
            }
        }
        for k in &e.identity.contacts {
            pull(&mut self.by_contact, k, id);
        }
        for k in &e.identity.names {
            pull(&mut self.by_name, k, id);
            pull(&mut self.by_name_bare, k, id);
        }
        self.free.push(id);
    }

    /// The stored contact `card` is the same person as, skipping the GUIDs
    /// in `taken` (already matched or mapped in this session).
    pub fn find(&self, card: &Card, taken: &dyn Taken) -> Option<Match> {
        self.find_with(card, fingerprint(card), taken)
    }

    fn find_with(&self, card: &Card, fp: u128, taken: &dyn Taken) -> Option<Match> {
        let live = |id: &u32| self.live(*id, taken);
        if let Some(m) = self.find_exact(fp, taken) {
            return Some(m);
        }

        let me = Identity::of(card, self.region);
        let mut best: Option<((u8, usize), u32)> = None;
        let mut consider = |id: u32| {
            let Some(e) = live(&id) else { return };
            let Some(score) = score(&me, &e.identity) else {
                return;
            };
            // Higher score wins; on a tie the earlier-inserted (lower) id.
            let better = match best {
                None => true,
                Some((s, bid)) => score > s || (score == s && id < bid),
            };
            if better {
                best = Some((score, id));
            }
        };
        let buckets = |map: &'_ HashMap<String, Bucket>,
                       keys: &'_ std::collections::BTreeSet<String>| {
            keys.iter()
                .filter_map(|k| map.get(k))
                .flatten()
                .copied()
                .collect::<Vec<u32>>()
        };
        for id in buckets(&self.by_contact, &me.contacts) {
            consider(id);
        }
        if !me.names.is_empty() {
            let by_name = if me.contacts.is_empty() {
                &self.by_name
            } else {
                &self.by_name_bare
            };
            for id in buckets(by_name, &me.names) {
                consider(id);
            }
        }
        let (_, id) = best?;
        let e = live(&id)?;
        Some(Match {
            guid: e.guid.clone(),
            exact: e.fingerprint == fp,
        })
    }
}

/// Keys to file a stored contact under in a persistent index, so that
/// [`probe_keys`] of any card the rule would match to it finds it: phones
/// and emails (`c:`), names (`n:`), and names of contacts without phones or
/// emails (`b:`) — the same buckets [`MatchIndex`] keeps in memory.
pub fn stored_keys(id: &Identity) -> Vec<String> {
    let mut keys: Vec<String> = id.contacts.iter().map(|k| format!("c:{k}")).collect();
    keys.extend(id.names.iter().map(|k| format!("n:{k}")));
    if id.contacts.is_empty() {
        keys.extend(id.names.iter().map(|k| format!("b:{k}")));
    }
    keys
}

/// The key that carries a stored contact's content fingerprint (kept with
/// its identity keys so a whole-book index can be rebuilt without parsing
/// the book: [`MatchIndex::insert_keys`]).
pub fn fingerprint_key(fp: u128) -> String {
    format!("f:{fp:032x}")
}

/// Everything a stored item's text is indexed under: [`stored_keys`] and
/// its [`fingerprint_key`]. Text the parser refuses gets only the
/// fingerprint of its raw lines (only an identical copy matches it).
pub fn index_keys_of_vcard(data: &str, region: Region) -> Vec<String> {
    match Card::parse(data) {
        Ok(card) => {
            let mut keys = stored_keys(&Identity::of(&card, region));
            keys.push(fingerprint_key(fingerprint(&card)));
            keys
        }
        Err(_) => vec![fingerprint_key(fingerprint_lines(&raw_lines(data)))],
    }
}

/// The index keys under which every stored contact that `id` may be the
/// same person as is filed (then confirm with [`MatchIndex::find`]).
pub fn probe_keys(id: &Identity) -> Vec<String> {
    let mut keys: Vec<String> = id.contacts.iter().map(|k| format!("c:{k}")).collect();
    let tag = if id.contacts.is_empty() { "n" } else { "b" };
    keys.extend(id.names.iter().map(|k| format!("{tag}:{k}")));
    keys
}

impl MatchIndex {
    fn live<'a>(&'a self, id: u32, taken: &dyn Taken) -> Option<&'a Entry> {
        self.slots
            .get(id as usize)
            .and_then(Option::as_ref)
            .filter(|e| !taken.is_taken(&e.guid))
    }

    fn find_exact(&self, fp: u128, taken: &dyn Taken) -> Option<Match> {
        let e = self
            .by_exact
            .get(&fp)
            .into_iter()
            .flatten()
            .find_map(|id| self.live(*id, taken))?;
        Some(Match {
            guid: e.guid.clone(),
            exact: true,
        })
    }
}

/// Does `a` match `b` by the rule, and how well: (kind, shared contact
/// keys), kind 3 = name and phone/email, 2 = name alone, 1 = phone/email
/// alone.
fn score(a: &Identity, b: &Identity) -> Option<(u8, usize)> {
    let name = a.shares_name(b);
    let shared = a.contacts.intersection(&b.contacts).count();
    let no_contacts_one_side = a.contacts.is_empty() || b.contacts.is_empty();
    let no_name_one_side = a.names.is_empty() || b.names.is_empty();
    if name && shared > 0 {
        Some((3, shared))
    } else if name && no_contacts_one_side {
        Some((2, 0))
    } else if no_name_one_side && shared > 0 {
        Some((1, shared))
    } else {
        None
    }
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

    fn index(cards: &[(&str, &str)]) -> MatchIndex {
        let mut ix = MatchIndex::new(Region::new("DE"));
        for (g, c) in cards {
            ix.insert(g, &card(c));
        }
        ix
    }

    fn find(ix: &MatchIndex, body: &str) -> Option<(String, bool)> {
        ix.find(&card(body), &HashSet::new())
            .map(|m| (m.guid, m.exact))
    }

    #[test]
    fn the_rule() {
        let ix = index(&[
            ("1", "FN:Alice Anders\nTEL:+49 30 1234567"),
            ("2", "FN:Alice Anders\nTEL:+49 40 7654321\nEMAIL:a2@x.de"),
            ("3", "FN:Bob Bauer"),
            ("4", "TEL:+49 89 111222\nNOTE:nameless"),
        ]);
        // Same name, phone written differently → 1, not exact.
        assert_eq!(
            find(&ix, "N:Anders;Alice;;;\nTEL:030/1234567"),
            Some(("1".into(), false))
        );
        // Same name, email shared with 2.
        assert_eq!(
            find(&ix, "FN:alice anders\nEMAIL:A2@X.DE"),
            Some(("2".into(), false))
        );
        // Same name, different phones and emails → nobody.
        assert_eq!(find(&ix, "FN:Alice Anders\nTEL:+49 30 999999"), None);
        // Name only on the stored side without contacts.
        assert_eq!(
            find(&ix, "FN:Bob Bauer\nTEL:+49 30 5555"),
            Some(("3".into(), false))
        );
        // No name: phone.
        assert_eq!(find(&ix, "TEL:089 111222"), Some(("4".into(), false)));
        // Identical content.
        assert_eq!(
            find(&ix, "TEL;TYPE=VOICE:+49 89 111222\nNOTE:nameless"),
            Some(("4".into(), true))
        );
        // A stranger.
        assert_eq!(find(&ix, "FN:Carl\nTEL:+49 30 1234567"), None);
    }

    #[test]
    fn unparseable_items_match_only_identical_copies() {
        let mut ix = MatchIndex::new(Region::none());
        let bad = "BEGIN:VCARD\nT L:x\nEND:VCARD\n";
        ix.insert_vcard("1", bad);
        ix.insert_vcard("2", "BEGIN:VCARD\nVERSION:3.0\nFN:A B\nEND:VCARD\n");
        let none = HashSet::new();
        let hit = ix.find_vcard("BEGIN:VCARD\r\nT L:x\r\nEND:VCARD\r\n", &none);
        assert_eq!(
            hit,
            Some(Match {
                guid: "1".into(),
                exact: true
            })
        );
        assert_eq!(
            ix.find_vcard("BEGIN:VCARD\nT L:y\nEND:VCARD\n", &none),
            None
        );
        let named = ix.find_vcard(
            "BEGIN:VCARD\nVERSION:2.1\nFN:a  b\nTEL:1\nEND:VCARD\n",
            &none,
        );
        assert_eq!(named.map(|m| m.guid), Some("2".into()));
    }

    #[test]
    fn an_index_rebuilt_from_stored_keys_matches_like_one_built_from_text() {
        let region = Region::new("DE");
        let cards = [
            ("1", "FN:Alice Anders\nTEL:+49 30 1234567"),
            ("2", "FN:Bob Bauer"),
            ("3", "TEL:+49 89 111222\nNOTE:nameless"),
        ];
        let mut from_keys = MatchIndex::new(region);
        for (g, body) in cards {
            let text = format!("BEGIN:VCARD\nVERSION:3.0\n{body}\nEND:VCARD\n");
            assert!(from_keys.insert_keys(g, &index_keys_of_vcard(&text, region)));
        }
        let bad = "BEGIN:VCARD\nT L:x\nEND:VCARD\n";
        assert!(from_keys.insert_keys("4", &index_keys_of_vcard(bad, region)));
        let from_text = index(&cards);
        for probe in [
            "N:Anders;Alice;;;\nTEL:030/1234567",
            "FN:Bob Bauer\nTEL:+49 30 5555",
            "TEL:089 111222",
            "TEL;TYPE=VOICE:+49 89 111222\nNOTE:nameless",
            "FN:Alice Anders\nTEL:+49 30 999999",
        ] {
            assert_eq!(find(&from_keys, probe), find(&from_text, probe), "{probe}");
        }
        assert_eq!(
            find(&from_keys, "TEL;TYPE=VOICE:+49 89 111222\nNOTE:nameless"),
            Some(("3".into(), true))
        );
        let none = HashSet::new();
        assert_eq!(
            from_keys.find_vcard("BEGIN:VCARD\r\nT L:x\r\nEND:VCARD\r\n", &none),
            Some(Match {
                guid: "4".into(),
                exact: true
            })
        );
        // Keys from before fingerprints were kept: not indexed.
        assert!(!from_keys.insert_keys("5", &["n:s:alice".to_owned()]));
        assert_eq!(from_keys.len(), 4);
    }

    #[test]
    fn taken_and_removed_are_skipped() {
        let mut ix = index(&[
            ("1", "FN:A B\nTEL:0301234567"),
            ("2", "FN:A B\nTEL:0301234567"),
        ]);
        let c = card("FN:A B\nTEL:0301234567");
        let taken: HashSet<String> = ["1".to_owned()].into();
        assert_eq!(ix.find(&c, &taken).map(|m| m.guid), Some("2".into()));
        ix.remove("2");
        assert_eq!(ix.find(&c, &taken), None);
        assert_eq!(ix.len(), 1);
        ix.insert("1", &card("FN:Other"));
        assert_eq!(ix.find(&c, &HashSet::new()), None);
    }
}
