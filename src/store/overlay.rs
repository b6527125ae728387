//! [`Txn`]: one message's writes buffered over a read view.
//!
//! The engine reads through a `Txn` (so it sees its own earlier writes of the
//! same message) and at the end turns it into the [`Batch`] the daemon
//! commits. Nothing here does I/O beyond the reads of the wrapped view.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;

use super::peer_map::MapCache;
use super::{Batch, KeyRange, KvRead, Result, StoreError, Table, Write};

/// One message's writes: the latest value per key, per table. Each write is
/// kept once (no separate batch list): within one atomic commit only the
/// final value of a key is observable, so [`Txn::into_batch`] emits those,
/// in table and key order.
pub struct Txn<'a> {
    base: &'a dyn KvRead,
    /// Indexed by `Table as usize` (the order of [`Table::ALL`]); `None` =
    /// removed.
    pending: [BTreeMap<Vec<u8>, Option<Vec<u8>>>; Table::ALL.len()],
    /// The peer-map chunks this message read or changed, decoded (see
    /// [`super::peer_map`]); written into `pending` by [`Txn::into_batch`].
    /// A `RefCell` because lookups (`&self`) load chunks into it.
    maps: RefCell<MapCache>,
}

impl<'a> Txn<'a> {
    pub fn new(base: &'a dyn KvRead) -> Self {
        Txn {
            base,
            pending: Default::default(),
            maps: RefCell::default(),
        }
    }

    fn table(&self, table: Table) -> &BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        &self.pending[table as usize]
    }

    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.pending[table as usize].insert(key, Some(value));
    }

    pub fn remove(&mut self, table: Table, key: Vec<u8>) {
        self.pending[table as usize].insert(key, None);
    }

    /// Has anything been written?
    pub fn is_dirty(&self) -> bool {
        self.pending.iter().any(|t| !t.is_empty())
            || self.maps.try_borrow().map_or(true, |m| m.is_dirty())
    }

    /// The chunk cache. Map functions never nest (a chunk loads through
    /// `self`'s plain reads), so it is never already borrowed; were it, that
    /// is an error, not a panic.
    fn map_cache(&self) -> Result<std::cell::RefMut<'_, MapCache>> {
        self.maps
            .try_borrow_mut()
            .map_err(|_| StoreError::Backend("peer-map cache used re-entrantly".into()))
    }

    /// Look `id` up in a peer-map side (see [`super::peer_map`]).
    pub(crate) fn map_get(&self, side: &[u8], id: &str) -> Result<Option<String>> {
        self.map_cache()?.get(self, side, id)
    }

    /// Set `id → other` in a peer-map side; returns the previous value.
    pub(crate) fn map_insert(
        &mut self,
        side: &[u8],
        id: &str,
        other: &str,
    ) -> Result<Option<String>> {
        self.map_cache()?.insert(self, side, id, other)
    }

    /// Remove `id` from a peer-map side; returns what it mapped to.
    pub(crate) fn map_remove(&mut self, side: &[u8], id: &str) -> Result<Option<String>> {
        self.map_cache()?.remove(self, side, id)
    }

    /// Every entry of a peer-map side, with this message's changes.
    pub(crate) fn map_all(&self, side: &[u8]) -> Result<BTreeMap<String, String>> {
        self.map_cache()?.all(self, side)
    }

    /// Forget a side's cached chunks (its rows are being removed).
    pub(crate) fn map_drop_side(&mut self, side: &[u8]) {
        self.maps.get_mut().drop_side(side);
    }

    /// Write the changed peer-map chunks into the pending writes (before
    /// anything reads or writes the map rows directly).
    pub(crate) fn flush_maps(&mut self) {
        let writes = self.maps.get_mut().take_writes();
        for (key, value) in writes {
            self.pending[Table::Maps as usize].insert(key, value);
        }
    }

    pub fn into_batch(mut self) -> Batch {
        self.flush_maps();
        let mut batch = Batch::default();
        for (table, writes) in Table::ALL.into_iter().zip(self.pending) {
            batch.writes.extend(
                writes
                    .into_iter()
                    .map(|(key, value)| Write { table, key, value }),
            );
        }
        batch
    }
}

