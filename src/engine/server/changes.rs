//! The client's changes: `Sync` with Add/Replace/Delete, chunked items,
//! and `Map`.
//!
//! IDs (syncml-protocol.md §4.2): the client names items by its LUID in
//! `Item/Source`; we keep the LUID↔GUID map per (user, device, store).
//! Rules from libsynthesis worth keeping: Replace of an unknown LUID adds;
//! Add of a known LUID replaces (phones reuse LUIDs); Delete of an unknown
//! LUID is 211; Delete during a slow sync is 403; SftDel only drops the map.

use base64::Engine as _;

use crate::contacts;
use crate::engine::book::{self, Change};
use crate::engine::conflict::{self, Clash, ConflictPolicy, Resolution};
use crate::engine::content::SlowMatcher;
use crate::engine::{EngineError, Env};
use crate::protocol::{Command, ItemCommand, Map, StatusCode, Sync, alert, mime};
use crate::store::Txn;
use crate::store::schema::{self, BookId, ItemRecord};

use super::{DbSession, Phase, Replies, ServerEngine, ServerSession, people, strip_dot};

/// A large object being received over several messages.
#[derive(Debug, Clone)]
pub(crate) struct IncomingChunk {
    kind: Kind,
    pub luid: String,
    db: usize,
    content_type: String,
    declared: u64,
    data: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Delete,
}

/// Largest LUID we accept (it becomes part of store keys).
const MAX_ID_LEN: usize = 256;

pub(super) fn sync_command(
    engine: &ServerEngine,
    s: &mut ServerSession,
    cmd: &Command,
    sync: &Sync,
    env: &Env,
    txn: &mut Txn<'_>,
    r: &mut Replies,
) -> Result<(), EngineError> {
    let target = sync
        .target
        .as_ref()
        .map(|l| l.loc_uri.as_str())
        .unwrap_or("");
    let source = sync
        .source
        .as_ref()
        .map(|l| l.loc_uri.as_str())
        .unwrap_or("");
    let db = s
        .dbs
        .iter()
        .position(|d| strip_dot(&d.server_db).eq_ignore_ascii_case(strip_dot(target)));
    let allowed = matches!(s.phase, Phase::ExpectClientChanges);
    let code = match db {
        _ if !allowed => StatusCode::FORBIDDEN,
        None => StatusCode::NOT_FOUND,
        Some(_) => StatusCode::OK,
    };
    if let Some(st) = r.status(cmd, sync.no_resp, code) {
        st.target_refs = vec![target.to_owned()];
        st.source_refs = vec![source.to_owned()];
    }
    if let Some(i) = db.filter(|_| allowed) {
        note_book_changes(&mut s.dbs[i], txn)?;
    }
    for op in &sync.commands {
        let (kind, c) = match op {
            Command::Add(c) => (Kind::Add, c),
            Command::Replace(c) => (Kind::Replace, c),
            Command::Delete(c) => (Kind::Delete, c),
            Command::Copy(c) => {
                r.status(op, c.no_resp, StatusCode::NOT_IMPLEMENTED);
                continue;
            }
            other => {
                r.status(other, false, StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED);
                continue;
            }
        };
        match db {
            Some(i) if allowed => item_command(engine, s, i, kind, op, c, env, txn, r)?,
            _ => {
                for it in &c.items {
                    if let Some(st) = r.status(op, c.no_resp, code) {
                        st.source_refs = it
                            .source_uri()
                            .map(|u| vec![u.to_owned()])
                            .unwrap_or_default();
                    }
                }
            }
        }
    }
    if let Some(i) = db.filter(|_| allowed) {
        let d = &mut s.dbs[i];
        let meta = schema::book_meta(txn, &d.peer.book())?;
        d.touched.end_command(meta.seq, meta.purged);
    }
    Ok(())
}

