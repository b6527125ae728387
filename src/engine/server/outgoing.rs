//! Our changes for the client (package 4) and the end of a session.
//!
//! Incremental path (200/204): a range scan of the book's change sequence
//! after the peer's `synced_seq` — one entry per changed GUID, so the cost is
//! O(changes), never O(book). Changes the client itself made are skipped
//! (not echoed back). Slow and refresh paths (201/203/205) walk the book.

use std::collections::HashSet;

use crate::engine::{EngineError, Env};
use crate::protocol::alert;
use crate::store::Txn;
use crate::store::schema::{self, ItemRecord, PeerState};

use super::{ServerEngine, ServerSession};
use crate::engine::outbox::{OpKind, Out, PendingOp};

const PAGE: usize = 1000;

/// Compute what database `i` sends to the client and queue it.
pub(super) fn queue_changes(
    _engine: &ServerEngine,
    s: &mut ServerSession,
    i: usize,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    let device = s.device.clone();
    let d = &mut s.dbs[i];
    let book = d.peer.book();
    let mut ops: Vec<PendingOp> = Vec::new();
    let op = |kind, guid: &str, luid: Option<String>| PendingOp::new(i, kind, guid, luid);

    match d.mode {
        alert::TWO_WAY | alert::ONE_WAY_FROM_SERVER => {
            let upto = schema::book_meta(txn, &book)?.seq;
            let mut seen = HashSet::new();
            for change in schema::changes_between(&*txn, &book, d.prior.synced_seq, upto) {
                let (seq, guid) = change?;
                let Some(rec) = schema::item(&*txn, &book, &guid)? else {
                    continue;
                };
                let forced = d.force_replace.contains(&guid);
                // Reconciled with the client in this session (matched to
                // its Add, or a conflict resolved) and not changed by
                // another device since: it goes out only if forced.
                if (rec.origin == device || d.touched.agreed(&guid, seq)) && !forced {
                    seen.insert(guid);
                    continue;
                }
                let luid = schema::luid_for_guid(&*txn, &d.peer, &guid)?;
                match (rec.deleted, luid) {
                    (true, Some(l)) => ops.push(op(OpKind::Delete, &guid, Some(l))),
                    (true, None) => {}
                    (false, Some(l)) => ops.push(op(OpKind::Replace, &guid, Some(l))),
                    (false, None) => ops.push(op(OpKind::Add, &guid, None)),
                }
                seen.insert(guid);
            }
            for guid in d.force_replace.clone() {
                if !seen.contains(&guid)
                    && let Some(l) = schema::luid_for_guid(txn, &d.peer, &guid)?
                {
                    ops.push(op(OpKind::Replace, &guid, Some(l)));
                }
            }
        }
        alert::SLOW_SYNC => {
            for guid in d.force_delete.clone() {
                if let Some(l) = schema::luid_for_guid(txn, &d.peer, &guid)? {
                    ops.push(op(OpKind::Delete, &guid, Some(l)));
                }
            }
            for guid in d.force_replace.clone() {
                if let Some(l) = schema::luid_for_guid(txn, &d.peer, &guid)? {
                    ops.push(op(OpKind::Replace, &guid, Some(l)));
                }
            }
            // Usually the client sent most of the book: only the GUIDs are
            // walked, and only the items it did not send are read.
            let mut after = String::new();
            loop {
                let page = schema::item_guids_page(txn, &book, &after, PAGE)?;
                let full = page.len() == PAGE;
                for guid in page {
                    after.clone_from(&guid);
                    if d.touched.contains(&guid)
                        || schema::item(txn, &book, &guid)?.is_none_or(|r| r.deleted)
                    {
                        continue;
                    }
                    // The client didn't send it, so it doesn't have it: a
                    // stale mapping is dropped and the item goes as Add.
                    schema::remove_map_by_guid(txn, &d.peer, &guid)?;
                    ops.push(op(OpKind::Add, &guid, None));
                }
                if !full {
                    break;
                }
            }
            // What the client sent and another device changed since
            // (between two of this session's messages): the client has an
            // older version. O(changes made during the session).
            let meta = schema::book_meta(txn, &book)?;
            if let Some(from) = d.touched.first_end() {
                for change in schema::changes_between(&*txn, &book, from, meta.seq) {
                    let (seq, guid) = change?;
                    if !d.touched.contains(&guid)
                        || d.touched.agreed(&guid, seq)
                        || d.force_replace.contains(&guid)
                        || d.force_delete.contains(&guid)
                    {
                        continue;
                    }
                    let Some(rec) = schema::item(&*txn, &book, &guid)? else {
                        continue;
                    };
                    if rec.origin == device {
                        continue;
                    }
                    if let Some(l) = schema::luid_for_guid(&*txn, &d.peer, &guid)? {
                        let kind = if rec.deleted {
                            OpKind::Delete
                        } else {
                            OpKind::Replace
                        };
                        ops.push(op(kind, &guid, Some(l)));
                    }
                }
            }
            // Deleted since, and the tombstone already purged (this device
            // is not yet a peer the purge waits for): no change is left to
            // say so, only the item's absence. Rare, so every reconciled
            // item is looked at.
            if d.touched.purged_since(meta.purged) {
                for guid in d.touched.sorted() {
                    if d.force_delete.iter().any(|g| g == guid)
                        || schema::item(txn, &book, guid)?.is_some()
                    {
                        continue;
                    }
                    if let Some(l) = schema::luid_for_guid(txn, &d.peer, guid)? {
                        ops.push(op(OpKind::Delete, guid, Some(l)));
                    }
                }
            }
        }
        alert::REFRESH_FROM_SERVER => {
            schema::clear_peer_maps(txn, &d.peer)?;
            for (guid, rec) in all_items(txn, &book)? {
                if !rec.deleted {
                    ops.push(op(OpKind::Add, &guid, None));
                }
            }
        }
        alert::REFRESH_FROM_CLIENT => {
            // The client's data replaces ours: what it didn't send is deleted.
            for (guid, rec) in all_items(txn, &book)? {
                if rec.deleted || d.touched.contains(&guid) {
                    continue;
                }
                crate::engine::book::delete(txn, &book, &guid, &rec, &device, env.now_ms)?;
                schema::remove_map_by_guid(txn, &d.peer, &guid)?;
            }
        }
        // 202: the client sends, we send nothing.
        _ => {}
    }
    d.snapshot_seq = Some(schema::book_meta(txn, &book)?.seq);
    let n = u32::try_from(ops.len()).unwrap_or(u32::MAX);
    s.outbox.queue.push_back(Out::SyncStart {
        db: i,
        number_of_changes: n,
    });
    s.outbox.queue.extend(ops.into_iter().map(Out::Op));
    Ok(())
}

