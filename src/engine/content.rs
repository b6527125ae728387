//! The engine's view of item contents, backed by the contacts library:
//! equality, REV comparison, field merge, absent-is-not-deleted and the
//! format a peer receives. Text that does not parse as a vCard is compared
//! as text and never merged.

use std::collections::{HashMap, HashSet};

use crate::contacts::{self, Card, MergePolicy, PropertySet, Region, VCardVersion};
use crate::engine::conflict::Judge;
use crate::store::schema::BookMeta;

/// Contents compared as contacts.
#[derive(Debug, Clone, Copy)]
pub struct Contacts {
    pub region: Region,
}

fn rev(card: &Card) -> Option<String> {
    let d: String = card
        .first("REV")?
        .text()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (!d.is_empty()).then(|| format!("{d:0<14}"))
}

impl Judge for Contacts {
    fn same(&self, a: &str, b: &str) -> bool {
        contacts::same_content(a, b)
    }

    fn client_newer(&self, client: &str, server: &str) -> Option<bool> {
        let (c, s) = (Card::parse(client).ok()?, Card::parse(server).ok()?);
        match (rev(&c)?, rev(&s)?) {
            (a, b) if a == b => None,
            (a, b) => Some(a > b),
        }
    }
}

/// A field-level merge: (content type, merged text, the server's copy
/// changed, the client's copy changed). `None` when either side does not
/// parse — the caller then keeps both versions.
pub struct MergeResult {
    pub content_type: &'static str,
    pub data: String,
    pub changed_server: bool,
    pub changed_client: bool,
}

impl Contacts {
    pub fn merge(&self, server: &str, client: &str) -> Option<MergeResult> {
        let (s, c) = (Card::parse(server).ok()?, Card::parse(client).ok()?);
        let m = contacts::merge(None, &s, &c, MergePolicy::NewerWins, self.region);
        let (content_type, data) = contacts::render(&m.card, m.card.version);
        Some(MergeResult {
            content_type,
            data,
            changed_server: m.changed_server,
            changed_client: m.changed_client,
        })
    }

    /// What to store for a Replace from a peer whose DevInf lists the
    /// properties it can store: properties it cannot store are kept from
    /// the stored version ("absent is not deleted").
    pub fn absent_is_not_deleted(
        &self,
        stored: &str,
        incoming: &str,
        supported: &[String],
    ) -> Option<String> {
        if supported.is_empty() {
            return None;
        }
        let (s, i) = (Card::parse(stored).ok()?, Card::parse(incoming).ok()?);
        let set = PropertySet::from_names(supported.iter().map(String::as_str));
        let kept = contacts::apply_absent_is_not_deleted(&s, &i, &set);
        if kept == i {
            return None;
        }
        Some(contacts::render(&kept, kept.version).1)
    }

    /// The item as the peer wants it: `None` when the stored text already
    /// is in that version (it then goes out exactly as stored).
    pub fn for_peer(
        &self,
        data: &str,
        rx_pref: Option<(&str, &str)>,
        sent_type: Option<&str>,
    ) -> Option<(&'static str, String)> {
        let want = contacts::preferred_output(rx_pref, sent_type);
        let card = Card::parse(data).ok()?;
        if card.version == want {
            return None;
        }
        Some(contacts::render(&card, want))
    }
}

