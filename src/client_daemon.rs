//! The long-running process in the client role: every configured peer on
//! its own schedule (interval + jitter, exponential back-off after
//! failures, poll-first to skip idle sessions, one session per peer at a
//! time), the vdir folder scan, and the local API on `server.listen`.
//!
//! Local API (loopback; no authentication — keep it there):
//! * `GET /books/{book}/contacts` — JSON list (`Accept: text/vcard`: one
//!   multi-vCard body); `POST` a vCard (or JSON `{"vcard": …}`) to create.
//! * `GET|PUT|DELETE /books/{book}/contacts/{id}` — with `ETag`/`If-Match`.
//! * `POST /peers/{name}/sync[?mode=MODE]` — run a session now, JSON report.
//! * `GET /peers` — each peer's last result and next run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::client_role::{
    PendingReply, PendingRequest, RunOutcome, describe, next_delay, pending_url,
};
use crate::config::{Config, Peer, mode_by_name, mode_name};
use crate::daemon::{Control, open_store};
use crate::engine::client::{Secret, local_pending};
use crate::http::client::HttpTransport;
use crate::http::server::{HttpOptions, serve as serve_http};
use crate::http::{HttpReply, HttpRequest, SyncHandler, SyncReply, SyncRequest};
use crate::local_book::{LocalBook, LocalError, WriteLock};
use crate::ops;
use crate::store::Store;
use crate::store::schema::BookId;
use crate::sync_client::{DriverOptions, sync_once};

/// What the API shows per peer.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub last_run: Option<String>,
    pub last_result: Option<String>,
    pub ok: Option<bool>,
    pub failures: u32,
    pub next_run_in_secs: Option<u64>,
    pub sessions: u64,
    pub skipped: u64,
}

struct PeerSlot {
    peer: Peer,
    /// One session per peer at a time (scheduled or on request).
    busy: tokio::sync::Mutex<()>,
    status: Mutex<PeerStatus>,
}

/// Shared by the scheduler tasks and the API.
pub struct ClientRuntime {
    store: Arc<dyn Store>,
    lock: WriteLock,
    transport: HttpTransport,
    opts: DriverOptions,
    peers: Vec<Arc<PeerSlot>>,
    local_user: String,
    callback_url: Option<String>,
    /// Number of poll-first questions asked (tests count them).
    pub polls: std::sync::atomic::AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

impl ClientRuntime {
    pub fn new(cfg: &Config, store: Arc<dyn Store>, lock: WriteLock) -> Self {
        ClientRuntime {
            store,
            lock,
            transport: HttpTransport::new(cfg.client.http_timeout),
            opts: DriverOptions {
                resends: cfg.client.resends,
                ..DriverOptions::default()
            },
            peers: cfg
                .peers
                .iter()
                .map(|p| {
                    Arc::new(PeerSlot {
                        peer: p.clone(),
                        busy: tokio::sync::Mutex::new(()),
                        status: Mutex::new(PeerStatus {
                            name: p.name.clone(),
                            ..PeerStatus::default()
                        }),
                    })
                })
                .collect(),
            local_user: cfg.client.local_user.clone(),
            callback_url: cfg.client.callback_url.clone(),
            polls: Default::default(),
        }
    }

    fn slot(&self, name: &str) -> Option<&Arc<PeerSlot>> {
        self.peers.iter().find(|p| p.peer.name == name)
    }

