//! Building replies: statuses first, then queued commands until the peer's
//! MaxMsgSize is reached; items too big for the space left are split into
//! chunks (`MoreData`, `Size` on the first chunk). A message that ends in a
//! chunk, or leaves commands queued, has no Final.
//!
//! Sizes come from the [`Sizer`] (the codec's exact byte counts), so the
//! engine never encodes anything itself.

use crate::engine::EngineError;
use crate::engine::devinf::server_devinf;
use crate::protocol::{
    Alert, Anchor, Command, Item, ItemCommand, ItemData, Loc, Meta, PutGet, Results, Status,
    StatusCode, Sync, SyncBody, SyncHdr, SyncMl, alert, mime,
};
use crate::store::Txn;
use crate::store::schema;
use crate::wire::Sizer;

use super::{Phase, ServerEngine, ServerSession, loc};

/// Something queued for the client.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A sync Alert for database `db`.
    Alert { db: usize, cmd: Command },
    /// Any other command (Results, Get).
    Command(Command),
    /// Open database `db`'s Sync (sent even when it carries no items).
    SyncStart { db: usize, number_of_changes: u32 },
    /// One item operation inside database `db`'s Sync.
    Op(PendingOp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Add,
    Replace,
    Delete,
}

/// An item operation; the data is loaded from the store when it is sent,
/// so a long queue holds ids, not contacts.
#[derive(Debug, Clone)]
pub(crate) struct PendingOp {
    db: usize,
    kind: OpKind,
    guid: String,
    luid: Option<String>,
    /// (content type, data) once loaded.
    loaded: Option<(String, String)>,
    /// Bytes of the data already sent as chunks.
    offset: usize,
}

impl PendingOp {
    pub fn new(db: usize, kind: OpKind, guid: &str, luid: Option<String>) -> Self {
        PendingOp {
            db,
            kind,
            guid: guid.to_owned(),
            luid,
            loaded: None,
            offset: 0,
        }
    }
}

/// One of our commands awaiting the client's Status.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    Alert {
        db: usize,
    },
    Op {
        db: usize,
        kind: OpKind,
        guid: String,
    },
    Chunk,
    Other,
}

/// Room left for protocol overhead the Sizer cannot foresee exactly.
const SLACK: usize = 64;
/// Don't bother splitting into chunks smaller than this.
const MIN_CHUNK: usize = 256;

pub(super) fn reply_header(engine: &ServerEngine, s: &ServerSession, msg: &SyncMl) -> SyncHdr {
    let h = &msg.header;
    let known = matches!(h.ver_proto.trim(), "SyncML/1.2" | "SyncML/1.1");
    SyncHdr {
        ver_dtd: if known {
            h.ver_dtd.trim().to_owned()
        } else {
            "1.2".into()
        },
        ver_proto: if known {
            h.ver_proto.trim().to_owned()
        } else {
            "SyncML/1.2".into()
        },
        session_id: h.session_id.clone(),
        msg_id: s.next_msg_out,
        target: Loc {
            loc_uri: h.source.loc_uri.clone(),
            loc_name: h.source.loc_name.clone(),
        },
        source: Loc::uri(h.target.loc_uri.clone()),
        resp_uri: s
            .user
            .as_ref()
            .map(|_| format!("{}?sessionid={}", s.server_url, s.token)),
        no_resp: false,
        cred: None,
        meta: Some(Meta {
            max_msg_size: Some(engine.cfg.max_msg_size),
            max_obj_size: Some(engine.cfg.max_obj_size),
            ..Meta::default()
        }),
    }
}

/// The reply to a refused message: only statuses, Final, no session.
pub(super) fn refusal(s: &ServerSession, msg: &SyncMl, statuses: Vec<Status>) -> SyncMl {
    let h = &msg.header;
    let known = matches!(h.ver_proto.trim(), "SyncML/1.2" | "SyncML/1.1");
    let header = SyncHdr {
        ver_dtd: if known {
            h.ver_dtd.trim().to_owned()
        } else {
            "1.2".into()
        },
        ver_proto: if known {
            h.ver_proto.trim().to_owned()
        } else {
            "SyncML/1.2".into()
        },
        session_id: h.session_id.clone(),
        msg_id: s.next_msg_out,
        target: Loc {
            loc_uri: h.source.loc_uri.clone(),
            loc_name: h.source.loc_name.clone(),
        },
        source: Loc::uri(h.target.loc_uri.clone()),
        ..SyncHdr::default()
    };
    let mut next = 1;
    let commands = statuses
        .into_iter()
        .map(|st| {
            let mut c = Command::Status(st);
            next = c.renumber(next);
            c
        })
        .collect();
    SyncMl {
        header,
        body: SyncBody {
            commands,
            final_: true,
        },
    }
}