/// One Add/Replace/Delete with its items.
#[allow(clippy::too_many_arguments)]
fn item_command(
    engine: &ServerEngine,
    s: &mut ServerSession,
    db: usize,
    kind: Kind,
    op: &Command,
    c: &ItemCommand,
    env: &Env,
    txn: &mut Txn<'_>,
    r: &mut Replies,
) -> Result<(), EngineError> {
    for item in &c.items {
        let luid = item
            .source_uri()
            .or(item.target_uri())
            .unwrap_or("")
            .to_owned();
        let meta_type = item
            .meta
            .as_ref()
            .and_then(|m| m.type_.clone())
            .or_else(|| c.meta.as_ref().and_then(|m| m.type_.clone()));
        let format = item
            .meta
            .as_ref()
            .and_then(|m| m.format.clone())
            .or_else(|| c.meta.as_ref().and_then(|m| m.format.clone()));
        let size = item
            .meta
            .as_ref()
            .and_then(|m| m.size)
            .or_else(|| c.meta.as_ref().and_then(|m| m.size));
        let text = item.text().unwrap_or("");

        let code = if luid.is_empty() || luid.len() > MAX_ID_LEN {
            StatusCode::BAD_REQUEST
        } else if let Some(mut chunk) = s.incoming_chunk.take() {
            // The continuation of a large object must lead this message.
            if chunk.luid != luid || chunk.kind != kind || chunk.db != db {
                tracing::info!(%luid, "chunked item interrupted by another item");
                // Report the broken chain on this item; the chunk is dropped.
                StatusCode::INCOMPLETE_COMMAND
            } else {
                chunk.data.push_str(text);
                if item.more_data {
                    let too_big = chunk.data.len() as u64 > chunk.declared;
                    if too_big {
                        StatusCode::SIZE_MISMATCH
                    } else {
                        s.incoming_chunk = Some(chunk);
                        StatusCode::CHUNK_ACCEPTED
                    }
                } else if !size_matches(&chunk.data, chunk.declared) {
                    StatusCode::SIZE_MISMATCH
                } else {
                    let ct = chunk.content_type.clone();
                    apply(
                        engine,
                        s,
                        db,
                        kind,
                        &luid,
                        Some(&ct),
                        Some(&chunk.data),
                        false,
                        env,
                        txn,
                    )?
                }
            }
        } else if item.more_data {
            match size {
                None => StatusCode::SIZE_REQUIRED,
                Some(n) if n > engine.cfg.max_obj_size => StatusCode::REQUESTED_SIZE_TOO_BIG,
                Some(n) if (text.len() as u64) > n => StatusCode::SIZE_MISMATCH,
                Some(n) => {
                    s.incoming_chunk = Some(IncomingChunk {
                        kind,
                        luid: luid.clone(),
                        db,
                        content_type: meta_type.clone().unwrap_or_else(|| mime::VCARD30.into()),
                        declared: n,
                        data: text.to_owned(),
                    });
                    StatusCode::CHUNK_ACCEPTED
                }
            }
        } else {
            let decoded;
            let data = if kind == Kind::Delete {
                None
            } else if format
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("b64"))
            {
                let compact: String = text
                    .chars()
                    .filter(|ch| !ch.is_ascii_whitespace())
                    .collect();
                match base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    Some(d) => {
                        decoded = d;
                        Some(decoded.as_str())
                    }
                    None => {
                        reply_item(r, op, c, item.source_uri(), StatusCode::BAD_REQUEST);
                        continue;
                    }
                }
            } else {
                Some(text)
            };
            let sft = kind == Kind::Delete && c.sft_del;
            if kind == Kind::Delete && c.archive {
                StatusCode::NOT_IMPLEMENTED
            } else {
                apply(
                    engine,
                    s,
                    db,
                    kind,
                    &luid,
                    meta_type.as_deref(),
                    data,
                    sft,
                    env,
                    txn,
                )?
            }
        };
        if code != StatusCode::CHUNK_ACCEPTED {
            s.report.items_in += 1;
        }
        reply_item(r, op, c, item.source_uri(), code);
    }
    Ok(())
}