    /// Poll-first: `Some(false)` when the peer says nothing is pending for
    /// us and we have nothing for it; `None` when the peer can't tell.
    async fn worth_syncing(&self, peer: &Peer) -> Option<bool> {
        let local = {
            let store = self.store.clone();
            let cfg = peer.session.clone();
            tokio::task::spawn_blocking(move || local_pending(store.as_ref(), &cfg))
                .await
                .ok()?
                .ok()?
        };
        // With a callback to register, ask even when we know we'll sync.
        if local && self.callback_url.is_none() {
            return Some(true);
        }
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = &peer.session;
        let ask = PendingRequest {
            device: s.device_id.clone(),
            stores: s.dbs.iter().map(|d| d.remote_uri.clone()).collect(),
        };
        let mut body = serde_json::to_value(&ask).ok()?;
        body["user"] = serde_json::Value::String(s.user.clone());
        if let Some(cb) = &self.callback_url {
            body["callback"] = serde_json::Value::String(cb.clone());
        }
        let auth = match &s.secret {
            Secret::Password(p) => format!("Basic {}", crate::auth::basic_credential(&s.user, p)),
            Secret::Device(secret) => format!(
                "Device {}",
                crate::auth::device_credential(secret, &s.device_id)
            ),
        };
        let headers = [
            ("content-type", "application/json".to_owned()),
            ("authorization", auth),
        ];
        let (status, reply) = self
            .transport
            .request(
                "POST",
                &pending_url(&s.url),
                &headers,
                body.to_string().into_bytes(),
            )
            .await
            .ok()?;
        if status != 200 {
            return None;
        }
        let reply: PendingReply = serde_json::from_slice(&reply).ok()?;
        Some(reply.pending || local)
    }

    /// One session with `slot` now (waits if one is running).
    async fn run(&self, slot: &PeerSlot, mode: u16) -> RunOutcome {
        let _busy = slot.busy.lock().await;
        let outcome = match sync_once(
            &slot.peer.session,
            mode,
            &self.store,
            &self.transport,
            &self.opts,
            &self.lock,
        )
        .await
        {
            Ok(r) => RunOutcome::Synced(describe(&r)),
            Err(e) => RunOutcome::Failed {
                transient: e.is_transient(),
                error: e.to_string(),
            },
        };
        let mut st = slot.status.lock().unwrap_or_else(|e| e.into_inner());
        st.last_run = Some(crate::engine::anchor::format_utc(now_ms()));
        st.sessions += 1;
        match &outcome {
            RunOutcome::Synced(text) => {
                st.ok = Some(true);
                st.failures = 0;
                st.last_result = Some(text.clone());
            }
            RunOutcome::Failed { error, .. } => {
                st.ok = Some(false);
                st.failures += 1;
                st.last_result = Some(error.clone());
            }
            RunOutcome::Skipped => {}
        }
        outcome
    }

    /// The scheduling loop of one peer, until `stop` turns true.
    async fn schedule(
        self: Arc<Self>,
        slot: Arc<PeerSlot>,
        poll_first: bool,
        max_backoff: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let peer = slot.peer.clone();
        // Start soon, spread over the jitter so peers don't all fire at once.
        let mut delay = Duration::from_millis(random_u64() % (peer.jitter.as_millis() as u64 + 1));
        loop {
            slot.status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_run_in_secs = Some(delay.as_secs());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let idle = poll_first && self.worth_syncing(&peer).await == Some(false);
            let outcome = if idle {
                slot.status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .skipped += 1;
                RunOutcome::Skipped
            } else {
                self.run(&slot, peer.mode).await
            };
            let failures = slot
                .status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .failures;
            match &outcome {
                RunOutcome::Synced(text) => tracing::info!(peer = %peer.name, "{text}"),
                RunOutcome::Skipped => {
                    tracing::debug!(peer = %peer.name, "nothing pending on either side: session skipped")
                }
                RunOutcome::Failed { error, transient } => {
                    tracing::warn!(peer = %peer.name, %error, transient, failures, "sync failed")
                }
            }
            let backoff = matches!(
                outcome,
                RunOutcome::Failed {
                    transient: true,
                    ..
                }
            );
            delay = next_delay(
                peer.interval,
                peer.jitter,
                random_u64(),
                if backoff { failures } else { 0 },
                max_backoff,
            );
        }
    }

