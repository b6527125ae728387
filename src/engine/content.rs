//! The engine's view of item contents, backed by the contacts library:
//! equality, REV comparison, field merge, absent-is-not-deleted and the
//! format a peer receives. Text that does not parse as a vCard is compared
//! as text and never merged.

use std::collections::{HashMap, HashSet};

use crate::contacts::{self, Card, MergePolicy, PropertySet, Region, VCardVersion};
use crate::engine::conflict::Judge;

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

/// Per-session slow-sync matcher: a [`contacts::MatchIndex`] over the book,
/// built from the stored people keys on the first item that needs it, and
/// the book's content hashes (so the byte-identical check before matching
/// is a hash lookup, not a store scan per item). Both are snapshots: what
/// they name is read again from the store, and what this session added is
/// `taken` anyway.
pub struct SlowMatcher {
    index: contacts::MatchIndex,
    content: HashMap<u64, Vec<String>>,
}

impl std::fmt::Debug for SlowMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlowMatcher({} items)", self.index.len())
    }
}

impl Clone for SlowMatcher {
    fn clone(&self) -> Self {
        SlowMatcher {
            index: self.index.clone(),
            content: self.content.clone(),
        }
    }
}

impl SlowMatcher {
    /// `content`: content hash ([`crate::store::schema::content_hash`]) →
    /// GUIDs of the live items with it.
    pub fn new(index: contacts::MatchIndex, content: HashMap<u64, Vec<String>>) -> Self {
        SlowMatcher { index, content }
    }
    /// GUIDs of items whose bytes hash like `data`'s (check the content).
    pub fn content_candidates(&self, data: &str) -> &[String] {
        self.content
            .get(&crate::store::schema::content_hash(data))
            .map_or(&[], Vec::as_slice)
    }
    /// (guid, identical content) of the stored item this one is.
    pub fn find(&self, data: &str, taken: &HashSet<String>) -> Option<(String, bool)> {
        self.index
            .find_vcard(data, taken)
            .map(|m| (m.guid, m.exact))
    }
}

/// The content type of a version (for records that carry none).
pub fn content_type_of(version: VCardVersion) -> &'static str {
    version.content_type()
}
