//! The driver: glue between HTTP, the sans-IO engine and the store.
//!
//! Per message: decode → find the session (by `sessionid` in the URL, or a
//! resend of a session's first message) → a resend gets the cached reply and
//! is not applied again → under the user's lock, run the engine, **commit its
//! batch and flush**, and only then answer. This is the only place that
//! reads the clock and the random generator for the engine.
//!
//! **Invariant:** two messages touching one user's books never run at the
//! same time (per-user lock), so the engine's read-modify-write of the change
//! sequence needs no store-level conflict handling.
//!
//! **Invariant:** a message, once received, is processed to the end on its
//! own task, even if the client hangs up or the request deadline expires
//! (hyper then drops the handler's future). Otherwise a message could be
//! committed while its session and cached reply were lost, and the client's
//! resend would find no session.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use crate::engine::Env;
use crate::engine::server::{Report, ServerEngine, ServerSession};
use crate::http::{SyncHandler, SyncReply, SyncRequest};
use crate::protocol::{SyncMl, mime};
use crate::store::Store;
use crate::wire::xml;

/// Limits of the session table.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Sessions idle longer than this are forgotten.
    pub session_timeout: Duration,
    pub max_sessions: usize,
    /// Finished sessions kept for resends of their last message; beyond
    /// this the oldest are forgotten before their timeout (memory stays
    /// bounded however many sessions a second complete).
    pub max_finished_sessions: usize,
    /// Absolute URL of the sync endpoint, for RespURIs when the client's
    /// Target is not an http(s) URL.
    pub fallback_url: String,
}

/// How one request to the sync endpoint ended, for [`SyncObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageResult {
    /// Answered with a SyncML message.
    Ok,
    /// A resend, answered from the cache.
    Resend,
    /// Refused with an HTTP 4xx (undecodable, unknown session, ...).
    Rejected,
    /// HTTP 5xx: storage or internal failure, or too many sessions.
    Error,
}

impl MessageResult {
    pub const ALL: [MessageResult; 4] = [
        MessageResult::Ok,
        MessageResult::Resend,
        MessageResult::Rejected,
        MessageResult::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MessageResult::Ok => "ok",
            MessageResult::Resend => "resend",
            MessageResult::Rejected => "rejected",
            MessageResult::Error => "error",
        }
    }
}

/// How a session ended, for [`SyncObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The session ran to its end (anchors stored).
    Completed,
    /// A message of it failed or was refused; the session was dropped.
    Failed,
    /// Idle past the session timeout before it completed.
    Abandoned,
}

/// A hook for metrics: told about every message and every session end.
/// Called on the request path, so implementations must be quick.
pub trait SyncObserver: Send + Sync + 'static {
    /// A decoded client message about to go through the engine.
    fn incoming(&self, _msg: &SyncMl) {}
    /// Our reply to it, after its changes were committed.
    fn replied(&self, _reply: &SyncMl) {}
    /// One request handled, and how long it took.
    fn message_done(&self, _result: MessageResult, _elapsed: Duration) {}
    /// A session ended.
    fn session_ended(&self, _report: &Report, _end: SessionEnd) {}
}

/// One live (or just finished) session and what a resend must get.
struct Slot {
    session: Option<ServerSession>,
    last_msg_id: u32,
    last_reply: Option<Arc<Vec<u8>>>,
    /// Digest of the request `last_reply` answered, when it came without
    /// the session token (a first message): another token-less message is
    /// a resend only if it is that same request.
    last_request: Option<u64>,
    touched: Instant,
    device: String,
    client_session_id: String,
}

type SlotRef = Arc<tokio::sync::Mutex<Slot>>;

#[derive(Default)]
struct Tables {
    by_token: HashMap<String, SlotRef>,
    /// (device, client SessionID) → token: first messages are re-POSTed to
    /// the base URL (no sessionid yet), so resends are found this way.
    by_client: HashMap<(String, String), String>,
    user_locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    /// Every slot once, by the earliest time it may expire (unique by the
    /// sequence number). The sweep pops only what is due, so its cost is
    /// the expired slots, not the table (a scan of every slot per new
    /// session made the server quadratic under load).
    expiry: BTreeMap<(Instant, u64), String>,
    expiry_seq: u64,
    /// Sessions not yet complete: what `max_sessions` limits. Finished
    /// ones stay for resends of their last message until they time out,
    /// but no longer hold a place (they used to: a busy server answered
    /// 503 once it had finished `max_sessions` sessions within the timeout).
    live: usize,
    /// When unused user locks were last dropped (a scan of every user).
    locks_swept: Option<Instant>,
    /// Tokens of finished sessions, oldest first (some may be gone
    /// already): what `max_finished_sessions` trims.
    finished: VecDeque<String>,
}

