//! Client engine against the real server stack in process: the driver
//! (`sync_client::sync_once`) posts through `LocalTransport` into a
//! `SyncService` on a memory store; clients have their own memory stores.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::engine::ConflictPolicy;
use crate::engine::book::{self, Change};
use crate::engine::server::{ServerConfig, ServerEngine};
use crate::service::{ServiceLimits, SyncService};
use crate::store::{MemoryStore, Store};
use crate::sync_client::{DriverOptions, LocalTransport, SyncError, sync_once};

struct World {
    service: Arc<SyncService>,
    server_store: Arc<MemoryStore>,
}

impl World {
    fn new(max_msg_size: u64) -> Self {
        let server_store = Arc::new(MemoryStore::new());
        crate::admin::add_user(server_store.as_ref(), "alice", "secret", false, false, 0).unwrap();
        let engine = ServerEngine::new(ServerConfig {
            max_msg_size,
            max_obj_size: 4_000_000,
            schemes: vec![Scheme::Md5, Scheme::Basic, Scheme::Hmac, Scheme::Device],
            require_registered_devices: false,
            store_name: "contacts".into(),
            contact_uris: vec!["addressbook".into()],
            conflict_policy: ConflictPolicy::ServerWins,
            region: crate::contacts::Region::none(),
        });
        let limits = ServiceLimits {
            session_timeout: Duration::from_secs(60),
            max_sessions: 100,
            max_finished_sessions: 1000,
            fallback_url: "http://srv/sync".into(),
        };
        let dyn_store: Arc<dyn Store> = server_store.clone();
        World {
            service: Arc::new(SyncService::new(engine, dyn_store, limits)),
            server_store,
        }
    }

    fn server_book(&self) -> Vec<String> {
        book_values(self.server_store.as_ref(), "alice")
    }
}

/// A client platform: its store and its peer configuration.
struct Platform {
    store: Arc<dyn Store>,
    mem: Arc<MemoryStore>,
    cfg: ClientConfig,
}

impl Platform {
    fn new(device: &str) -> Self {
        let mem = Arc::new(MemoryStore::new());
        let store: Arc<dyn Store> = mem.clone();
        let cfg = ClientConfig {
            peer: "backup".into(),
            local_user: "local".into(),
            url: "http://srv/sync".into(),
            device_id: device.into(),
            user: "alice".into(),
            secret: Secret::Password("secret".into()),
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
        };
        Platform { store, mem, cfg }
    }

    fn book_id(&self) -> BookId {
        BookId {
            user: "local".into(),
            store: "contacts".into(),
        }
    }

    /// A local edit (what the local API or vdir will do): origin "".
    fn add(&self, data: &str) -> String {
        let mut t = Txn::new(self.mem.as_ref());
        let id = book::create(
            &mut t,
            &self.book_id(),
            &Change {
                content_type: mime::VCARD30,
                data,
                origin: "",
                now_ms: 1,
            },
        )
        .unwrap();
        self.mem.commit(&t.into_batch()).unwrap();
        id
    }

    fn modify(&self, fragment: &str, data: &str) {
        let id = self.find(fragment);
        let mut t = Txn::new(self.mem.as_ref());
        let old = schema::item(&t, &self.book_id(), &id).unwrap();
        book::update(
            &mut t,
            &self.book_id(),
            &id,
            old.as_ref(),
            &Change {
                content_type: mime::VCARD30,
                data,
                origin: "",
                now_ms: 2,
            },
        )
        .unwrap();
        self.mem.commit(&t.into_batch()).unwrap();
    }

    fn delete(&self, fragment: &str) {
        let id = self.find(fragment);
        let mut t = Txn::new(self.mem.as_ref());
        let old = schema::item(&t, &self.book_id(), &id).unwrap().unwrap();
        book::delete(&mut t, &self.book_id(), &id, &old, "", 3).unwrap();
        self.mem.commit(&t.into_batch()).unwrap();
    }

