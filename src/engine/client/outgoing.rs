//! Our changes for the server (package 3) and the end of a session.

use crate::engine::book;
use crate::engine::outbox::{OpKind, Out, PendingOp};
use crate::engine::{EngineError, Env};
use crate::protocol::alert;
use crate::store::Txn;
use crate::store::schema::{self, ItemRecord, PeerState};

use super::{ClientSession, map_command};

const PAGE: usize = 1000;

/// Package 3: unconfirmed Maps of an earlier session first (not on a slow
/// sync), then per database a Sync with what the mode sends.
pub(super) fn queue_changes(
    s: &mut ClientSession,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    let peer_name = s.cfg.peer.clone();
    for i in 0..s.dbs.len() {
        let d = &s.dbs[i];
        let slow = matches!(
            d.mode,
            alert::SLOW_SYNC | alert::REFRESH_FROM_CLIENT | alert::REFRESH_FROM_SERVER
        );
        let pending = schema::pending_maps(txn, &d.peer)?;
        if pending.is_empty() {
            continue;
        }
        if slow {
            // A slow sync re-matches everything: old Maps are meaningless.
            for (luid, _) in &pending {
                schema::remove_pending_map(txn, &d.peer, luid);
            }
        } else {
            // Removed from the table when the server confirms them.
            s.outbox.queue.push_back(map_command(i, d, pending));
        }
    }
    for i in 0..s.dbs.len() {
        let (book, mode, prior_seq) = {
            let d = &s.dbs[i];
            (d.book.clone(), d.mode, d.prior.synced_seq)
        };
        let mut ops = Vec::new();
        match mode {
            alert::TWO_WAY | alert::ONE_WAY_FROM_CLIENT => {
                let upto = schema::book_meta(txn, &book)?.seq;
                for change in schema::changes_between(&*txn, &book, prior_seq, upto) {
                    let (_, luid) = change?;
                    let Some(rec) = schema::item(&*txn, &book, &luid)? else {
                        continue;
                    };
                    if rec.origin == peer_name {
                        continue;
                    }
                    // Created after the peer last synced and not received
                    // from it (those have a map): it never saw it.
                    let new = rec.created_seq > prior_seq
                        && schema::guid_for_luid(&*txn, &s.dbs[i].peer, &luid)?.is_none();
                    let kind = match (rec.deleted, new) {
                        (true, true) => continue,
                        (true, false) => OpKind::Delete,
                        (false, true) => OpKind::Add,
                        (false, false) => OpKind::Replace,
                    };
                    ops.push(PendingOp::new(i, kind, &luid, None));
                }
            }
            alert::SLOW_SYNC | alert::REFRESH_FROM_CLIENT => {
                for (luid, rec) in all_items(txn, &book)? {
                    if !rec.deleted {
                        ops.push(PendingOp::new(i, OpKind::Add, &luid, None));
                    }
                }
            }
            alert::REFRESH_FROM_SERVER => {
                // The server's book replaces ours.
                for (luid, rec) in all_items(txn, &book)? {
                    if !rec.deleted {
                        book::delete(txn, &book, &luid, &rec, &peer_name, env.now_ms)?;
                    }
                }
                schema::clear_peer_maps(txn, &s.dbs[i].peer)?;
            }
            // 204: we only receive.
            _ => {}
        }
        for op in &ops {
            match op.kind {
                OpKind::Add => s.report.sent.adds += 1,
                OpKind::Replace => s.report.sent.replaces += 1,
                OpKind::Delete => s.report.sent.deletes += 1,
            }
        }
        s.dbs[i].snapshot = Some(schema::book_meta(txn, &book)?.seq);
        s.report.modes.push((s.dbs[i].spec.local.clone(), mode));
        let n = u32::try_from(ops.len()).unwrap_or(u32::MAX);
        s.outbox.queue.push_back(Out::SyncStart {
            db: i,
            number_of_changes: n,
        });
        s.outbox.queue.extend(ops.into_iter().map(Out::Op));
    }
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

/// The server confirmed the end: save both anchors and what the peer has seen.
pub(super) fn complete(
    s: &mut ClientSession,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    for d in &s.dbs {
        let synced_seq = match d.mode {
            // We sent nothing: our changes stay pending for this peer.
            alert::ONE_WAY_FROM_SERVER => d.prior.synced_seq,
            _ => d.snapshot.unwrap_or(d.prior.synced_seq),
        };
        let state = PeerState {
            client_anchor: Some(d.our_next.clone()),
            server_anchor: d.server_next.clone(),
            synced_seq,
            last_sync_ms: env.now_ms,
            last_mode: d.mode,
        };
        schema::put_peer_state(txn, &d.peer, &state);
    }
    Ok(())
}

/// Poll-first: does this platform have anything to send to the peer (a local
/// change not made by that peer, an unconfirmed Map, or no completed sync)?
pub fn local_pending(
    store: &dyn crate::store::KvRead,
    cfg: &super::ClientConfig,
) -> Result<bool, EngineError> {
    for db in &cfg.dbs {
        let peer = schema::PeerId {
            user: cfg.local_user.clone(),
            device: cfg.peer.clone(),
            store: db.local.clone(),
        };
        let Some(state) = schema::peer_state(store, &peer)? else {
            return Ok(true);
        };
        if !schema::pending_maps(store, &peer)?.is_empty() {
            return Ok(true);
        }
        let book = peer.book();
        for change in schema::changes_between(store, &book, state.synced_seq, u64::MAX) {
            let (_, luid) = change?;
            if let Some(rec) = schema::item(store, &book, &luid)?
                && rec.origin != cfg.peer
            {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
