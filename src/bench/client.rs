//! One virtual SyncML client: the client engine with an in-memory store
//! (no daemon state, nothing on disk), driven by `sync_client::sync_once`
//! over a transport that times and weighs every round trip.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::auth::Scheme;
use crate::engine::book::{self, Change};
use crate::engine::client::{ClientConfig, ClientFailure, DbMapping, Secret};
use crate::store::schema::{self, BookId};
use crate::store::{MemoryStore, Store, Txn};
use crate::sync_client::{self, DriverOptions, SyncError, Transport, TransportError};

use super::BenchError;
use super::stats::{MessageSample, SessionSample};

/// Name of the local book and of the peer in the client's store.
const LOCAL_USER: &str = "bench";
const LOCAL_BOOK: &str = "contacts";
const PEER: &str = "server";

/// Who a virtual client is at the server.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub password: String,
    pub device_id: String,
}

/// Settings shared by every virtual client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub url: String,
    pub remote_uri: String,
    pub scheme: Scheme,
    pub max_msg_size: u64,
}

pub struct VirtualClient {
    cfg: ClientConfig,
    store: Arc<dyn Store>,
    lock: crate::local_book::WriteLock,
    /// Which items the next local edits touch (round robin over the book).
    edit_cursor: String,
    edits: u64,
}

impl VirtualClient {
    /// A client whose book holds `cards` (local changes, sent on its first sync).
    pub fn new(
        id: &Identity,
        settings: &ClientSettings,
        cards: &[String],
    ) -> Result<VirtualClient, BenchError> {
        let cfg = ClientConfig {
            peer: PEER.into(),
            local_user: LOCAL_USER.into(),
            url: settings.url.clone(),
            device_id: id.device_id.clone(),
            user: id.user.clone(),
            secret: Secret::Password(id.password.clone()),
            scheme: settings.scheme,
            max_msg_size: settings.max_msg_size,
            max_obj_size: 4_000_000,
            dbs: vec![DbMapping {
                local: LOCAL_BOOK.into(),
                local_uri: format!("./{LOCAL_BOOK}"),
                remote_uri: settings.remote_uri.clone(),
            }],
            max_auth_retries: 2,
            conflict_preference: None,
        };
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        if !cards.is_empty() {
            let mut txn = Txn::new(store.as_ref());
            for card in cards {
                book::create(&mut txn, &book_id(), &local_change(card))?;
            }
            store.commit(&txn.into_batch())?;
        }
        Ok(VirtualClient {
            cfg,
            store,
            lock: Default::default(),
            edit_cursor: String::new(),
            edits: 0,
        })
    }

    /// Live items in the local book.
    pub fn book_len(&self) -> Result<usize, BenchError> {
        Ok(
            schema::items_page(self.store.as_ref(), &book_id(), "", usize::MAX)?
                .iter()
                .filter(|(_, r)| !r.deleted)
                .count(),
        )
    }

    /// Change `n` local items (a new NOTE each time), round robin over the
    /// book, so the next session has `n` Replaces to send.
    pub fn edit(&mut self, n: usize) -> Result<(), BenchError> {
        if n == 0 {
            return Ok(());
        }
        let b = book_id();
        let store = self.store.clone();
        let mut txn = Txn::new(store.as_ref());
        let mut done = 0;
        let mut wrapped = false;
        while done < n {
            let page = schema::items_page(&txn, &b, &self.edit_cursor, n - done)?;
            if page.is_empty() {
                if wrapped || self.edit_cursor.is_empty() {
                    break; // an empty book: nothing to edit
                }
                wrapped = true;
                self.edit_cursor.clear();
                continue;
            }
            for (luid, rec) in page {
                self.edit_cursor = luid.clone();
                if rec.deleted {
                    continue;
                }
                self.edits += 1;
                let data =
                    super::vcards::with_note(&rec.data, &format!("bench edit {}", self.edits));
                book::update(&mut txn, &b, &luid, Some(&rec), &local_change(&data))?;
                done += 1;
            }
        }
        self.store.commit(&txn.into_batch())?;
        Ok(())
    }

    /// One session in `mode`, timed; never fails (a failure is in the sample).
    pub async fn session<T: Transport>(&self, mode: u16, transport: &T) -> SessionSample {
        let measured = Measured {
            inner: transport,
            log: Mutex::new(Vec::new()),
        };
        let opts = DriverOptions {
            // A resend would be a second round trip of the same message: a
            // benchmark counts a timeout as an error instead.
            resends: 0,
            ..DriverOptions::default()
        };
        let started = Instant::now();
        let result =
            sync_client::sync_once(&self.cfg, mode, &self.store, &measured, &opts, &self.lock)
                .await;
        let latency = started.elapsed();
        let messages = measured.log.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut sample = SessionSample {
            latency,
            messages,
            error: None,
            items_sent: 0,
            items_received: 0,
            item_errors: Vec::new(),
        };
        match result {
            Ok(report) => {
                let c = |x: crate::engine::client::Counts| {
                    u64::from(x.adds) + u64::from(x.replaces) + u64::from(x.deletes)
                };
                sample.items_sent = c(report.sent);
                sample.items_received = c(report.received);
                sample.item_errors = report.refused.iter().map(|(_, code)| *code).collect();
            }
            Err(e) => sample.error = Some(error_class(&e)),
        }
        sample
    }
}

fn book_id() -> BookId {
    BookId {
        user: LOCAL_USER.into(),
        store: LOCAL_BOOK.into(),
    }
}

fn local_change(data: &str) -> Change<'_> {
    Change {
        content_type: crate::protocol::mime::VCARD30,
        data,
        origin: "",
        now_ms: 0,
    }
}

/// The error's class for "errors by status code": the HTTP or SyncML
/// status where there is one.
pub fn error_class(e: &SyncError) -> String {
    match e {
        SyncError::Transport(TransportError::Http { status, .. }) => format!("HTTP {status}"),
        SyncError::Transport(TransportError::Timeout) => "timeout".into(),
        SyncError::Transport(TransportError::Connect(_)) => "connection failed".into(),
        SyncError::Session(ClientFailure::Auth(code)) => format!("SyncML {code}"),
        SyncError::Session(ClientFailure::Refused { code, .. }) => format!("SyncML {code}"),
        SyncError::Session(ClientFailure::UnknownDatastore(_)) => "SyncML 404".into(),
        SyncError::Session(ClientFailure::Protocol(_)) => "protocol error".into(),
        SyncError::Decode(_) => "undecodable reply".into(),
        SyncError::Engine(_) | SyncError::Store(_) | SyncError::Random(_) => "client error".into(),
    }
}

/// Times each request and counts its bytes (HTTP bodies, as a server's
/// transcript would have them).
struct Measured<'a, T> {
    inner: &'a T,
    log: Mutex<Vec<MessageSample>>,
}

impl<T: Transport> Transport for Measured<'_, T> {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send {
        let sent = body.len() as u64;
        let reply = self.inner.post(url, content_type, body);
        async move {
            let started = Instant::now();
            let result = reply.await;
            let sample = MessageSample {
                latency: started.elapsed(),
                sent,
                received: result.as_ref().map(|b| b.len() as u64).unwrap_or(0),
            };
            self.log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
            result
        }
    }
}
