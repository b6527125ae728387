//! Memory per open session: 10,000 devices each start a session (message
//! 1: auth, DevInf, Alert) and stop there, as slow or dead clients do; the
//! server keeps each session (state, the cached reply for a resend, table
//! entries) until it times out. Counted two ways: live heap bytes (a
//! counting allocator, exact) and the process's RSS. Not criterion: it
//! prints one figure. The server store is sled on disk; its share (a
//! device record and a nonce per new device, in sled's cache) is included.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use syncmld::bench::{inproc, probe};
use syncmld::engine::Env;
use syncmld::engine::client::ClientSession;
use syncmld::http::{SyncHandler, SyncReply, SyncRequest};
use syncmld::protocol::{alert, mime};
use syncmld::service::{ServiceLimits, SyncService};
use syncmld::store::{MemoryStore, SledStore, Store};
use syncmld::wire::xml;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const SESSIONS: usize = 10_000;

/// The first message of device `device` (a slow sync request).
fn first_message(device: &str, client_store: &MemoryStore) -> Vec<u8> {
    let env = Env {
        now_ms: 1_700_000_000_000,
        random: [7; 32],
    };
    // Basic: md5 needs a nonce from an earlier session, and a refused
    // first message opens no session.
    let mut cfg = inproc::client_config(device);
    cfg.scheme = syncmld::auth::Scheme::Basic;
    let step = ClientSession::start(&cfg, alert::TWO_WAY, &env, client_store, &xml::XmlSizer)
        .expect("client start");
    let (_, msg) = step.send.expect("message 1");
    xml::encode(&msg)
}

async fn open(service: &SyncService, body: Vec<u8>) {
    let reply = service
        .handle(SyncRequest {
            query: None,
            content_type: Some(mime::SYNCML_XML.into()),
            body: body.into(),
            remote: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        })
        .await;
    assert!(matches!(reply, SyncReply::Message { .. }), "{reply:?}");
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass other
    // flags: run only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::TempDir::new_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let store = SledStore::open(dir.path(), 64 << 20).expect("sled");
    inproc::add_user(&store).expect("user");
    let store: Arc<dyn Store> = Arc::new(store);
    let service = SyncService::new(
        inproc::server_engine(),
        store,
        ServiceLimits {
            session_timeout: Duration::from_secs(3600),
            max_sessions: SESSIONS * 2,
            max_finished_sessions: SESSIONS * 2,
            fallback_url: inproc::URL.into(),
        },
    );
    let client_store = MemoryStore::new();
    // Messages prepared first, so the client side is not in the count.
    let warm: Vec<Vec<u8>> = (0..1000)
        .map(|i| first_message(&format!("warm-{i}"), &client_store))
        .collect();
    let bodies: Vec<Vec<u8>> = (0..SESSIONS)
        .map(|i| first_message(&format!("device-{i}"), &client_store))
        .collect();
    let request_bytes: usize = bodies.iter().map(Vec::len).sum();
    // Live at the first count and freed by the second: added back below.
    let request_alloc: usize = bodies.iter().map(Vec::capacity).sum();
    rt.block_on(async {
        // Warm-up: tables, sled's first pages, the runtime's threads.
        for b in warm {
            open(&service, b).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let heap0 = LIVE.load(Ordering::Relaxed);
        let (rss0, _) = probe::memory_kib(&[std::process::id()]).expect("rss");
        for b in bodies {
            open(&service, b).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let heap1 = LIVE.load(Ordering::Relaxed);
        let (rss1, _) = probe::memory_kib(&[std::process::id()]).expect("rss");
        assert_eq!(service.session_count(), SESSIONS + 1000);
        // The request bodies were freed as they went (moved into the service).
        let heap = (heap1 - heap0 + request_alloc as isize) as f64 / SESSIONS as f64;
        let rss = (rss1 as f64 - rss0 as f64) * 1024.0 / SESSIONS as f64;
        println!(
            "open sessions: {SESSIONS}; live heap {heap:.0} bytes/session; RSS {rss:.0} bytes/session \
             (requests of {:.0} bytes, not included)",
            request_bytes as f64 / SESSIONS as f64
        );
    });
}
