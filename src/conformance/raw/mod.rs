//! A scripted SyncML session for what the client engine never sends: no
//! Cred, a resend, a Replace of an item the server never saw, a Map in the
//! next session, an unknown datastore, an unsupported version.
//!
//! Messages are built with the message model and the XML codec. Whatever
//! the scenario sends, [`Raw::finish`] then drives the session to its end
//! like a plain client (answers every command, sends the scenario's
//! package 3, the Maps, stops when the server has nothing more to say):
//! a session left open can block a server's datastore for minutes
//! (SyncEvolution queues every other device behind it).

mod commands;

pub use commands::{devinf, get_devinf, item_op, map, put_devinf, sync, sync_alert};

use crate::auth::{self, Scheme};
use crate::protocol::{
    Anchor, Command, Cred, Item, ItemData, Loc, Meta, Results, Status, StatusCode, SyncBody,
    SyncHdr, SyncMl, auth_type, mime,
};
use crate::wire::xml;

use super::ctx::Ctx;
use super::inspect::{Seen, is_sync_alert};
use super::scenarios::Fail;

/// Our datastore URI in scripted sessions (the same as the devices').
pub const LOCAL_DB: &str = "./contacts";
/// Guard against a server that never ends a session.
const MAX_MESSAGES: usize = 500;

/// A server item operation the script received.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: String,
    /// Add: the server's GUID (Source); Replace/Delete: the LUID it named (Target).
    pub id: String,
    /// The LUID we gave a server Add.
    pub luid: Option<String>,
    pub data: Option<String>,
}

pub struct Raw<'a> {
    cx: &'a Ctx,
    pub device: String,
    pub session_id: String,
    url: String,
    next_msg: u32,
    pub scheme: Scheme,
    pub password: String,
    /// The server accepted our credentials for the whole session (212).
    session_auth: bool,
    /// Bytes and URL of the last message, for a resend.
    last_sent: Option<(String, Vec<u8>)>,
    pub received: Vec<Received>,
    /// Send Maps for the server's Adds (a client that lost them does not).
    pub send_maps: bool,
    pending_maps: Vec<(String, String)>,
    mark: usize,
}

impl<'a> Raw<'a> {
    pub fn new(cx: &'a Ctx, device: &str) -> Self {
        Raw {
            cx,
            device: device.to_owned(),
            session_id: cx.session_id(),
            url: cx.opts.url.clone(),
            next_msg: 1,
            scheme: cx.opts.auth,
            password: cx.opts.password.clone(),
            session_auth: false,
            last_sent: None,
            received: Vec::new(),
            send_maps: true,
            pending_maps: Vec::new(),
            mark: cx.rec.mark(),
        }
    }

    /// Everything this script exchanged so far.
    pub fn seen(&self) -> Seen {
        Seen::new(self.cx.rec.since(self.mark))
    }

    /// Credentials for the configured scheme and password, with the nonce
    /// last seen for this device.
    pub fn credential(&self) -> Cred {
        let user = &self.cx.opts.user;
        let (type_, data) = match self.scheme {
            Scheme::Basic => (
                auth_type::BASIC,
                auth::basic_credential(user, &self.password),
            ),
            _ => (
                auth_type::MD5,
                auth::md5_credential(
                    &auth::userpass_digest(user, &self.password),
                    &self.cx.nonce(&self.device).unwrap_or_default(),
                ),
            ),
        };
        Cred {
            meta: Some(Meta {
                format: Some("b64".into()),
                type_: Some(type_.into()),
                ..Meta::default()
            }),
            data,
        }
    }