fn all_items(
    txn: &Txn<'_>,
    book: &schema::BookId,
) -> Result<Vec<(String, ItemRecord)>, EngineError> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = schema::items_page(txn, book, &after, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        let full = page.len() == PAGE;
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

/// The session completed: save anchors and the synced sequence, then drop
/// tombstones every peer of the book has seen.
pub(super) fn complete(
    _engine: &ServerEngine,
    s: &mut ServerSession,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    for d in &s.dbs {
        let synced_seq = match d.mode {
            // Nothing was sent to the client: what it had not seen stays unseen.
            alert::ONE_WAY_FROM_CLIENT => d.prior.synced_seq,
            _ => d.snapshot_seq.unwrap_or(d.prior.synced_seq),
        };
        let state = PeerState {
            client_anchor: Some(d.client_next.clone()),
            server_anchor: Some(d.server_next.clone()),
            synced_seq,
            last_sync_ms: env.now_ms,
            last_mode: d.mode,
        };
        schema::put_peer_state(txn, &d.peer, &state);
        collect_tombstones(txn, &d.peer)?;
    }
    s.report.completed = true;
    Ok(())
}

fn collect_tombstones(txn: &mut Txn<'_>, peer: &schema::PeerId) -> Result<(), EngineError> {
    let book = peer.book();
    let peers = schema::user_peers(txn, &peer.user)?;
    let Some(min_seen) = peers
        .iter()
        .filter(|(_, store, _)| *store == peer.store)
        .map(|(_, _, st)| st.synced_seq)
        .min()
    else {
        return Ok(());
    };
    // Tombstones are few (they only live until every peer synced), so one read.
    for (_, guid) in schema::tombstones_upto(txn, &book, min_seen, usize::MAX)? {
        if let Some(rec) = schema::item(txn, &book, &guid)?
            && rec.deleted
        {
            schema::purge_item(txn, &book, &guid, &rec)?;
        }
    }
    Ok(())
}

/// Update notification (poll-first): does `device` have anything to fetch
/// from `peer`'s book? True when it never completed a sync, or when a change
/// made by anyone else follows its synced sequence. Reads a prefix of the
/// change range only: O(the device's own recent changes), never the book.
pub fn pending_for(
    store: &dyn crate::store::KvRead,
    peer: &schema::PeerId,
) -> Result<bool, EngineError> {
    let Some(state) = schema::peer_state(store, peer)? else {
        return Ok(true);
    };
    let book = peer.book();
    for change in schema::changes_between(store, &book, state.synced_seq, u64::MAX) {
        let (_, guid) = change?;
        if let Some(rec) = schema::item(store, &book, &guid)?
            && rec.origin != peer.device
        {
            return Ok(true);
        }
    }
    Ok(false)
}
