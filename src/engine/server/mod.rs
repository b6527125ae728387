//! The server side of a SyncML session.
//!
//! [`ServerEngine::handle`] takes the session state (none for a new
//! session), one decoded client message, the [`Env`] (clock and randomness)
//! and a read view of the store, and returns an [`Outcome`]: the reply, the
//! store writes as one batch, and the next state. Phases are named for what
//! the session expects next:
//!
//! | phase | expects | on the client's Final |
//! |---|---|---|
//! | `ExpectInit` | pkg 1: auth, DevInf, sync Alerts | queue pkg 2 (our Alerts) |
//! | `SendingInit` | acks while a long pkg 2 is split | — |
//! | `ExpectClientChanges` | pkg 3: the client's Sync | compute our changes (pkg 4) |
//! | `SendingChanges` | acks (Statuses, early Maps, Alert 222) while pkg 4 is split | — |
//! | `ExpectMapping` | pkg 5: Statuses and Maps | save anchors, reply pkg 6 |
//! | `Complete` | nothing; only resends of the last message | — |
//!
//! Our package ends (Final) when the client's package ended and everything
//! queued has been sent; a message that ends in a chunk never has Final.

mod changes;
mod header;
mod outgoing;
mod people;
mod touched;
pub use outgoing::pending_for;
mod packer;

use crate::auth::Scheme;
use crate::engine::{ConflictPolicy, EngineError, Env};
use crate::protocol::{Command, Item, ItemData, Loc, Status, StatusCode, SyncMl, alert};
use crate::store::schema::{self, PeerCaps, PeerId, PeerState};
use crate::store::{Batch, KvRead, Txn};
use crate::wire::Sizer;

/// Server settings the engine needs (validated configuration, passed in).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// MaxMsgSize we announce (what we accept per message).
    pub max_msg_size: u64,
    /// MaxObjSize we announce (largest item we accept).
    pub max_obj_size: u64,
    /// Accepted credential schemes, in order of preference for challenges.
    pub schemes: Vec<Scheme>,
    pub require_registered_devices: bool,
    /// Local name of the contacts book ("contacts").
    pub store_name: String,
    /// Datastore URIs clients may use for it (compared without `./`, ASCII
    /// case-insensitively).
    pub contact_uris: Vec<String>,
    pub conflict_policy: ConflictPolicy,
    /// Default region for phone numbers without a country code (matching).
    pub region: crate::contacts::Region,
}

impl ServerConfig {
    /// The local store a client datastore URI names, if any.
    pub fn resolve_store(&self, uri: &str) -> Option<&str> {
        let want = strip_dot(uri);
        self.contact_uris
            .iter()
            .any(|u| strip_dot(u).eq_ignore_ascii_case(want))
            .then_some(self.store_name.as_str())
    }
}

pub(crate) fn strip_dot(uri: &str) -> &str {
    uri.trim_start_matches("./")
}

/// The engine: immutable configuration; all state lives in [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerEngine {
    cfg: ServerConfig,
}

/// Where a session is: named for what it expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    ExpectInit,
    SendingInit,
    ExpectClientChanges,
    SendingChanges,
    ExpectMapping,
    Complete,
}

/// State of one session between messages (kept in memory by the daemon).
#[derive(Debug, Clone)]
pub struct ServerSession {
    phase: Phase,
    /// Our session id, carried in the RespURI.
    token: String,
    client_session_id: String,
    device: String,
    /// The URL the client used, without query (base of our RespURI).
    server_url: String,
    user: Option<String>,
    last_msg_in: u32,
    next_msg_out: u32,
    peer_max_msg: u64,
    peer_max_obj: u64,
    caps: Option<PeerCaps>,
    /// The device's own conflict policy, when an administrator set one.
    policy: Option<ConflictPolicy>,
    /// Content type of the items the device sent in this session.
    sent_type: Option<String>,
    /// The client sent its DevInf in this session (else we Get it).
    got_devinf: bool,
    dbs: Vec<DbSession>,
    outbox: crate::engine::outbox::Outbox,
    owe_final: bool,
    incoming_chunk: Option<changes::IncomingChunk>,
    started_ms: u64,
    report: Report,
}