    pub fn statuses(&self) -> Vec<PeerStatus> {
        self.peers
            .iter()
            .map(|p| p.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .collect()
    }

    fn book(&self, name: &str) -> Option<LocalBook> {
        let known = self
            .peers
            .iter()
            .any(|p| p.peer.session.dbs.iter().any(|d| d.local == name));
        known.then(|| LocalBook {
            store: self.store.clone(),
            lock: self.lock.clone(),
            book: BookId {
                user: self.local_user.clone(),
                store: name.to_owned(),
            },
        })
    }

    /// A Server Alerted Notification: start the alerted sessions of every
    /// peer whose credentials the digest verifies with (in the background).
    pub fn on_san(self: &Arc<Self>, body: &[u8]) -> HttpReply {
        let Ok(san) = crate::wire::san::decode(body) else {
            return HttpReply::text(400, "not a server alerted notification\n");
        };
        let mode = san
            .syncs
            .first()
            .and_then(|s| crate::protocol::san::client_mode_for(s.sync_type))
            .unwrap_or(crate::protocol::alert::TWO_WAY);
        let mut started = 0;
        for slot in &self.peers {
            let s = &slot.peer.session;
            let key = match &s.secret {
                Secret::Password(p) => crate::auth::userpass_digest(&s.user, p),
                Secret::Device(_) => continue,
            };
            if !crate::wire::san::verify(body, &key, "") {
                continue;
            }
            started += 1;
            let me = self.clone();
            let slot = slot.clone();
            tokio::spawn(async move {
                tracing::info!(peer = %slot.peer.name, "server alerted notification: syncing now");
                me.run(&slot, mode).await;
            });
        }
        if started == 0 {
            return HttpReply::text(
                401,
                "the notification's digest matches no configured peer\n",
            );
        }
        HttpReply::text(202, "sync started\n")
    }

    /// The local API.
    pub async fn api(&self, req: HttpRequest) -> Option<HttpReply> {
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let reply = match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["peers"]) => HttpReply::json(200, &self.statuses()),
            ("POST", ["peers", name, "sync"]) => {
                let Some(slot) = self.slot(name) else {
                    return Some(HttpReply::text(404, "no such peer\n"));
                };
                let mode = match query_param(req.query.as_deref(), "mode") {
                    None => slot.peer.mode,
                    Some(m) => match mode_by_name(&m) {
                        Some(code) => code,
                        None => return Some(HttpReply::text(400, format!("unknown mode {m}\n"))),
                    },
                };
                let outcome = self.run(slot, mode).await;
                match outcome {
                    RunOutcome::Synced(text) => HttpReply::json(
                        200,
                        &serde_json::json!({"peer": name, "ok": true, "result": text, "mode": mode_name(mode)}),
                    ),
                    RunOutcome::Failed { error, .. } => HttpReply::json(
                        502,
                        &serde_json::json!({"peer": name, "ok": false, "result": error}),
                    ),
                    RunOutcome::Skipped => HttpReply::json(
                        200,
                        &serde_json::json!({"peer": name, "ok": true, "result": "skipped"}),
                    ),
                }
            }
            (method, ["books", book, "contacts", rest @ ..]) => {
                let Some(book) = self.book(book) else {
                    return Some(HttpReply::text(404, "no such book\n"));
                };
                contacts_api(&book, method, rest, &req).await
            }
            _ => return None,
        };
        Some(reply)
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    })
}

fn local_error(e: LocalError) -> HttpReply {
    match e {
        LocalError::NotFound(_) => HttpReply::text(404, format!("{e}\n")),
        LocalError::PreconditionFailed { .. } => HttpReply::text(412, format!("{e}\n")),
        LocalError::Invalid(_) => HttpReply::text(400, format!("{e}\n")),
        other => {
            tracing::error!(error = %other, "local API");
            HttpReply::text(500, "internal error\n")
        }
    }
}

/// The vCard of a request: a vCard body, or JSON `{"vcard": …}`.
fn body_vcard(req: &HttpRequest) -> Result<(String, String), HttpReply> {
    let ct = req
        .header("content-type")
        .unwrap_or("text/vcard")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") {
        #[derive(serde::Deserialize)]
        struct Body {
            vcard: String,
        }
        let b: Body = serde_json::from_slice(&req.body)
            .map_err(|_| HttpReply::text(400, "expected JSON {\"vcard\": \"BEGIN:VCARD…\"}\n"))?;
        return Ok(("text/vcard".into(), b.vcard));
    }
    let text = String::from_utf8(req.body.to_vec())
        .map_err(|_| HttpReply::text(400, "the vCard is not UTF-8\n"))?;
    let media = if ct.starts_with("text/x-vcard") {
        "text/x-vcard"
    } else {
        "text/vcard"
    };
    Ok((media.into(), text))
}

