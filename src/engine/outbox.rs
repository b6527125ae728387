//! What a side has queued for its peer, and filling a message with it.
//!
//! Both roles use this: statuses go first (the caller adds them), then queued
//! commands until the peer's MaxMsgSize is reached. Item operations that do
//! not fit in the space left are split into chunks (`MoreData`, the total
//! `Size` on the first chunk) when the peer takes large objects; a message
//! that ends in a chunk is complete (nothing may follow a chunk) and the
//! package goes on in the next message.
//!
//! Sizes come from the [`Sizer`], so nothing here encodes.

use std::collections::{HashMap, VecDeque};

use crate::engine::EngineError;
use crate::protocol::{Command, Item, ItemCommand, ItemData, Loc, Meta, Sync, mime};
use crate::wire::Sizer;

/// Something queued for the peer.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A command answered by a Status we care about, tagged for `Sent`.
    Tagged { sent: Sent, cmd: Command },
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

/// Which role writes the ids into an item command (syncml-protocol.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Add: Source = GUID; Replace/Delete: Target = the client's LUID.
    Server,
    /// Every command: Source = our LUID.
    Client,
}

/// An item operation; the data is loaded when it is sent, so a long queue
/// holds ids, not contacts.
#[derive(Debug, Clone)]
pub(crate) struct PendingOp {
    pub db: usize,
    pub kind: OpKind,
    /// Our key of the item (GUID on the server, LUID on the client).
    pub key: String,
    /// The peer's id of it (server role, Replace/Delete: the client's LUID).
    pub peer_id: Option<String>,
    /// (content type, data) once loaded.
    loaded: Option<(String, String)>,
    /// Bytes of the data already sent as chunks.
    offset: usize,
}

impl PendingOp {
    pub fn new(db: usize, kind: OpKind, key: &str, peer_id: Option<String>) -> Self {
        PendingOp {
            db,
            kind,
            key: key.to_owned(),
            peer_id,
            loaded: None,
            offset: 0,
        }
    }
}

/// One of our commands awaiting the peer's Status.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    Alert {
        db: usize,
    },
    Op {
        db: usize,
        kind: OpKind,
        key: String,
    },
    Map {
        db: usize,
        items: Vec<(String, String)>,
    },
    Chunk,
    Other,
}

/// Room left for protocol overhead the Sizer cannot foresee exactly.
const SLACK: usize = 64;
/// Don't bother splitting into chunks smaller than this.
const MIN_CHUNK: usize = 256;

/// Queue plus the commands awaiting a Status.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outbox {
    pub queue: VecDeque<Out>,
    /// (MsgID, CmdID) → what we sent.
    pub sent: HashMap<(u32, u32), Sent>,
}

/// How the message being filled is shaped.
pub(crate) struct Fill<'a> {
    pub msg_id: u32,
    pub role: Role,
    /// The peer's MaxMsgSize (0: unlimited).
    pub max_msg_size: u64,
    /// The peer's MaxObjSize (0: unknown): larger items are not sent.
    pub max_obj_size: u64,
    pub large_objects: bool,
    pub number_of_changes: bool,
    pub sizer: &'a dyn Sizer,
}

