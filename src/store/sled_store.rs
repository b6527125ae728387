//! The sled backend. One sled tree per [`Table`]; a [`Batch`] is applied in
//! one multi-tree transaction, then the database is flushed.
//!
//! sled rules honoured here (see shared/docs/crates.md §2.3): the transaction
//! closure only touches `TransactionalTree`s and has no side effects (it may
//! re-run); integers in keys are big-endian (the schema does that); the cache
//! size is set explicitly; one process per database, which is why admin
//! commands go through the daemon while it runs.

use std::path::Path;
use std::sync::{Condvar, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::{Batch, KeyRange, KvRead, Result, Store, StoreError, Table};

pub struct SledStore {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    group: GroupFlush,
}

/// Group commit: a commit returns once a flush that *started after* its
/// transaction was applied has finished. Concurrent commits share one
/// flush instead of queueing one each: under load (many users syncing at
/// once) that turns N fsyncs and N thread wake-ups into about one.
#[derive(Default)]
struct GroupFlush {
    state: Mutex<FlushState>,
    done: Condvar,
}

#[derive(Default)]
struct FlushState {
    /// Transactions applied so far (a ticket per commit).
    applied: u64,
    /// Every transaction with a ticket up to this is durable.
    durable: u64,
    flushing: bool,
}

impl GroupFlush {
    /// The state; a panic elsewhere while holding it leaves plain counters,
    /// so poisoning is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, FlushState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make the transaction with `ticket` (and all before it) durable.
    fn wait_durable(&self, ticket: u64, flush: impl Fn() -> Result<()>) -> Result<()> {
        let mut st = self.lock();
        while st.durable < ticket {
            if st.flushing {
                st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Everything applied until now goes into this flush.
            let target = st.applied;
            st.flushing = true;
            drop(st);
            let result = flush();
            st = self.lock();
            st.flushing = false;
            if result.is_ok() {
                st.durable = st.durable.max(target);
            }
            self.done.notify_all();
            result?;
        }
        Ok(())
    }
}

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
        Ok(SledStore {
            db,
            trees,
            group: GroupFlush::default(),
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

    fn scan(
        &self,
        table: Table,
        range: &KeyRange,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for kv in self
            .tree(table)
            .range::<Vec<u8>, _>((range.start.clone(), range.end.clone()))
        {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv.map_err(backend)?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }
}

impl Store for SledStore {
    fn commit(&self, batch: &Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
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
        let ticket = {
            let mut st = self.group.lock();
            st.applied += 1;
            st.applied
        };
        self.group
            .wait_durable(ticket, || self.db.flush().map(|_| ()).map_err(backend))
    }

    fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(backend)
    }

    fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
