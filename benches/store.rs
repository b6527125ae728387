//! The store's "changes since": the range scan of a book's change sequence
//! behind the incremental path, for the last 10 changes of a 100 and a
//! 100,000-contact book (sled on disk). O(changes): both should cost the same.

/// The daemon's allocator (src/main.rs), so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use syncmld::bench::{inproc, vcards};
use syncmld::store::schema;
use syncmld::store::{SledStore, Store};

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

criterion_group!(benches, changes_since);
criterion_main!(benches);