pub(super) fn queue_alert(
    engine: &ServerEngine,
    s: &mut ServerSession,
    mode: u16,
    client_db: &str,
    server_db: &str,
    last: Option<String>,
    next: String,
) {
    let db = s.dbs.len().saturating_sub(1);
    let cmd = Command::Alert(Alert {
        data: Some(mode),
        items: vec![Item {
            target: Some(loc(client_db)),
            source: Some(loc(server_db)),
            meta: Some(Meta {
                anchor: Some(Anchor { last, next }),
                max_obj_size: Some(engine.cfg.max_obj_size),
                ..Meta::default()
            }),
            ..Item::default()
        }],
        ..Alert::default()
    });
    s.outbox.push_back(Out::Alert { db, cmd });
}

pub(super) fn queue_results(
    engine: &ServerEngine,
    s: &mut ServerSession,
    get: &PutGet,
    msg_ref: u32,
) {
    let uri = get
        .items
        .first()
        .and_then(|i| i.target_uri())
        .unwrap_or("./devinf12")
        .to_owned();
    let devinf = server_devinf(&s.server_url, &engine.cfg.contact_uris);
    s.outbox.push_back(Out::Command(Command::Results(Results {
        msg_ref,
        cmd_ref: get.cmd_id,
        meta: Some(Meta::with_type(mime::DEVINF_XML)),
        target_ref: None,
        source_ref: Some(uri.clone()),
        items: vec![Item {
            source: Some(loc(&uri)),
            data: Some(ItemData::DevInf(Box::new(devinf))),
            ..Item::default()
        }],
        ..Results::default()
    })));
}

pub(super) fn queue_get_devinf(s: &mut ServerSession) {
    s.outbox.push_back(Out::Command(Command::Get(PutGet {
        meta: Some(Meta::with_type(mime::DEVINF_XML)),
        items: vec![Item {
            target: Some(loc("./devinf12")),
            ..Item::default()
        }],
        ..PutGet::default()
    })));
}

/// A Status from the client for one of our commands.
pub(super) fn client_status(
    s: &mut ServerSession,
    st: &Status,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    let Some(sent) = s.sent.remove(&(st.msg_ref, st.cmd_ref)) else {
        return Ok(());
    };
    match sent {
        Sent::Alert { db } => {
            if st.data == StatusCode::REFRESH_REQUIRED {
                // The client's anchors don't match ours: slow sync.
                if let Some(d) = s.dbs.get_mut(db) {
                    tracing::info!(device = %s.device, "client answered our Alert with 508: slow sync");
                    d.mode = match d.mode {
                        alert::ONE_WAY_FROM_CLIENT => alert::REFRESH_FROM_CLIENT,
                        alert::ONE_WAY_FROM_SERVER => alert::REFRESH_FROM_SERVER,
                        alert::TWO_WAY => alert::SLOW_SYNC,
                        m => m,
                    };
                    s.report.mode = Some(d.mode);
                }
            }
        }
        Sent::Op { db, kind, guid } => {
            let Some(d) = s.dbs.get(db) else {
                return Ok(());
            };
            let code = st.data.0;
            match kind {
                // The client no longer has the item: drop the mapping.
                OpKind::Delete if matches!(code, 200 | 211 | 404 | 410) => {
                    schema::remove_map_by_guid(txn, &d.peer, &guid)?
                }
                OpKind::Replace if matches!(code, 404 | 410) => {
                    schema::remove_map_by_guid(txn, &d.peer, &guid)?
                }
                _ if !st.data.is_success() && code != 418 => {
                    tracing::info!(device = %s.device, %guid, code, "client refused an item");
                }
                _ => {}
            }
        }
        Sent::Chunk | Sent::Other => {}
    }
    Ok(())
}

