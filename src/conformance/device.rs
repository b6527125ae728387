//! A virtual device: the client engine over an in-memory store.
//!
//! Each scenario makes fresh devices (a fresh store means no anchors, so
//! their first session is a slow sync and whatever an earlier scenario left
//! for the same device id on the server is re-matched, not trusted). Local
//! edits go through `engine::book` as the local API would make them.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::Scheme;
use crate::engine::book::{self, Change};
use crate::engine::client::{ClientConfig, ClientReport, DbMapping, Secret};
use crate::protocol::mime;
use crate::store::schema::{self, BookId, PeerId};
use crate::store::{MemoryStore, Store, Txn};
use crate::sync_client::{DriverOptions, sync_once};

use super::ctx::Ctx;
use super::inspect::Seen;
use super::scenarios::Fail;
use super::vcard::Card;

/// Local names inside the device's own store.
const PEER: &str = "conformance";
const LOCAL_USER: &str = "local";
const BOOK: &str = "contacts";

pub struct Device {
    pub id: String,
    mem: Arc<MemoryStore>,
    store: Arc<dyn Store>,
    cfg: ClientConfig,
}

/// One session of a device: the engine's report and the messages.
pub struct Session {
    pub report: ClientReport,
    pub seen: Seen,
}

impl Device {
    pub fn new(cx: &Ctx, n: usize, max_msg_size: u64) -> Self {
        let mem = Arc::new(MemoryStore::new());
        let store: Arc<dyn Store> = mem.clone();
        let o = &cx.opts;
        let cfg = ClientConfig {
            peer: PEER.into(),
            local_user: LOCAL_USER.into(),
            url: o.url.clone(),
            device_id: cx.device_id(n),
            user: o.user.clone(),
            secret: Secret::Password(o.password.clone()),
            scheme: if o.auth == Scheme::Basic {
                Scheme::Basic
            } else {
                Scheme::Md5
            },
            max_msg_size,
            max_obj_size: 4_000_000,
            dbs: vec![DbMapping {
                local: BOOK.into(),
                local_uri: format!("./{BOOK}"),
                remote_uri: o.datastore.clone(),
            }],
            // A fresh store has no nonce: the first attempt may get a 401
            // with the challenge, the retry then succeeds.
            max_auth_retries: 2,
            conflict_preference: None,
        };
        Device {
            id: cfg.device_id.clone(),
            mem,
            store,
            cfg,
        }
    }

    fn book(&self) -> BookId {
        BookId {
            user: LOCAL_USER.into(),
            store: BOOK.into(),
        }
    }

    fn peer(&self) -> PeerId {
        PeerId {
            user: LOCAL_USER.into(),
            device: PEER.into(),
            store: BOOK.into(),
        }
    }

    /// A local new contact; returns its LUID.
    pub fn add(&self, text: &str) -> Result<String, Fail> {
        let mut t = Txn::new(self.mem.as_ref());
        let id = book::create(&mut t, &self.book(), &change(text))?;
        self.mem.commit(&t.into_batch())?;
        Ok(id)
    }

    pub fn modify(&self, luid: &str, text: &str) -> Result<(), Fail> {
        let mut t = Txn::new(self.mem.as_ref());
        let old = schema::item(&t, &self.book(), luid)?;
        book::update(&mut t, &self.book(), luid, old.as_ref(), &change(text))?;
        self.mem.commit(&t.into_batch())?;
        Ok(())
    }

    pub fn delete(&self, luid: &str) -> Result<(), Fail> {
        let mut t = Txn::new(self.mem.as_ref());
        let Some(old) = schema::item(&t, &self.book(), luid)?.filter(|r| !r.deleted) else {
            return Err(Fail::Check(format!("no local item {luid} to delete")));
        };
        book::delete(&mut t, &self.book(), luid, &old, "", now_ms())?;
        self.mem.commit(&t.into_batch())?;
        Ok(())
    }

    /// Live items: (LUID, vCard text).
    pub fn items(&self) -> Result<Vec<(String, String)>, Fail> {
        Ok(
            schema::items_page(self.mem.as_ref(), &self.book(), "", usize::MAX)?
                .into_iter()
                .filter(|(_, r)| !r.deleted)
                .map(|(id, r)| (id, r.data))
                .collect(),
        )
    }

    /// Live items as normalised cards.
    pub fn cards(&self) -> Result<Vec<(String, Card)>, Fail> {
        Ok(self
            .items()?
            .into_iter()
            .map(|(id, data)| (id, Card::parse(&data).unwrap_or_default()))
            .collect())
    }

    /// LUIDs of the live items equal in content to `card`.
    pub fn luids_of(&self, card: &Card) -> Result<Vec<String>, Fail> {
        Ok(self
            .cards()?
            .into_iter()
            .filter(|(_, c)| c == card)
            .map(|(id, _)| id)
            .collect())
    }

    /// Our Next anchor of the last completed session (what we send as Last).
    pub fn client_anchor(&self) -> Result<Option<String>, Fail> {
        Ok(schema::peer_state(self.mem.as_ref(), &self.peer())?.and_then(|s| s.client_anchor))
    }

    /// Overwrite our saved anchor (to present a wrong Last).
    pub fn set_client_anchor(&self, anchor: &str) -> Result<(), Fail> {
        let mut st = schema::peer_state(self.mem.as_ref(), &self.peer())?.unwrap_or_default();
        st.client_anchor = Some(anchor.to_owned());
        let mut t = Txn::new(self.mem.as_ref());
        schema::put_peer_state(&mut t, &self.peer(), &st);
        self.mem.commit(&t.into_batch())?;
        Ok(())
    }

    /// One session in `mode` (200–205). The nonce the runner last saw for
    /// this device id goes in first, so md5 usually needs no retry.
    pub async fn sync(&self, cx: &Ctx, mode: u16) -> Result<Session, Fail> {
        if let Some(n) = cx.nonce(&self.id) {
            let mut t = Txn::new(self.mem.as_ref());
            schema::put_nonce(&mut t, LOCAL_USER, PEER, &n);
            self.mem.commit(&t.into_batch())?;
        }
        cx.touch();
        let mark = cx.rec.mark();
        let opts = DriverOptions {
            resends: 1,
            max_messages: 5_000,
        };
        let result = sync_once(
            &self.cfg,
            mode,
            &self.store,
            &cx.rec,
            &opts,
            &Default::default(),
        )
        .await;
        if let Ok(Some(n)) = schema::nonce(self.mem.as_ref(), LOCAL_USER, PEER) {
            cx.set_nonce(&self.id, n);
        }
        let seen = Seen::new(cx.rec.since(mark));
        match result {
            Ok(report) => Ok(Session { report, seen }),
            Err(e) => Err(Fail::Sync(format!(
                "{} ({}): {e}",
                self.id,
                super::scenarios::mode_name(mode)
            ))),
        }
    }
}

fn change(text: &str) -> Change<'_> {
    Change {
        content_type: if text.contains("VERSION:2.1") {
            mime::VCARD21
        } else {
            mime::VCARD30
        },
        data: text,
        origin: "",
        now_ms: now_ms(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