    /// The next message: CmdIDs numbered from 1.
    pub fn message(&mut self, cmds: Vec<Command>, final_: bool, cred: Option<Cred>) -> SyncMl {
        let msg_id = self.next_msg;
        self.next_msg += 1;
        let mut next = 1;
        let commands = cmds
            .into_iter()
            .map(|mut c| {
                next = c.renumber(next);
                c
            })
            .collect();
        SyncMl {
            header: SyncHdr {
                ver_dtd: "1.2".into(),
                ver_proto: "SyncML/1.2".into(),
                session_id: self.session_id.clone(),
                msg_id,
                target: Loc::uri(&self.url),
                source: Loc {
                    loc_uri: self.device.clone(),
                    loc_name: Some(self.cx.opts.user.clone()),
                },
                cred,
                meta: Some(Meta {
                    max_msg_size: Some(self.cx.opts.max_msg_size),
                    max_obj_size: Some(4_000_000),
                    ..Meta::default()
                }),
                ..SyncHdr::default()
            },
            body: SyncBody { commands, final_ },
        }
    }

    /// Post bytes as they are and decode the reply.
    pub async fn post_bytes(&mut self, body: Vec<u8>) -> Result<SyncMl, Fail> {
        let url = self.url.clone();
        self.last_sent = Some((url.clone(), body.clone()));
        let reply = self.cx.rec.post_bytes(&url, body).await?;
        let reply = xml::decode(&reply)?;
        self.note_reply(&reply);
        Ok(reply)
    }

    /// Post a message.
    pub async fn post(&mut self, msg: &SyncMl) -> Result<SyncMl, Fail> {
        self.post_bytes(xml::encode(msg)).await
    }

    /// The last message again, byte for byte, to the same URL.
    pub async fn resend(&mut self) -> Result<SyncMl, Fail> {
        let Some((url, body)) = self.last_sent.clone() else {
            return Err(Fail::Check("nothing to resend".into()));
        };
        let reply = self.cx.rec.post_bytes(&url, body).await?;
        let reply = xml::decode(&reply)?;
        self.note_reply(&reply);
        Ok(reply)
    }

    /// Nonce and RespURI of a reply.
    fn note_reply(&mut self, reply: &SyncMl) {
        if let Some(n) = header_status(reply)
            .and_then(|st| st.chal.as_ref())
            .and_then(|c| c.meta.next_nonce.as_deref())
            .and_then(|n| auth::decode_nonce(n).ok())
        {
            self.cx.set_nonce(&self.device, n);
        }
        if let Some(uri) = reply.header.resp_uri.as_deref().filter(|u| !u.is_empty()) {
            self.url = uri.to_owned();
        }
    }

    /// Message 1 with `cred` as given (or none): one attempt, no retry.
    pub async fn first(&mut self, cmds: Vec<Command>, cred: Option<Cred>) -> Result<SyncMl, Fail> {
        let msg = self.message(cmds, true, cred);
        let reply = self.post(&msg).await?;
        self.session_auth = header_code(&reply) == Some(212);
        Ok(reply)
    }

