//! Recursive descent over the tokenizer, one short function per element.
//!
//! Tolerant by design: children may come in any order, unknown children are
//! skipped, names match case-insensitively. Strict where the model would
//! otherwise be wrong: required elements, numbers, the root.

use super::decode_devinf::devinf;
use super::element::El;
use super::tokenizer::{Content, Open, Tokenizer};
use crate::protocol::*;
use crate::wire::DecodeError;

type Result<T> = std::result::Result<T, DecodeError>;

/// Decode one SyncML message (XML, UTF-8).
pub fn decode(bytes: &[u8]) -> Result<SyncMl> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 {
        position: e.valid_up_to(),
    })?;
    let mut t = Tokenizer::new(text);
    let root = t.root()?;
    if root.el != El::SyncML {
        return Err(DecodeError::WrongRoot {
            found: root.name().to_owned(),
        });
    }
    let msg = sync_ml(&mut t, &root)?;
    t.finish()?;
    Ok(msg)
}

pub(crate) fn required<T>(value: Option<T>, element: El, parent: El) -> Result<T> {
    value.ok_or(DecodeError::Missing {
        element: element.name(),
        parent: parent.name(),
    })
}

fn sync_ml(t: &mut Tokenizer, open: &Open) -> Result<SyncMl> {
    let (mut header, mut body) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::SyncHdr => header = Some(sync_hdr(t, &c)?),
            El::SyncBody => body = Some(sync_body(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(SyncMl {
        header: required(header, El::SyncHdr, El::SyncML)?,
        body: required(body, El::SyncBody, El::SyncML)?,
    })
}

fn sync_hdr(t: &mut Tokenizer, open: &Open) -> Result<SyncHdr> {
    let (mut ver_dtd, mut ver_proto, mut session_id, mut msg_id) = (None, None, None, None);
    let (mut target, mut source) = (None, None);
    let mut h = SyncHdr::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::VerDTD => ver_dtd = Some(t.value(&c)?),
            El::VerProto => ver_proto = Some(t.value(&c)?),
            El::SessionID => session_id = Some(t.value(&c)?),
            El::MsgID => msg_id = Some(t.number(&c)?),
            El::Target => target = Some(loc(t, &c)?),
            El::Source => source = Some(loc(t, &c)?),
            El::RespURI => h.resp_uri = Some(t.value(&c)?),
            El::NoResp => h.no_resp = t.flag(&c)?,
            El::Cred => h.cred = Some(cred(t, &c)?),
            El::Meta => h.meta = Some(meta(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    let p = El::SyncHdr;
    h.ver_dtd = required(ver_dtd, El::VerDTD, p)?;
    h.ver_proto = required(ver_proto, El::VerProto, p)?;
    h.session_id = required(session_id, El::SessionID, p)?;
    h.msg_id = required(msg_id, El::MsgID, p)?;
    h.target = required(target, El::Target, p)?;
    h.source = required(source, El::Source, p)?;
    Ok(h)
}

fn sync_body(t: &mut Tokenizer, open: &Open) -> Result<SyncBody> {
    let mut body = SyncBody::default();
    while let Some(c) = t.next_child(open)? {
        let cmd = match c.el {
            El::Final => {
                body.final_ = t.flag(&c)?;
                continue;
            }
            El::Status => Command::Status(status(t, &c)?),
            El::Alert => Command::Alert(alert(t, &c)?),
            El::Sync => Command::Sync(sync(t, &c)?),
            El::Map => Command::Map(map(t, &c)?),
            El::Put => Command::Put(put_get(t, &c)?),
            El::Get => Command::Get(put_get(t, &c)?),
            El::Results => Command::Results(results(t, &c)?),
            _ => match item_command_or_unsupported(t, &c)? {
                Some(cmd) => cmd,
                None => continue,
            },
        };
        body.commands.push(cmd);
    }
    Ok(body)
}

/// Add/Replace/Delete/Copy, or any other element with a CmdID as
/// [`Command::Unsupported`]; `None` for elements that are no command at all.
fn item_command_or_unsupported(t: &mut Tokenizer, c: &Open) -> Result<Option<Command>> {
    Ok(Some(match c.el {
        El::Add => Command::Add(item_command(t, c)?),
        El::Replace => Command::Replace(item_command(t, c)?),
        El::Delete => Command::Delete(item_command(t, c)?),
        El::Copy => Command::Copy(item_command(t, c)?),
        _ => match unsupported(t, c)? {
            Some(u) => Command::Unsupported(u),
            None => return Ok(None),
        },
    }))
}

/// Keep only what is needed to answer the command (name, CmdID, NoResp);
/// its content (possibly nested commands, as in Atomic) is skipped.
fn unsupported(t: &mut Tokenizer, open: &Open) -> Result<Option<Unsupported>> {
    let (mut cmd_id, mut no_resp) = (None, false);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::NoResp => no_resp = t.flag(&c)?,
            _ => t.skip(&c)?,
        }
    }
    Ok(cmd_id.map(|cmd_id| Unsupported {
        name: open.name().to_owned(),
        cmd_id,
        no_resp,
    }))
}

fn status(t: &mut Tokenizer, open: &Open) -> Result<Status> {
    let (mut cmd_id, mut msg_ref, mut cmd_ref, mut cmd, mut data) = (None, None, None, None, None);
    let mut s = Status::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::MsgRef => msg_ref = Some(t.number(&c)?),
            El::CmdRef => cmd_ref = Some(t.number(&c)?),
            El::Cmd => cmd = Some(t.value(&c)?),
            El::TargetRef => s.target_refs.push(t.value(&c)?),
            El::SourceRef => s.source_refs.push(t.value(&c)?),
            El::Cred => s.cred = Some(cred(t, &c)?),
            El::Chal => s.chal = Some(chal(t, &c)?),
            El::Data => data = Some(StatusCode(t.number(&c)?)),
            El::Item => s.items.push(item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    let p = El::Status;
    s.cmd_id = required(cmd_id, El::CmdID, p)?;
    // An absent MsgRef means the first message (XSD ResultsType/StatusType).
    s.msg_ref = msg_ref.unwrap_or(1);
    s.cmd_ref = required(cmd_ref, El::CmdRef, p)?;
    s.cmd = required(cmd, El::Cmd, p)?;
    s.data = required(data, El::Data, p)?;
    Ok(s)
}

fn alert(t: &mut Tokenizer, open: &Open) -> Result<Alert> {
    let mut cmd_id = None;
    let mut a = Alert::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::NoResp => a.no_resp = t.flag(&c)?,
            El::Cred => a.cred = Some(cred(t, &c)?),
            El::Data => a.data = Some(t.number(&c)?),
            El::Correlator => a.correlator = Some(t.value(&c)?),
            El::Item => a.items.push(item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    a.cmd_id = required(cmd_id, El::CmdID, El::Alert)?;
    Ok(a)
}

fn sync(t: &mut Tokenizer, open: &Open) -> Result<Sync> {
    let mut cmd_id = None;
    let mut s = Sync::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::NoResp => s.no_resp = t.flag(&c)?,
            El::Cred => s.cred = Some(cred(t, &c)?),
            El::Target => s.target = Some(loc(t, &c)?),
            El::Source => s.source = Some(loc(t, &c)?),
            El::Meta => s.meta = Some(meta(t, &c)?),
            El::NumberOfChanges => s.number_of_changes = Some(t.number(&c)?),
            // Inside Sync only the item commands are typed; everything else
            // with a CmdID (Atomic, Sequence, Move, a nested Sync...) is
            // Unsupported so the engine can still answer it.
            _ => {
                if let Some(cmd) = item_command_or_unsupported(t, &c)? {
                    s.commands.push(cmd);
                }
            }
        }
    }
    s.cmd_id = required(cmd_id, El::CmdID, El::Sync)?;
    Ok(s)
}

fn item_command(t: &mut Tokenizer, open: &Open) -> Result<ItemCommand> {
    let mut cmd_id = None;
    let mut ic = ItemCommand::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::NoResp => ic.no_resp = t.flag(&c)?,
            El::Archive => ic.archive = t.flag(&c)?,
            El::SftDel => ic.sft_del = t.flag(&c)?,
            El::Cred => ic.cred = Some(cred(t, &c)?),
            El::Meta => ic.meta = Some(meta(t, &c)?),
            El::Item => ic.items.push(item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    ic.cmd_id = required(cmd_id, El::CmdID, open.el)?;
    Ok(ic)
}

fn map(t: &mut Tokenizer, open: &Open) -> Result<Map> {
    let (mut cmd_id, mut target, mut source) = (None, None, None);
    let mut m = Map::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::Target => target = Some(loc(t, &c)?),
            El::Source => source = Some(loc(t, &c)?),
            El::Cred => m.cred = Some(cred(t, &c)?),
            El::Meta => m.meta = Some(meta(t, &c)?),
            El::MapItem => m.items.push(map_item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    m.cmd_id = required(cmd_id, El::CmdID, El::Map)?;
    m.target = required(target, El::Target, El::Map)?;
    m.source = required(source, El::Source, El::Map)?;
    Ok(m)
}

fn map_item(t: &mut Tokenizer, open: &Open) -> Result<MapItem> {
    let (mut target, mut source) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::Target => target = Some(loc(t, &c)?),
            El::Source => source = Some(loc(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(MapItem {
        target: required(target, El::Target, El::MapItem)?,
        source: required(source, El::Source, El::MapItem)?,
    })
}

fn put_get(t: &mut Tokenizer, open: &Open) -> Result<PutGet> {
    let mut cmd_id = None;
    let mut pg = PutGet::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::NoResp => pg.no_resp = t.flag(&c)?,
            El::Lang => pg.lang = Some(t.value(&c)?),
            El::Cred => pg.cred = Some(cred(t, &c)?),
            El::Meta => pg.meta = Some(meta(t, &c)?),
            El::Item => pg.items.push(item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    pg.cmd_id = required(cmd_id, El::CmdID, open.el)?;
    Ok(pg)
}

fn results(t: &mut Tokenizer, open: &Open) -> Result<Results> {
    let (mut cmd_id, mut msg_ref, mut cmd_ref) = (None, None, None);
    let mut r = Results::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::CmdID => cmd_id = Some(t.number(&c)?),
            El::MsgRef => msg_ref = Some(t.number(&c)?),
            El::CmdRef => cmd_ref = Some(t.number(&c)?),
            El::Meta => r.meta = Some(meta(t, &c)?),
            El::TargetRef => r.target_ref = Some(t.value(&c)?),
            El::SourceRef => r.source_ref = Some(t.value(&c)?),
            El::Item => r.items.push(item(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    r.cmd_id = required(cmd_id, El::CmdID, El::Results)?;
    r.msg_ref = msg_ref.unwrap_or(1);
    r.cmd_ref = required(cmd_ref, El::CmdRef, El::Results)?;
    Ok(r)
}

fn loc(t: &mut Tokenizer, open: &Open) -> Result<Loc> {
    let (mut loc_uri, mut loc_name) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::LocURI => loc_uri = Some(t.value(&c)?),
            El::LocName => loc_name = Some(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(Loc {
        loc_uri: required(loc_uri, El::LocURI, open.el)?,
        loc_name,
    })
}

/// `SourceParent`/`TargetParent` hold a LocURI in 1.2; accept bare text too.
fn parent_uri(t: &mut Tokenizer, open: &Open) -> Result<String> {
    let mut text = String::new();
    let mut loc_uri = None;
    while let Some(content) = t.next_content(open)? {
        match content {
            Content::Text(s) => text.push_str(&s),
            Content::Child(c) if c.el == El::LocURI => loc_uri = Some(t.value(&c)?),
            Content::Child(c) => t.skip(&c)?,
        }
    }
    Ok(loc_uri.unwrap_or_else(|| text.trim().to_owned()))
}

fn cred(t: &mut Tokenizer, open: &Open) -> Result<Cred> {
    let (mut meta_, mut data) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::Meta => meta_ = Some(meta(t, &c)?),
            El::Data => data = Some(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(Cred {
        meta: meta_,
        data: required(data, El::Data, El::Cred)?,
    })
}

fn chal(t: &mut Tokenizer, open: &Open) -> Result<Chal> {
    let mut meta_ = None;
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::Meta => meta_ = Some(meta(t, &c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(Chal {
        meta: required(meta_, El::Meta, El::Chal)?,
    })
}

fn item(t: &mut Tokenizer, open: &Open) -> Result<Item> {
    let mut it = Item::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::Target => it.target = Some(loc(t, &c)?),
            El::Source => it.source = Some(loc(t, &c)?),
            El::SourceParent => it.source_parent = Some(parent_uri(t, &c)?),
            El::TargetParent => it.target_parent = Some(parent_uri(t, &c)?),
            El::Meta => it.meta = Some(meta(t, &c)?),
            El::Data => it.data = Some(item_data(t, &c)?),
            El::MoreData => it.more_data = t.flag(&c)?,
            _ => t.skip(&c)?,
        }
    }
    Ok(it)
}

/// Mixed content: an embedded DevInf or Anchor element wins; otherwise the
/// character data exactly as sent (CDATA and escaped pieces concatenated,
/// not trimmed: it is a vCard or Base64 payload).
fn item_data(t: &mut Tokenizer, open: &Open) -> Result<ItemData> {
    let mut text = String::new();
    let mut embedded = None;
    while let Some(content) = t.next_content(open)? {
        match content {
            Content::Text(s) => text.push_str(&s),
            Content::Child(c) => match c.el {
                El::DevInf if embedded.is_none() => {
                    embedded = Some(ItemData::DevInf(Box::new(devinf(t, &c)?)))
                }
                El::Anchor if embedded.is_none() => {
                    embedded = Some(ItemData::Anchor(anchor(t, &c)?))
                }
                _ => t.skip(&c)?,
            },
        }
    }
    Ok(embedded.unwrap_or(ItemData::Text(text)))
}

/// `Meta`: MetInf elements, possibly wrapped in a `MetInf` element.
fn meta(t: &mut Tokenizer, open: &Open) -> Result<Meta> {
    let mut m = Meta::default();
    while let Some(c) = t.next_child(open)? {
        if c.el == El::MetInf {
            // One level only: a MetInf inside MetInf is skipped, which keeps
            // the recursion depth bounded on hostile input.
            while let Some(inner) = t.next_child(&c)? {
                metinf_field(t, &inner, &mut m)?;
            }
        } else {
            metinf_field(t, &c, &mut m)?;
        }
    }
    Ok(m)
}

fn metinf_field(t: &mut Tokenizer, c: &Open, m: &mut Meta) -> Result<()> {
    match c.el {
        El::Format => m.format = Some(t.value(c)?),
        El::Type => m.type_ = Some(t.value(c)?),
        El::Mark => m.mark = Some(t.value(c)?),
        El::Size => m.size = Some(t.number(c)?),
        El::Anchor => m.anchor = Some(anchor(t, c)?),
        El::Version => m.version = Some(t.value(c)?),
        El::NextNonce => m.next_nonce = Some(t.value(c)?),
        El::MaxMsgSize => m.max_msg_size = Some(t.number(c)?),
        El::MaxObjSize => m.max_obj_size = Some(t.number(c)?),
        El::EMI => m.emi.push(t.value(c)?),
        El::Mem => m.mem = Some(mem(t, c)?),
        _ => t.skip(c)?,
    }
    Ok(())
}

fn anchor(t: &mut Tokenizer, open: &Open) -> Result<Anchor> {
    let (mut last, mut next) = (None, None);
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::Last => last = Some(t.value(&c)?),
            El::Next => next = Some(t.value(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(Anchor {
        last,
        next: required(next, El::Next, El::Anchor)?,
    })
}

fn mem(t: &mut Tokenizer, open: &Open) -> Result<Mem> {
    let mut m = Mem::default();
    while let Some(c) = t.next_child(open)? {
        match c.el {
            El::SharedMem => m.shared_mem = t.flag(&c)?,
            El::FreeMem => m.free_mem = Some(t.number(&c)?),
            El::FreeID => m.free_id = Some(t.number(&c)?),
            _ => t.skip(&c)?,
        }
    }
    Ok(m)
}
