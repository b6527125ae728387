//! The client side of a SyncML session — sans-IO, like the server engine.
//!
//! [`ClientSession::start`] builds the first message; every server reply
//! goes to [`ClientSession::handle`], which returns a [`Step`]: store writes
//! to commit, the next message to POST (to the URL given — the RespURI once
//! the server sent one), and the next state, or the session's result. The
//! driver commits, posts, and on a transport timeout re-posts the same bytes
//! (the server answers a resend from its cache).
//!
//! Phases, named for what the client expects next:
//!
//! | phase | expects | on the server's Final |
//! |---|---|---|
//! | `ExpectInitReply` | pkg 2: auth status, Alerts, DevInf | send our changes (pkg 3) |
//! | `SendingChanges` | acks while a long pkg 3 is split | — |
//! | `ExpectServerChanges` | pkg 4: the server's Sync | send Statuses + Map (pkg 5) |
//! | `ExpectMapAck` | pkg 6 | save anchors: done |
//!
//! Local books use the same tables as the server: items keyed by LUID, one
//! change sequence per book, and per peer the anchors and the sequence it
//! has seen, so each peer gets only what changed since its last sync and
//! never its own changes back (their `origin` is the peer's name).

mod incoming;
mod outgoing;
pub use outgoing::local_pending;

use crate::auth::{self, Scheme};
use crate::engine::outbox::{Fill, Outbox, Role, Sent};
use crate::engine::{EngineError, Env};
use crate::protocol::{
    Alert, Anchor, Command, Cred, CtTypeVer, DataStore, DevInf, Item, ItemData, Loc, Meta, PutGet,
    Results, Status, StatusCode, SyncBody, SyncHdr, SyncMl, alert, mime,
};
use crate::store::schema::{self, BookId, PeerId, PeerState};
use crate::store::{Batch, KvRead, Txn};
use crate::wire::Sizer;

/// What the client needs to know about one peer (validated configuration).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Name of the peer in our configuration: key of its state, and the
    /// `origin` of the changes it sends us.
    pub peer: String,
    /// Owner of the local books synced with this peer.
    pub local_user: String,
    /// The server's SyncML URL.
    pub url: String,
    /// Our device id (SyncHdr Source LocURI).
    pub device_id: String,
    /// The user name at the server.
    pub user: String,
    pub secret: Secret,
    pub scheme: Scheme,
    /// MaxMsgSize / MaxObjSize we announce.
    pub max_msg_size: u64,
    pub max_obj_size: u64,
    pub dbs: Vec<DbMapping>,
    /// New sessions started after a 401/407 with a fresh nonce.
    pub max_auth_retries: u8,
    /// The conflict policy we ask the server to apply to us (a DevInf Ext
    /// that syncmld servers honour and others ignore).
    pub conflict_preference: Option<String>,
}

/// A local book and the server datastore it syncs with.
#[derive(Debug, Clone)]
pub struct DbMapping {
    /// Local book name ("contacts").
    pub local: String,
    /// Our datastore URI in the protocol (`./contacts`).
    pub local_uri: String,
    /// The server's datastore URI (`addressbook`).
    pub remote_uri: String,
}

