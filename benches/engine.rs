//! The engine processing whole sessions in-process (client engine ↔ server
//! engine, no HTTP), timing only the server's share: decode, engine,
//! commit + flush, encode (see `syncmld::bench::inproc`).
//!
//! * `two_way_empty`: a two-way session with nothing to sync on a
//!   10,000-contact book (memory store and sled on disk).
//! * `two_way_10_changes`: 10 client edits on a 100 vs 100,000-contact book (sled).
//! * `slow_sync_matching`: a 10,000-contact slow sync whose every card the
//!   server already has — each one matched by content (a new device each
//!   time, so no LUID map helps), sent back byte-identical or re-serialized
//!   as vCard 2.1.

/// The daemon's allocator (src/main.rs), so the figures are the shipped binary's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use syncmld::bench::{inproc, vcards};
use syncmld::protocol::alert;
use syncmld::store::{MemoryStore, SledStore, Store};

struct Setup {
    _dir: Option<tempfile::TempDir>,
    server: Arc<dyn Store>,
}

fn server_store(kind: &str, contacts: usize) -> Setup {
    let (dir, store): (_, Arc<dyn Store>) = match kind {
        "memory" => (None, Arc::new(MemoryStore::new())),
        _ => {
            // On disk (not /dev/shm): the flush per message is part of the cost.
            let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
            let store = SledStore::open(dir.path(), 64 << 20).expect("sled");
            (Some(dir), Arc::new(store))
        }
    };
    inproc::add_user(store.as_ref()).expect("user");
    let cards = vcards::book(1, contacts, None);
    inproc::fill(store.as_ref(), &inproc::server_book(), &cards).expect("fill");
    Setup {
        _dir: dir,
        server: store,
    }
}

/// A client that has completed its first (slow) sync with the server.
fn synced_client(s: &Setup, device: &str) -> (syncmld::engine::client::ClientConfig, MemoryStore) {
    let engine = inproc::server_engine();
    let cfg = inproc::client_config(device);
    let store = MemoryStore::new();
    inproc::session(&engine, s.server.as_ref(), &cfg, &store, alert::TWO_WAY).expect("warm-up");
    (cfg, store)
}

fn two_way_empty(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_way_empty");
    g.sample_size(30);
    for kind in ["memory", "sled"] {
        // Set up only when selected (criterion calls the closure then).
        let mut setup = None;
        let engine = inproc::server_engine();
        g.bench_function(BenchmarkId::new(kind, 10_000), |b| {
            let (s, cfg, client) = setup.get_or_insert_with(|| {
                let s = server_store(kind, 10_000);
                let (cfg, client) = synced_client(&s, "dev-empty");
                (s, cfg, client)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let cost =
                        inproc::session(&engine, s.server.as_ref(), cfg, client, alert::TWO_WAY)
                            .expect("session");
                    assert_eq!(cost.round_trips, 3);
                    total += cost.server_time;
                }
                total
            })
        });
    }
    g.finish();
}

fn two_way_10_changes(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_way_10_changes");
    g.sample_size(30);
    for contacts in [100, 100_000] {
        let mut setup = None;
        let engine = inproc::server_engine();
        let mut tag = 0;
        g.bench_function(BenchmarkId::new("sled", contacts), |b| {
            let (s, cfg, client) = setup.get_or_insert_with(|| {
                let s = server_store("sled", contacts);
                let (cfg, client) = synced_client(&s, "dev-changes");
                (s, cfg, client)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    tag += 1;
                    inproc::edit(client, &inproc::client_book(), 10, tag).expect("edit");
                    let cost =
                        inproc::session(&engine, s.server.as_ref(), cfg, client, alert::TWO_WAY)
                            .expect("session");
                    total += cost.server_time;
                }
                total
            })
        });
    }
    g.finish();
}

fn slow_sync_matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("slow_sync_matching");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    // "identical": the device sends back the bytes it had (found through
    // the content index); "as-2.1": the same contacts re-serialized by a
    // vCard 2.1 phone (parsed and found by content fingerprint).
    for (kind, written) in [
        ("memory", "identical"),
        ("sled", "identical"),
        ("memory", "as-2.1"),
        ("sled", "as-2.1"),
    ] {
        let mut setup = None;
        let engine = inproc::server_engine();
        let mut n = 0;
        g.bench_function(BenchmarkId::new(format!("{kind}/{written}"), 10_000), |b| {
            let (s, client) = setup.get_or_insert_with(|| {
                let s = server_store(kind, 10_000);
                let client = MemoryStore::new();
                let mut cards = vcards::book(1, 10_000, None);
                if written == "as-2.1" {
                    cards = cards
                        .iter()
                        .map(|c| vcards::as_vcard21(c).expect("generated cards parse"))
                        .collect();
                }
                inproc::fill(&client, &inproc::client_book(), &cards).expect("fill");
                // The first slow sync after the import is reported apart
                // (it once caught up the people index; now it needs it only
                // for cards without an identical twin); measured are the
                // sessions after.
                let cfg = inproc::client_config("dev-slow-0");
                let first =
                    inproc::session(&engine, s.server.as_ref(), &cfg, &client, alert::SLOW_SYNC)
                        .expect("first session");
                eprintln!(
                    "slow_sync_matching/{kind}/{written}: first session after the import {:?}",
                    first.server_time
                );
                (s, client)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let cfg = inproc::client_config(&format!("dev-slow-{n}"));
                    let cost =
                        inproc::session(&engine, s.server.as_ref(), &cfg, client, alert::SLOW_SYNC)
                            .expect("session");
                    total += cost.server_time;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    two_way_empty,
    two_way_10_changes,
    slow_sync_matching
);
criterion_main!(benches);
