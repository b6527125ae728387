//! Storage: a small, fixed set of ordered key-value tables behind a trait.
//!
//! * [`KvRead`] / [`Store`] are the whole contract a backend implements:
//!   point reads, ordered range scans, and `commit(batch)` which applies one
//!   [`Batch`] **atomically and durably** (the reply to a message is only sent
//!   after `commit` returns).
//! * [`schema`] is the typed layer on top: key encodings and record types for
//!   users, devices, items, the per-book change sequence, LUID↔GUID maps and
//!   per-peer anchors. Both the engine and the admin commands use it.
//! * [`overlay::Txn`] buffers one message's writes over a read view, so the
//!   sans-IO engine reads its own writes and hands back a [`Batch`].
//!
//! **Architecture invariant:** only `store::sled_store` imports `sled`.

pub mod group_flush;
pub mod memory;
pub mod overlay;
pub mod peer_map;
pub mod schema;
pub mod sled_store;
pub mod upgrade;

use std::ops::Bound;

pub use group_flush::Durability;
pub use memory::MemoryStore;
pub use overlay::Txn;
pub use sled_store::SledStore;

/// The fixed set of tables. Keeping the number of sled trees fixed (no tree
/// per user) bounds sled's per-tree overhead; users are key prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// user → [`schema::UserRecord`]
    Users,
    /// (user, device) → [`schema::DeviceRecord`]
    Devices,
    /// (user, device) → next expected md5 nonce (raw bytes)
    Nonces,
    /// (user, store) → [`schema::BookMeta`] (sequence and GUID counters)
    Books,
    /// (user, store, guid) → [`schema::ItemRecord`] (live items and tombstones)
    Items,
    /// (user, store, seq) → guid: the change sequence, one entry per GUID
    /// (its latest change), so "changes since N" is a range scan.
    Changes,
    /// (user, store, seq) → guid of a tombstone, for garbage collection.
    Tombstones,
    /// (user, device, store, 'l'|'g') ++ first id → a chunk of sorted
    /// (id, other id) entries: the peer's LUID→GUID and GUID→LUID maps
    /// (see [`peer_map`]).
    Maps,
    /// (user, device, store) → [`schema::PeerState`] (anchors, synced seq)
    Peers,
    /// Client role: (user, peer, store, luid) → guid of Map items the server
    /// has not confirmed yet; resent at the start of the next session.
    PendingMaps,
    /// (user, time, guid) → [`schema::ConflictRecord`]: every conflict and
    /// how it was resolved, for `syncmld conflicts`.
    Conflicts,
    /// (user, store, content hash, guid) → (): live items by exact content,
    /// so an Add the server already has (a client that lost its map, a
    /// retry) finds it without a scan.
    ContentIndex,
    /// (user, store, identity key, guid) → (): live contacts by normalised
    /// name/phone/email keys, so an Add outside a slow sync finds the same
    /// person without a scan. Maintained lazily from the change log (see
    /// `engine::server::people`).
    PeopleIndex,
    /// (user, store, guid) → the identity keys `PeopleIndex` holds for it,
    /// so re-indexing removes exactly what was written.
    PeopleKeys,
    /// Store-wide facts keyed by name (not by user): the formats older
    /// data has been upgraded to (see [`upgrade`]).
    Meta,
}

impl Table {
    pub const ALL: [Table; 15] = [
        Table::Users,
        Table::Devices,
        Table::Nonces,
        Table::Books,
        Table::Items,
        Table::Changes,
        Table::Tombstones,
        Table::Maps,
        Table::Peers,
        Table::PendingMaps,
        Table::Conflicts,
        Table::ContentIndex,
        Table::PeopleIndex,
        Table::PeopleKeys,
        Table::Meta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Devices => "devices",
            Table::Nonces => "nonces",
            Table::Books => "books",
            Table::Items => "items",
            Table::Changes => "changes",
            Table::Tombstones => "tombstones",
            Table::Maps => "maps",
            Table::Peers => "peers",
            Table::PendingMaps => "pending_maps",
            Table::Conflicts => "conflicts",
            Table::ContentIndex => "content_index",
            Table::PeopleIndex => "people_index",
            Table::PeopleKeys => "people_keys",
            Table::Meta => "meta",
        }
    }
}

/// Errors from a storage backend or from decoding what it holds.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("corrupt record in table {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("record too large to store: {0}")]
    Encode(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A key range for [`KvRead::scan`].
#[derive(Debug, Clone)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key starting with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end: prefix_end(prefix),
        }
    }

    /// Keys `> after` that start with `prefix`.
    pub fn prefix_after(prefix: &[u8], after: &[u8]) -> KeyRange {
        KeyRange {
            start: Bound::Excluded(after.to_vec()),
            end: prefix_end(prefix),
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let lo = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let hi = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        lo && hi
    }
}

/// The smallest key greater than every key with this prefix.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Read access to the tables.
pub trait KvRead {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Up to `limit` entries of `range`, in key order or (`rev`) descending:
    /// what a backend implements; callers use [`scan`](Self::scan) and
    /// [`scan_rev`](Self::scan_rev).
    fn rows(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Up to `limit` entries of `range`, in key order.
    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.rows(table, range, limit, false)
    }
    /// Up to `limit` entries of `range`, in descending key order (the
    /// chunked peer maps find "the chunk at or before this id" with it).
    fn scan_rev(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.rows(table, range, limit, true)
    }
    /// The keys of [`scan`](Self::scan), without copying the values (a
    /// walk over a book's items needs only their GUIDs).
    fn scan_keys(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .scan(table, range, limit)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }
}

/// A storage backend.
pub trait Store: KvRead + Send + Sync {
    /// Apply every write of `batch` atomically, then make it durable.
    fn commit(&self, batch: &Batch) -> Result<()>;
    /// Apply every write of `batch` atomically; the result resolves once it
    /// is durable (the service awaits it without holding a thread). Reads
    /// see the writes as soon as this returns.
    fn apply(&self, batch: &Batch) -> Result<Durability> {
        self.commit(batch).map(|()| Durability::done())
    }
    /// Make everything committed durable (used at shutdown).
    fn flush(&self) -> Result<()>;
    /// Approximate bytes on disk (for stats); 0 when unknown.
    fn size_on_disk(&self) -> u64 {
        0
    }
}

/// One write: `Some(value)` puts, `None` removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// The writes of one message, applied in order by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub writes: Vec<Write>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write {
            table,
            key,
            value: Some(value),
        });
    }
    pub fn remove(&mut self, table: Table, key: Vec<u8>) {
        self.writes.push(Write {
            table,
            key,
            value: None,
        });
    }
}

#[cfg(test)]
pub(crate) mod conformance;