/// `range` as borrowed bounds, or `None` when it holds no key (a start past
/// its end would make `BTreeMap::range` panic).
pub(super) fn borrowed(range: &KeyRange) -> Option<(Bound<&[u8]>, Bound<&[u8]>)> {
    let start = match &range.start {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let end = match &range.end {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let empty = match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    };
    (!empty).then_some((start, end))
}

impl KvRead for Txn<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.table(table).get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(table, key),
        }
    }

    fn scan_keys(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Vec<Vec<u8>>> {
        let untouched = borrowed(range)
            .is_none_or(|bounds| self.table(table).range::<[u8], _>(bounds).next().is_none());
        if untouched {
            // Nothing of this message's in range: the base's keys as they are.
            return self.base.scan_keys(table, range, limit);
        }
        Ok(self
            .rows(table, range, limit, false)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// The base's rows of `range` with this message's writes laid over
    /// them, up to `limit`, in key order or (`rev`) descending.
    fn rows(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let base_scan = |limit| self.base.rows(table, range, limit, rev);
        // Pending writes in range.
        let Some(bounds) = borrowed(range) else {
            return Ok(Vec::new());
        };
        let local: Vec<(&Vec<u8>, &Option<Vec<u8>>)> =
            self.table(table).range::<[u8], _>(bounds).collect();
        if local.is_empty() {
            return base_scan(limit);
        }
        // Removed keys may hide base entries, so ask the base for enough.
        let removed = local.iter().filter(|(_, v)| v.is_none()).count();
        let base = base_scan(limit.saturating_add(removed))?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = base.into_iter().collect();
        for (k, v) in local {
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        Ok(if rev {
            merged.into_iter().rev().take(limit).collect()
        } else {
            merged.into_iter().take(limit).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store};

    #[test]
    fn a_key_written_twice_is_one_write_of_its_last_value() {
        let store = MemoryStore::new();
        let mut t = Txn::new(&store);
        t.put(Table::Maps, b"k".to_vec(), b"first".to_vec());
        t.put(Table::Items, b"k".to_vec(), b"other table".to_vec());
        t.remove(Table::Maps, b"k".to_vec());
        t.put(Table::Maps, b"k".to_vec(), b"last".to_vec());
        t.put(Table::Maps, b"gone".to_vec(), b"x".to_vec());
        t.remove(Table::Maps, b"gone".to_vec());
        assert!(t.is_dirty());
        let b = t.into_batch();
        let writes: Vec<(Table, &[u8], Option<&[u8]>)> = b
            .writes
            .iter()
            .map(|w| (w.table, w.key.as_slice(), w.value.as_deref()))
            .collect();
        assert_eq!(
            writes,
            vec![
                (Table::Items, &b"k"[..], Some(&b"other table"[..])),
                (Table::Maps, &b"gone"[..], None),
                (Table::Maps, &b"k"[..], Some(&b"last"[..])),
            ]
        );
        store.commit(&b).unwrap();
        assert_eq!(
            store.get(Table::Maps, b"k").unwrap(),
            Some(b"last".to_vec())
        );
        assert!(!Txn::new(&store).is_dirty());
    }

    #[test]
    fn scans_honour_bounds_and_tables_and_empty_ranges_are_empty() {
        let store = MemoryStore::new();
        let mut b = Batch::default();
        b.put(Table::Maps, b"a".to_vec(), b"base".to_vec());
        store.commit(&b).unwrap();
        let mut t = Txn::new(&store);
        for k in [&b"b"[..], b"c", b"d"] {
            t.put(Table::Maps, k.to_vec(), b"new".to_vec());
        }
        t.put(Table::Items, b"c".to_vec(), b"elsewhere".to_vec());
        let keys = |start: Bound<&[u8]>, end: Bound<&[u8]>| -> Vec<Vec<u8>> {
            let r = KeyRange {
                start: start.map(|k| k.to_vec()),
                end: end.map(|k| k.to_vec()),
            };
            t.scan(Table::Maps, &r, 10)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        use Bound::{Excluded, Included, Unbounded};
        assert_eq!(keys(Unbounded, Unbounded), [b"a", b"b", b"c", b"d"]);
        assert_eq!(keys(Excluded(b"a"), Included(b"c")), [b"b", b"c"]);
        assert_eq!(keys(Included(b"c"), Included(b"c")), [b"c"]);
        // Ranges that hold nothing, including ones BTreeMap would reject.
        assert!(keys(Excluded(b"c"), Excluded(b"c")).is_empty());
        assert!(keys(Included(b"d"), Excluded(b"b")).is_empty());
        assert!(keys(Excluded(b"c"), Included(b"c")).is_empty());
    }

    /// Key-only scans (a book walk by GUID) list what `scan` lists, on
    /// both backends, with and without this message's writes in range.
    #[test]
    fn key_scans_agree_with_scans() {
        let dir = tempfile::TempDir::new().unwrap();
        let sled = crate::store::SledStore::open(dir.path(), 1 << 20).unwrap();
        let memory = MemoryStore::new();
        for store in [&sled as &dyn Store, &memory] {
            let mut b = Batch::default();
            for k in [&b"a"[..], b"b", b"c", b"e"] {
                b.put(Table::Items, k.to_vec(), b"a long value".to_vec());
            }
            store.commit(&b).unwrap();
            let mut t = Txn::new(store);
            let all = KeyRange {
                start: Bound::Unbounded,
                end: Bound::Unbounded,
            };
            let agree = |t: &Txn<'_>, limit| {
                let keys: Vec<Vec<u8>> = t
                    .scan(Table::Items, &all, limit)
                    .unwrap()
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                assert_eq!(t.scan_keys(Table::Items, &all, limit).unwrap(), keys);
                keys
            };
            assert_eq!(agree(&t, 10), [b"a", b"b", b"c", b"e"]);
            assert_eq!(agree(&t, 2), [b"a", b"b"]);
            t.remove(Table::Items, b"b".to_vec());
            t.put(Table::Items, b"d".to_vec(), b"new".to_vec());
            assert_eq!(agree(&t, 10), [b"a", b"c", b"d", b"e"]);
            assert_eq!(agree(&t, 2), [b"a", b"c"]);
            let empty = KeyRange {
                start: Bound::Excluded(b"c".to_vec()),
                end: Bound::Excluded(b"c".to_vec()),
            };
            assert!(t.scan_keys(Table::Items, &empty, 10).unwrap().is_empty());
            assert!(
                store
                    .scan_keys(Table::Items, &empty, 10)
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