/// Per-session slow-sync matcher, three snapshots of the book taken on the
/// first item that needs them, cheapest first:
/// * content hashes: a byte-identical copy is a hash lookup, no parse;
/// * content fingerprints (stored with the content hashes, one scan for
///   both): the same content written another way (another vCard version,
///   folding, order) is found after parsing only the incoming card;
/// * a [`contacts::MatchIndex`] of the whole book's identity keys, built
///   only when an item has no identical twin — most of a device's cards
///   usually do, and this is the expensive one.
///
/// The snapshots outlive the message they were taken in, and other
/// sessions may write the book between two messages: the engine notes
/// what the change log says moved since ([`Self::note_change`], one range
/// scan per message), and what moved is read again from the store before
/// it is taken as identical; the people index, once built, is brought up
/// to date for what moved. What this session matched or added is `taken`
/// anyway.
#[derive(Clone)]
pub struct SlowMatcher {
    content: HashMap<u64, Vec<String>>,
    fingerprints: HashMap<u128, Vec<String>>,
    people: Option<contacts::MatchIndex>,
    /// The book's change sequence the snapshots are known good up to, and
    /// the items changed after the snapshots were taken (read again before
    /// they are trusted).
    seen_seq: u64,
    moved: HashSet<String>,
    /// The book's purge count at the snapshot; `None` once it changed (a
    /// purge leaves no change behind, so every item is read again).
    purged: Option<u64>,
}

impl std::fmt::Debug for SlowMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SlowMatcher({} fingerprints, people index {})",
            self.fingerprints.len(),
            self.people.as_ref().map_or(0, contacts::MatchIndex::len)
        )
    }
}

impl SlowMatcher {
    /// `content`: content hash ([`crate::store::schema::content_hash`]) →
    /// GUIDs of the live items with it; `fingerprints`: content fingerprint
    /// → GUIDs of the live items with it; `at`: the book's counters when
    /// both were read.
    pub fn new(
        content: HashMap<u64, Vec<String>>,
        fingerprints: HashMap<u128, Vec<String>>,
        at: &BookMeta,
    ) -> Self {
        SlowMatcher {
            content,
            fingerprints,
            people: None,
            seen_seq: at.seq,
            moved: HashSet::new(),
            purged: Some(at.purged),
        }
    }
    /// The book's purge count now.
    pub fn note_purges(&mut self, purged: u64) {
        if self.purged != Some(purged) {
            self.purged = None;
        }
    }
    /// The change sequence up to which changes have been noted.
    pub fn seen_seq(&self) -> u64 {
        self.seen_seq
    }
    /// Item `guid` changed at `seq` (after [`Self::seen_seq`]).
    pub fn note_change(&mut self, seq: u64, guid: String) {
        self.seen_seq = self.seen_seq.max(seq);
        self.moved.insert(guid);
    }
    /// Is `guid` as the snapshots saw it (live, same content), as far as
    /// the noted changes say?
    pub fn unchanged(&self, guid: &str) -> bool {
        self.purged.is_some() && !self.moved.contains(guid)
    }
    /// GUIDs of items whose bytes hash like `data`'s (check the content).
    pub fn content_candidates(&self, data: &str) -> &[String] {
        self.content
            .get(&crate::store::schema::content_hash(data))
            .map_or(&[], Vec::as_slice)
    }
    /// GUIDs of items with the probe's content, however written.
    pub fn same_content(&self, probe: &contacts::Probe<'_>) -> &[String] {
        self.fingerprints
            .get(&probe.fingerprint())
            .map_or(&[], Vec::as_slice)
    }
    /// Is the people index still to be built (with [`Self::set_people`])?
    pub fn needs_people(&self) -> bool {
        self.people.is_none()
    }
    pub fn set_people(&mut self, index: contacts::MatchIndex) {
        self.people = Some(index);
    }
    /// The people index, if built (to bring items that moved up to date).
    pub fn people_mut(&mut self) -> Option<&mut contacts::MatchIndex> {
        self.people.as_mut()
    }
    /// (guid, identical content) of the stored item this one is the same
    /// person as, through the people index (`None` until it is set).
    pub fn find(
        &self,
        probe: &contacts::Probe<'_>,
        taken: &dyn contacts::Taken,
    ) -> Option<(String, bool)> {
        self.people
            .as_ref()?
            .find_probe(probe, taken)
            .map(|m| (m.guid, m.exact))
    }
}

/// The content type of a version (for records that carry none).
pub fn content_type_of(version: VCardVersion) -> &'static str {
    version.content_type()
}
