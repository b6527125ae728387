//! The client-role driver: runs one session of the sans-IO client engine
//! over a [`Transport`], committing each step's writes before the next
//! message leaves, and re-posting the same bytes when a request times out
//! (the server answers a resend from its cache).
//!
//! The HTTP transport lives in `http::client`; tests use an in-process
//! transport straight into a [`crate::service::SyncService`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::Env;
use crate::engine::client::{ClientConfig, ClientFailure, ClientReport, ClientSession, Step};
use crate::local_book::WriteLock;
use crate::protocol::mime;
use crate::store::Store;
use crate::wire::xml;

/// Why a transport request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP status {status}: {message}")]
    Http { status: u16, message: String },
}

/// Moves one SyncML message to the server and its reply back.
pub trait Transport: Send + Sync {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}

/// Why a session could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("the server's reply is not SyncML: {0}")]
    Decode(String),
    #[error(transparent)]
    Session(#[from] ClientFailure),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no randomness: {0}")]
    Random(String),
}

impl SyncError {
    /// Worth retrying later (server down, overloaded), as opposed to a
    /// configuration or protocol problem.
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Transport(TransportError::Http { status, .. }) => {
                *status >= 500 || *status == 404
            }
            SyncError::Transport(_) => true,
            _ => false,
        }
    }
}

/// Driver settings.
#[derive(Debug, Clone)]
pub struct DriverOptions {
    /// Re-posts of the same message after a timeout.
    pub resends: u32,
    /// Guard against a server that never ends a session.
    pub max_messages: u32,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            resends: 2,
            max_messages: 10_000,
        }
    }
}

fn env() -> Result<Env, SyncError> {
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| SyncError::Random(e.to_string()))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Ok(Env { now_ms, random })
}

/// Run one session with the peer `cfg` in `mode` (200–205). Each engine
/// step and its commit run under `lock` (local writers — the local API,
/// the vdir scan — take it too); the network round trips do not.
pub async fn sync_once<T: Transport>(
    cfg: &ClientConfig,
    mode: u16,
    store: &Arc<dyn Store>,
    transport: &T,
    opts: &DriverOptions,
    lock: &WriteLock,
) -> Result<ClientReport, SyncError> {
    let sizer = xml::XmlSizer;
    let mut step: Step = {
        let _guard = lock.lock().await;
        let step = ClientSession::start(cfg, mode, &env()?, store.as_ref(), &sizer)?;
        store.commit(&step.batch)?;
        step
    };
    let mut messages = 0u32;
    loop {
        if let Some(done) = step.done {
            return done.map_err(SyncError::from);
        }
        let (Some((url, msg)), Some(session)) = (step.send, step.next) else {
            return Err(SyncError::Session(ClientFailure::Protocol(
                "the session stopped without a result".into(),
            )));
        };
        messages += 1;
        if messages > opts.max_messages {
            return Err(SyncError::Session(ClientFailure::Protocol(
                "too many messages in one session".into(),
            )));
        }
        let body = xml::encode(&msg);
        let mut attempt = 0;
        let reply = loop {
            match transport.post(&url, mime::SYNCML_XML, body.clone()).await {
                Ok(r) => break r,
                Err(TransportError::Timeout) if attempt < opts.resends => {
                    attempt += 1;
                    tracing::info!(peer = %cfg.peer, msg = msg.header.msg_id, attempt, "no reply: resending");
                }
                Err(e) => return Err(e.into()),
            }
        };
        let reply = xml::decode(&reply).map_err(|e| SyncError::Decode(e.to_string()))?;
        let _guard = lock.lock().await;
        step = session.handle(reply, &env()?, store.as_ref(), &sizer)?;
        store.commit(&step.batch)?;
    }
}

/// In-process transport into a running [`crate::service::SyncService`]
/// (tests, the conformance runner's self-check).
pub struct LocalTransport {
    pub service: Arc<crate::service::SyncService>,
    pub timeout: Duration,
}

impl Transport for LocalTransport {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send {
        use crate::http::{SyncHandler, SyncReply, SyncRequest};
        let req = SyncRequest {
            query: url.split_once('?').map(|(_, q)| q.to_owned()),
            content_type: Some(content_type.to_owned()),
            body: body.into(),
            remote: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let service = self.service.clone();
        let timeout = self.timeout;
        async move {
            match tokio::time::timeout(timeout, service.handle(req)).await {
                Err(_) => Err(TransportError::Timeout),
                Ok(SyncReply::Message { body, .. }) => Ok(body),
                Ok(SyncReply::HttpError { status, message }) => {
                    Err(TransportError::Http { status, message })
                }
            }
        }
    }
}
