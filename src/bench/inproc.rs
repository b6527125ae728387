//! Whole sessions between the client engine and the server engine in one
//! process, without HTTP: for the micro-benchmarks (`benches/`) and the
//! per-session figures in docs/performance.md.
//!
//! Only the server's share of each message is timed — decode of the
//! client's bytes, `ServerEngine::handle`, commit (with the store's flush),
//! encode of the reply — which is what "server time" means in the targets.
//! The client's share runs untimed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::Scheme;
use crate::engine::book::{self, Change};
use crate::engine::client::{ClientConfig, ClientSession, DbMapping, Secret};
use crate::engine::server::{ServerConfig, ServerEngine, ServerSession};
use crate::engine::{ConflictPolicy, Env};
use crate::store::schema::BookId;
use crate::store::{Store, Txn};
use crate::wire::xml;

use super::BenchError;

pub const URL: &str = "http://127.0.0.1/sync";
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench";
/// The server's book name (as the daemon's).
pub const BOOK: &str = "contacts";

/// The daemon's engine settings (embedded defaults: merge policy, no
/// default phone region) with md5 and basic accepted.
pub fn server_engine() -> ServerEngine {
    ServerEngine::new(ServerConfig {
        max_msg_size: 150_000,
        max_obj_size: 4_000_000,
        schemes: vec![Scheme::Md5, Scheme::Basic],
        require_registered_devices: false,
        store_name: BOOK.into(),
        contact_uris: vec!["addressbook".into()],
        conflict_policy: ConflictPolicy::Merge,
        region: crate::contacts::Region::none(),
    })
}

/// A client engine configuration for device `device` of [`USER`].
pub fn client_config(device: &str) -> ClientConfig {
    ClientConfig {
        peer: "server".into(),
        local_user: "local".into(),
        url: URL.into(),
        device_id: device.into(),
        user: USER.into(),
        secret: Secret::Password(PASSWORD.into()),
        scheme: Scheme::Md5,
        max_msg_size: 150_000,
        max_obj_size: 4_000_000,
        dbs: vec![DbMapping {
            local: "contacts".into(),
            local_uri: "./contacts".into(),
            remote_uri: "addressbook".into(),
        }],
        max_auth_retries: 2,
        conflict_preference: None,
    }
}

/// The client's local book (as in [`client_config`]).
pub fn client_book() -> BookId {
    BookId {
        user: "local".into(),
        store: "contacts".into(),
    }
}

pub fn server_book() -> BookId {
    BookId {
        user: USER.into(),
        store: BOOK.into(),
    }
}

/// Add [`USER`] to a server store.
pub fn add_user(store: &dyn Store) -> Result<(), BenchError> {
    crate::admin::add_user(store, USER, PASSWORD, false, true, 0)
        .map_err(|e| BenchError::Prepare(e.to_string()))
}

/// Write `cards` into `book` as local changes, committing every 5,000.
pub fn fill(store: &dyn Store, book: &BookId, cards: &[String]) -> Result<(), BenchError> {
    for chunk in cards.chunks(5000) {
        let mut txn = Txn::new(store);
        for card in chunk {
            let change = Change {
                content_type: crate::protocol::mime::VCARD30,
                data: card,
                origin: "",
                now_ms: 0,
            };
            book::create(&mut txn, book, &change)?;
        }
        store.commit(&txn.into_batch())?;
    }
    Ok(())
}

/// Distinct random bytes per message without a system call (reproducible).
fn env() -> Env {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 32];
    for (i, chunk) in random.chunks_mut(8).enumerate() {
        let x = n
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(i as u32 * 16)
            ^ i as u64;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    Env {
        now_ms: 1_700_000_000_000 + n,
        random,
    }
}

/// What one session cost the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCost {
    pub server_time: Duration,
    pub round_trips: u32,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Run one whole session of `client` (its state in `client_store`) in
/// `mode` against the server engine on `server_store`.
pub fn session(
    engine: &ServerEngine,
    server_store: &dyn Store,
    client: &ClientConfig,
    client_store: &dyn Store,
    mode: u16,
) -> Result<SessionCost, BenchError> {
    let sizer = xml::XmlSizer;
    let mut cost = SessionCost::default();
    let mut step = ClientSession::start(client, mode, &env(), client_store, &sizer)?;
    client_store.commit(&step.batch)?;
    let mut server: Option<ServerSession> = None;
    loop {
        if let Some(done) = step.done {
            return match done {
                Ok(_) => Ok(cost),
                Err(e) => Err(BenchError::Task(format!("session failed: {e}"))),
            };
        }
        let (Some((_, msg)), Some(client_session)) = (step.send, step.next) else {
            return Err(BenchError::Task(
                "the client stopped without a result".into(),
            ));
        };
        let request = xml::encode(&msg);
        cost.round_trips += 1;
        cost.bytes_in += request.len() as u64;

        let started = Instant::now();
        let decoded =
            xml::decode(&request).map_err(|e| BenchError::Task(format!("decode: {e}")))?;
        let outcome = engine.handle(server.take(), decoded, &env(), server_store, &sizer, URL)?;
        server_store.commit(&outcome.batch)?;
        let reply = xml::encode(&outcome.reply);
        cost.server_time += started.elapsed();

        cost.bytes_out += reply.len() as u64;
        server = outcome.next;
        let reply = xml::decode(&reply).map_err(|e| BenchError::Task(format!("decode: {e}")))?;
        step = client_session.handle(reply, &env(), client_store, &sizer)?;
        client_store.commit(&step.batch)?;
    }
}

/// Change the first `n` live items of `book` (a new NOTE tagged `tag`), as
/// local edits the next session sends.
pub fn edit(store: &dyn Store, book: &BookId, n: usize, tag: u64) -> Result<(), BenchError> {
    let page = crate::store::schema::items_page(store, book, "", n)?;
    let mut txn = Txn::new(store);
    for (id, rec) in page.iter().filter(|(_, r)| !r.deleted) {
        let data = super::vcards::with_note(&rec.data, &format!("edit {tag}"));
        let change = Change {
            content_type: &rec.content_type,
            data: &data,
            origin: "",
            now_ms: 0,
        };
        book::update(&mut txn, book, id, Some(rec), &change)?;
    }
    store.commit(&txn.into_batch())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::alert;
    use crate::store::MemoryStore;

    /// The bytes target (an empty session under a quarter of SyncEvolution's
    /// 16 KB each way) and the 3 round trips, kept by a test.
    #[test]
    fn empty_two_way_session_is_three_small_round_trips() {
        let engine = server_engine();
        let server = MemoryStore::new();
        add_user(&server).unwrap();
        fill(
            &server,
            &server_book(),
            &super::super::vcards::book(1, 50, None),
        )
        .unwrap();
        let client = MemoryStore::new();
        let cfg = client_config("dev-1");
        let first = session(&engine, &server, &cfg, &client, alert::TWO_WAY).unwrap();
        assert!(first.round_trips >= 3);
        let cost = session(&engine, &server, &cfg, &client, alert::TWO_WAY).unwrap();
        assert_eq!(cost.round_trips, 3);
        assert!(cost.bytes_in < 4096, "{cost:?}");
        assert!(cost.bytes_out < 4096, "{cost:?}");
        // Ten local edits reach the server in the same three round trips.
        edit(&client, &client_book(), 10, 1).unwrap();
        let cost = session(&engine, &server, &cfg, &client, alert::TWO_WAY).unwrap();
        assert_eq!(cost.round_trips, 3);
    }
}