/// Fill the reply: statuses, then as much of the outbox as fits.
pub(super) fn build_reply(
    engine: &ServerEngine,
    s: &mut ServerSession,
    msg: &SyncMl,
    statuses: Vec<Status>,
    txn: &mut Txn<'_>,
    sizer: &dyn Sizer,
) -> Result<SyncMl, EngineError> {
    let header = reply_header(engine, s, msg);
    let msg_id = s.next_msg_out;
    s.next_msg_out += 1;
    let budget = if s.peer_max_msg > 0 {
        usize::try_from(s.peer_max_msg).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    let mut cmds: Vec<Command> = Vec::new();
    let mut next_id = 1;
    let mut used = sizer.envelope_len(&header);
    for st in statuses {
        let mut c = Command::Status(st);
        next_id = c.renumber(next_id);
        used += sizer.command_len(&c);
        cmds.push(c);
    }
    let number_of_changes = s.caps.as_ref().map(|c| c.number_of_changes).unwrap_or(true);
    let large_objects = s.caps.as_ref().map(|c| c.large_objects).unwrap_or(true);
    let fits = |used: usize, len: usize| used.saturating_add(len).saturating_add(SLACK) <= budget;
    let mut added_any = false;
    let mut ended_in_chunk = false;
    // Index in `cmds` of the Sync currently open, and its database.
    let mut open_sync: Option<(usize, usize)> = None;

    while let Some(front) = s.outbox.front_mut() {
        match front {
            Out::Alert { cmd, .. } | Out::Command(cmd) => {
                let mut c = cmd.clone();
                let after = c.renumber(next_id);
                let len = sizer.command_len(&c);
                if !fits(used, len) && added_any {
                    break;
                }
                let sent = match front {
                    Out::Alert { db, .. } => Sent::Alert { db: *db },
                    _ => Sent::Other,
                };
                s.outbox.pop_front();
                s.sent.insert((msg_id, next_id), sent);
                next_id = after;
                used += len;
                cmds.push(c);
                open_sync = None;
                added_any = true;
            }
            Out::SyncStart {
                db,
                number_of_changes: n,
            } => {
                let (db, n) = (*db, *n);
                let c = sync_wrapper(s, db, next_id, number_of_changes.then_some(n));
                let len = sizer.command_len(&c);
                if !fits(used, len) && added_any {
                    break;
                }
                s.outbox.pop_front();
                s.sent.insert((msg_id, next_id), Sent::Other);
                next_id += 1;
                used += len;
                open_sync = Some((cmds.len(), db));
                cmds.push(c);
                added_any = true;
            }
            Out::Op(op) => {
                if op.kind != OpKind::Delete && op.loaded.is_none() {
                    let book = match s.dbs.get(op.db) {
                        Some(d) => d.peer.book(),
                        None => {
                            s.outbox.pop_front();
                            continue;
                        }
                    };
                    match schema::item(txn, &book, &op.guid)? {
                        Some(rec) if !rec.deleted => op.loaded = Some((rec.content_type, rec.data)),
                        // Deleted since it was queued: nothing to send.
                        _ => {
                            s.outbox.pop_front();
                            continue;
                        }
                    }
                }
                let op = op.clone();
                // The op must sit inside its database's Sync.
                let mut wrapper_len = 0;
                let needs_wrapper = !matches!(open_sync, Some((_, db)) if db == op.db);
                let wrapper = if needs_wrapper {
                    let w = sync_wrapper(s, op.db, next_id, None);
                    wrapper_len = sizer.command_len(&w);
                    Some(w)
                } else {
                    None
                };
                let first_id = if needs_wrapper { next_id + 1 } else { next_id };
                let whole = op_command(&op, first_id, op.offset, None, false);
                let len = sizer.command_len(&whole);
                if fits(used + wrapper_len, len) {
                    push_op(&mut cmds, &mut open_sync, wrapper, op.db, whole);
                    s.sent.insert(
                        (msg_id, first_id),
                        Sent::Op {
                            db: op.db,
                            kind: op.kind,
                            guid: op.guid.clone(),
                        },
                    );
                    next_id = first_id + 1;
                    used += wrapper_len + len;
                    s.outbox.pop_front();
                    s.report.items_out += 1;
                    added_any = true;
                    continue;
                }
                // Too big for the space left: a chunk, if the peer takes them.
                let data_len = op.loaded.as_ref().map(|(_, d)| d.len()).unwrap_or(0);
                let room = budget.saturating_sub(used + wrapper_len + SLACK);
                if op.kind != OpKind::Delete && large_objects && data_len > op.offset {
                    let empty = op_command(&op, first_id, op.offset, Some(0), true);
                    let overhead = sizer.command_len(&empty);
                    let mut take = room.saturating_sub(overhead);
                    if take >= MIN_CHUNK {
                        let mut chunk_cmd = None;
                        // The Sizer is exact for the chosen bytes; shrink
                        // until escaping or boundaries make it fit.
                        for _ in 0..4 {
                            let n = chunk_len(&op, take);
                            if n == 0 {
                                break;
                            }
                            let c = op_command(&op, first_id, op.offset, Some(n), true);
                            let l = sizer.command_len(&c);
                            if fits(used + wrapper_len, l) {
                                chunk_cmd = Some((c, n));
                                break;
                            }
                            let excess = (used + wrapper_len + l + SLACK).saturating_sub(budget);
                            take = n.saturating_sub(excess + 16);
                        }
                        if let Some((c, n)) = chunk_cmd {
                            push_op(&mut cmds, &mut open_sync, wrapper, op.db, c);
                            s.sent.insert((msg_id, first_id), Sent::Chunk);
                            if let Some(Out::Op(front)) = s.outbox.front_mut() {
                                front.offset += n;
                            }
                            ended_in_chunk = true;
                            break;
                        }
                    }
                }
                if !added_any {
                    // Nothing else in this message and it can't be split:
                    // send it whole rather than never.
                    push_op(&mut cmds, &mut open_sync, wrapper, op.db, whole);
                    s.sent.insert(
                        (msg_id, first_id),
                        Sent::Op {
                            db: op.db,
                            kind: op.kind,
                            guid: op.guid.clone(),
                        },
                    );
                    s.outbox.pop_front();
                    s.report.items_out += 1;
                }
                break;
            }
        }
    }

    let final_ = s.owe_final && s.outbox.is_empty() && !ended_in_chunk;
    if final_ {
        s.owe_final = false;
        s.phase = match s.phase {
            Phase::SendingInit => Phase::ExpectClientChanges,
            Phase::SendingChanges => Phase::ExpectMapping,
            p => p,
        };
    } else if cmds.len() <= 1 && !added_any {
        // Only the SyncHdr status: ask for the next message (Alert 222).
        let mut c = Command::Alert(Alert {
            data: Some(alert::NEXT_MESSAGE),
            items: vec![Item {
                target: Some(loc(&msg.header.source.loc_uri)),
                source: Some(loc(&msg.header.target.loc_uri)),
                ..Item::default()
            }],
            ..Alert::default()
        });
        c.renumber(next_id);
        cmds.push(c);
    }
    Ok(SyncMl {
        header,
        body: SyncBody {
            commands: cmds,
            final_,
        },
    })
}

fn sync_wrapper(
    s: &ServerSession,
    db: usize,
    cmd_id: u32,
    number_of_changes: Option<u32>,
) -> Command {
    let (target, source) = s
        .dbs
        .get(db)
        .map(|d| (d.client_db.clone(), d.server_db.clone()))
        .unwrap_or_default();
    Command::Sync(Sync {
        cmd_id,
        target: Some(loc(&target)),
        source: Some(loc(&source)),
        number_of_changes,
        ..Sync::default()
    })
}

fn push_op(
    cmds: &mut Vec<Command>,
    open_sync: &mut Option<(usize, usize)>,
    wrapper: Option<Command>,
    db: usize,
    op: Command,
) {
    if let Some(w) = wrapper {
        *open_sync = Some((cmds.len(), db));
        cmds.push(w);
    }
    if let Some((idx, _)) = open_sync {
        if let Some(Command::Sync(sync)) = cmds.get_mut(*idx) {
            sync.commands.push(op);
        }
    }
}

/// How many bytes of the remaining data to put in a chunk of at most `max`:
/// never split a UTF-8 sequence or a CRLF pair.
fn chunk_len(op: &PendingOp, max: usize) -> usize {
    let Some((_, data)) = &op.loaded else {
        return 0;
    };
    let rest = &data[op.offset..];
    if max >= rest.len() {
        return rest.len();
    }
    let mut n = max;
    while n > 0 && !rest.is_char_boundary(n) {
        n -= 1;
    }
    if n > 0 && rest.as_bytes()[n - 1] == b'\r' {
        n -= 1;
    }
    n
}

/// The command for `op`: whole remaining data (`chunk = None`) or the next
/// `n` bytes with MoreData. `Size` goes on the first chunk only.
fn op_command(
    op: &PendingOp,
    cmd_id: u32,
    offset: usize,
    chunk: Option<usize>,
    more: bool,
) -> Command {
    let (ct, data) = match &op.loaded {
        Some((ct, data)) => (ct.as_str(), data.get(offset..).unwrap_or("")),
        None => (mime::VCARD30, ""),
    };
    let (piece, more_data) = match chunk {
        Some(n) => (data.get(..n).unwrap_or(data), more),
        None => (data, false),
    };
    let size = (more_data && offset == 0)
        .then(|| op.loaded.as_ref().map(|(_, d)| d.len() as u64).unwrap_or(0));
    let item_meta = size.map(|n| Meta {
        size: Some(n),
        ..Meta::default()
    });
    let cmd_meta = (op.kind != OpKind::Delete).then(|| Meta::with_type(ct));
    let (source, target) = match op.kind {
        OpKind::Add => (Some(loc(&op.guid)), None),
        OpKind::Replace | OpKind::Delete => (None, Some(loc(op.luid.as_deref().unwrap_or("")))),
    };
    let item = Item {
        target,
        source,
        meta: item_meta,
        data: (op.kind != OpKind::Delete).then(|| ItemData::Text(piece.to_owned())),
        more_data,
        ..Item::default()
    };
    let c = ItemCommand {
        cmd_id,
        meta: cmd_meta,
        items: vec![item],
        ..ItemCommand::default()
    };
    match op.kind {
        OpKind::Add => Command::Add(c),
        OpKind::Replace => Command::Replace(c),
        OpKind::Delete => Command::Delete(c),
    }
}
