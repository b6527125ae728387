//! The store's "changes since": the range scan of a book's change sequence
//! behind the incremental path, for the last 10 changes of a 100 and a
//! 100,000-contact book (sled on disk). O(changes): both should cost the same.
//!
//! `map_lookup`: one LUID→GUID lookup in a new message (`Txn`) on a peer
//! map of 100 and of 100,000 entries (chunked, see `store::peer_map`).

/// The daemon's allocator (src/main.rs), so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use syncmld::bench::{inproc, vcards};
use syncmld::store::schema::{self, PeerId};
use syncmld::store::{SledStore, Store, Txn};

fn changes_since(c: &mut Criterion) {
    let mut g = c.benchmark_group("changes_since");
    for contacts in [100usize, 100_000] {
        let book = inproc::server_book();
        let mut setup = None;
        g.bench_function(BenchmarkId::new("last_10", contacts), |b| {
            let (_dir, store, seq) = setup.get_or_insert_with(|| {
                let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
                let store = SledStore::open(dir.path(), 64 << 20).expect("sled");
                inproc::fill(&store, &book, &vcards::book(1, contacts, None)).expect("fill");
                store.flush().expect("flush");
                let seq = schema::book_meta(&store, &book).expect("meta").seq;
                (dir, store, seq)
            });
            b.iter(|| {
                let page = schema::changes_after(&*store, &book, black_box(*seq - 10), 1000)
                    .expect("scan");
                assert_eq!(page.len(), 10);
                page
            })
        });
    }
    g.finish();
}

fn map_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("map_lookup");
    let peer = PeerId {
        user: inproc::USER.into(),
        device: "IMEI:356938035643809".into(),
        store: inproc::BOOK.into(),
    };
    for entries in [100usize, 100_000] {
        let mut setup = None;
        g.bench_function(BenchmarkId::new("luid", entries), |b| {
            let (_dir, store) = setup.get_or_insert_with(|| {
                let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
                let store = SledStore::open(dir.path(), 64 << 20).expect("sled");
                let ids: Vec<usize> = (0..entries).collect();
                for chunk in ids.chunks(10_000) {
                    let mut t = Txn::new(&store);
                    for i in chunk {
                        schema::put_map(&mut t, &peer, &format!("{i}"), &format!("{i:x}"))
                            .expect("map");
                    }
                    store.commit(&t.into_batch()).expect("commit");
                }
                (dir, store)
            });
            let mut n = 0usize;
            b.iter(|| {
                n = (n + 7919) % entries;
                let t = Txn::new(&*store);
                let guid =
                    schema::guid_for_luid(&t, &peer, black_box(&format!("{n}"))).expect("lookup");
                assert!(guid.is_some());
                guid
            })
        });
    }
    g.finish();
}

criterion_group!(benches, changes_since, map_lookup);
criterion_main!(benches);