impl Tables {
    fn expire_at(&mut self, at: Instant, token: String) {
        self.expiry_seq += 1;
        self.expiry.insert((at, self.expiry_seq), token);
    }

    /// `token`'s session has finished: keep its slot for resends, and
    /// forget the oldest finished ones beyond `max`. Their expiry entries
    /// stay queued and find nothing when due.
    fn finished(&mut self, token: String, max: usize) {
        self.finished.push_back(token);
        while self.finished.len() > max.max(1) {
            let Some(old) = self.finished.pop_front() else {
                break;
            };
            let Some(slot) = self.by_token.get(&old) else {
                continue; // timed out already
            };
            // A slot being used right now (a resend) stays until it times out.
            let client = match slot.try_lock() {
                Ok(s) if s.session.is_none() => (s.device.clone(), s.client_session_id.clone()),
                _ => continue,
            };
            self.by_token.remove(&old);
            if self.by_client.get(&client) == Some(&old) {
                self.by_client.remove(&client);
            }
        }
    }
}

pub struct SyncService {
    inner: Arc<Inner>,
}

struct Inner {
    engine: ServerEngine,
    store: Arc<dyn Store>,
    limits: ServiceLimits,
    tables: Mutex<Tables>,
    observer: Option<Arc<dyn SyncObserver>>,
    notifier: Option<crate::san_notifier::SanNotifier>,
}

impl SyncService {
    pub fn new(engine: ServerEngine, store: Arc<dyn Store>, limits: ServiceLimits) -> Self {
        SyncService {
            inner: Arc::new(Inner {
                engine,
                store,
                limits,
                tables: Mutex::new(Tables::default()),
                observer: None,
                notifier: None,
            }),
        }
    }

    /// Send Server Alerted Notifications to devices that registered a
    /// callback, when another device changes their data.
    pub fn with_notifier(mut self, notifier: crate::san_notifier::SanNotifier) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.notifier = Some(notifier);
        }
        self
    }

    /// Report messages and session ends to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn SyncObserver>) -> Self {
        // Called right after `new`, while the service is not shared yet.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.observer = Some(observer);
        }
        self
    }

    /// Wait until nothing else touches `user`'s data, and keep it so while
    /// the guard lives (admin changes to a book, e.g. import, take this so
    /// they never interleave with a sync message of that user).
    pub async fn lock_user(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.inner
            .user_lock(&format!("user:{user}"))
            .lock_owned()
            .await
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Sessions going on (for stats): finished ones kept for resends are
    /// not counted.
    pub fn session_count(&self) -> usize {
        self.inner.tables.lock().map(|t| t.live).unwrap_or(0)
    }
}

impl Inner {
    fn observe(&self, f: impl FnOnce(&dyn SyncObserver)) {
        if let Some(o) = &self.observer {
            f(o.as_ref());
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding this lock can only come from a bug in the
        // few lines below; recover the data rather than poisoning the daemon.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn user_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.tables()
            .user_locks
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// A live session completed or failed.
    fn session_gone(&self) {
        let mut t = self.tables();
        t.live = t.live.saturating_sub(1);
    }

    /// Forget idle sessions (those due in the expiry queue) and, at most
    /// once a second, unused user locks.
    fn sweep(&self, now: Instant) {
        let mut t = self.tables();
        let timeout = self.limits.session_timeout;
        while let Some(entry) = t.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let token = entry.remove();
            let Some(slot) = t.by_token.get(&token).cloned() else {
                continue; // forgotten already
            };
            let Ok(s) = slot.try_lock() else {
                // A message of it is being processed: look again later.
                t.expire_at(now + timeout, token);
                continue;
            };
            let due = s.touched + timeout;
            if due > now {
                t.expire_at(due, token);
                continue;
            }
            if let Some(session) = &s.session {
                t.live = t.live.saturating_sub(1);
                self.observe(|o| o.session_ended(session.report(), SessionEnd::Abandoned));
            }
            let client = (s.device.clone(), s.client_session_id.clone());
            drop(s);
            t.by_token.remove(&token);
            if t.by_client.get(&client) == Some(&token) {
                t.by_client.remove(&client);
            }
        }
        if t.locks_swept
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            t.locks_swept = Some(now);
            t.user_locks
                .retain(|_, l| Arc::strong_count(l) > 1 || l.try_lock().is_err());
        }
    }

