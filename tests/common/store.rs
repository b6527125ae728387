//! Whole-store snapshots, to prove that a request left the store unchanged.
//!
//! sled allows one process per database, so [`store_snapshot`] needs the
//! daemon stopped (`server.stop()`). [`live_store_snapshot`] reads a *copy*
//! of the store directory while the daemon runs; it is only meaningful while
//! no request is in flight (the daemon commits and flushes every message
//! before it replies, and does nothing in between). Tests that use it also
//! take a stopped snapshot at the end, and
//! `bad_input::live_snapshot_equals_stopped_snapshot` checks the two agree.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use syncmld::store::schema::{self, BookId, DeviceRecord, ItemRecord};
use syncmld::store::{KeyRange, KvRead, SledStore, Table};

/// Every row of every table: (table name, key) → value.
pub type Snapshot = BTreeMap<(&'static str, Vec<u8>), Vec<u8>>;

/// Cache size for snapshot readers.
const CACHE: u64 = 8 << 20;

/// Snapshot of `<data_dir>/store`. The daemon must be stopped.
pub fn store_snapshot(data_dir: &Path) -> Snapshot {
    let dir = data_dir.join("store");
    let store = SledStore::open(&dir, CACHE).unwrap_or_else(|e| {
        panic!(
            "cannot open {} for a snapshot (is the daemon still running?): {e}",
            dir.display()
        )
    });
    snapshot_of(&store)
}

/// Snapshot of a copy of `<data_dir>/store`, taken while the daemon runs
/// and is idle (no request in flight).
pub fn live_store_snapshot(data_dir: &Path) -> Snapshot {
    let copy = tempfile::Builder::new()
        .prefix("syncmld-live-snapshot-")
        .tempdir()
        .unwrap();
    copy_dir(&data_dir.join("store"), copy.path());
    let store = SledStore::open(copy.path(), CACHE)
        .unwrap_or_else(|e| panic!("cannot open the copied store: {e}"));
    snapshot_of(&store)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn snapshot_of(store: &SledStore) -> Snapshot {
    let mut out = Snapshot::new();
    for table in Table::ALL {
        for (k, v) in store
            .scan(table, &KeyRange::prefix(&[]), usize::MAX)
            .unwrap()
        {
            out.insert((table.name(), k), v);
        }
    }
    out
}

/// The snapshot without the rows of `tables`.
pub fn without(snap: &Snapshot, tables: &[&str]) -> Snapshot {
    snap.iter()
        .filter(|((t, _), _)| !tables.contains(t))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Rows of one table.
pub fn rows<'a>(snap: &'a Snapshot, table: &str) -> Vec<(&'a [u8], &'a [u8])> {
    snap.iter()
        .filter(|((t, _), _)| *t == table)
        .map(|((_, k), v)| (k.as_slice(), v.as_slice()))
        .collect()
}

/// A readable account of how `after` differs from `before` (empty if equal).
pub fn diff(before: &Snapshot, after: &Snapshot) -> String {
    let mut out = String::new();
    for (k, v) in before {
        match after.get(k) {
            None => writeln!(out, "  removed {}", row(k, v)).unwrap(),
            Some(w) if w != v => {
                writeln!(out, "  changed {}\n       to {}", row(k, v), row(k, w)).unwrap()
            }
            _ => {}
        }
    }
    for (k, v) in after {
        if !before.contains_key(k) {
            writeln!(out, "  added   {}", row(k, v)).unwrap();
        }
    }
    out
}

fn row((table, key): &(&'static str, Vec<u8>), value: &[u8]) -> String {
    format!(
        "{table} {} = {}",
        printable(key),
        printable(&value[..value.len().min(160)])
    )
}

fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Panic with the differences when the snapshots are not equal.
#[track_caller]
pub fn assert_same_store(before: &Snapshot, after: &Snapshot, what: &str) {
    if before != after {
        panic!(
            "{what}: the store changed ({} rows before, {} after):\n{}",
            before.len(),
            after.len(),
            diff(before, after)
        );
    }
}

/// The live (not deleted) items of `user`'s contacts book.
pub fn live_items(snap: &Snapshot, user: &str) -> Vec<(String, ItemRecord)> {
    let mut store = syncmld::store::MemoryStore::new();
    load(&mut store, snap);
    let book = BookId {
        user: user.to_owned(),
        store: "contacts".to_owned(),
    };
    schema::items_page(&store, &book, "", usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| !r.deleted)
        .collect()
}

/// The device record of (user, device).
pub fn device_record(snap: &Snapshot, user: &str, device: &str) -> Option<DeviceRecord> {
    let mut store = syncmld::store::MemoryStore::new();
    load(&mut store, snap);
    schema::device(&store, user, device).unwrap()
}

fn load(store: &mut syncmld::store::MemoryStore, snap: &Snapshot) {
    use syncmld::store::{Batch, Store};
    let mut batch = Batch::default();
    for ((table, k), v) in snap {
        let t = Table::ALL.into_iter().find(|t| t.name() == *table).unwrap();
        batch.put(t, k.clone(), v.clone());
    }
    store.commit(&batch).unwrap();
}