/// The credential material for the configured scheme.
#[derive(Clone)]
pub enum Secret {
    Password(String),
    /// Shared secret for the device-bound and HMAC credentials.
    Device(Vec<u8>),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Password(_) => "Password(<redacted>)",
            Secret::Device(_) => "Device(<redacted>)",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientPhase {
    ExpectInitReply,
    SendingChanges,
    ExpectServerChanges,
    ExpectMapAck,
}

/// Counters of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Effective mode per database (local book name, alert code).
    pub modes: Vec<(String, u16)>,
    pub sent: Counts,
    pub received: Counts,
    /// Our items the server refused: (LUID, status).
    pub refused: Vec<(String, u16)>,
    /// Conflicts the server reported (207/208/209/419) for our items.
    pub conflicts: u32,
    pub messages: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub adds: u32,
    pub replaces: u32,
    pub deletes: u32,
}

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientFailure {
    #[error("authentication failed (status {0})")]
    Auth(u16),
    #[error("the server refused the session: status {code} for {cmd}")]
    Refused { cmd: String, code: u16 },
    #[error("the server does not know datastore {0}")]
    UnknownDatastore(String),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The result of starting a session or handling a reply.
#[derive(Debug)]
pub struct Step {
    /// Commit before sending `send`.
    pub batch: Batch,
    /// POST this message to this URL next.
    pub send: Option<(String, SyncMl)>,
    /// The session, while it goes on.
    pub next: Option<ClientSession>,
    /// The session ended: its report or why it failed.
    pub done: Option<Result<ClientReport, ClientFailure>>,
}

/// One database in a session.
#[derive(Debug, Clone)]
pub(crate) struct ClientDb {
    spec: DbMapping,
    peer: PeerId,
    book: BookId,
    requested: u16,
    /// Effective mode (after the server's Alert, or our 508).
    mode: u16,
    our_next: String,
    server_next: Option<String>,
    prior: PeerState,
    snapshot: Option<u64>,
    alerted: bool,
}

/// State of a client session between messages.
#[derive(Debug, Clone)]
pub struct ClientSession {
    cfg: ClientConfig,
    phase: ClientPhase,
    session_id: String,
    url: String,
    next_msg_id: u32,
    dbs: Vec<ClientDb>,
    outbox: Outbox,
    owe_final: bool,
    auth_attempts: u8,
    authenticated: bool,
    server_max_msg: u64,
    server_max_obj: u64,
    server_large_objects: bool,
    server_number_of_changes: bool,
    incoming_chunk: Option<incoming::Chunk>,
    /// (db, luid, guid) of server Adds not yet put in a Map.
    maps_to_send: Vec<(usize, String, String)>,
    report: ClientReport,
}

impl ClientSession {
    pub fn phase(&self) -> ClientPhase {
        self.phase
    }

    pub fn report(&self) -> &ClientReport {
        &self.report
    }

    /// Start a session in `mode` (200–205) for every configured database.
    /// A two-way or one-way request without saved anchors becomes the slow
    /// variant right away.
    pub fn start(
        cfg: &ClientConfig,
        mode: u16,
        env: &Env,
        store: &dyn KvRead,
        sizer: &dyn Sizer,
    ) -> Result<Step, EngineError> {
        let session_id =
            (u16::from_be_bytes([env.random[0], env.random[1]]) % 9999 + 1).to_string();
        let mut s = ClientSession {
            cfg: cfg.clone(),
            phase: ClientPhase::ExpectInitReply,
            session_id,
            url: cfg.url.clone(),
            next_msg_id: 1,
            dbs: Vec::new(),
            outbox: Outbox::default(),
            owe_final: false,
            auth_attempts: 0,
            authenticated: false,
            server_max_msg: 0,
            server_max_obj: 0,
            server_large_objects: true,
            server_number_of_changes: true,
            incoming_chunk: None,
            maps_to_send: Vec::new(),
            report: ClientReport::default(),
        };
        let mut txn = Txn::new(store);
        s.begin(mode, env, &txn)?;
        let msg = s.build_message(Vec::new(), None, &mut txn, env, sizer)?;
        let url = s.url.clone();
        Ok(Step {
            batch: txn.into_batch(),
            send: Some((url, msg)),
            next: Some(s),
            done: None,
        })
    }

    /// (Re)initialise the databases and queue package 1.
    fn begin(&mut self, mode: u16, env: &Env, txn: &Txn<'_>) -> Result<(), EngineError> {
        self.dbs.clear();
        self.outbox = Outbox::default();
        self.phase = ClientPhase::ExpectInitReply;
        self.next_msg_id = 1;
        self.url = self.cfg.url.clone();
        self.authenticated = false;
        self.incoming_chunk = None;
        self.maps_to_send.clear();
        self.report = ClientReport::default();
        let devinf = self.devinf();
        self.outbox
            .queue
            .push_back(crate::engine::outbox::Out::Tagged {
                sent: Sent::Other,
                cmd: Command::Put(PutGet {
                    meta: Some(Meta::with_type(mime::DEVINF_XML)),
                    items: vec![Item {
                        source: Some(Loc::uri("./devinf12")),
                        data: Some(ItemData::DevInf(Box::new(devinf))),
                        ..Item::default()
                    }],
                    ..PutGet::default()
                }),
            });
        for (i, spec) in self.cfg.dbs.clone().into_iter().enumerate() {
            let peer = PeerId {
                user: self.cfg.local_user.clone(),
                device: self.cfg.peer.clone(),
                store: spec.local.clone(),
            };
            let prior = schema::peer_state(txn, &peer)?;
            let have_anchors = prior.as_ref().is_some_and(|p| p.client_anchor.is_some());
            let requested = match mode {
                alert::TWO_WAY if !have_anchors => alert::SLOW_SYNC,
                alert::ONE_WAY_FROM_CLIENT if !have_anchors => alert::REFRESH_FROM_CLIENT,
                alert::ONE_WAY_FROM_SERVER if !have_anchors => alert::REFRESH_FROM_SERVER,
                m => m,
            };
            let prior = prior.unwrap_or_default();
            let last = if matches!(
                requested,
                alert::SLOW_SYNC | alert::REFRESH_FROM_CLIENT | alert::REFRESH_FROM_SERVER
            ) {
                None
            } else {
                prior.client_anchor.clone()
            };
            let our_next =
                crate::engine::anchor::next_anchor(env.now_ms, prior.client_anchor.as_deref());
            self.outbox
                .queue
                .push_back(crate::engine::outbox::Out::Tagged {
                    sent: Sent::Alert { db: i },
                    cmd: Command::Alert(Alert {
                        data: Some(requested),
                        items: vec![Item {
                            target: Some(Loc::uri(&spec.remote_uri)),
                            source: Some(Loc::uri(&spec.local_uri)),
                            meta: Some(Meta {
                                anchor: Some(Anchor {
                                    last,
                                    next: our_next.clone(),
                                }),
                                max_obj_size: Some(self.cfg.max_obj_size),
                                ..Meta::default()
                            }),
                            ..Item::default()
                        }],
                        ..Alert::default()
                    }),
                });
            let book = peer.book();
            self.dbs.push(ClientDb {
                spec,
                peer,
                book,
                requested,
                mode: requested,
                our_next,
                server_next: None,
                prior,
                snapshot: None,
                alerted: false,
            });
        }
        self.owe_final = true;
        Ok(())
    }

    fn devinf(&self) -> DevInf {
        let vcard30 = CtTypeVer::new(mime::VCARD30, "3.0");
        let vcard21 = CtTypeVer::new(mime::VCARD21, "2.1");
        DevInf {
            ver_dtd: "1.2".into(),
            man: Some("syncmld".into()),
            mod_: Some("syncmld".into()),
            sw_v: Some(env!("CARGO_PKG_VERSION").into()),
            dev_id: self.cfg.device_id.clone(),
            dev_typ: "workstation".into(),
            utc: true,
            support_large_objs: true,
            support_number_of_changes: true,
            data_stores: self
                .cfg
                .dbs
                .iter()
                .map(|d| DataStore {
                    source_ref: d.local_uri.clone(),
                    display_name: Some(d.local.clone()),
                    max_guid_size: Some(32),
                    rx_pref: Some(vcard30.clone()),
                    rx: vec![vcard21.clone()],
                    tx_pref: Some(vcard30.clone()),
                    tx: vec![vcard21.clone()],
                    sync_types: (1..=7).map(|n: u32| n.to_string()).collect(),
                    ..DataStore::default()
                })
                .collect(),
            exts: self
                .cfg
                .conflict_preference
                .iter()
                .map(|p| crate::protocol::Ext {
                    xnam: crate::protocol::EXT_CONFLICT_POLICY.into(),
                    xval: vec![p.clone()],
                })
                .collect(),
            ..DevInf::default()
        }
    }

    /// The Cred of our next message (only until the server accepted us).
    fn credential(&self, txn: &Txn<'_>, msg_id: u32) -> Result<Option<Cred>, EngineError> {
        if self.authenticated {
            return Ok(None);
        }
        let nonce = schema::nonce(txn, &self.cfg.local_user, &self.cfg.peer)?.unwrap_or_default();
        let c = &self.cfg;
        let data = match (&c.scheme, &c.secret) {
            (Scheme::Basic, Secret::Password(p)) => auth::basic_credential(&c.user, p),
            (Scheme::Md5, Secret::Password(p)) => {
                auth::md5_credential(&auth::userpass_digest(&c.user, p), &nonce)
            }
            (Scheme::Device, Secret::Device(s)) => auth::device_credential(s, &c.device_id),
            (Scheme::Hmac, Secret::Device(s)) => auth::hmac_credential(
                &auth::device_key(s, &c.device_id),
                &c.device_id,
                &self.session_id,
                msg_id,
                &nonce,
            ),
            // A scheme without its secret: send nothing, the server says 407.
            _ => return Ok(None),
        };
        Ok(Some(Cred {
            meta: Some(Meta {
                format: Some("b64".into()),
                type_: Some(c.scheme.cred_type().into()),
                ..Meta::default()
            }),
            data,
        }))
    }

    /// Our next message: `statuses` first, then what fits of the outbox.
    fn build_message(
        &mut self,
        statuses: Vec<Status>,
        replying_to: Option<&SyncMl>,
        txn: &mut Txn<'_>,
        env: &Env,
        sizer: &dyn Sizer,
    ) -> Result<SyncMl, EngineError> {
        let msg_id = self.next_msg_id;
        self.next_msg_id += 1;
        let header = SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "SyncML/1.2".into(),
            session_id: self.session_id.clone(),
            msg_id,
            target: Loc::uri(&self.url),
            source: Loc {
                loc_uri: self.cfg.device_id.clone(),
                loc_name: Some(self.cfg.user.clone()),
            },
            cred: self.credential(txn, msg_id)?,
            meta: Some(Meta {
                max_msg_size: Some(self.cfg.max_msg_size),
                max_obj_size: Some(self.cfg.max_obj_size),
                ..Meta::default()
            }),
            ..SyncHdr::default()
        };
        let mut cmds = Vec::new();
        let mut next_id = 1;
        let mut used = sizer.envelope_len(&header);
        for st in statuses {
            let mut c = Command::Status(st);
            next_id = c.renumber(next_id);
            used += sizer.command_len(&c);
            cmds.push(c);
        }
        let fill = Fill {
            msg_id,
            role: Role::Client,
            max_msg_size: self.server_max_msg,
            max_obj_size: self.server_max_obj,
            large_objects: self.server_large_objects,
            number_of_changes: self.server_number_of_changes,
            sizer,
        };
        let dbs: Vec<(String, String, BookId)> = self
            .dbs
            .iter()
            .map(|d| {
                (
                    d.spec.remote_uri.clone(),
                    d.spec.local_uri.clone(),
                    d.book.clone(),
                )
            })
            .collect();
        let wrapper = |db: usize| {
            dbs.get(db)
                .map(|(r, l, _)| (r.clone(), l.clone()))
                .unwrap_or_default()
        };
        let mut load = |db: usize, luid: &str| -> Result<Option<(String, String)>, EngineError> {
            let Some((_, _, book)) = dbs.get(db) else {
                return Ok(None);
            };
            Ok(schema::item(txn, book, luid)?
                .filter(|r| !r.deleted)
                .map(|r| (r.content_type, r.data)))
        };
        let filled = self
            .outbox
            .fill(&fill, &mut cmds, &mut next_id, used, &wrapper, &mut load)?;
        for luid in &filled.too_big {
            self.report
                .refused
                .push((luid.clone(), StatusCode::REQUEST_ENTITY_TOO_LARGE.0));
        }
        let final_ = self.owe_final && self.outbox.is_empty() && !filled.ended_in_chunk;
        if final_ {
            self.owe_final = false;
            self.phase = match self.phase {
                ClientPhase::SendingChanges => ClientPhase::ExpectServerChanges,
                p => p,
            };
        } else if cmds.len() <= 1
            && !filled.added_any
            && let Some(reply) = replying_to
        {
            // Only the SyncHdr status: ask for the next message.
            let mut c = Command::Alert(Alert {
                data: Some(alert::NEXT_MESSAGE),
                items: vec![Item {
                    target: Some(Loc::uri(&reply.header.source.loc_uri)),
                    source: Some(Loc::uri(&self.cfg.device_id)),
                    ..Item::default()
                }],
                ..Alert::default()
            });
            c.renumber(next_id);
            cmds.push(c);
        }
        self.report.messages += 1;
        let _ = env;
        Ok(SyncMl {
            header,
            body: SyncBody {
                commands: cmds,
                final_,
            },
        })
    }

    /// Handle one reply from the server.
    pub fn handle(
        mut self,
        reply: SyncMl,
        env: &Env,
        store: &dyn KvRead,
        sizer: &dyn Sizer,
    ) -> Result<Step, EngineError> {
        let mut txn = Txn::new(store);
        let mut statuses: Vec<Status> = Vec::new();
        let reply_ref = reply.header.msg_id;
        let status_for = |cmd: &Command, code: StatusCode| Status {
            msg_ref: reply_ref,
            cmd_ref: cmd.cmd_id(),
            cmd: cmd.name().to_owned(),
            data: code,
            ..Status::default()
        };

        // The server's answer to our header comes first.
        let hdr = reply.body.commands.iter().find_map(|c| match c {
            Command::Status(st) if st.cmd == "SyncHdr" => Some(st.clone()),
            _ => None,
        });
        if let Some(st) = &hdr {
            if let Some(nonce) = st.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref())
                && let Ok(n) = auth::decode_nonce(nonce)
            {
                schema::put_nonce(&mut txn, &self.cfg.local_user, &self.cfg.peer, &n);
            }
            match st.data.0 {
                200 | 212 => self.authenticated = true,
                401 | 407 => {
                    self.auth_attempts += 1;
                    if self.auth_attempts > self.cfg.max_auth_retries || st.chal.is_none() {
                        return Ok(failed(txn.into_batch(), ClientFailure::Auth(st.data.0)));
                    }
                    // A new session (new SessionID, MsgID 1, the original
                    // URL) with the nonce the challenge gave us.
                    let mode = self
                        .dbs
                        .first()
                        .map(|d| d.requested)
                        .unwrap_or(alert::TWO_WAY);
                    let mut random = env.random;
                    random[0] = random[0].wrapping_add(self.auth_attempts);
                    self.session_id =
                        (u16::from_be_bytes([random[0], random[1]]) % 9999 + 1).to_string();
                    let attempts = self.auth_attempts;
                    self.begin(mode, env, &txn)?;
                    self.auth_attempts = attempts;
                    let msg = self.build_message(Vec::new(), None, &mut txn, env, sizer)?;
                    let url = self.url.clone();
                    return Ok(Step {
                        batch: txn.into_batch(),
                        send: Some((url, msg)),
                        next: Some(self),
                        done: None,
                    });
                }
                code => {
                    return Ok(failed(
                        txn.into_batch(),
                        ClientFailure::Refused {
                            cmd: "SyncHdr".into(),
                            code,
                        },
                    ));
                }
            }
        } else if !self.authenticated && !reply.header.no_resp {
            return Ok(failed(
                txn.into_batch(),
                ClientFailure::Protocol("no status for our SyncHdr".into()),
            ));
        }
        if let Some(uri) = reply.header.resp_uri.as_deref().filter(|u| !u.is_empty()) {
            self.url = uri.to_owned();
        }
        if let Some(meta) = &reply.header.meta {
            if let Some(m) = meta.max_msg_size.filter(|m| *m > 0) {
                self.server_max_msg = m;
            }
            if let Some(m) = meta.max_obj_size.filter(|m| *m > 0) {
                self.server_max_obj = m;
            }
        }
        statuses.push(Status {
            msg_ref: reply_ref,
            cmd_ref: 0,
            cmd: "SyncHdr".into(),
            target_refs: vec![reply.header.target.loc_uri.clone()],
            source_refs: vec![reply.header.source.loc_uri.clone()],
            data: StatusCode::OK,
            ..Status::default()
        });

        for cmd in &reply.body.commands {
            match cmd {
                Command::Status(st) => {
                    if let Some(failure) = self.our_status(st, &mut txn)? {
                        return Ok(failed(txn.into_batch(), failure));
                    }
                }
                Command::Alert(a) => {
                    let code = a.data.unwrap_or(0);
                    if (alert::TWO_WAY..=alert::REFRESH_FROM_SERVER).contains(&code) {
                        let st = self.server_alert(cmd, a, &status_for);
                        statuses.push(st);
                    } else if code == alert::NEXT_MESSAGE {
                        statuses.push(status_for(cmd, StatusCode::OK));
                    } else {
                        statuses.push(status_for(cmd, StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED));
                    }
                }
                Command::Get(g) => {
                    let target = g
                        .items
                        .first()
                        .and_then(|i| i.target_uri())
                        .unwrap_or("")
                        .to_owned();
                    let known = matches!(target.trim_start_matches("./"), "devinf12" | "devinf11");
                    let mut st = status_for(
                        cmd,
                        if known {
                            StatusCode::OK
                        } else {
                            StatusCode::NOT_FOUND
                        },
                    );
                    st.target_refs = vec![target.clone()];
                    statuses.push(st);
                    if known {
                        let devinf = self.devinf();
                        self.outbox
                            .queue
                            .push_front(crate::engine::outbox::Out::Tagged {
                                sent: Sent::Other,
                                cmd: Command::Results(Results {
                                    msg_ref: reply_ref,
                                    cmd_ref: g.cmd_id,
                                    meta: Some(Meta::with_type(mime::DEVINF_XML)),
                                    source_ref: Some(target.clone()),
                                    items: vec![Item {
                                        source: Some(Loc::uri(&target)),
                                        data: Some(ItemData::DevInf(Box::new(devinf))),
                                        ..Item::default()
                                    }],
                                    ..Results::default()
                                }),
                            });
                    }
                }
                Command::Put(PutGet { items, .. }) | Command::Results(Results { items, .. }) => {
                    if let Some(ItemData::DevInf(d)) = items.first().and_then(|i| i.data.as_ref()) {
                        self.server_large_objects = d.support_large_objs;
                        self.server_number_of_changes = d.support_number_of_changes;
                    }
                    statuses.push(status_for(cmd, StatusCode::OK));
                }
                Command::Sync(sync) => {
                    let mut st = status_for(cmd, StatusCode::OK);
                    st.target_refs = sync.target.iter().map(|l| l.loc_uri.clone()).collect();
                    st.source_refs = sync.source.iter().map(|l| l.loc_uri.clone()).collect();
                    let db = sync.target.as_ref().and_then(|t| {
                        self.dbs
                            .iter()
                            .position(|d| same_uri(&d.spec.local_uri, &t.loc_uri))
                    });
                    let allowed = matches!(
                        self.phase,
                        ClientPhase::ExpectServerChanges | ClientPhase::SendingChanges
                    );
                    match db {
                        Some(i) if allowed => {
                            statuses.push(st);
                            incoming::sync_ops(
                                &mut self,
                                i,
                                sync,
                                reply_ref,
                                env,
                                &mut txn,
                                &mut statuses,
                            )?;
                        }
                        _ => {
                            st.data = if allowed {
                                StatusCode::NOT_FOUND
                            } else {
                                StatusCode::FORBIDDEN
                            };
                            statuses.push(st);
                        }
                    }
                }
                Command::Map(_)
                | Command::Add(_)
                | Command::Replace(_)
                | Command::Delete(_)
                | Command::Copy(_) => {
                    statuses.push(status_for(cmd, StatusCode::COMMAND_NOT_ALLOWED));
                }
                Command::Unsupported(_) => {
                    statuses.push(status_for(cmd, StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED))
                }
            }
        }
        if reply.header.no_resp {
            statuses.clear();
        }

        if reply.body.final_ {
            match self.phase {
                ClientPhase::ExpectInitReply => {
                    if let Some(d) = self.dbs.iter().find(|d| !d.alerted) {
                        let uri = d.spec.remote_uri.clone();
                        return Ok(failed(
                            txn.into_batch(),
                            ClientFailure::Protocol(format!("no Alert for {uri}")),
                        ));
                    }
                    outgoing::queue_changes(&mut self, env, &mut txn)?;
                    self.owe_final = true;
                    self.phase = ClientPhase::SendingChanges;
                }
                ClientPhase::ExpectServerChanges => {
                    self.queue_maps(&mut txn);
                    if statuses.len() <= 1 && self.outbox.is_empty() {
                        // Nothing to say but "got your header" (e.g. a
                        // one-way-from-client session whose package 4 has
                        // no Sync): the session ends here, we send nothing.
                        outgoing::complete(&mut self, env, &mut txn)?;
                        let report = self.report.clone();
                        return Ok(Step {
                            batch: txn.into_batch(),
                            send: None,
                            next: None,
                            done: Some(Ok(report)),
                        });
                    }
                    self.owe_final = true;
                    self.phase = ClientPhase::ExpectMapAck;
                }
                ClientPhase::ExpectMapAck => {
                    outgoing::complete(&mut self, env, &mut txn)?;
                    let report = self.report.clone();
                    return Ok(Step {
                        batch: txn.into_batch(),
                        send: None,
                        next: None,
                        done: Some(Ok(report)),
                    });
                }
                ClientPhase::SendingChanges => {}
            }
        } else if self.phase == ClientPhase::ExpectServerChanges {
            // Map what we got so far right away (early Map).
            self.queue_maps(&mut txn);
        }
        let msg = self.build_message(statuses, Some(&reply), &mut txn, env, sizer)?;
        let url = self.url.clone();
        Ok(Step {
            batch: txn.into_batch(),
            send: Some((url, msg)),
            next: Some(self),
            done: None,
        })
    }

    /// A Status the server gave one of our commands.
    fn our_status(
        &mut self,
        st: &Status,
        txn: &mut Txn<'_>,
    ) -> Result<Option<ClientFailure>, EngineError> {
        if st.cmd == "SyncHdr" {
            return Ok(None);
        }
        let Some(sent) = self.outbox.sent.remove(&(st.msg_ref, st.cmd_ref)) else {
            return Ok(None);
        };
        let code = st.data.0;
        match sent {
            Sent::Alert { db } => {
                if code == 404 {
                    let uri = self
                        .dbs
                        .get(db)
                        .map(|d| d.spec.remote_uri.clone())
                        .unwrap_or_default();
                    return Ok(Some(ClientFailure::UnknownDatastore(uri)));
                }
                if !st.data.is_success() && code != 508 {
                    return Ok(Some(ClientFailure::Refused {
                        cmd: "Alert".into(),
                        code,
                    }));
                }
            }
            Sent::Op { key, .. } => {
                if matches!(code, 207 | 208 | 209 | 419) {
                    self.report.conflicts += 1;
                } else if !st.data.is_success() && code != 418 {
                    self.report.refused.push((key, code));
                }
            }
            Sent::Map { db, items } => {
                if st.data.is_success()
                    && let Some(d) = self.dbs.get(db)
                {
                    for (luid, _) in items {
                        schema::remove_pending_map(txn, &d.peer, &luid);
                    }
                }
            }
            Sent::Chunk | Sent::Other => {}
        }
        Ok(None)
    }

    /// The server's sync Alert for one of our databases.
    fn server_alert(
        &mut self,
        cmd: &Command,
        a: &Alert,
        status_for: &dyn Fn(&Command, StatusCode) -> Status,
    ) -> Status {
        let code = a.data.unwrap_or(0);
        let item = a.items.first();
        let target = item.and_then(|i| i.target_uri()).unwrap_or("");
        let anchor = item
            .and_then(|i| i.meta.as_ref())
            .and_then(|m| m.anchor.clone());
        let Some(d) = self
            .dbs
            .iter_mut()
            .find(|d| same_uri(&d.spec.local_uri, target))
        else {
            return status_for(cmd, StatusCode::NOT_FOUND);
        };
        let Some(anchor) = anchor else {
            return status_for(cmd, StatusCode::INCOMPLETE_COMMAND);
        };
        // Both sides compare anchors: the server's Last must be the Next it
        // gave us in our last completed session.
        let matches = anchor.last.is_some() && anchor.last == d.prior.server_anchor;
        let (mode, result) = match code {
            alert::TWO_WAY if !matches => (alert::SLOW_SYNC, StatusCode::REFRESH_REQUIRED),
            alert::ONE_WAY_FROM_CLIENT if !matches => {
                (alert::REFRESH_FROM_CLIENT, StatusCode::REFRESH_REQUIRED)
            }
            alert::ONE_WAY_FROM_SERVER if !matches => {
                (alert::REFRESH_FROM_SERVER, StatusCode::REFRESH_REQUIRED)
            }
            m => (m, StatusCode::OK),
        };
        d.mode = mode;
        d.server_next = Some(anchor.next.clone());
        d.alerted = true;
        let mut st = status_for(cmd, result);
        st.target_refs = vec![target.to_owned()];
        st.source_refs = item
            .and_then(|i| i.source_uri())
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default();
        st.items = vec![Item {
            data: Some(ItemData::Anchor(Anchor {
                last: None,
                next: anchor.next,
            })),
            ..Item::default()
        }];
        st
    }

    /// Queue a Map for the server Adds received since the last one.
    fn queue_maps(&mut self, txn: &mut Txn<'_>) {
        let pending = std::mem::take(&mut self.maps_to_send);
        for (i, d) in self.dbs.iter().enumerate() {
            let items: Vec<(String, String)> = pending
                .iter()
                .filter(|(db, _, _)| *db == i)
                .map(|(_, l, g)| (l.clone(), g.clone()))
                .collect();
            if items.is_empty() {
                continue;
            }
            for (luid, guid) in &items {
                schema::put_pending_map(txn, &d.peer, luid, guid);
            }
            self.outbox.queue.push_back(map_command(i, d, items));
        }
    }
}

fn map_command(
    db: usize,
    d: &ClientDb,
    items: Vec<(String, String)>,
) -> crate::engine::outbox::Out {
    crate::engine::outbox::Out::Tagged {
        cmd: Command::Map(crate::protocol::Map {
            target: Loc::uri(&d.spec.remote_uri),
            source: Loc::uri(&d.spec.local_uri),
            items: items
                .iter()
                .map(|(luid, guid)| crate::protocol::MapItem {
                    target: Loc::uri(guid),
                    source: Loc::uri(luid),
                })
                .collect(),
            ..crate::protocol::Map::default()
        }),
        sent: Sent::Map { db, items },
    }
}

fn same_uri(a: &str, b: &str) -> bool {
    a.trim_start_matches("./")
        .eq_ignore_ascii_case(b.trim_start_matches("./"))
}

fn failed(batch: Batch, f: ClientFailure) -> Step {
    Step {
        batch,
        send: None,
        next: None,
        done: Some(Err(f)),
    }
}

#[cfg(test)]
mod tests;