    fn find(&self, fragment: &str) -> String {
        schema::items_page(self.mem.as_ref(), &self.book_id(), "", usize::MAX)
            .unwrap()
            .into_iter()
            .find(|(_, r)| !r.deleted && r.data.contains(fragment))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no local item with {fragment}"))
    }

    fn book(&self) -> Vec<String> {
        book_values(self.mem.as_ref(), "local")
    }

    async fn sync(&self, w: &World, mode: u16) -> Result<ClientReport, SyncError> {
        let t = LocalTransport {
            service: w.service.clone(),
            timeout: Duration::from_secs(10),
        };
        sync_once(
            &self.cfg,
            mode,
            &self.store,
            &t,
            &DriverOptions::default(),
            &Default::default(),
        )
        .await
    }
}

fn book_values(store: &dyn KvRead, user: &str) -> Vec<String> {
    let b = BookId {
        user: user.into(),
        store: "contacts".into(),
    };
    let mut v: Vec<String> = schema::items_page(store, &b, "", usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| !r.deleted)
        .map(|(_, r)| r.data)
        .collect();
    v.sort();
    v
}

fn vcard(name: &str, tel: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nN:{name};;;;\r\nTEL:{tel}\r\nEND:VCARD\r\n")
}

#[tokio::test]
async fn first_sync_then_two_way_converges_two_platforms() {
    let w = World::new(150_000);
    let p1 = Platform::new("platform-1");
    let p2 = Platform::new("platform-2");
    p1.add(&vcard("Alice", "1"));
    p1.add(&vcard("Bob", "2"));
    p2.add(&vcard("Carol", "3"));
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(
        r.modes,
        vec![("contacts".into(), alert::SLOW_SYNC)],
        "no anchors yet: slow"
    );
    assert_eq!(r.sent.adds, 2);
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(p1.book().len(), 3);
    assert_eq!(p1.book(), w.server_book());
    assert_eq!(p2.book(), w.server_book());

    // Nothing changed: nothing moves, in either direction.
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(r.modes, vec![("contacts".into(), alert::TWO_WAY)]);
    assert_eq!((r.sent, r.received), (Counts::default(), Counts::default()));

    // Edits on both platforms.
    p1.modify("FN:Alice", &vcard("Alice", "11"));
    p1.delete("FN:Bob");
    p2.add(&vcard("Dave", "4"));
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(
        r.sent,
        Counts {
            adds: 0,
            replaces: 1,
            deletes: 1
        }
    );
    let r = p2.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(
        r.sent,
        Counts {
            adds: 1,
            replaces: 0,
            deletes: 0
        }
    );
    assert_eq!(
        r.received,
        Counts {
            adds: 0,
            replaces: 1,
            deletes: 1
        }
    );
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(
        r.received,
        Counts {
            adds: 1,
            replaces: 0,
            deletes: 0
        },
        "only p2's change, nothing echoed"
    );
    assert_eq!(p1.book(), w.server_book());
    assert_eq!(p2.book(), w.server_book());
}

#[tokio::test]
async fn md5_first_contact_retries_with_the_nonce_and_later_sessions_reuse_it() {
    let w = World::new(150_000);
    let p = Platform::new("platform-md5");
    p.add(&vcard("Alice", "1"));
    let r = p.sync(&w, alert::SLOW_SYNC).await.unwrap();
    assert_eq!(r.sent.adds, 1);
    // The nonce for the next session was stored.
    assert!(
        schema::nonce(p.mem.as_ref(), "local", "backup")
            .unwrap()
            .is_some()
    );
    p.sync(&w, alert::TWO_WAY).await.unwrap();
    // A wrong password fails cleanly.
    let mut bad = Platform::new("platform-md5");
    bad.cfg.secret = Secret::Password("wrong".into());
    let err = bad.sync(&w, alert::TWO_WAY).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Session(ClientFailure::Auth(401))),
        "{err:?}"
    );
}