async fn contacts_api(
    book: &LocalBook,
    method: &str,
    rest: &[&str],
    req: &HttpRequest,
) -> HttpReply {
    let wants_vcard = req.header("accept").is_some_and(|a| a.contains("vcard"));
    match (method, rest) {
        ("GET", []) => match book.list() {
            Ok(list) if wants_vcard => HttpReply::new(
                200,
                "text/vcard",
                list.into_iter().map(|c| c.vcard).collect::<String>(),
            ),
            Ok(list) => HttpReply::json(200, &list),
            Err(e) => local_error(e),
        },
        ("POST", []) => match body_vcard(req) {
            Err(r) => r,
            Ok((ct, data)) => match book.create(&ct, &data).await {
                Ok(c) => HttpReply::json(201, &c)
                    .with_header("etag", &c.etag)
                    .with_header(
                        "location",
                        &format!("{}/{}", req.path.trim_end_matches('/'), c.id),
                    ),
                Err(e) => local_error(e),
            },
        },
        ("GET", [id]) => match book.get(id) {
            Ok(c) if wants_vcard || !req.header("accept").is_some_and(|a| a.contains("json")) => {
                HttpReply::new(200, &c.content_type.clone(), c.vcard.clone())
                    .with_header("etag", &c.etag)
            }
            Ok(c) => HttpReply::json(200, &c).with_header("etag", &c.etag),
            Err(e) => local_error(e),
        },
        ("PUT", [id]) => match body_vcard(req) {
            Err(r) => r,
            Ok((ct, data)) => match book.update(id, &ct, &data, req.header("if-match")).await {
                Ok(c) => HttpReply::json(200, &c).with_header("etag", &c.etag),
                Err(e) => local_error(e),
            },
        },
        ("DELETE", [id]) => match book.delete(id, req.header("if-match")).await {
            Ok(()) => HttpReply::new(204, "text/plain", Vec::new()),
            Err(e) => local_error(e),
        },
        _ => HttpReply::text(405, "method not allowed here\n"),
    }
}

/// The HTTP face of the client role: no SyncML endpoint, the local API.
struct ClientEndpoint {
    runtime: Arc<ClientRuntime>,
    /// The notification listener serves only `POST /san`.
    san_only: bool,
}

impl SyncHandler for ClientEndpoint {
    fn handle(&self, _req: SyncRequest) -> impl std::future::Future<Output = SyncReply> + Send {
        std::future::ready(SyncReply::HttpError {
            status: 404,
            message: "this syncmld runs in the client role\n".into(),
        })
    }

    async fn other(&self, req: HttpRequest) -> Option<HttpReply> {
        if req.path == "/san" && req.method == "POST" {
            return Some(self.runtime.on_san(&req.body));
        }
        if self.san_only {
            return None;
        }
        self.runtime.api(req).await
    }
}

