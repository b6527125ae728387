//! Behaviour every [`Store`] must have, run against each backend.

use super::*;

pub(crate) fn check_all(store: &dyn Store) {
    point_reads_and_removes(store);
    scans_are_ordered_bounded_and_prefixed(store);
    batches_apply_in_order(store);
    overlay_reads_its_own_writes(store);
}

fn point_reads_and_removes(store: &dyn Store) {
    let mut b = Batch::default();
    b.put(Table::Users, b"alice".to_vec(), b"1".to_vec());
    b.put(Table::Items, b"alice".to_vec(), b"other table".to_vec());
    store.commit(&b).unwrap();
    assert_eq!(
        store.get(Table::Users, b"alice").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        store.get(Table::Items, b"alice").unwrap(),
        Some(b"other table".to_vec())
    );
    assert_eq!(store.get(Table::Users, b"bob").unwrap(), None);
    let mut b = Batch::default();
    b.remove(Table::Users, b"alice".to_vec());
    store.commit(&b).unwrap();
    assert_eq!(store.get(Table::Users, b"alice").unwrap(), None);
    assert_eq!(
        store.get(Table::Items, b"alice").unwrap(),
        Some(b"other table".to_vec())
    );
}

fn scans_are_ordered_bounded_and_prefixed(store: &dyn Store) {
    let mut b = Batch::default();
    for k in [
        &b"p\x01c"[..],
        b"p\x01a",
        b"p\x01b",
        b"p\x02a",
        b"p\x00z",
        b"p\x01\xff",
    ] {
        b.put(Table::Changes, k.to_vec(), k.to_vec());
    }
    store.commit(&b).unwrap();
    let all = store
        .scan(Table::Changes, &KeyRange::prefix(b"p\x01"), usize::MAX)
        .unwrap();
    let keys: Vec<_> = all.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(
        keys,
        vec![
            b"p\x01a".to_vec(),
            b"p\x01b".to_vec(),
            b"p\x01c".to_vec(),
            b"p\x01\xff".to_vec()
        ]
    );
    let two = store
        .scan(Table::Changes, &KeyRange::prefix(b"p\x01"), 2)
        .unwrap();
    assert_eq!(two.len(), 2);
    let after = store
        .scan(
            Table::Changes,
            &KeyRange::prefix_after(b"p\x01", b"p\x01a"),
            10,
        )
        .unwrap();
    assert_eq!(
        after.first().map(|(k, _)| k.clone()),
        Some(b"p\x01b".to_vec())
    );
    assert_eq!(after.len(), 3);
    let none = store
        .scan(Table::Peers, &KeyRange::prefix(b"p"), 10)
        .unwrap();
    assert!(none.is_empty());
}

fn batches_apply_in_order(store: &dyn Store) {
    let mut b = Batch::default();
    b.put(Table::Maps, b"k".to_vec(), b"first".to_vec());
    b.remove(Table::Maps, b"k".to_vec());
    b.put(Table::Maps, b"k".to_vec(), b"last".to_vec());
    b.put(Table::Maps, b"gone".to_vec(), b"x".to_vec());
    b.remove(Table::Maps, b"gone".to_vec());
    store.commit(&b).unwrap();
    assert_eq!(
        store.get(Table::Maps, b"k").unwrap(),
        Some(b"last".to_vec())
    );
    assert_eq!(store.get(Table::Maps, b"gone").unwrap(), None);
}

fn overlay_reads_its_own_writes(store: &dyn Store) {
    let mut b = Batch::default();
    for k in [&b"o\x01"[..], b"o\x02", b"o\x03"] {
        b.put(Table::Tombstones, k.to_vec(), b"base".to_vec());
    }
    store.commit(&b).unwrap();
    let mut txn = Txn::new(store);
    txn.remove(Table::Tombstones, b"o\x01".to_vec());
    txn.put(Table::Tombstones, b"o\x04".to_vec(), b"new".to_vec());
    txn.put(Table::Tombstones, b"o\x02".to_vec(), b"changed".to_vec());
    assert_eq!(txn.get(Table::Tombstones, b"o\x01").unwrap(), None);
    assert_eq!(
        txn.get(Table::Tombstones, b"o\x02").unwrap(),
        Some(b"changed".to_vec())
    );
    let seen = txn
        .scan(Table::Tombstones, &KeyRange::prefix(b"o"), 2)
        .unwrap();
    assert_eq!(
        seen,
        vec![
            (b"o\x02".to_vec(), b"changed".to_vec()),
            (b"o\x03".to_vec(), b"base".to_vec())
        ]
    );
    // Nothing reached the store until commit.
    assert_eq!(store.get(Table::Tombstones, b"o\x04").unwrap(), None);
    let batch = txn.into_batch();
    store.commit(&batch).unwrap();
    let all = store
        .scan(Table::Tombstones, &KeyRange::prefix(b"o"), 10)
        .unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        store.get(Table::Tombstones, b"o\x04").unwrap(),
        Some(b"new".to_vec())
    );
}

#[test]
fn memory_store_conforms() {
    check_all(&MemoryStore::new());
}

#[test]
fn sled_store_conforms() {
    check_all(&SledStore::temporary().unwrap());
}

#[test]
fn sled_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SledStore::open(dir.path(), 8 << 20).unwrap();
        let mut b = Batch::default();
        b.put(Table::Users, b"alice".to_vec(), b"rec".to_vec());
        s.commit(&b).unwrap();
    }
    let s = SledStore::open(dir.path(), 8 << 20).unwrap();
    assert_eq!(
        s.get(Table::Users, b"alice").unwrap(),
        Some(b"rec".to_vec())
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn sled_store_acknowledged_writes_are_on_disk_while_it_runs() {
    // What a commit acknowledged must be in the files before the store is
    // closed: a copy taken while it runs (as a crash would leave it) has
    // it. Both paths: one write (a plain insert) and several (a
    // transaction), awaited blocking and async.
    let dir = tempfile::tempdir().unwrap();
    let s = SledStore::open(dir.path(), 8 << 20).unwrap();
    let mut two = Batch::default();
    two.put(Table::Users, b"alice".to_vec(), b"rec".to_vec());
    two.put(Table::Devices, b"alice/dev".to_vec(), b"dev".to_vec());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(s.apply(&two).unwrap().wait_async()).unwrap();
    let mut one = Batch::default();
    one.put(Table::Nonces, b"alice/dev".to_vec(), b"nonce".to_vec());
    let pending = s.apply(&one).unwrap();
    // Readable at once, before it is durable.
    assert_eq!(
        s.get(Table::Nonces, b"alice/dev").unwrap(),
        Some(b"nonce".to_vec())
    );
    pending.wait().unwrap();

    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    drop(s);
    let c = SledStore::open(copy.path(), 8 << 20).unwrap();
    assert_eq!(
        c.get(Table::Nonces, b"alice/dev").unwrap(),
        Some(b"nonce".to_vec())
    );
    assert_eq!(
        c.get(Table::Users, b"alice").unwrap(),
        Some(b"rec".to_vec())
    );
    assert_eq!(
        c.get(Table::Devices, b"alice/dev").unwrap(),
        Some(b"dev".to_vec())
    );
}