fn reply_item(
    r: &mut Replies,
    op: &Command,
    c: &ItemCommand,
    luid: Option<&str>,
    code: StatusCode,
) {
    if let Some(st) = r.status(op, c.no_resp, code) {
        st.source_refs = luid.map(|u| vec![u.to_owned()]).unwrap_or_default();
    }
}

/// The reassembled length must equal the declared Size. XML parsers may
/// have turned CRLF into LF inside the data, so each LF may stand for two
/// declared bytes.
fn size_matches(data: &str, declared: u64) -> bool {
    let len = data.len() as u64;
    let lfs = data.bytes().filter(|b| *b == b'\n').count() as u64;
    len <= declared && declared <= len + lfs
}

/// Apply one complete item.
#[allow(clippy::too_many_arguments)]
fn apply(
    engine: &ServerEngine,
    s: &mut ServerSession,
    db: usize,
    kind: Kind,
    luid: &str,
    content_type: Option<&str>,
    data: Option<&str>,
    sft_del: bool,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<StatusCode, EngineError> {
    let device = s.device.clone();
    let d = &mut s.dbs[db];
    let slow = matches!(d.mode, alert::SLOW_SYNC | alert::REFRESH_FROM_CLIENT);
    if matches!(
        d.mode,
        alert::ONE_WAY_FROM_SERVER | alert::REFRESH_FROM_SERVER
    ) {
        // The client asked to receive only.
        return Ok(StatusCode::FORBIDDEN);
    }
    if kind == Kind::Delete {
        if slow {
            return Ok(StatusCode::FORBIDDEN);
        }
        return delete(engine, d, luid, sft_del, &device, env, txn);
    }
    let ct = content_type.unwrap_or(mime::VCARD30);
    if !is_contact_type(ct) {
        return Ok(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let Some(data) = data.filter(|t| !t.trim().is_empty()) else {
        return Ok(StatusCode::INCOMPLETE_COMMAND);
    };
    if !contacts::is_vcard(data) {
        return Ok(StatusCode::BAD_REQUEST);
    }
    if data.len() as u64 > engine.cfg.max_obj_size {
        return Ok(StatusCode::REQUEST_ENTITY_TOO_LARGE);
    }
    s.sent_type = Some(ct.to_owned());
    let d = &mut s.dbs[db];
    let book = d.peer.book();
    let new = Change {
        content_type: ct,
        data,
        origin: &device,
        now_ms: env.now_ms,
    };

    // Which server item does this LUID (or, in a slow sync, this content) name?
    let mapped = schema::guid_for_luid(txn, &d.peer, luid)?;
    let mut target: Option<(String, ItemRecord)> = None;
    if let Some(g) = mapped
        && let Some(rec) = schema::item(txn, &book, &g)?
    {
        target = Some((g, rec));
    }
    // Some(identical) when the item was found by content in a slow sync.
    let mut matched: Option<bool> = None;
    if slow {
        if target.as_ref().is_some_and(|(g, _)| d.touched.contains(g)) {
            target = None;
        }
        // A client that reset its store numbers its items afresh: an old
        // mapping of a reused LUID names some other contact, and following
        // it would overwrite that one. Unless the client claims continuity
        // (it sent a Last anchor), a slow sync follows the map only to the
        // same contact: same content, or the same FN (edited since).
        if !d.trust_luids
            && target.as_ref().is_some_and(|(_, rec)| {
                !contacts::same_content(&rec.data, data)
                    && formatted_name(&rec.data) != formatted_name(data)
            })
        {
            target = None;
        }
        // An unchanged copy of an item deleted since: in a slow sync the
        // client can't say it modified it, so the delete stands and goes to
        // the client. A changed copy is a modification and is kept (below).
        if d.mode == alert::SLOW_SYNC
            && let Some((g, rec)) = &target
            && rec.deleted
            && contacts::same_content(&rec.data, data)
        {
            d.touched.insert(g.clone());
            d.force_delete.push(g.clone());
            return Ok(if kind == Kind::Add {
                StatusCode::ITEM_ADDED
            } else {
                StatusCode::OK
            });
        }
        if target.is_none() {
            match slow_match(engine, d, &book, data, txn)? {
                Some(SlowMatch::Identical(g)) => {
                    // Nothing to change on either side: only the map.
                    schema::put_map(txn, &d.peer, luid, &g)?;
                    d.touched.insert(g);
                    return Ok(if kind == Kind::Add {
                        StatusCode::ITEM_ADDED
                    } else {
                        StatusCode::OK
                    });
                }
                Some(SlowMatch::Person(g, rec)) => {
                    target = Some((g, rec));
                    matched = Some(false);
                }
                None => {}
            }
        }
    }
    if !slow && target.is_none() && kind == Kind::Add {
        // An Add of a contact the server already has, byte for byte, and
        // that this device has no LUID for: the device lost its map (or
        // retries after losing our reply). Map it instead of adding a copy.
        for g in schema::content_candidates(txn, &book, data)? {
            if schema::luid_for_guid(txn, &d.peer, &g)?.is_some() || d.touched.contains(&g) {
                continue;
            }
            if schema::item(txn, &book, &g)?.is_some_and(|r| !r.deleted && r.data == data) {
                d.touched.insert(g.clone());
                schema::put_map(txn, &d.peer, luid, &g)?;
                return Ok(StatusCode::ITEM_ADDED);
            }
        }
        // The same person, written another way, that this device has no
        // copy of: another device added them since (or the user entered
        // them on both). Reconciled like a slow-sync match, never a copy.
        let region = engine.cfg.region;
        if let Some((g, exact)) = people::find(txn, &book, &d.peer, data, region, &d.touched)?
            && let Some(rec) = schema::item(txn, &book, &g)?
        {
            tracing::info!(device = %device, guid = %g, exact, "an Add is a contact the server has");
            target = Some((g, rec));
            matched = Some(exact);
        }
    }
    let added_code = StatusCode::ITEM_ADDED;
    let ok_code = if kind == Kind::Add {
        StatusCode::ITEM_ADDED
    } else {
        StatusCode::OK
    };

    let Some((guid, rec)) = target else {
        // Nothing known: a new item (Replace of an unknown LUID adds too).
        let guid = book::create(txn, &book, &new)?;
        schema::put_map(txn, &d.peer, luid, &guid)?;
        d.touched.insert(guid);
        return Ok(added_code);
    };
    d.touched.insert(guid.clone());
    schema::put_map(txn, &d.peer, luid, &guid)?;
    let judge = crate::engine::content::Contacts {
        region: engine.cfg.region,
    };
    let policy = s.policy.unwrap_or(engine.cfg.conflict_policy);

    if let Some(identical) = matched {
        // The same person found by content (a slow sync, or an Add of a
        // contact this device has no copy of): never a second contact;
        // differing contents are reconciled by the policy.
        if identical {
            return Ok(ok_code);
        }
        let d = &mut s.dbs[db];
        match policy {
            ConflictPolicy::ServerWins => d.force_replace.push(guid.clone()),
            ConflictPolicy::ClientWins => book::update(txn, &book, &guid, Some(&rec), &new)?,
            // merge, duplicate, newer-wins: neither side edited the other's
            // copy, so there's no "newer" to pick: both versions' fields
            // are kept.
            _ => match judge.merge(&rec.data, data) {
                Some(m) => {
                    if m.changed_server {
                        let merged = Change {
                            content_type: m.content_type,
                            data: &m.data,
                            ..new
                        };
                        book::update(txn, &book, &guid, Some(&rec), &merged)?;
                    }
                    if m.changed_client {
                        d.force_replace.push(guid.clone());
                    }
                }
                None => d.force_replace.push(guid.clone()),
            },
        }
        return Ok(ok_code);
    }

    let changed_elsewhere = rec.seq > d.prior.synced_seq && rec.origin != device;
    if !changed_elsewhere {
        if rec.deleted {
            book::update(txn, &book, &guid, Some(&rec), &new)?;
            return Ok(added_code);
        }
        if !contacts::same_content(&rec.data, data) {
            // A property the device can't store stays as it was.
            let supported = s
                .caps
                .as_ref()
                .map(|c| c.ctcap_props.as_slice())
                .unwrap_or(&[]);
            match judge.absent_is_not_deleted(&rec.data, data, supported) {
                Some(kept) => {
                    let kept = Change { data: &kept, ..new };
                    book::update(txn, &book, &guid, Some(&rec), &kept)?;
                    // The device lacks what it dropped; nothing to send back.
                }
                None => book::update(txn, &book, &guid, Some(&rec), &new)?,
            }
        }
        return Ok(ok_code);
    }

    // Both sides changed it since this client's last sync.
    let server = (!rec.deleted).then_some(rec.data.as_str());
    let mut resolution = conflict::resolve(
        policy,
        Clash::ClientReplace {
            client: data,
            server,
        },
        &judge,
    );
    let d = &mut s.dbs[db];
    if resolution == Resolution::Merge {
        match judge.merge(&rec.data, data) {
            Some(m) => {
                if m.changed_server {
                    let merged = Change {
                        content_type: m.content_type,
                        data: &m.data,
                        ..new
                    };
                    book::update(txn, &book, &guid, Some(&rec), &merged)?;
                }
                if m.changed_client {
                    d.force_replace.push(guid.clone());
                }
            }
            // Not both vCards: nothing to merge field by field, keep both.
            None => resolution = Resolution::Duplicate,
        }
    }
    match resolution {
        Resolution::Same | Resolution::Merge | Resolution::KeepAndResend => {}
        Resolution::TakeClient | Resolution::Resurrect => {
            book::update(txn, &book, &guid, Some(&rec), &new)?
        }
        Resolution::KeepServer => d.force_replace.push(guid.clone()),
        Resolution::Duplicate => {
            // The client's version becomes a new item under its LUID; the
            // server item loses its mapping and goes to the client as Add.
            let dup = book::create(txn, &book, &new)?;
            schema::put_map(txn, &d.peer, luid, &dup)?;
            d.touched.insert(dup);
            d.touched.remove(&guid);
        }
    }
    if resolution != Resolution::Same {
        let peer = d.peer.clone();
        s.report.conflicts += 1;
        tracing::info!(device = %device, guid = %guid, resolution = resolution.as_str(), "conflict");
        let record = schema::ConflictRecord {
            time_ms: env.now_ms,
            device: device.clone(),
            store: peer.store.clone(),
            guid: guid.clone(),
            server: rec.data.clone(),
            server_deleted: rec.deleted,
            client: data.to_owned(),
            resolution: resolution.as_str().to_owned(),
            policy: policy.as_str().to_owned(),
            result: schema::item(txn, &book, &guid)?
                .filter(|r| !r.deleted)
                .map(|r| r.data),
        };
        schema::put_conflict(txn, &peer.user, &record);
    }
    Ok(match resolution {
        Resolution::Same => ok_code,
        r => r.status(),
    })
}

/// The FN of a vCard, to tell "the same contact, edited" from "another
/// contact under a reused LUID".
fn formatted_name(data: &str) -> Option<String> {
    let card = contacts::Card::parse(data).ok()?;
    let name = card.first("FN")?.text();
    Some(crate::contacts::normalize::fold_text(&name))
}

fn is_contact_type(ct: &str) -> bool {
    let base = ct.split(';').next().unwrap_or("").trim();
    [mime::VCARD30, mime::VCARD21, "text/directory"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(base))
}

fn delete(
    engine: &ServerEngine,
    d: &mut DbSession,
    luid: &str,
    sft_del: bool,
    device: &str,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<StatusCode, EngineError> {
    let book = d.peer.book();
    let Some(guid) = schema::guid_for_luid(txn, &d.peer, luid)? else {
        return Ok(StatusCode::ITEM_NOT_DELETED);
    };
    let rec = schema::item(txn, &book, &guid)?;
    schema::remove_map_by_guid(txn, &d.peer, &guid)?;
    let Some(rec) = rec.filter(|r| !r.deleted) else {
        return Ok(StatusCode::OK);
    };
    if sft_del {
        // The client dropped its copy (e.g. memory full); the item lives on.
        return Ok(StatusCode::OK);
    }
    if rec.seq > d.prior.synced_seq && rec.origin != device {
        let judge = crate::engine::content::Contacts {
            region: engine.cfg.region,
        };
        let resolution = conflict::resolve(engine.cfg.conflict_policy, Clash::ClientDelete, &judge);
        tracing::info!(%device, %guid, ?resolution, "conflict: client deleted an item changed on the server");
        // KeepAndResend: without its map the item goes back to the client
        // as an Add in this session.
        return Ok(resolution.status());
    }
    book::delete(txn, &book, &guid, &rec, device, env.now_ms)?;
    Ok(StatusCode::OK)
}

/// Bring a slow sync's snapshots up to date with what was written since
/// this session's previous message (by other sessions, or admin): one
/// range scan of the change log, O(changes). Within a message nothing
/// else writes the book (the per-user lock).
fn note_book_changes(d: &mut DbSession, txn: &Txn<'_>) -> Result<(), EngineError> {
    let Some(matcher) = d.slow_index.as_mut() else {
        return Ok(());
    };
    let book = d.peer.book();
    let meta = schema::book_meta(txn, &book)?;
    // A purged tombstone leaves no change behind: trust nothing after one.
    matcher.note_purges(meta.purged);
    let mut noted = Vec::new();
    for change in schema::changes_between(txn, &book, matcher.seen_seq(), meta.seq) {
        let (seq, guid) = change?;
        noted.push(guid.clone());
        matcher.note_change(seq, guid);
    }
    // The people index, once built, follows: an item another device
    // edited is matched by what it holds now. This session's own items are
    // never matched again (`touched`), so they are not read.
    if let Some(index) = matcher.people_mut() {
        for g in noted.iter().filter(|g| !d.touched.contains(g)) {
            match schema::item(txn, &book, g)?.filter(|r| !r.deleted) {
                Some(rec) => index.insert_vcard(g, &rec.data),
                None => index.remove(g),
            }
        }
    }
    Ok(())
}

/// What a slow sync's incoming item is on the server.
enum SlowMatch {
    /// A live item with the same content (however written).
    Identical(String),
    /// The same person, with other content: the stored record, to reconcile.
    Person(String, ItemRecord),
}

/// Slow sync: the stored item this incoming one is (same person, by the
/// contacts matching rule).
///
/// Cheapest first, through the session's [`SlowMatcher`] snapshots: a
/// byte-identical copy (what a device that lost its anchors sends back of
/// what it had received) by its content hash, without parsing anything;
/// the same content written another way by its fingerprint, parsing only
/// the incoming card; and only then the same person through an index of
/// the whole book built from the stored identity keys
/// (`people::book_index`) — no scan per item, and no parse of the stored
/// book. Snapshots may name items gone since: each is read again.
fn slow_match(
    engine: &ServerEngine,
    d: &mut DbSession,
    book: &BookId,
    data: &str,
    txn: &mut Txn<'_>,
) -> Result<Option<SlowMatch>, EngineError> {
    // Byte-identical first: no parsing. Until the matcher exists (every
    // item so far was identical) through the store's content index.
    let candidates = match &d.slow_index {
        Some(m) => m.content_candidates(data).to_vec(),
        None => schema::content_candidates(txn, book, data)?,
    };
    for g in candidates {
        if d.touched.contains(&g) {
            continue;
        }
        if schema::item(txn, book, &g)?.is_some_and(|r| !r.deleted && r.data == data) {
            return Ok(Some(SlowMatch::Identical(g)));
        }
    }
    if d.slow_index.is_none() {
        d.slow_index = Some(content_matcher(txn, book)?);
    }
    let Some(matcher) = d.slow_index.as_mut() else {
        return Ok(None);
    };
    // The same content written another way: only this card is parsed.
    let probe = contacts::Probe::of(data);
    for g in matcher.same_content(&probe) {
        if d.touched.contains(g) {
            continue;
        }
        if matcher.unchanged(g) {
            return Ok(Some(SlowMatch::Identical(g.clone())));
        }
        // Changed since the snapshot (deleted, or edited by another
        // device): what it holds now decides.
        if let Some(rec) = schema::item(txn, book, g)?.filter(|r| !r.deleted)
            && contacts::content_fingerprint(&rec.data) == probe.fingerprint()
        {
            return Ok(Some(SlowMatch::Identical(g.clone())));
        }
    }
    // The same person: the whole book's identity keys, once per session
    // (kept current by `note_book_changes`).
    if matcher.needs_people() {
        matcher.set_people(people::book_index(txn, book, engine.cfg.region)?);
    }
    let Some((g, exact)) = matcher.find(&probe, &d.touched) else {
        return Ok(None);
    };
    Ok(match schema::item(txn, book, &g)?.filter(|r| !r.deleted) {
        Some(_) if exact => Some(SlowMatch::Identical(g)),
        Some(rec) => Some(SlowMatch::Person(g, rec)),
        None => None,
    })
}

/// A slow sync's [`SlowMatcher`], from one scan of the content index (its
/// rows carry the content fingerprint). Rows written before they did get
/// theirs here, once: computed from the item and stored.
fn content_matcher(txn: &mut Txn<'_>, book: &BookId) -> Result<SlowMatcher, EngineError> {
    let meta = schema::book_meta(txn, book)?;
    let mut snap = schema::content_snapshot(txn, book)?;
    for (hash, guid) in std::mem::take(&mut snap.unknown) {
        let Some(rec) = schema::item(txn, book, &guid)?.filter(|r| !r.deleted) else {
            continue;
        };
        if schema::content_hash(&rec.data) != hash {
            continue;
        }
        let fp = contacts::content_fingerprint(&rec.data);
        schema::set_content_fingerprint(txn, book, hash, &guid, fp);
        let guids = snap.by_fingerprint.entry(fp).or_default();
        guids.push(guid);
        guids.sort_unstable();
    }
    Ok(SlowMatcher::new(snap.by_hash, snap.by_fingerprint, &meta))
}

/// `Map`: the client's LUIDs for the items we added. Accepted in any phase
/// after the Alert, including early (while our package is still being
/// sent) and in the next session.
pub(super) fn map_command(
    engine: &ServerEngine,
    s: &mut ServerSession,
    cmd: &Command,
    m: &Map,
    txn: &mut Txn<'_>,
    r: &mut Replies,
) -> Result<(), EngineError> {
    let code = match (&s.user, engine.cfg.resolve_store(&m.target.loc_uri)) {
        (Some(user), Some(store)) => {
            let peer = schema::PeerId {
                user: user.clone(),
                device: s.device.clone(),
                store: store.to_owned(),
            };
            let book = peer.book();
            for mi in &m.items {
                let guid = mi.target.loc_uri.as_str();
                let luid = mi.source.loc_uri.as_str();
                if luid.is_empty() || luid.len() > MAX_ID_LEN {
                    continue;
                }
                match schema::item(txn, &book, guid)? {
                    Some(rec) if !rec.deleted => schema::put_map(txn, &peer, luid, guid)?,
                    _ => tracing::debug!(%guid, "Map for an unknown or deleted item ignored"),
                }
            }
            StatusCode::OK
        }
        (None, _) => StatusCode::INVALID_CREDENTIALS,
        (_, None) => StatusCode::NOT_FOUND,
    };
    if let Some(st) = r.status(cmd, false, code) {
        st.target_refs = vec![m.target.loc_uri.clone()];
        st.source_refs = vec![m.source.loc_uri.clone()];
    }
    Ok(())
}