    async fn process(&self, req: SyncRequest) -> SyncReply {
        let started = Instant::now();
        let mut resend = false;
        let reply = self.process_message(req, &mut resend).await;
        let result = match &reply {
            SyncReply::Message { .. } if resend => MessageResult::Resend,
            SyncReply::Message { .. } => MessageResult::Ok,
            SyncReply::HttpError { status, .. } if *status >= 500 => MessageResult::Error,
            SyncReply::HttpError { .. } => MessageResult::Rejected,
        };
        self.observe(|o| o.message_done(result, started.elapsed()));
        reply
    }

    async fn process_message(&self, req: SyncRequest, resend: &mut bool) -> SyncReply {
        let msg = match xml::decode(&req.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(remote = %req.remote, error = %e, "undecodable SyncML message");
                if crate::ops::logging::contents_allowed() {
                    // Only with log.contents: the body may hold contact data.
                    let body = String::from_utf8_lossy(&req.body);
                    let cut = body.char_indices().nth(4096).map_or(body.len(), |(i, _)| i);
                    tracing::debug!(body = %&body[..cut], "undecodable message body");
                }
                return SyncReply::HttpError {
                    status: 400,
                    message: format!("malformed SyncML message: {e}\n"),
                };
            }
        };
        let token = req
            .query
            .as_deref()
            .and_then(session_param)
            .map(str::to_owned);
        let device = msg.header.source.loc_uri.clone();
        let client_sid = msg.header.session_id.clone();

        // Find the slot.
        let existing: Option<SlotRef> = {
            let t = self.tables();
            match &token {
                Some(tok) => match t.by_token.get(tok) {
                    Some(s) => Some(s.clone()),
                    None => {
                        return SyncReply::HttpError {
                            status: 404,
                            message: "unknown or expired session\n".into(),
                        };
                    }
                },
                None => t
                    .by_client
                    .get(&(device.clone(), client_sid.clone()))
                    .and_then(|tok| t.by_token.get(tok))
                    .cloned(),
            }
        };
        let mut slot_guard = match &existing {
            Some(s) => Some(s.clone().lock_owned().await),
            None => None,
        };
        // Only token-less (first) messages are told apart by their bytes.
        let request = token.is_none().then(|| request_digest(&req.body));
        if let Some(slot) = &slot_guard {
            // Without the token the slot was found by (device, client
            // SessionID), and clients reuse session ids (random ones
            // collide, phones restart from 1): only the same request is a
            // resend, anything else starts a new session below.
            let same_request = token.is_some() || slot.last_request == request;
            if slot.last_msg_id == msg.header.msg_id
                && same_request
                && let Some(reply) = &slot.last_reply
            {
                tracing::debug!(%device, msg_id = msg.header.msg_id, "resent message: cached reply");
                *resend = true;
                return SyncReply::Message {
                    content_type: mime::SYNCML_XML,
                    body: reply.as_ref().clone(),
                };
            }
            if token.is_none() {
                // Same client SessionID but a new first message: a new session.
                slot_guard = None;
            } else if msg.header.msg_id < slot.last_msg_id {
                return SyncReply::HttpError {
                    status: 400,
                    message: "message id went backwards in this session\n".into(),
                };
            }
        }
        let prior = slot_guard.as_mut().and_then(|s| s.session.take());
        if prior.is_none() && slot_guard.is_some() {
            // A finished session addressed again with a new message.
            return SyncReply::HttpError {
                status: 404,
                message: "session already finished\n".into(),
            };
        }
        if prior.is_none() {
            let now = Instant::now();
            self.sweep(now);
            if self.tables().live >= self.limits.max_sessions {
                return SyncReply::HttpError {
                    status: 503,
                    message: "too many sessions, retry later\n".into(),
                };
            }
        }

        // Serialise everything that touches one user's data.
        let user = match prior.as_ref().and_then(|s| s.user()) {
            Some(u) => Some(u.to_owned()),
            None => msg.header.source.loc_name.clone().filter(|u| !u.is_empty()),
        };
        let lock_key = match &user {
            Some(u) => format!("user:{u}"),
            None => format!("device:{device}"),
        };
        let user_lock = self.user_lock(&lock_key);
        let _user_guard = user_lock.lock().await;
        let prior_report = prior.as_ref().map(|s| s.report().clone());