#[tokio::test]
async fn basic_hmac_and_device_credentials() {
    let w = World::new(150_000);
    crate::admin::add_device(
        w.server_store.as_ref(),
        "alice",
        "plat-hmac",
        Some(b"s3cret"),
        0,
    )
    .unwrap();
    crate::admin::add_device(
        w.server_store.as_ref(),
        "alice",
        "plat-dev",
        Some(b"other"),
        0,
    )
    .unwrap();
    for (device, scheme, secret) in [
        (
            "plat-basic",
            Scheme::Basic,
            Secret::Password("secret".into()),
        ),
        (
            "plat-hmac",
            Scheme::Hmac,
            Secret::Device(b"s3cret".to_vec()),
        ),
        (
            "plat-dev",
            Scheme::Device,
            Secret::Device(b"other".to_vec()),
        ),
    ] {
        let mut p = Platform::new(device);
        p.cfg.scheme = scheme;
        p.cfg.secret = secret;
        p.add(&vcard(device, "1"));
        p.sync(&w, alert::SLOW_SYNC)
            .await
            .unwrap_or_else(|e| panic!("{device}: {e}"));
        p.sync(&w, alert::TWO_WAY)
            .await
            .unwrap_or_else(|e| panic!("{device} second session: {e}"));
    }
    assert_eq!(w.server_book().len(), 3);
}

#[tokio::test]
async fn small_messages_and_large_objects_both_ways() {
    let w = World::new(10_240);
    let p1 = Platform::new("p1");
    let p2 = Platform::new("p2");
    let mut p1 = p1;
    p1.cfg.max_msg_size = 10_240;
    let mut p2 = p2;
    p2.cfg.max_msg_size = 10_240;
    for i in 0..20 {
        p1.add(&vcard(&format!("Bulk {i}"), &"7".repeat(600)));
    }
    let big = vcard("Big", &"x".repeat(25_000));
    p1.add(&big);
    let r = p1.sync(&w, alert::SLOW_SYNC).await.unwrap();
    assert!(r.messages > 4, "split into {} messages", r.messages);
    assert!(
        w.server_book().contains(&big),
        "large item reassembled on the server"
    );
    let r = p2.sync(&w, alert::SLOW_SYNC).await.unwrap();
    assert_eq!(r.received.adds, 21);
    assert!(
        p2.book().contains(&big),
        "large item reassembled on the client"
    );
    assert_eq!(p2.book(), w.server_book());
}

#[tokio::test]
async fn lost_client_state_gives_a_slow_sync_without_duplicates() {
    let w = World::new(150_000);
    let p = Platform::new("p");
    p.add(&vcard("Alice", "1"));
    p.add(&vcard("Bob", "2"));
    p.sync(&w, alert::SLOW_SYNC).await.unwrap();
    // The platform forgets its peer state (anchors) but keeps its data.
    let mut t = Txn::new(p.mem.as_ref());
    schema::remove_peer_state(
        &mut t,
        &PeerId {
            user: "local".into(),
            device: "backup".into(),
            store: "contacts".into(),
        },
    );
    p.mem.commit(&t.into_batch()).unwrap();
    let r = p.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(r.modes, vec![("contacts".into(), alert::SLOW_SYNC)]);
    assert_eq!(w.server_book().len(), 2);
    assert_eq!(p.book(), w.server_book());

    // The server forgets the anchors instead: it answers 508, slow again.
    w.server_store
        .commit(&{
            let mut t = Txn::new(w.server_store.as_ref());
            schema::remove_peer_state(
                &mut t,
                &PeerId {
                    user: "alice".into(),
                    device: "p".into(),
                    store: "contacts".into(),
                },
            );
            t.into_batch()
        })
        .unwrap();
    let r = p.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(r.modes, vec![("contacts".into(), alert::SLOW_SYNC)]);
    assert_eq!(p.book(), w.server_book());
    assert_eq!(p.book().len(), 2);
}