/// What a fill produced besides the commands.
#[derive(Debug, Default)]
pub(crate) struct Filled {
    /// Anything from the queue went into the message.
    pub added_any: bool,
    /// The message ends inside a chunked item.
    pub ended_in_chunk: bool,
    /// Item operations completed (for counters).
    pub items: u32,
    /// Items skipped because they exceed the peer's MaxObjSize.
    pub too_big: Vec<String>,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Append queued commands to `cmds` (which already holds the statuses,
    /// numbered up to `next_id`, and whose encoded size with the envelope is
    /// `used`). `wrapper(db)` gives (Target, Source) of db's Sync; `load`
    /// fetches an item's (content type, data), `None` if it is gone.
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &mut self,
        f: &Fill<'_>,
        cmds: &mut Vec<Command>,
        next_id: &mut u32,
        mut used: usize,
        wrapper: &dyn Fn(usize) -> (String, String),
        load: &mut dyn FnMut(usize, &str) -> Result<Option<(String, String)>, EngineError>,
    ) -> Result<Filled, EngineError> {
        let budget = if f.max_msg_size > 0 {
            usize::try_from(f.max_msg_size).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let fits =
            |used: usize, len: usize| used.saturating_add(len).saturating_add(SLACK) <= budget;
        let mut out = Filled::default();
        // Index in `cmds` of the Sync currently open, and its database.
        let mut open_sync: Option<(usize, usize)> = None;
        let sync_cmd = |db: usize, id: u32, n: Option<u32>| {
            let (target, source) = wrapper(db);
            Command::Sync(Sync {
                cmd_id: id,
                target: Some(Loc::uri(target)),
                source: Some(Loc::uri(source)),
                number_of_changes: n,
                ..Sync::default()
            })
        };

        while let Some(front) = self.queue.front_mut() {
            match front {
                Out::Tagged { sent, cmd } => {
                    let mut c = cmd.clone();
                    let after = c.renumber(*next_id);
                    let len = f.sizer.command_len(&c);
                    if !fits(used, len) && out.added_any {
                        break;
                    }
                    self.sent.insert((f.msg_id, *next_id), sent.clone());
                    self.queue.pop_front();
                    *next_id = after;
                    used += len;
                    cmds.push(c);
                    open_sync = None;
                    out.added_any = true;
                }
                Out::SyncStart {
                    db,
                    number_of_changes: n,
                } => {
                    let (db, n) = (*db, *n);
                    let c = sync_cmd(db, *next_id, f.number_of_changes.then_some(n));
                    let len = f.sizer.command_len(&c);
                    if !fits(used, len) && out.added_any {
                        break;
                    }
                    self.queue.pop_front();
                    self.sent.insert((f.msg_id, *next_id), Sent::Other);
                    *next_id += 1;
                    used += len;
                    open_sync = Some((cmds.len(), db));
                    cmds.push(c);
                    out.added_any = true;
                }
                Out::Op(op) => {
                    if op.kind != OpKind::Delete && op.loaded.is_none() {
                        match load(op.db, &op.key)? {
                            Some(v) => op.loaded = Some(v),
                            None => {
                                // Gone since it was queued: nothing to send.
                                self.queue.pop_front();
                                continue;
                            }
                        }
                    }
                    let op = op.clone();
                    let data_len = op.loaded.as_ref().map(|(_, d)| d.len()).unwrap_or(0);
                    if f.max_obj_size > 0 && data_len as u64 > f.max_obj_size {
                        out.too_big.push(op.key.clone());
                        self.queue.pop_front();
                        continue;
                    }
                    // The op must sit inside its database's Sync.
                    let needs_wrapper = !matches!(open_sync, Some((_, db)) if db == op.db);
                    let (wrapper_cmd, wrapper_len) = if needs_wrapper {
                        let w = sync_cmd(op.db, *next_id, None);
                        let l = f.sizer.command_len(&w);
                        (Some(w), l)
                    } else {
                        (None, 0)
                    };
                    let first_id = if needs_wrapper {
                        *next_id + 1
                    } else {
                        *next_id
                    };
                    let whole = op_command(&op, f.role, first_id, None);
                    let len = f.sizer.command_len(&whole);
                    if fits(used + wrapper_len, len) {
                        push_op(cmds, &mut open_sync, wrapper_cmd, op.db, whole);
                        self.sent.insert((f.msg_id, first_id), sent_op(&op));
                        *next_id = first_id + 1;
                        used += wrapper_len + len;
                        self.queue.pop_front();
                        out.items += 1;
                        out.added_any = true;
                        continue;
                    }
                    // Too big for the space left: a chunk, if the peer takes them.
                    let room = budget.saturating_sub(used + wrapper_len + SLACK);
                    if op.kind != OpKind::Delete && f.large_objects && data_len > op.offset {
                        let overhead =
                            f.sizer
                                .command_len(&op_command(&op, f.role, first_id, Some(0)));
                        let mut take = room.saturating_sub(overhead);
                        let mut chosen = None;
                        // The Sizer is exact for the chosen bytes; shrink until
                        // escaping and boundaries make it fit.
                        for _ in 0..4 {
                            if take < MIN_CHUNK {
                                break;
                            }
                            let n = chunk_len(&op, take);
                            if n == 0 {
                                break;
                            }
                            let c = op_command(&op, f.role, first_id, Some(n));
                            let l = f.sizer.command_len(&c);
                            if fits(used + wrapper_len, l) {
                                chosen = Some((c, n));
                                break;
                            }
                            let excess = (used + wrapper_len + l + SLACK).saturating_sub(budget);
                            take = n.saturating_sub(excess + 16);
                        }
                        if let Some((c, n)) = chosen {
                            push_op(cmds, &mut open_sync, wrapper_cmd, op.db, c);
                            self.sent.insert((f.msg_id, first_id), Sent::Chunk);
                            *next_id = first_id + 1;
                            if let Some(Out::Op(front)) = self.queue.front_mut() {
                                front.offset += n;
                            }
                            out.added_any = true;
                            out.ended_in_chunk = true;
                            break;
                        }
                    }
                    if !out.added_any {
                        // Nothing else in this message and it can't be split:
                        // send it whole rather than never.
                        push_op(cmds, &mut open_sync, wrapper_cmd, op.db, whole);
                        self.sent.insert((f.msg_id, first_id), sent_op(&op));
                        *next_id = first_id + 1;
                        self.queue.pop_front();
                        out.items += 1;
                        out.added_any = true;
                    }
                    break;
                }
            }
        }
        Ok(out)
    }
}

fn sent_op(op: &PendingOp) -> Sent {
    Sent::Op {
        db: op.db,
        kind: op.kind,
        key: op.key.clone(),
    }
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
    if let Some((idx, _)) = open_sync
        && let Some(Command::Sync(sync)) = cmds.get_mut(*idx)
    {
        sync.commands.push(op);
    }
}

/// How many bytes of the remaining data to put in a chunk of at most `max`:
/// never split a UTF-8 sequence or a CRLF pair.
fn chunk_len(op: &PendingOp, max: usize) -> usize {
    let Some((_, data)) = &op.loaded else {
        return 0;
    };
    let rest = data.get(op.offset..).unwrap_or("");
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

/// The command for `op`: the whole remaining data (`chunk = None`) or the
/// next `n` bytes with MoreData. `Size` goes on the first chunk only.
fn op_command(op: &PendingOp, role: Role, cmd_id: u32, chunk: Option<usize>) -> Command {
    let (ct, data) = match &op.loaded {
        Some((ct, data)) => (ct.as_str(), data.get(op.offset..).unwrap_or("")),
        None => (mime::VCARD30, ""),
    };
    let (piece, more_data) = match chunk {
        Some(n) => (data.get(..n).unwrap_or(data), true),
        None => (data, false),
    };
    let total = op.loaded.as_ref().map(|(_, d)| d.len() as u64).unwrap_or(0);
    let size = (more_data && op.offset == 0).then_some(total);
    let item_meta = size.map(|n| Meta {
        size: Some(n),
        ..Meta::default()
    });
    let cmd_meta = (op.kind != OpKind::Delete).then(|| Meta::with_type(ct));
    let (source, target) = match (role, op.kind) {
        (Role::Server, OpKind::Add) | (Role::Client, _) => (Some(Loc::uri(&op.key)), None),
        (Role::Server, _) => (None, Some(Loc::uri(op.peer_id.as_deref().unwrap_or("")))),
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