/// One datastore synced in this session.
#[derive(Debug, Clone)]
pub(crate) struct DbSession {
    /// The client's datastore LocURI (e.g. `./addressbook`).
    client_db: String,
    /// Our datastore as the client named it (e.g. `addressbook`).
    server_db: String,
    peer: PeerId,
    /// Effective alert code (200–205).
    mode: u16,
    client_next: String,
    server_next: String,
    prior: PeerState,
    /// Content index of the book, built on the first slow-sync item.
    slow_index: Option<crate::engine::content::SlowMatcher>,
    /// Items the client reconciled in this session (matched, updated,
    /// added, resolved), and as of when.
    touched: touched::Touched,
    /// Server items that must go back to the client as Replace (server won).
    force_replace: Vec<String>,
    /// Deleted items the client still has unchanged: sent a Delete (slow sync).
    force_delete: Vec<String>,
    /// Change sequence our Sync was computed at.
    snapshot_seq: Option<u64>,
    /// The client alerted with a Last anchor, claiming its LUIDs are the
    /// ones of its last session. Without one (a reset device, a fresh
    /// install reusing a device id) a slow sync trusts an old LUID map only
    /// where the content confirms it.
    trust_luids: bool,
}

/// What happened in a session so far, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub user: Option<String>,
    pub device: String,
    pub mode: Option<u16>,
    pub items_in: u32,
    pub items_out: u32,
    pub conflicts: u32,
    pub auth_failed: bool,
    pub completed: bool,
}

/// Everything the caller must act on after one message.
#[derive(Debug)]
pub struct Outcome {
    /// The reply to send (after committing `batch`).
    pub reply: SyncMl,
    /// The store writes of this message; commit atomically and flush first.
    pub batch: Batch,
    /// The session to keep for the next message; `None` when there is no
    /// session (authentication failed or the message was refused).
    pub next: Option<ServerSession>,
}

impl ServerSession {
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn device(&self) -> &str {
        &self.device
    }
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
    pub fn client_session_id(&self) -> &str {
        &self.client_session_id
    }
    pub fn last_msg_id(&self) -> u32 {
        self.last_msg_in
    }
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }
    pub fn report(&self) -> &Report {
        &self.report
    }
    pub fn is_complete(&self) -> bool {
        self.phase == Phase::Complete
    }
}

/// Statuses collected while processing one message.
pub(crate) struct Replies {
    pub statuses: Vec<Status>,
    msg_ref: u32,
    suppress: bool,
}

impl Replies {
    /// Queue a Status for `cmd` (none when the command or header said NoResp).
    pub fn status(
        &mut self,
        cmd: &Command,
        no_resp: bool,
        code: StatusCode,
    ) -> Option<&mut Status> {
        if self.suppress || no_resp {
            return None;
        }
        self.statuses.push(Status {
            cmd_id: 0,
            msg_ref: self.msg_ref,
            cmd_ref: cmd.cmd_id(),
            cmd: cmd.name().to_owned(),
            data: code,
            ..Status::default()
        });
        self.statuses.last_mut()
    }
}

