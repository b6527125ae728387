//! [`Txn`]: one message's writes buffered over a read view.
//!
//! The engine reads through a `Txn` (so it sees its own earlier writes of the
//! same message) and at the end turns it into the [`Batch`] the daemon
//! commits. Nothing here does I/O beyond the reads of the wrapped view.

use std::collections::BTreeMap;

use super::{Batch, KeyRange, KvRead, Result, Table};

pub struct Txn<'a> {
    base: &'a dyn KvRead,
    /// Latest value per (table, key); `None` = removed.
    pending: BTreeMap<(Table, Vec<u8>), Option<Vec<u8>>>,
    batch: Batch,
}

impl<'a> Txn<'a> {
    pub fn new(base: &'a dyn KvRead) -> Self {
        Txn {
            base,
            pending: BTreeMap::new(),
            batch: Batch::default(),
        }
    }

    pub fn put(&mut self, table: Table, key: Vec<u8>, value: Vec<u8>) {
        self.pending
            .insert((table, key.clone()), Some(value.clone()));
        self.batch.put(table, key, value);
    }

    pub fn remove(&mut self, table: Table, key: Vec<u8>) {
        self.pending.insert((table, key.clone()), None);
        self.batch.remove(table, key);
    }

    /// Has anything been written?
    pub fn is_dirty(&self) -> bool {
        !self.batch.is_empty()
    }

    pub fn into_batch(self) -> Batch {
        self.batch
    }
}

impl KvRead for Txn<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending.get(&(table, key.to_vec())) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(table, key),
        }
    }

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        // Pending writes in range, in key order.
        let lo = (table, Vec::new());
        let local: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = self
            .pending
            .range(lo..)
            .take_while(|((t, _), _)| *t == table)
            .filter(|((_, k), _)| range.contains(k))
            .map(|((_, k), v)| (k, v))
            .collect();
        if local.is_empty() {
            return self.base.scan(table, range, limit);
        }
        // Removed keys may hide base entries, so ask the base for enough.
        let removed = local.iter().filter(|(_, v)| v.is_none()).count();
        let base = self
            .base
            .scan(table, range, limit.saturating_add(removed))?;
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
        Ok(merged.into_iter().take(limit).collect())
    }
}