#[tokio::test]
async fn one_way_and_refresh_modes() {
    let w = World::new(150_000);
    let p1 = Platform::new("p1");
    let p2 = Platform::new("p2");
    p1.add(&vcard("Alice", "1"));
    p1.sync(&w, alert::SLOW_SYNC).await.unwrap();
    p2.sync(&w, alert::SLOW_SYNC).await.unwrap();
    p1.add(&vcard("Bob", "2"));
    p2.add(&vcard("Carol", "3"));
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    // 202: Bob goes up, Carol does not come down.
    let r = p1.sync(&w, alert::ONE_WAY_FROM_CLIENT).await.unwrap();
    assert_eq!((r.sent.adds, r.received.adds), (1, 0));
    // 204: Carol comes down; a new local card stays local.
    p1.add(&vcard("Dan", "4"));
    let r = p1.sync(&w, alert::ONE_WAY_FROM_SERVER).await.unwrap();
    assert_eq!((r.sent.adds, r.received.adds), (0, 1));
    assert_eq!(w.server_book().len(), 3);
    // Dan is still pending for the server and goes up with the next two-way.
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(r.sent.adds, 1);
    // 205: p2 gets exactly the server's book; 203: the server gets p1's.
    p2.add(&vcard("Junk", "0"));
    p2.sync(&w, alert::REFRESH_FROM_SERVER).await.unwrap();
    assert_eq!(p2.book(), w.server_book());
    p1.delete("FN:Alice");
    p1.sync(&w, alert::REFRESH_FROM_CLIENT).await.unwrap();
    assert_eq!(p1.book(), w.server_book());
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(p2.book(), w.server_book());
}

#[tokio::test]
async fn poll_first_says_when_either_side_has_something() {
    let w = World::new(150_000);
    let p1 = Platform::new("p1");
    let p2 = Platform::new("p2");
    let server_peer = |dev: &str| PeerId {
        user: "alice".into(),
        device: dev.into(),
        store: "contacts".into(),
    };
    assert!(
        local_pending(p1.mem.as_ref(), &p1.cfg).unwrap(),
        "never synced"
    );
    assert!(
        crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p1")).unwrap()
    );
    p1.add(&vcard("Alice", "1"));
    p1.sync(&w, alert::TWO_WAY).await.unwrap();
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    assert!(!local_pending(p1.mem.as_ref(), &p1.cfg).unwrap());
    assert!(
        !crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p1")).unwrap(),
        "own change not pending"
    );
    assert!(
        !crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p2")).unwrap()
    );
    p2.add(&vcard("Bob", "2"));
    assert!(local_pending(p2.mem.as_ref(), &p2.cfg).unwrap());
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    assert!(
        crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p1")).unwrap(),
        "Bob waits for p1"
    );
    assert!(
        !crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p2")).unwrap()
    );
    p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert!(
        !crate::engine::server::pending_for(w.server_store.as_ref(), &server_peer("p1")).unwrap()
    );
    assert!(
        !local_pending(p1.mem.as_ref(), &p1.cfg).unwrap(),
        "received changes are not pending back"
    );
}

#[tokio::test]
async fn a_platform_can_ask_a_syncmld_server_for_its_conflict_policy() {
    let w = World::new(150_000); // server default: server-wins
    let mut p1 = Platform::new("p1");
    p1.cfg.conflict_preference = Some("client-wins".into());
    let p2 = Platform::new("p2");
    p1.add(&vcard("Carol", "1"));
    p1.sync(&w, alert::SLOW_SYNC).await.unwrap();
    p2.sync(&w, alert::SLOW_SYNC).await.unwrap();
    p2.modify("FN:Carol", &vcard("Carol", "server-side"));
    p2.sync(&w, alert::TWO_WAY).await.unwrap();
    p1.modify("FN:Carol", &vcard("Carol", "platform-side"));
    let r = p1.sync(&w, alert::TWO_WAY).await.unwrap();
    assert_eq!(r.conflicts, 1);
    assert_eq!(
        w.server_book(),
        vec![vcard("Carol", "platform-side")],
        "client-wins was applied"
    );
}