impl ServerEngine {
    pub fn new(cfg: ServerConfig) -> Self {
        ServerEngine { cfg }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// Process one client message. `fallback_url` is the URL the request
    /// arrived at, used for the RespURI when the client's Target is not an
    /// absolute http(s) URL.
    pub fn handle(
        &self,
        session: Option<ServerSession>,
        msg: SyncMl,
        env: &Env,
        store: &dyn KvRead,
        sizer: &dyn Sizer,
        fallback_url: &str,
    ) -> Result<Outcome, EngineError> {
        let mut txn = Txn::new(store);
        let mut s = match session {
            Some(s) => s,
            None => self.new_session(&msg, env, fallback_url),
        };
        let mut replies = Replies {
            statuses: Vec::new(),
            msg_ref: msg.header.msg_id,
            suppress: msg.header.no_resp,
        };

        // Header: version, auth. A refusal answers every command and ends here.
        match header::check(self, &mut s, &msg, env, &mut txn, &mut replies)? {
            header::Verdict::Proceed => {}
            header::Verdict::Refuse { code } => {
                for cmd in &msg.body.commands {
                    if !matches!(cmd, Command::Status(_)) {
                        replies.status(cmd, false, code);
                    }
                }
                let reply = packer::refusal(&s, &msg, replies.statuses);
                return Ok(Outcome {
                    reply,
                    batch: txn.into_batch(),
                    next: None,
                });
            }
        }
        s.last_msg_in = msg.header.msg_id;
        if let Some(meta) = &msg.header.meta {
            if let Some(m) = meta.max_msg_size.filter(|m| *m > 0) {
                s.peer_max_msg = m;
            }
            if let Some(m) = meta.max_obj_size.filter(|m| *m > 0) {
                s.peer_max_obj = m;
            }
        }

        for cmd in &msg.body.commands {
            self.command(&mut s, cmd, env, &mut txn, &mut replies)?;
        }
        if msg.body.final_ {
            self.client_package_done(&mut s, env, &mut txn)?;
        }
        let reply = packer::build_reply(self, &mut s, &msg, replies.statuses, &mut txn, sizer)?;
        Ok(Outcome {
            reply,
            batch: txn.into_batch(),
            next: Some(s),
        })
    }

    fn new_session(&self, msg: &SyncMl, env: &Env, fallback_url: &str) -> ServerSession {
        let token: String = env.random[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let target = msg.header.target.loc_uri.as_str();
        let base = if target.starts_with("http://") || target.starts_with("https://") {
            target
        } else {
            fallback_url
        };
        let server_url = base.split('?').next().unwrap_or(base).to_owned();
        ServerSession {
            phase: Phase::ExpectInit,
            token,
            client_session_id: msg.header.session_id.clone(),
            device: msg.header.source.loc_uri.clone(),
            server_url,
            user: None,
            last_msg_in: 0,
            next_msg_out: 1,
            peer_max_msg: 0,
            peer_max_obj: 0,
            caps: None,
            got_devinf: false,
            dbs: Vec::new(),
            outbox: Default::default(),
            owe_final: false,
            incoming_chunk: None,
            started_ms: env.now_ms,
            policy: None,
            sent_type: None,
            report: Report {
                device: msg.header.source.loc_uri.clone(),
                ..Report::default()
            },
        }
    }

    /// One top-level command of the client's message.
    fn command(
        &self,
        s: &mut ServerSession,
        cmd: &Command,
        env: &Env,
        txn: &mut Txn<'_>,
        r: &mut Replies,
    ) -> Result<(), EngineError> {
        match cmd {
            Command::Status(st) => packer::client_status(s, st, txn),
            Command::Alert(a) => {
                let code = a.data.unwrap_or(0);
                match code {
                    alert::TWO_WAY..=alert::REFRESH_FROM_SERVER => {
                        if s.phase == Phase::ExpectInit {
                            self.sync_alert(s, cmd, a, env, txn, r)
                        } else {
                            r.status(cmd, a.no_resp, StatusCode::FORBIDDEN);
                            Ok(())
                        }
                    }
                    alert::NEXT_MESSAGE | alert::NO_END_OF_DATA => {
                        r.status(cmd, a.no_resp, StatusCode::OK);
                        Ok(())
                    }
                    _ => {
                        // Resume (225), server-alerted codes from a client,
                        // suspend and unknown codes are not supported yet.
                        r.status(cmd, a.no_resp, StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED);
                        Ok(())
                    }
                }
            }
            Command::Put(p) => {
                let code = self.devinf_from_items(s, &p.items, env, txn)?;
                if let Some(st) = r.status(cmd, p.no_resp, code) {
                    st.source_refs = p
                        .items
                        .iter()
                        .filter_map(|i| i.source_uri().map(str::to_owned))
                        .collect();
                }
                Ok(())
            }
            Command::Results(res) => {
                let code = self.devinf_from_items(s, &res.items, env, txn)?;
                if let Some(st) = r.status(cmd, false, code) {
                    st.source_refs = res
                        .items
                        .iter()
                        .filter_map(|i| i.source_uri().map(str::to_owned))
                        .collect();
                }
                Ok(())
            }
            Command::Get(g) => {
                let target = g.items.first().and_then(|i| i.target_uri()).unwrap_or("");
                let known = matches!(strip_dot(target), "devinf12" | "devinf11");
                let code = if known {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                };
                if let Some(st) = r.status(cmd, g.no_resp, code) {
                    st.target_refs = vec![target.to_owned()];
                }
                if known {
                    packer::queue_results(self, s, g, r.msg_ref);
                }
                Ok(())
            }
            Command::Sync(sync) => changes::sync_command(self, s, cmd, sync, env, txn, r),
            Command::Map(m) => changes::map_command(self, s, cmd, m, txn, r),
            Command::Add(c) | Command::Replace(c) | Command::Delete(c) | Command::Copy(c) => {
                // Item commands are only valid inside a Sync.
                r.status(cmd, c.no_resp, StatusCode::COMMAND_NOT_ALLOWED);
                Ok(())
            }
            Command::Unsupported(u) => {
                r.status(cmd, u.no_resp, StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED);
                Ok(())
            }
        }
    }

    /// A sync Alert (200–205) in package 1: pick the effective mode from the
    /// anchors, answer with the Status (Next echoed) and queue our Alert.
    fn sync_alert(
        &self,
        s: &mut ServerSession,
        cmd: &Command,
        a: &crate::protocol::Alert,
        env: &Env,
        txn: &mut Txn<'_>,
        r: &mut Replies,
    ) -> Result<(), EngineError> {
        let Some(item) = a.items.first() else {
            r.status(cmd, a.no_resp, StatusCode::INCOMPLETE_COMMAND);
            return Ok(());
        };
        let target = item.target_uri().unwrap_or("").to_owned();
        let source = item.source_uri().unwrap_or("").to_owned();
        let anchor = item.meta.as_ref().and_then(|m| m.anchor.clone());
        let Some(store) = self.cfg.resolve_store(&target).map(str::to_owned) else {
            if let Some(st) = r.status(cmd, a.no_resp, StatusCode::NOT_FOUND) {
                st.target_refs = vec![target];
                st.source_refs = vec![source];
            }
            return Ok(());
        };
        let Some(anchor) = anchor.filter(|an| !an.next.is_empty()) else {
            r.status(cmd, a.no_resp, StatusCode::INCOMPLETE_COMMAND);
            return Ok(());
        };
        let Some(user) = s.user.clone() else {
            r.status(cmd, a.no_resp, StatusCode::INVALID_CREDENTIALS);
            return Ok(());
        };
        if s.dbs
            .iter()
            .any(|d| strip_dot(&d.client_db) == strip_dot(&source) || d.peer.store == store)
        {
            // The same datastore alerted twice in one session.
            r.status(cmd, a.no_resp, StatusCode::COMMAND_NOT_ALLOWED);
            return Ok(());
        }
        let peer = PeerId {
            user,
            device: s.device.clone(),
            store,
        };
        let prior = schema::peer_state(txn, &peer)?;
        let requested = a.data.unwrap_or(alert::TWO_WAY);
        let anchors_match = match (&prior, &anchor.last) {
            (Some(p), Some(last)) => p.client_anchor.as_deref() == Some(last.as_str()),
            _ => false,
        };
        let mode = match requested {
            alert::TWO_WAY if !anchors_match => alert::SLOW_SYNC,
            alert::ONE_WAY_FROM_CLIENT if !anchors_match => alert::REFRESH_FROM_CLIENT,
            alert::ONE_WAY_FROM_SERVER if !anchors_match => alert::REFRESH_FROM_SERVER,
            m => m,
        };
        let code = if mode != requested {
            StatusCode::REFRESH_REQUIRED
        } else {
            StatusCode::OK
        };
        if let Some(st) = r.status(cmd, a.no_resp, code) {
            st.target_refs = vec![target.clone()];
            st.source_refs = vec![source.clone()];
            st.items = vec![Item {
                data: Some(ItemData::Anchor(crate::protocol::Anchor {
                    last: None,
                    next: anchor.next.clone(),
                })),
                ..Item::default()
            }];
        }
        let prior = prior.unwrap_or_default();
        let server_last = prior.server_anchor.clone();
        let server_next = crate::engine::anchor::next_anchor(env.now_ms, server_last.as_deref());
        s.report.mode = Some(mode);
        s.dbs.push(DbSession {
            client_db: source.clone(),
            server_db: target.clone(),
            peer,
            mode,
            client_next: anchor.next,
            server_next: server_next.clone(),
            prior,
            slow_index: None,
            touched: touched::Touched::default(),
            force_replace: Vec::new(),
            force_delete: Vec::new(),
            snapshot_seq: None,
            trust_luids: anchor.last.is_some(),
        });
        packer::queue_alert(self, s, mode, &source, &target, server_last, server_next);
        Ok(())
    }

    /// DevInf from a Put or Results: remember the peer's capabilities.
    fn devinf_from_items(
        &self,
        s: &mut ServerSession,
        items: &[Item],
        env: &Env,
        txn: &mut Txn<'_>,
    ) -> Result<StatusCode, EngineError> {
        let Some(devinf) = items.iter().find_map(|i| match &i.data {
            Some(ItemData::DevInf(d)) => Some(d),
            _ => None,
        }) else {
            return Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        };
        let store_uri = devinf
            .data_stores
            .iter()
            .find(|d| self.cfg.resolve_store(&d.source_ref).is_some())
            .map(|d| d.source_ref.clone());
        let caps = crate::engine::devinf::peer_caps(devinf, store_uri.as_deref());
        s.caps = Some(caps.clone());
        s.got_devinf = true;
        // A policy the device asks for in its DevInf (an administrator's
        // per-device setting, read at login, wins).
        if s.policy.is_none() {
            s.policy = devinf
                .exts
                .iter()
                .find(|e| {
                    e.xnam
                        .eq_ignore_ascii_case(crate::protocol::EXT_CONFLICT_POLICY)
                })
                .and_then(|e| e.xval.first())
                .and_then(|v| ConflictPolicy::parse(v));
        }
        if let Some(user) = &s.user {
            let mut rec = schema::device(txn, user, &s.device)?.unwrap_or_default();
            if rec.caps.as_ref() != Some(&caps) {
                rec.caps = Some(caps);
                if rec.first_seen_ms == 0 {
                    rec.first_seen_ms = env.now_ms;
                }
                rec.last_seen_ms = env.now_ms;
                schema::put_device(txn, user, &s.device, &rec);
            }
        }
        Ok(StatusCode::OK)
    }

    /// The client's package ended (Final): move to our next package.
    fn client_package_done(
        &self,
        s: &mut ServerSession,
        env: &Env,
        txn: &mut Txn<'_>,
    ) -> Result<(), EngineError> {
        match s.phase {
            Phase::ExpectInit => {
                if !s.got_devinf && s.user.is_some() {
                    packer::queue_get_devinf(s);
                }
                s.owe_final = true;
                s.phase = Phase::SendingInit;
            }
            Phase::ExpectClientChanges => {
                if let Some(chunk) = s.incoming_chunk.take() {
                    tracing::debug!(luid = %chunk.luid, "package ended inside a chunked item; dropped");
                }
                for i in 0..s.dbs.len() {
                    outgoing::queue_changes(self, s, i, env, txn)?;
                }
                s.owe_final = true;
                s.phase = Phase::SendingChanges;
            }
            Phase::ExpectMapping => {
                outgoing::complete(self, s, env, txn)?;
                s.owe_final = true;
                s.phase = Phase::Complete;
            }
            // Finals while we are still sending (some clients put Final on
            // every message) or after completion change nothing.
            Phase::SendingInit | Phase::SendingChanges | Phase::Complete => {}
        }
        Ok(())
    }
}

/// A `Loc` for a LocURI.
pub(crate) fn loc(uri: &str) -> Loc {
    Loc::uri(uri)
}

#[cfg(test)]
mod tests;
