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
    Alert, Anchor, Command, Item, ItemData, Loc, Meta, PutGet, Results, Status, StatusCode,
    SyncBody, SyncHdr, SyncMl, alert, mime,
};
use crate::store::Txn;
use crate::store::schema;
use crate::wire::Sizer;

use super::{Phase, ServerEngine, ServerSession, loc};

use crate::engine::outbox::{Fill, OpKind, Out, Role, Sent};

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
    s.outbox.queue.push_back(Out::Tagged {
        sent: Sent::Alert { db },
        cmd,
    });
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
    s.outbox.queue.push_back(Out::Tagged {
        sent: Sent::Other,
        cmd: Command::Results(Results {
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
        }),
    });
}

pub(super) fn queue_get_devinf(s: &mut ServerSession) {
    s.outbox.queue.push_back(Out::Tagged {
        sent: Sent::Other,
        cmd: Command::Get(PutGet {
            meta: Some(Meta::with_type(mime::DEVINF_XML)),
            items: vec![Item {
                target: Some(loc("./devinf12")),
                ..Item::default()
            }],
            ..PutGet::default()
        }),
    });
}

/// A Status from the client for one of our commands.
pub(super) fn client_status(
    s: &mut ServerSession,
    st: &Status,
    txn: &mut Txn<'_>,
) -> Result<(), EngineError> {
    let Some(sent) = s.outbox.sent.remove(&(st.msg_ref, st.cmd_ref)) else {
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
        Sent::Op {
            db,
            kind,
            key: guid,
        } => {
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
        Sent::Chunk | Sent::Map { .. } | Sent::Other => {}
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
    let mut cmds: Vec<Command> = Vec::new();
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
        role: Role::Server,
        max_msg_size: s.peer_max_msg,
        max_obj_size: s.peer_max_obj,
        large_objects: s.caps.as_ref().map(|c| c.large_objects).unwrap_or(true),
        number_of_changes: s.caps.as_ref().map(|c| c.number_of_changes).unwrap_or(true),
        sizer,
    };
    let dbs: Vec<(String, String, schema::BookId)> = s
        .dbs
        .iter()
        .map(|d| (d.client_db.clone(), d.server_db.clone(), d.peer.book()))
        .collect();
    let wrapper = |db: usize| {
        dbs.get(db)
            .map(|(c, srv, _)| (c.clone(), srv.clone()))
            .unwrap_or_default()
    };
    // Items go out in the version the device prefers (DevInf Rx-Pref), else
    // the one it sends, else as stored.
    let rx_pref = s.caps.as_ref().and_then(|c| c.rx_pref.clone());
    let sent_type = s.sent_type.clone();
    let judge = crate::engine::content::Contacts {
        region: engine.cfg.region,
    };
    let mut load = |db: usize, guid: &str| -> Result<Option<(String, String)>, EngineError> {
        let Some((_, _, book)) = dbs.get(db) else {
            return Ok(None);
        };
        let Some(rec) = schema::item(txn, book, guid)?.filter(|r| !r.deleted) else {
            return Ok(None);
        };
        if rx_pref.is_none() && sent_type.is_none() {
            return Ok(Some((rec.content_type, rec.data)));
        }
        let pref = rx_pref.as_ref().map(|(t, v)| (t.as_str(), v.as_str()));
        Ok(Some(
            match judge.for_peer(&rec.data, pref, sent_type.as_deref()) {
                Some((ct, text)) => (ct.to_owned(), text),
                None => (rec.content_type, rec.data),
            },
        ))
    };
    let filled = s
        .outbox
        .fill(&fill, &mut cmds, &mut next_id, used, &wrapper, &mut load)?;
    s.report.items_out += filled.items;
    for guid in &filled.too_big {
        tracing::info!(device = %s.device, %guid, "item larger than the client's MaxObjSize not sent");
    }

    let final_ = s.owe_final && s.outbox.is_empty() && !filled.ended_in_chunk;
    if final_ {
        s.owe_final = false;
        s.phase = match s.phase {
            Phase::SendingInit => Phase::ExpectClientChanges,
            Phase::SendingChanges => Phase::ExpectMapping,
            p => p,
        };
    } else if cmds.len() <= 1 && !filled.added_any {
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