        let span = tracing::info_span!("session", device = %device, user = user.as_deref().unwrap_or(""), sid = %client_sid, msg = msg.header.msg_id);
        let outcome = self
            .run_engine(prior, msg, span.clone())
            .instrument(span.clone())
            .await;
        let (reply_bytes, next) = match outcome {
            Ok((bytes, next, targets)) => {
                if let Some(n) = &self.notifier {
                    n.notify(targets);
                    if let Some(s) = next.as_ref().filter(|s| s.is_complete()) {
                        n.synced(s.user().unwrap_or(""), s.device());
                    }
                }
                (bytes, next)
            }
            Err(reply) => {
                if let Some(r) = &prior_report {
                    self.session_gone();
                    self.observe(|o| o.session_ended(r, SessionEnd::Failed));
                }
                // The session can't continue consistently; forget it.
                if let (Some(tok), Some(slot)) = (&token, &slot_guard) {
                    self.forget(tok, slot);
                }
                return reply;
            }
        };
        let reply = Arc::new(reply_bytes);
        if let Some(session) = next.as_ref().filter(|s| s.is_complete()) {
            self.observe(|o| o.session_ended(session.report(), SessionEnd::Completed));
        }
        match (next, slot_guard) {
            (Some(session), Some(mut slot)) => {
                let done = session.is_complete().then(|| session.token().to_owned());
                if done.is_some() {
                    self.session_gone();
                }
                slot.last_msg_id = session.last_msg_id();
                slot.last_reply = Some(reply.clone());
                slot.last_request = request;
                slot.touched = Instant::now();
                log_progress(&session, &span);
                slot.session = (!session.is_complete()).then_some(session);
                if let Some(tok) = done {
                    self.tables()
                        .finished(tok, self.limits.max_finished_sessions);
                }
            }
            (Some(session), None) => {
                log_progress(&session, &span);
                let tok = session.token().to_owned();
                let slot = Slot {
                    last_msg_id: session.last_msg_id(),
                    last_reply: Some(reply.clone()),
                    last_request: request,
                    touched: Instant::now(),
                    device: device.clone(),
                    client_session_id: client_sid.clone(),
                    session: (!session.is_complete()).then_some(session),
                };
                let live = slot.session.is_some();
                let mut t = self.tables();
                if live {
                    t.live += 1;
                }
                t.by_token
                    .insert(tok.clone(), Arc::new(tokio::sync::Mutex::new(slot)));
                t.by_client.insert((device, client_sid), tok.clone());
                t.expire_at(Instant::now() + self.limits.session_timeout, tok.clone());
                if !live {
                    t.finished(tok, self.limits.max_finished_sessions);
                }
            }
            (None, slot) => {
                if let Some(r) = &prior_report {
                    self.session_gone();
                    self.observe(|o| o.session_ended(r, SessionEnd::Failed));
                }
                if let (Some(tok), Some(slot)) = (&token, &slot) {
                    self.forget(tok, slot);
                }
            }
        }
        SyncReply::Message {
            content_type: mime::SYNCML_XML,
            body: reply.as_ref().clone(),
        }
    }

    /// Drop a session that cannot go on. Its slot (held by the caller)
    /// says under which (device, client SessionID) it is also filed: a
    /// lookup, not a scan of every session kept for resends.
    fn forget(&self, token: &str, slot: &Slot) {
        let client = (slot.device.clone(), slot.client_session_id.clone());
        let mut t = self.tables();
        t.by_token.remove(token);
        if t.by_client.get(&client).is_some_and(|v| v == token) {
            t.by_client.remove(&client);
        }
    }

    /// Engine, transaction, encode on a blocking thread (sled I/O); then
    /// the flush that makes the transaction durable, awaited here.
    async fn run_engine(
        &self,
        prior: Option<ServerSession>,
        msg: SyncMl,
        span: tracing::Span,
    ) -> Result<
        (
            Vec<u8>,
            Option<ServerSession>,
            Vec<crate::san_notifier::Target>,
        ),
        SyncReply,
    > {
        let engine = self.engine.clone();
        let store = self.store.clone();
        let fallback = self.limits.fallback_url.clone();
        let observer = self.observer.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _e = span.enter();
            let mut random = [0u8; 32];
            getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            let env = Env { now_ms, random };
            if let Some(o) = &observer {
                o.incoming(&msg);
            }
            let outcome = engine
                .handle(prior, msg, &env, store.as_ref(), &xml::XmlSizer, &fallback)
                .map_err(|e| format!("engine: {e}"))?;
            // Applied now; durable (awaited below) before the client hears
            // of it.
            let durable = store
                .apply(&outcome.batch)
                .map_err(|e| format!("store commit: {e}"))?;
            if let Some(o) = &observer {
                o.replied(&outcome.reply);
            }
            // Other devices of the user that asked to be told about changes.
            let targets = match outcome
                .next
                .as_ref()
                .and_then(|s| s.user().map(|u| (u.to_owned(), s.device().to_owned())))
            {
                Some((user, device)) if crate::san_notifier::touches_items(&outcome.batch) => {
                    crate::san_notifier::targets(store.as_ref(), &user, &device).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            Ok::<_, String>((xml::encode(&outcome.reply), outcome.next, targets, durable))
        })
        .await;
        let internal = || SyncReply::HttpError {
            status: 500,
            message: "internal error\n".into(),
        };
        let (reply, next, targets, durable) = match joined {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "message failed");
                return Err(internal());
            }
            Err(e) => {
                tracing::error!(error = %e, "message processing panicked");
                return Err(internal());
            }
        };
        if let Err(e) = durable.wait_async().await {
            tracing::error!(error = %e, "message failed: store flush");
            return Err(internal());
        }
        Ok((reply, next, targets))
    }
}

