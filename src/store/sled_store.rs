//! The sled backend. One sled tree per [`Table`]; a [`Batch`] of one write
//! is a plain insert or remove, a larger one a multi-tree transaction; then
//! the group commit's flusher thread ([`super::group_flush`]) makes it
//! durable.
//!
//! sled rules honoured here (see shared/docs/crates.md §2.3): the transaction
//! closure only touches `TransactionalTree`s and has no side effects (it may
//! re-run); integers in keys are big-endian (the schema does that); the cache
//! size is set explicitly; one process per database, which is why admin
//! commands go through the daemon while it runs.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::group_flush::{Durability, GroupFlush};
use super::{Batch, KeyRange, KvRead, Result, Store, StoreError, Table};

pub struct SledStore {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    /// Group commit: the flusher thread makes applied transactions durable.
    group: Arc<GroupFlush>,
    flusher: Option<JoinHandle<()>>,
}

/// The group flush's gather window under back-to-back load (see
/// [`super::group_flush`]): at 1,000 concurrent clients it halves the
/// flushes and cuts the server's CPU per session by ~15 %
/// (docs/performance.md, third round).
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    /// Open (or create) the database in `dir`. Fails, with sled's reason,
    /// when another process holds it or it is corrupt.
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .open()
            .map_err(|e| {
                StoreError::Backend(format!("cannot open store at {}: {e}", dir.display()))
            })?;
        Self::from_db(db)
    }

    /// A throw-away database (tests).
    pub fn temporary() -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(backend)?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self> {
        let mut trees = Vec::with_capacity(Table::ALL.len());
        for t in Table::ALL {
            trees.push(db.open_tree(t.name()).map_err(backend)?);
        }
        let flush_db = db.clone();
        let (group, flusher) = GroupFlush::start("syncmld-flush", GATHER, move || {
            flush_db.flush().map(|_| ()).map_err(backend)
        })?;
        Ok(SledStore {
            db,
            trees,
            group,
            flusher: Some(flusher),
        })
    }

    fn tree(&self, t: Table) -> &sled::Tree {
        // Table::ALL order is the index order; `t as usize` matches it.
        &self.trees[t as usize]
    }
}

impl KvRead for SledStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .tree(table)
            .get(key)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn scan_keys(&self, table: Table, range: &KeyRange, limit: usize) -> Result<Vec<Vec<u8>>> {
        if super::overlay::borrowed(range).is_none() {
            return Ok(Vec::new());
        }
        self.tree(table)
            .range::<Vec<u8>, _>((range.start.clone(), range.end.clone()))
            .keys()
            .take(limit)
            .map(|k| k.map(|k| k.to_vec()).map_err(backend))
            .collect()
    }

    fn rows(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
        rev: bool,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if super::overlay::borrowed(range).is_none() {
            return Ok(Vec::new());
        }
        let iter = self
            .tree(table)
            .range::<Vec<u8>, _>((range.start.clone(), range.end.clone()));
        let rows: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> = if rev {
            Box::new(iter.rev())
        } else {
            Box::new(iter)
        };
        rows.take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Flush what was applied, and release the flusher's handle on the
        // database before sled's own (its file lock goes with the last one).
        self.group.stop();
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
    }
}

impl Store for SledStore {
    fn commit(&self, batch: &Batch) -> Result<()> {
        self.apply(batch)?.wait()
    }

    fn apply(&self, batch: &Batch) -> Result<Durability> {
        match batch.writes.as_slice() {
            [] => return Ok(Durability::done()),
            [w] => {
                // One write is atomic on its own. A sled transaction would
                // roll the log buffer twice (two log writes, each waking
                // sled's I/O threads); a plain insert adds to the buffer
                // the group flush writes anyway. Most messages of an
                // incremental session write one key.
                let tree = self.tree(w.table);
                match &w.value {
                    Some(v) => tree.insert(w.key.as_slice(), v.as_slice()),
                    None => tree.remove(w.key.as_slice()),
                }
                .map_err(backend)?;
                return Ok(self.group.applied());
            }
            _ => {}
        }
        let trees: &[sled::Tree] = &self.trees;
        let result: std::result::Result<(), TransactionError<StoreError>> =
            trees.transaction(|txs| {
                for w in &batch.writes {
                    let tx = &txs[w.table as usize];
                    match &w.value {
                        Some(v) => {
                            tx.insert(w.key.as_slice(), v.as_slice())?;
                        }
                        None => {
                            tx.remove(w.key.as_slice())?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(backend(e)),
        }
        Ok(self.group.applied())
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(backend)
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
