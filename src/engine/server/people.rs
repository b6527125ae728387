//! The people index: which stored contact an Add outside a slow sync is the
//! same person as (docs/matching.md has the rule).
//!
//! Two devices that each add the same person between syncs would otherwise
//! leave two contacts on the server. A slow sync builds an in-memory index
//! of the whole book; a two-way sync must not (O(changes), never O(book)),
//! so the server keeps the contacts' identity keys in the store
//! (`Table::PeopleIndex`). The index is brought up to date lazily from the
//! change log when an Add needs it — `BookMeta::people_seq` says how far it
//! got — so every other writer (admin import, local API, client role)
//! stays as it was, and a book from before the index catches up on its
//! first Add.

use std::collections::HashSet;

use crate::contacts::matching::{index_keys_of_vcard, probe_keys};
use crate::contacts::normalize::Identity;
use crate::contacts::{Card, MatchIndex, Region};
use crate::engine::EngineError;
use crate::store::Txn;
use crate::store::schema::{self, BookId, PeerId};

const PAGE: usize = 1000;
/// The form of the stored keys: 1 = with the content fingerprint ("f:"),
/// and every live item has keys.
const KEYS_VERSION: u32 = 1;
/// Candidates read per key: a key shared by more contacts than this (a very
/// common name) is looked at only this far.
const PER_KEY: usize = 256;

/// Reflect every change after `people_seq` in the index: one range scan of
/// the change log.
pub(super) fn catch_up(
    txn: &mut Txn<'_>,
    book: &BookId,
    region: Region,
) -> Result<(), EngineError> {
    let mut meta = schema::book_meta(txn, book)?;
    if meta.people_version < KEYS_VERSION {
        // Keys of an older form: index the whole book again (every live
        // item is in the change log at its latest sequence).
        meta.people_seq = 0;
    }
    if meta.people_seq >= meta.seq && meta.people_version == KEYS_VERSION {
        return Ok(());
    }
    let mut after = meta.people_seq;
    loop {
        let page = schema::changes_after(txn, book, after, PAGE)?;
        let full = page.len() == PAGE;
        for (seq, guid) in page {
            after = seq;
            let keys = match schema::item(txn, book, &guid)? {
                Some(rec) if !rec.deleted => index_keys_of_vcard(&rec.data, region),
                _ => Vec::new(),
            };
            schema::set_people_keys(txn, book, &guid, &keys)?;
        }
        if !full {
            break;
        }
    }
    meta.people_seq = meta.seq;
    meta.people_version = KEYS_VERSION;
    schema::put_book_meta(txn, book, &meta);
    Ok(())
}

/// The whole book as a slow sync's match index, from the stored keys (no
/// vCard is parsed, except items whose keys predate fingerprints).
pub(super) fn book_index(
    txn: &mut Txn<'_>,
    book: &BookId,
    region: Region,
) -> Result<MatchIndex, EngineError> {
    catch_up(txn, book, region)?;
    let mut index = MatchIndex::new(region);
    let mut after = String::new();
    loop {
        let page = schema::people_keys_page(txn, book, &after, PAGE)?;
        let full = page.len() == PAGE;
        for (guid, keys) in page {
            insert_stored(txn, book, &mut index, &guid, &keys)?;
            after = guid;
        }
        if !full {
            break;
        }
    }
    Ok(index)
}

/// The stored contact `data` is the same person as, among those `peer` has
/// no copy of and this session has not touched: (guid, identical content).
pub(super) fn find(
    txn: &mut Txn<'_>,
    book: &BookId,
    peer: &PeerId,
    data: &str,
    region: Region,
    touched: &dyn crate::contacts::Taken,
) -> Result<Option<(String, bool)>, EngineError> {
    let Ok(card) = Card::parse(data) else {
        return Ok(None);
    };
    let probes = probe_keys(&Identity::of(&card, region));
    if probes.is_empty() {
        return Ok(None);
    }
    catch_up(txn, book, region)?;
    let mut index = MatchIndex::new(region);
    let mut seen = HashSet::new();
    for k in &probes {
        for g in schema::people_with_key(txn, book, k, PER_KEY)? {
            if touched.is_taken(&g) || !seen.insert(g.clone()) {
                continue;
            }
            // A contact the device already has is not the one it adds now:
            // two of them on one device are two people.
            if schema::luid_for_guid(txn, peer, &g)?.is_some() {
                continue;
            }
            let keys = schema::people_keys(txn, book, &g)?;
            insert_stored(txn, book, &mut index, &g, &keys)?;
        }
    }
    Ok(index.find(&card, touched).map(|m| (m.guid, m.exact)))
}

/// Index a stored contact by the keys the people index holds for it; the
/// text is read and parsed only for keys of an older form.
fn insert_stored(
    txn: &Txn<'_>,
    book: &BookId,
    index: &mut MatchIndex,
    guid: &str,
    keys: &[String],
) -> Result<(), EngineError> {
    if !index.insert_keys(guid, keys)
        && let Some(rec) = schema::item(txn, book, guid)?.filter(|r| !r.deleted)
    {
        index.insert_vcard(guid, &rec.data);
    }
    Ok(())
}
