//! An in-memory [`Store`]: the reference implementation the sled backend is
//! checked against, and the store of engine tests and simulations.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Batch, KeyRange, KvRead, Result, Store, StoreError, Table};

#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>>> {
        self.tables
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }

    /// Every entry of every table, for whole-store comparisons in tests.
    pub fn dump(&self) -> Result<BTreeMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>> {
        Ok(self.lock()?.clone())
    }
}

impl KvRead for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.lock()?.get(&table).and_then(|t| t.get(key)).cloned())
    }

    fn scan_keys(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Vec<Vec<u8>>> {
        let guard = self.lock()?;
        let (Some(t), Some(bounds)) = (guard.get(&table), super::overlay::borrowed(range)) else {
            return Ok(Vec::new());
        };
        Ok(t.range::<[u8], _>(bounds)
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn rows(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let guard = self.lock()?;
        let (Some(t), Some(bounds)) = (guard.get(&table), super::overlay::borrowed(range)) else {
            return Ok(Vec::new());
        };
        let rows = t.range::<[u8], _>(bounds);
        let clone = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if rev {
            rows.rev().take(limit).map(clone).collect()
        } else {
            rows.take(limit).map(clone).collect()
        })
    }
}

impl Store for MemoryStore {
    fn commit(&self, batch: &Batch) -> Result<()> {
        let mut guard = self.lock()?;
        for w in &batch.writes {
            let t = guard.entry(w.table).or_default();
            match &w.value {
                Some(v) => {
                    t.insert(w.key.clone(), v.clone());
                }
                None => {
                    t.remove(&w.key);
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
