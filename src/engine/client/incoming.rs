//! The server's changes applied to a local book.
//!
//! Server Add: Source = its GUID; we create the item under a new LUID,
//! answer 201 and Map GUID → LUID. Replace/Delete: Target = our LUID. Every
//! write records the peer as origin, so the change is not sent back to it.
//! The server resolves conflicts; its version is taken as it comes.

use crate::engine::book::{self, Change};
use crate::engine::{EngineError, Env};
use crate::protocol::{Command, Status, StatusCode, Sync, mime};
use crate::store::Txn;
use crate::store::schema;

use super::ClientSession;

/// A large object arriving over several messages.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    db: usize,
    name: String,
    id: String,
    content_type: String,
    declared: u64,
    data: String,
}

pub(super) fn sync_ops(
    s: &mut ClientSession,
    db: usize,
    sync: &Sync,
    msg_ref: u32,
    env: &Env,
    txn: &mut Txn<'_>,
    statuses: &mut Vec<Status>,
) -> Result<(), EngineError> {
    let receives = !matches!(
        s.dbs[db].mode,
        crate::protocol::alert::ONE_WAY_FROM_CLIENT | crate::protocol::alert::REFRESH_FROM_CLIENT
    );
    for op in &sync.commands {
        let (name, c) = match op {
            Command::Add(c) => ("Add", c),
            Command::Replace(c) => ("Replace", c),
            Command::Delete(c) => ("Delete", c),
            other => {
                statuses.push(status(
                    other,
                    msg_ref,
                    StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
                    None,
                ));
                continue;
            }
        };
        for item in &c.items {
            // Add names the server's GUID (Source); Replace/Delete our LUID (Target).
            let id = match name {
                "Add" => item.source_uri().or(item.target_uri()),
                _ => item.target_uri().or(item.source_uri()),
            }
            .unwrap_or("")
            .to_owned();
            let ct = item
                .meta
                .as_ref()
                .and_then(|m| m.type_.clone())
                .or_else(|| c.meta.as_ref().and_then(|m| m.type_.clone()))
                .unwrap_or_else(|| mime::VCARD30.into());
            let size = item
                .meta
                .as_ref()
                .and_then(|m| m.size)
                .or_else(|| c.meta.as_ref().and_then(|m| m.size));
            let text = item.text().unwrap_or("");
            let code = if !receives {
                // We asked to send only.
                StatusCode::FORBIDDEN
            } else if id.is_empty() {
                StatusCode::BAD_REQUEST
            } else if let Some(mut chunk) = s.incoming_chunk.take() {
                if chunk.id != id || chunk.name != name || chunk.db != db {
                    StatusCode::INCOMPLETE_COMMAND
                } else {
                    chunk.data.push_str(text);
                    if item.more_data {
                        s.incoming_chunk = Some(chunk);
                        StatusCode::CHUNK_ACCEPTED
                    } else if (chunk.data.len() as u64) > chunk.declared
                        || chunk.declared
                            > chunk.data.len() as u64 + chunk.data.matches('\n').count() as u64
                    {
                        StatusCode::SIZE_MISMATCH
                    } else {
                        apply(s, db, name, &id, &chunk.content_type, &chunk.data, env, txn)?
                    }
                }
            } else if item.more_data {
                match size {
                    None => StatusCode::SIZE_REQUIRED,
                    Some(n) if n > s.cfg.max_obj_size => StatusCode::REQUESTED_SIZE_TOO_BIG,
                    Some(n) => {
                        s.incoming_chunk = Some(Chunk {
                            db,
                            name: name.to_owned(),
                            id: id.clone(),
                            content_type: ct,
                            declared: n,
                            data: text.to_owned(),
                        });
                        StatusCode::CHUNK_ACCEPTED
                    }
                }
            } else {
                apply(s, db, name, &id, &ct, text, env, txn)?
            };
            statuses.push(status(op, msg_ref, code, Some(&id)));
        }
    }
    Ok(())
}

fn status(cmd: &Command, msg_ref: u32, code: StatusCode, id: Option<&str>) -> Status {
    let mut st = Status {
        msg_ref,
        cmd_ref: cmd.cmd_id(),
        cmd: cmd.name().to_owned(),
        data: code,
        ..Status::default()
    };
    if let Some(id) = id {
        match cmd {
            Command::Add(_) => st.source_refs = vec![id.to_owned()],
            _ => st.target_refs = vec![id.to_owned()],
        }
    }
    st
}

#[allow(clippy::too_many_arguments)]
fn apply(
    s: &mut ClientSession,
    db: usize,
    name: &str,
    id: &str,
    ct: &str,
    data: &str,
    env: &Env,
    txn: &mut Txn<'_>,
) -> Result<StatusCode, EngineError> {
    let peer_name = s.cfg.peer.clone();
    let d = &s.dbs[db];
    let (book, peer) = (d.book.clone(), d.peer.clone());
    let change = Change {
        content_type: ct,
        data,
        origin: &peer_name,
        now_ms: env.now_ms,
    };
    match name {
        "Add" => {
            if data.trim().is_empty() {
                return Ok(StatusCode::INCOMPLETE_COMMAND);
            }
            // The server resending an Add we already took (our Map was lost):
            // update the same item instead of creating a second one.
            let known = schema::luid_for_guid(txn, &peer, id)?;
            let luid = match known {
                Some(luid) => {
                    let old = schema::item(txn, &book, &luid)?;
                    book::update(txn, &book, &luid, old.as_ref(), &change)?;
                    luid
                }
                None => book::create(txn, &book, &change)?,
            };
            schema::put_map(txn, &peer, &luid, id)?;
            s.maps_to_send.push((db, luid, id.to_owned()));
            s.report.received.adds += 1;
            Ok(StatusCode::ITEM_ADDED)
        }
        "Replace" => {
            if data.trim().is_empty() {
                return Ok(StatusCode::INCOMPLETE_COMMAND);
            }
            let old = schema::item(txn, &book, id)?;
            let existed = old.as_ref().is_some_and(|o| !o.deleted);
            book::update(txn, &book, id, old.as_ref(), &change)?;
            s.report.received.replaces += 1;
            Ok(if existed {
                StatusCode::OK
            } else {
                StatusCode::ITEM_ADDED
            })
        }
        _ => {
            let old = schema::item(txn, &book, id)?;
            match old.filter(|o| !o.deleted) {
                Some(old) => {
                    book::delete(txn, &book, id, &old, &peer_name, env.now_ms)?;
                    schema::remove_map_by_luid(txn, &peer, id)?;
                    s.report.received.deletes += 1;
                    Ok(StatusCode::OK)
                }
                None => Ok(StatusCode::ITEM_NOT_DELETED),
            }
        }
    }
}