/// A digest of a request body, to tell a resend from another request.
fn request_digest(body: &[u8]) -> u64 {
    use md5::Digest as _;
    let d = md5::Md5::digest(body);
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn log_progress(session: &ServerSession, span: &tracing::Span) {
    let r = session.report();
    if session.is_complete() {
        let _e = span.enter();
        tracing::info!(
            user = r.user.as_deref().unwrap_or(""),
            mode = r.mode.unwrap_or(0),
            items_in = r.items_in,
            items_out = r.items_out,
            conflicts = r.conflicts,
            "sync session complete"
        );
    }
}

/// The value of `sessionid=` in a query string.
fn session_param(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sessionid="))
        .filter(|v| !v.is_empty())
}

impl SyncService {
    /// The poll-first endpoint (`POST {sync path}/pending`, update
    /// notification P7): does the device have anything to fetch? Body: JSON
    /// `{"user", "device", "stores": [uri…]}`; credentials: HTTP Basic, or
    /// `Authorization: Device <device-bound credential>`. Read-only.
    pub async fn pending(&self, req: &crate::http::HttpRequest) -> crate::http::HttpReply {
        use crate::http::HttpReply;
        #[derive(serde::Deserialize)]
        struct Ask {
            user: String,
            device: String,
            stores: Vec<String>,
            /// Where to send a Server Alerted Notification when data changes.
            #[serde(default)]
            callback: Option<String>,
        }
        let Ok(ask) = serde_json::from_slice::<Ask>(&req.body) else {
            return HttpReply::text(
                400,
                "expected JSON {\"user\", \"device\", \"stores\": [...]}\n",
            );
        };
        if ask.callback.as_deref().is_some_and(|c| {
            !(c.starts_with("http://") || c.starts_with("https://")) || c.len() > 2048
        }) {
            return HttpReply::text(400, "callback must be an http(s) URL\n");
        }
        let inner = self.inner.clone();
        // Registering a callback writes the device record: under the user's lock.
        let _guard = match &ask.callback {
            Some(_) => Some(
                inner
                    .user_lock(&format!("user:{}", ask.user))
                    .lock_owned()
                    .await,
            ),
            None => None,
        };
        let auth = req.header("authorization").unwrap_or("").to_owned();
        let answer = tokio::task::spawn_blocking(move || -> Result<Option<crate::client_role::PendingReply>, crate::engine::EngineError> {
            let store = inner.store.as_ref();
            let (scheme, data) = match auth.split_once(' ') {
                Some((s, d)) if s.eq_ignore_ascii_case("basic") => (crate::auth::Scheme::Basic, d.trim().to_owned()),
                Some((s, d)) if s.eq_ignore_ascii_case("device") => (crate::auth::Scheme::Device, d.trim().to_owned()),
                _ => return Ok(None),
            };
            if !inner.engine.config().schemes.contains(&scheme) {
                return Ok(None);
            }
            let user_rec = crate::store::schema::user(store, &ask.user)?;
            let device_key = crate::store::schema::device(store, &ask.user, &ask.device)?.and_then(|d| d.secret_key);
            let presented = crate::auth::Presented {
                scheme,
                format: Some("b64"),
                data: &data,
                claimed_user: Some(&ask.user),
                device_id: &ask.device,
                session_id: "",
                msg_id: 0,
            };
            match crate::auth::verify(&presented, user_rec.as_ref(), device_key.as_deref(), None) {
                crate::auth::Verdict::Accepted { user } if user == ask.user => {}
                _ => return Ok(None),
            }
            if let Some(cb) = &ask.callback {
                let mut rec = crate::store::schema::device(store, &ask.user, &ask.device)?.unwrap_or_default();
                if rec.callback.as_deref() != Some(cb.as_str()) {
                    rec.callback = Some(cb.clone());
                    let mut t = crate::store::Txn::new(store);
                    crate::store::schema::put_device(&mut t, &ask.user, &ask.device, &rec);
                    inner.store.commit(&t.into_batch())?;
                }
            }
            let mut reply = crate::client_role::PendingReply { pending: false, stores: Default::default() };
            for uri in ask.stores {
                let pending = match inner.engine.config().resolve_store(&uri) {
                    Some(local) => crate::engine::server::pending_for(
                        store,
                        &crate::store::schema::PeerId { user: ask.user.clone(), device: ask.device.clone(), store: local.to_owned() },
                    )?,
                    None => false,
                };
                reply.pending |= pending;
                reply.stores.insert(uri, pending);
            }
            Ok(Some(reply))
        })
        .await;
        match answer {
            Ok(Ok(Some(reply))) => HttpReply::json(200, &reply),
            Ok(Ok(None)) => HttpReply::text(401, "invalid credentials\n")
                .with_header("www-authenticate", "Basic realm=\"syncmld\""),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "pending check failed");
                HttpReply::text(500, "internal error\n")
            }
            Err(_) => HttpReply::text(500, "internal error\n"),
        }
    }
}

