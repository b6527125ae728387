//! Writing items of a book: every write takes the book's next change
//! sequence number and records who made it (`origin`), which is what
//! "changes since a peer's last sync, not made by that peer" rests on.
//! Both roles and the admin import write through these functions.

use crate::store::StoreError;
use crate::store::Txn;
use crate::store::schema::{self, BookId, ItemRecord};

/// The content and provenance of a write.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub content_type: &'a str,
    pub data: &'a str,
    /// Device (server role) or peer name (client role) that made the change;
    /// "" for local changes (admin, local API).
    pub origin: &'a str,
    pub now_ms: u64,
}

/// Take the next change sequence number of the book.
pub fn next_seq(txn: &mut Txn<'_>, book: &BookId) -> Result<u64, StoreError> {
    let mut meta = schema::book_meta(txn, book)?;
    meta.seq += 1;
    schema::put_book_meta(txn, book, &meta);
    Ok(meta.seq)
}

/// A new item; returns its id (a short decimal: GUID on the server, LUID on
/// the client — well under the 32-byte MaxGUIDSize clients assume).
pub fn create(txn: &mut Txn<'_>, book: &BookId, change: &Change<'_>) -> Result<String, StoreError> {
    let mut meta = schema::book_meta(txn, book)?;
    // Skip ids taken otherwise (a peer may have named an item itself, e.g.
    // a server Replace for a LUID we no longer had).
    let id = loop {
        meta.guid += 1;
        let id = meta.guid.to_string();
        if schema::item(txn, book, &id)?.is_none() {
            break id;
        }
    };
    schema::put_book_meta(txn, book, &meta);
    update(txn, book, &id, None, change)?;
    Ok(id)
}

/// Replace an item's content (re-creating it if `old` is a tombstone).
pub fn update(
    txn: &mut Txn<'_>,
    book: &BookId,
    id: &str,
    old: Option<&ItemRecord>,
    change: &Change<'_>,
) -> Result<(), StoreError> {
    if let Some(o) = old.filter(|o| !o.deleted) {
        schema::remove_content_key(txn, book, &o.data, id);
    }
    let fingerprint = crate::contacts::content_fingerprint(change.data);
    schema::put_content_key(txn, book, change.data, id, fingerprint);
    let seq = next_seq(txn, book)?;
    let rec = ItemRecord {
        content_type: change.content_type.to_owned(),
        data: change.data.to_owned(),
        seq,
        created_seq: old
            .filter(|o| !o.deleted)
            .map(|o| o.created_seq)
            .unwrap_or(seq),
        origin: change.origin.to_owned(),
        deleted: false,
        modified_ms: change.now_ms,
    };
    schema::put_item(txn, book, id, old, &rec);
    Ok(())
}

/// Turn an item into a tombstone. The last content stays with it: a slow
/// sync can then tell an unchanged copy (the delete stands) from a modified
/// one (the modification wins).
pub fn delete(
    txn: &mut Txn<'_>,
    book: &BookId,
    id: &str,
    old: &ItemRecord,
    origin: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    if !old.deleted {
        schema::remove_content_key(txn, book, &old.data, id);
    }
    let seq = next_seq(txn, book)?;
    let rec = ItemRecord {
        seq,
        origin: origin.to_owned(),
        deleted: true,
        modified_ms: now_ms,
        ..old.clone()
    };
    schema::put_item(txn, book, id, Some(old), &rec);
    Ok(())
}