    /// Message 1 with our credentials; a 401/407 with a challenge is
    /// retried once in a new session with the new nonce (as clients do).
    pub async fn open(&mut self, cmds: Vec<Command>) -> Result<SyncMl, Fail> {
        if cmds
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if is_sync_alert(a)))
        {
            self.cx.touch();
        }
        let cred = self.credential();
        let reply = self.first(cmds.clone(), Some(cred)).await?;
        let retry = self.scheme != Scheme::Basic
            && matches!(header_code(&reply), Some(401 | 407))
            && header_status(&reply).is_some_and(|s| s.chal.is_some());
        if !retry {
            return Ok(reply);
        }
        self.session_id = self.cx.session_id();
        self.next_msg = 1;
        self.url = self.cx.opts.url.clone();
        let cred = self.credential();
        self.first(cmds, Some(cred)).await
    }

    /// A following message (Cred again unless the server accepted us for
    /// the whole session).
    pub async fn send(&mut self, cmds: Vec<Command>, final_: bool) -> Result<SyncMl, Fail> {
        let cred = (!self.session_auth).then(|| self.credential());
        let msg = self.message(cmds, final_, cred);
        self.post(&msg).await
    }

    /// Statuses for every command of `reply` (and Results for a Get), as a
    /// plain client answers; server Adds get a LUID and, unless
    /// `send_maps` is off, a Map entry.
    pub fn answer(&mut self, reply: &SyncMl) -> Vec<Command> {
        let msg_ref = reply.header.msg_id;
        let mut out = vec![Command::Status(Status {
            msg_ref,
            cmd_ref: 0,
            cmd: "SyncHdr".into(),
            target_refs: vec![reply.header.target.loc_uri.clone()],
            source_refs: vec![reply.header.source.loc_uri.clone()],
            data: StatusCode::OK,
            ..Status::default()
        })];
        if reply.header.no_resp {
            return out;
        }
        let status = |cmd: &Command, code: StatusCode| Status {
            msg_ref,
            cmd_ref: cmd.cmd_id(),
            cmd: cmd.name().to_owned(),
            data: code,
            ..Status::default()
        };
        let mut extra = Vec::new();
        for cmd in &reply.body.commands {
            match cmd {
                Command::Status(_) => {}
                Command::Alert(a) if a.no_resp => {}
                Command::Alert(a) => {
                    let mut st = status(cmd, StatusCode::OK);
                    if is_sync_alert(a)
                        && let Some(item) = a.items.first()
                    {
                        let ours = item.target_uri().unwrap_or(LOCAL_DB).to_owned();
                        let theirs = item.source_uri().unwrap_or("").to_owned();
                        st.target_refs = vec![ours];
                        st.source_refs = vec![theirs];
                        if let Some(next) = item
                            .meta
                            .as_ref()
                            .and_then(|m| m.anchor.as_ref())
                            .map(|a| a.next.clone())
                        {
                            st.items = vec![Item {
                                data: Some(ItemData::Anchor(Anchor { last: None, next })),
                                ..Item::default()
                            }];
                        }
                    }
                    out.push(Command::Status(st));
                }
                Command::Sync(s) => {
                    if !s.no_resp {
                        let mut st = status(cmd, StatusCode::OK);
                        st.target_refs = s.target.iter().map(|l| l.loc_uri.clone()).collect();
                        st.source_refs = s.source.iter().map(|l| l.loc_uri.clone()).collect();
                        out.push(Command::Status(st));
                    }
                    for op in &s.commands {
                        out.extend(self.item_op(op, msg_ref));
                    }
                }
                Command::Get(g) => {
                    if !g.no_resp {
                        out.push(Command::Status(status(cmd, StatusCode::OK)));
                    }
                    extra.push(Command::Results(Results {
                        msg_ref,
                        cmd_ref: g.cmd_id,
                        meta: Some(Meta::with_type(mime::DEVINF_XML)),
                        source_ref: Some("./devinf12".into()),
                        items: vec![Item {
                            source: Some(Loc::uri("./devinf12")),
                            data: Some(ItemData::DevInf(Box::new(devinf(&self.device)))),
                            ..Item::default()
                        }],
                        ..Results::default()
                    }));
                }
                Command::Put(p) if p.no_resp => {}
                _ => out.push(Command::Status(status(cmd, StatusCode::OK))),
            }
        }
        out.extend(extra);
        out
    }

    fn item_op(&mut self, op: &Command, msg_ref: u32) -> Vec<Command> {
        let (kind, c) = match op {
            Command::Add(c) => ("Add", c),
            Command::Replace(c) => ("Replace", c),
            Command::Delete(c) => ("Delete", c),
            Command::Copy(c) => ("Copy", c),
            other => {
                return vec![Command::Status(Status {
                    msg_ref,
                    cmd_ref: other.cmd_id(),
                    cmd: other.name().to_owned(),
                    data: StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
                    ..Status::default()
                })];
            }
        };
        let mut out = Vec::new();
        for item in &c.items {
            let id = match kind {
                "Add" => item.source_uri().or(item.target_uri()),
                _ => item.target_uri().or(item.source_uri()),
            }
            .unwrap_or("")
            .to_owned();
            let mut code = StatusCode::OK;
            let mut luid = None;
            if kind == "Add" {
                let l = format!("r{}", self.cx.unique());
                if self.send_maps {
                    self.pending_maps.push((l.clone(), id.clone()));
                }
                luid = Some(l);
                code = StatusCode::ITEM_ADDED;
            }
            self.received.push(Received {
                kind: kind.into(),
                id: id.clone(),
                luid,
                data: item.text().map(str::to_owned),
            });
            if c.no_resp {
                continue;
            }
            let mut st = Status {
                msg_ref,
                cmd_ref: op.cmd_id(),
                cmd: kind.into(),
                data: code,
                ..Status::default()
            };
            if kind == "Add" {
                st.source_refs = vec![id];
            } else {
                st.target_refs = vec![id];
            }
            out.push(Command::Status(st));
        }
        out
    }

    /// Drive the session to its end from `reply` (the server's answer to
    /// message 1): answer everything, send `pkg3` when the server's
    /// package 2 ends, then the Maps; stop when the server's reply leaves
    /// nothing to answer.
    pub async fn finish(&mut self, reply: SyncMl, pkg3: Vec<Command>) -> Result<(), Fail> {
        self.drive(reply, Some(pkg3)).await
    }

    /// [`finish`](Self::finish) when package 3 has been sent already.
    pub async fn finish_sent(&mut self, reply: SyncMl) -> Result<(), Fail> {
        self.drive(reply, None).await
    }

    async fn drive(
        &mut self,
        mut reply: SyncMl,
        mut pkg3: Option<Vec<Command>>,
    ) -> Result<(), Fail> {
        for _ in 0..MAX_MESSAGES {
            match header_code(&reply) {
                Some(200 | 212) => {}
                code => {
                    return Err(Fail::Check(format!(
                        "the server answered message {} with SyncHdr status {}",
                        reply.header.msg_id,
                        code.map_or("(none)".into(), |c| c.to_string())
                    )));
                }
            }
            let mut out = self.answer(&reply);
            let only_header = out.len() == 1;
            if !reply.body.final_ {
                // The server's package goes on: ask for the next message.
                if only_header {
                    out.push(commands::next_message(&reply, &self.device));
                }
                reply = self.send(out, false).await?;
                continue;
            }
            if let Some(p) = pkg3.take() {
                if p.is_empty() && only_header {
                    return Ok(());
                }
                out.extend(p);
                reply = self.send(out, true).await?;
                continue;
            }
            let maps = self.take_maps();
            if only_header && maps.is_empty() {
                return Ok(());
            }
            out.extend(maps);
            reply = self.send(out, true).await?;
        }
        Err(Fail::Check(format!(
            "the session did not end after {MAX_MESSAGES} messages"
        )))
    }

    /// A Map for the server Adds received since the last one.
    pub fn take_maps(&mut self) -> Vec<Command> {
        let items = std::mem::take(&mut self.pending_maps);
        if items.is_empty() {
            return Vec::new();
        }
        vec![map(&self.cx.opts.datastore, &items)]
    }
}

/// The SyncHdr Status of a reply.
pub fn header_status(reply: &SyncMl) -> Option<&Status> {
    reply.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "SyncHdr" => Some(s),
        _ => None,
    })
}

pub fn header_code(reply: &SyncMl) -> Option<u16> {
    header_status(reply).map(|s| s.data.0)
}

/// The Status in `reply` for our command `cmd_ref` of message `msg_ref`.
pub fn status_for(reply: &SyncMl, msg_ref: u32, cmd_ref: u32) -> Option<&Status> {
    reply.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.msg_ref == msg_ref && s.cmd_ref == cmd_ref => Some(s),
        _ => None,
    })
}