impl SyncHandler for SyncService {
    fn handle(&self, req: SyncRequest) -> impl std::future::Future<Output = SyncReply> + Send {
        // Its own task, so that dropping the returned future (client gone,
        // deadline) does not stop it half-way: see the module invariant.
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move { inner.process(req).await });
        async move {
            match task.await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::error!(error = %e, "message processing panicked");
                    SyncReply::HttpError {
                        status: 500,
                        message: "internal error\n".into(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth;
    use crate::engine::ConflictPolicy;
    use crate::engine::server::ServerConfig;
    use crate::protocol::{
        Alert, Anchor, Command, Cred, Item, ItemCommand, ItemData, Loc, Meta, Sync, SyncBody,
        SyncHdr, alert, auth_type,
    };
    use crate::store::MemoryStore;
    use crate::store::schema::{self, BookId};

    #[test]
    fn finds_session_param() {
        assert_eq!(session_param("sessionid=abc"), Some("abc"));
        assert_eq!(session_param("x=1&sessionid=abc"), Some("abc"));
        assert_eq!(session_param("sessionid="), None);
        assert_eq!(session_param("other=1"), None);
    }

    fn service() -> (SyncService, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        crate::admin::add_user(store.as_ref(), "alice", "secret", false, false, 0).unwrap();
        let engine = ServerEngine::new(ServerConfig {
            max_msg_size: 150_000,
            max_obj_size: 4_000_000,
            schemes: vec![auth::Scheme::Basic],
            require_registered_devices: false,
            store_name: "contacts".into(),
            contact_uris: vec!["addressbook".into()],
            conflict_policy: ConflictPolicy::ServerWins,
            region: crate::contacts::Region::none(),
        });
        let limits = ServiceLimits {
            session_timeout: Duration::from_secs(60),
            max_sessions: 10,
            max_finished_sessions: 100,
            fallback_url: "http://127.0.0.1/sync".into(),
        };
        let dyn_store: Arc<dyn Store> = store.clone();
        (SyncService::new(engine, dyn_store, limits), store)
    }

    fn header(msg_id: u32, target: &str) -> SyncHdr {
        SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: "7".into(),
            msg_id,
            target: Loc::uri(target),
            source: Loc {
                loc_uri: "dev-1".into(),
                loc_name: Some("alice".into()),
            },
            cred: (msg_id == 1).then(|| Cred {
                meta: Some(Meta::with_type(auth_type::BASIC)),
                data: auth::basic_credential("alice", "secret"),
            }),
            ..SyncHdr::default()
        }
    }

    /// A first message: an Alert with `code` for the address book, Next
    /// anchor `next`.
    fn alert_msg(code: u16, next: &str) -> SyncMl {
        SyncMl {
            header: header(1, "http://127.0.0.1/sync"),
            body: SyncBody {
                commands: vec![Command::Alert(Alert {
                    cmd_id: 1,
                    data: Some(code),
                    items: vec![Item {
                        target: Some(Loc::uri("addressbook")),
                        source: Some(Loc::uri("./c")),
                        meta: Some(Meta {
                            anchor: Some(Anchor {
                                last: None,
                                next: next.into(),
                            }),
                            ..Meta::default()
                        }),
                        ..Item::default()
                    }],
                    ..Alert::default()
                })],
                final_: true,
            },
        }
    }

    fn post(query: Option<&str>, msg: &SyncMl) -> SyncRequest {
        SyncRequest {
            query: query.map(str::to_owned),
            content_type: Some(mime::SYNCML_XML.into()),
            body: xml::encode(msg).into(),
            remote: "127.0.0.1:1".parse().unwrap(),
        }
    }

    fn body(reply: &SyncReply) -> SyncMl {
        match reply {
            SyncReply::Message { body, .. } => xml::decode(body).unwrap(),
            other => panic!("not a SyncML reply: {other:?}"),
        }
    }

    /// One empty two-way session of `device` (alice, basic auth) through
    /// the service, by the client engine.
    async fn two_way_session(
        transport: &crate::sync_client::LocalTransport,
        device: &str,
    ) -> Result<(), String> {
        use crate::engine::client::Secret;
        use crate::sync_client::{DriverOptions, sync_once};
        let mut cfg = crate::bench::inproc::client_config(device);
        cfg.user = "alice".into();
        cfg.secret = Secret::Password("secret".into());
        cfg.scheme = auth::Scheme::Basic;
        cfg.max_auth_retries = 1;
        let client: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let lock = Default::default();
        sync_once(
            &cfg,
            alert::TWO_WAY,
            &client,
            transport,
            &DriverOptions::default(),
            &lock,
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Finished sessions are kept for resends but do not hold a place:
    /// more than `max_sessions` (10 here) complete one after another.
    #[tokio::test]
    async fn finished_sessions_do_not_count_against_max_sessions() {
        use crate::sync_client::LocalTransport;
        let (svc, _store) = service();
        let transport = LocalTransport {
            service: Arc::new(svc),
            timeout: Duration::from_secs(10),
        };
        for i in 0..12 {
            two_way_session(&transport, &format!("dev-{i}"))
                .await
                .unwrap_or_else(|e| panic!("session {i}: {e}"));
        }
        assert_eq!(transport.service.session_count(), 0);
    }

    /// Finished sessions keep their last reply for resends, but no more of
    /// them than `max_finished_sessions`: the oldest go first, so memory
    /// stays bounded at any rate of completed sessions.
    #[tokio::test]
    async fn finished_sessions_beyond_the_cap_are_forgotten_oldest_first() {
        use crate::sync_client::LocalTransport;
        let (svc, _store) = service();
        let svc = Arc::new(svc);
        let transport = LocalTransport {
            service: svc.clone(),
            timeout: Duration::from_secs(10),
        };
        let kept = |svc: &SyncService| {
            let t = svc.inner.tables();
            (t.by_token.len(), t.by_client.len())
        };
        // `service()` keeps at most 100 finished sessions.
        for i in 0..103 {
            two_way_session(&transport, &format!("dev-{i}"))
                .await
                .unwrap_or_else(|e| panic!("session {i}: {e}"));
            let (tokens, clients) = kept(&svc);
            assert_eq!(tokens, (i + 1).min(100), "after session {i}");
            assert!(clients <= tokens);
        }
        // The newest are the ones kept.
        let t = svc.inner.tables();
        let devices: std::collections::HashSet<String> =
            t.by_client.keys().map(|(d, _)| d.clone()).collect();
        assert!(devices.contains("dev-102") && devices.contains("dev-3"));
        assert!(!devices.contains("dev-0") && !devices.contains("dev-2"));
    }

    #[tokio::test]
    async fn a_new_session_reusing_a_session_id_is_not_taken_for_a_resend() {
        // Regression: the conformance run against `syncmld serve` failed now
        // and then in alert.205 — its random session id repeated one of an
        // earlier session of the same device that had ended after message
        // 1, and the new session's first message got that session's cached
        // reply (no status for its Alert).
        let (svc, _store) = service();
        let first = svc
            .handle(post(None, &alert_msg(alert::SLOW_SYNC, "1")))
            .await;
        // Same device, same SessionID and MsgID, another request.
        let other = svc
            .handle(post(None, &alert_msg(alert::REFRESH_FROM_SERVER, "2")))
            .await;
        assert_ne!(first, other, "the earlier session's reply was replayed");
        let reply = body(&other);
        let alerted = reply.body.commands.iter().find_map(|c| match c {
            Command::Alert(a) => a.data,
            _ => None,
        });
        assert_eq!(alerted, Some(alert::REFRESH_FROM_SERVER));
        // The very same request again is still a resend.
        let again = svc
            .handle(post(None, &alert_msg(alert::REFRESH_FROM_SERVER, "2")))
            .await;
        assert_eq!(other, again);
    }

    /// A session the engine refuses to go on with is dropped from both
    /// tables (by token, and by device and client SessionID), found by
    /// lookup: other sessions kept for resends stay.
    #[tokio::test]
    async fn a_refused_session_is_forgotten_by_token_and_by_client() {
        let (svc, _store) = service();
        let first = svc
            .handle(post(None, &alert_msg(alert::TWO_WAY, "1")))
            .await;
        let resp_uri = body(&first).header.resp_uri.unwrap();
        let query = resp_uri.split_once('?').unwrap().1.to_owned();
        let token = session_param(&query).unwrap().to_owned();
        // Another session, kept: same device, another client SessionID.
        let mut other = alert_msg(alert::TWO_WAY, "1");
        other.header.session_id = "8".into();
        svc.handle(post(None, &other)).await;
        let client = ("dev-1".to_owned(), "7".to_owned());
        {
            let t = svc.inner.tables();
            assert!(t.by_token.contains_key(&token));
            assert_eq!(t.by_client.get(&client), Some(&token));
            assert_eq!(t.by_client.len(), 2);
        }
        // Message 2 in a protocol version the session does not speak.
        let mut refused = alert_msg(alert::TWO_WAY, "1");
        refused.header = header(2, &resp_uri);
        refused.header.ver_proto = "SyncML/9.9".into();
        svc.handle(post(Some(&query), &refused)).await;
        let t = svc.inner.tables();
        assert!(!t.by_token.contains_key(&token));
        assert!(!t.by_client.contains_key(&client));
        assert_eq!(t.by_client.len(), 1, "the other session stays");
        assert_eq!(t.by_token.len(), 1);
    }

    #[tokio::test]
    async fn resent_messages_get_the_cached_reply_and_apply_once() {
        let (svc, store) = service();
        let init = alert_msg(alert::SLOW_SYNC, "1");
        let first = svc.handle(post(None, &init)).await;
        // The first message again, to the base URL: same reply, no new session.
        let again = svc.handle(post(None, &init)).await;
        assert_eq!(first, again);
        assert_eq!(svc.session_count(), 1);
        let resp_uri = body(&first).header.resp_uri.unwrap();
        let query = resp_uri.split_once('?').unwrap().1.to_owned();

        let add = SyncMl {
            header: header(2, &resp_uri),
            body: SyncBody {
                commands: vec![Command::Sync(Sync {
                    cmd_id: 1,
                    target: Some(Loc::uri("addressbook")),
                    source: Some(Loc::uri("./c")),
                    commands: vec![Command::Add(ItemCommand {
                        cmd_id: 2,
                        items: vec![Item {
                            source: Some(Loc::uri("L1")),
                            data: Some(ItemData::Text(
                                "BEGIN:VCARD\r\nFN:A\r\nEND:VCARD\r\n".into(),
                            )),
                            ..Item::default()
                        }],
                        ..ItemCommand::default()
                    })],
                    ..Sync::default()
                })],
                final_: true,
            },
        };
        let r1 = svc.handle(post(Some(&query), &add)).await;
        let snapshot = store.dump().unwrap();
        let r2 = svc.handle(post(Some(&query), &add)).await;
        assert_eq!(r1, r2, "byte-identical cached reply");
        assert_eq!(
            store.dump().unwrap(),
            snapshot,
            "the resend changed nothing"
        );
        let book = BookId {
            user: "alice".into(),
            store: "contacts".into(),
        };
        assert_eq!(
            schema::items_page(store.as_ref(), &book, "", 10)
                .unwrap()
                .len(),
            1
        );

        // An older MsgID in the session is refused; an unknown session is 404.
        let old = svc.handle(post(Some(&query), &init)).await;
        assert!(
            matches!(old, SyncReply::HttpError { status: 400, .. }),
            "{old:?}"
        );
        let unknown = svc.handle(post(Some("sessionid=nope"), &add)).await;
        assert!(
            matches!(unknown, SyncReply::HttpError { status: 404, .. }),
            "{unknown:?}"
        );
    }
}