/// `syncmld serve` with `role = "client"`.
pub async fn serve(cfg: Config, control: Control) -> Result<()> {
    let _ = control;
    if cfg.peers.is_empty() {
        anyhow::bail!(
            "role = \"client\" needs at least one [[peers]] table (see conf/client.toml)"
        );
    }
    let store: Arc<dyn Store> = Arc::new(open_store(&cfg)?);
    let lock = WriteLock::default();
    let runtime = Arc::new(ClientRuntime::new(&cfg, store.clone(), lock.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for slot in runtime.peers.clone() {
        tasks.spawn(runtime.clone().schedule(
            slot,
            cfg.client.poll_first,
            cfg.client.max_backoff,
            stop_rx.clone(),
        ));
    }
    if let Some((dir, book_name, every)) = cfg.client.vdir.clone() {
        let store = store.clone();
        let lock = lock.clone();
        let book = BookId {
            user: cfg.client.local_user.clone(),
            store: book_name,
        };
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            loop {
                match crate::vdir::sync_folder(store.as_ref(), &lock, &book, &dir, now_ms()).await {
                    Ok(r) if r != Default::default() => tracing::info!(?r, "vdir folder synced"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "vdir folder"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("local API: listening on {}", cfg.server.listen))?;
    let local = listener.local_addr().context("local address")?;
    let opts = HttpOptions {
        sync_path: cfg.server.path.clone(),
        max_body_bytes: cfg.server.max_body_bytes.get(),
        header_read_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(600),
        shutdown_grace: cfg.server.shutdown_grace,
    };
    tracing::info!(api = %local, peers = cfg.peers.len(), "syncmld client role running");
    ops::notify::ready(&format!("client role, local API on {local}"));
    let shutdown = async {
        shutdown_signal().await;
        ops::notify::stopping();
    };
    let notify_server = match cfg.client.notify_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("notifications: listening on {addr}"))?;
            let endpoint = Arc::new(ClientEndpoint {
                runtime: runtime.clone(),
                san_only: true,
            });
            let mut stop = stop_rx.clone();
            let opts = opts.clone();
            Some(tokio::spawn(async move {
                let _ = serve_http(l, endpoint, opts, async move {
                    let _ = stop.changed().await;
                })
                .await;
            }))
        }
        None => None,
    };
    let endpoint = Arc::new(ClientEndpoint {
        runtime: runtime.clone(),
        san_only: false,
    });
    let served = serve_http(listener, endpoint, opts, shutdown).await;
    if let Some(n) = notify_server {
        n.abort();
    }
    let _ = stop_tx.send(true);
    // Sessions in flight finish their current step; bounded wait.
    let _ = tokio::time::timeout(cfg.server.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    served.context("local API server")?;
    let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
    match flushed {
        Ok(r) => r.context("flushing the store")?,
        Err(e) => anyhow::bail!("flushing the store: {e}"),
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}

/// Used by `syncmld sync` when a client daemon holds the store: ask it.
pub async fn sync_via_daemon(cfg: &Config, only: Option<&str>, mode: Option<u16>) -> Result<usize> {
    let transport = HttpTransport::new(Duration::from_secs(3600));
    let mut failures = 0;
    let names: Vec<String> = match only {
        Some(n) => vec![n.to_owned()],
        None => cfg.peers.iter().map(|p| p.name.clone()).collect(),
    };
    for name in names {
        let mut url = format!("http://{}/peers/{name}/sync", cfg.server.listen);
        if let Some(m) = mode {
            url.push_str(&format!("?mode={}", mode_name(m)));
        }
        let (status, body) = transport
            .request("POST", &url, &[], Vec::new())
            .await
            .context("asking the running daemon")?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let result = v.get("result").and_then(|r| r.as_str()).unwrap_or("");
        if status == 200 {
            println!("{name}: {result}");
        } else {
            failures += 1;
            println!("{name}: failed: {result}");
        }
    }
    Ok(failures)
}

/// Per-peer status lines from a running client daemon.
pub async fn status_via_daemon(cfg: &Config) -> Result<Vec<String>> {
    let transport = HttpTransport::new(Duration::from_secs(10));
    let (_, body) = transport
        .request(
            "GET",
            &format!("http://{}/peers", cfg.server.listen),
            &[],
            Vec::new(),
        )
        .await
        .context("asking the running daemon")?;
    let list: Vec<HashMap<String, serde_json::Value>> =
        serde_json::from_slice(&body).context("the daemon's answer")?;
    Ok(list
        .into_iter()
        .map(|p| {
            let get = |k: &str| {
                p.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_owned())
                    .unwrap_or_default()
            };
            format!(
                "{}: last run {} — {}; next in {} s; {} sessions, {} skipped, {} failures in a row",
                get("name"),
                get("last_run"),
                get("last_result"),
                get("next_run_in_secs"),
                get("sessions"),
                get("skipped"),
                get("failures")
            )
        })
        .collect())
}
