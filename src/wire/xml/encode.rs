//! Compact XML encoding in DTD order. None/false/empty fields are omitted;
//! required elements are always written, even when empty.

use super::element::El;
use super::encode_devinf::devinf;
use super::writer::{NS_METINF, Sink, Writer};
use crate::protocol::*;

/// libsynthesis sends this prolog too; always emitted for consistency.
const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

/// The root namespace follows the header's VerDTD: 1.1 peers get 1.1.
fn root_ns(hdr: &SyncHdr) -> &'static str {
    if hdr.ver_dtd == "1.1" {
        "SYNCML:SYNCML1.1"
    } else {
        "SYNCML:SYNCML1.2"
    }
}

/// Prolog, root start tag, SyncHdr and SyncBody start tag.
pub(crate) fn envelope_start<S: Sink>(w: &mut Writer<S>, hdr: &SyncHdr) {
    w.raw(PROLOG);
    w.start_ns(El::SyncML, root_ns(hdr));
    sync_hdr(w, hdr);
    w.start(El::SyncBody);
}

pub(crate) fn envelope_end<S: Sink>(w: &mut Writer<S>, final_: bool) {
    w.flag(El::Final, final_);
    w.end(El::SyncBody);
    w.end(El::SyncML);
}

pub(crate) fn message<S: Sink>(w: &mut Writer<S>, msg: &SyncMl) {
    envelope_start(w, &msg.header);
    for cmd in &msg.body.commands {
        command(w, cmd);
    }
    envelope_end(w, msg.body.final_);
}

fn sync_hdr<S: Sink>(w: &mut Writer<S>, h: &SyncHdr) {
    w.start(El::SyncHdr);
    w.leaf(El::VerDTD, &h.ver_dtd);
    w.leaf(El::VerProto, &h.ver_proto);
    w.leaf(El::SessionID, &h.session_id);
    w.leaf_num(El::MsgID, h.msg_id.into());
    loc(w, El::Target, &h.target);
    loc(w, El::Source, &h.source);
    w.leaf_opt(El::RespURI, h.resp_uri.as_deref());
    w.flag(El::NoResp, h.no_resp);
    cred(w, h.cred.as_ref());
    meta(w, h.meta.as_ref());
    w.end(El::SyncHdr);
}

pub(crate) fn command<S: Sink>(w: &mut Writer<S>, cmd: &Command) {
    match cmd {
        Command::Status(s) => status(w, s),
        Command::Alert(a) => alert(w, a),
        Command::Sync(s) => sync(w, s),
        Command::Add(c) => item_command(w, El::Add, c),
        Command::Replace(c) => item_command(w, El::Replace, c),
        Command::Delete(c) => item_command(w, El::Delete, c),
        Command::Copy(c) => item_command(w, El::Copy, c),
        Command::Map(m) => map(w, m),
        Command::Put(p) => put_get(w, El::Put, p),
        Command::Get(g) => put_get(w, El::Get, g),
        Command::Results(r) => results(w, r),
        Command::Unsupported(u) => unsupported(w, u),
    }
}

fn status<S: Sink>(w: &mut Writer<S>, s: &Status) {
    w.start(El::Status);
    w.leaf_num(El::CmdID, s.cmd_id.into());
    // Always sent, although an absent MsgRef would mean 1.
    w.leaf_num(El::MsgRef, s.msg_ref.into());
    w.leaf_num(El::CmdRef, s.cmd_ref.into());
    w.leaf(El::Cmd, &s.cmd);
    for r in &s.target_refs {
        w.leaf(El::TargetRef, r);
    }
    for r in &s.source_refs {
        w.leaf(El::SourceRef, r);
    }
    cred(w, s.cred.as_ref());
    if let Some(chal) = &s.chal {
        w.start(El::Chal);
        meta(w, Some(&chal.meta));
        w.end(El::Chal);
    }
    w.leaf_num(El::Data, s.data.0.into());
    items(w, &s.items);
    w.end(El::Status);
}

fn alert<S: Sink>(w: &mut Writer<S>, a: &Alert) {
    w.start(El::Alert);
    w.leaf_num(El::CmdID, a.cmd_id.into());
    w.flag(El::NoResp, a.no_resp);
    cred(w, a.cred.as_ref());
    w.leaf_num_opt(El::Data, a.data.map(u64::from));
    w.leaf_opt(El::Correlator, a.correlator.as_deref());
    items(w, &a.items);
    w.end(El::Alert);
}

fn sync<S: Sink>(w: &mut Writer<S>, s: &Sync) {
    w.start(El::Sync);
    w.leaf_num(El::CmdID, s.cmd_id.into());
    w.flag(El::NoResp, s.no_resp);
    cred(w, s.cred.as_ref());
    loc_opt(w, El::Target, s.target.as_ref());
    loc_opt(w, El::Source, s.source.as_ref());
    meta(w, s.meta.as_ref());
    w.leaf_num_opt(El::NumberOfChanges, s.number_of_changes.map(u64::from));
    for cmd in &s.commands {
        command(w, cmd);
    }
    w.end(El::Sync);
}

fn item_command<S: Sink>(w: &mut Writer<S>, el: El, c: &ItemCommand) {
    w.start(el);
    w.leaf_num(El::CmdID, c.cmd_id.into());
    w.flag(El::NoResp, c.no_resp);
    w.flag(El::Archive, c.archive);
    w.flag(El::SftDel, c.sft_del);
    cred(w, c.cred.as_ref());
    meta(w, c.meta.as_ref());
    items(w, &c.items);
    w.end(el);
}

fn map<S: Sink>(w: &mut Writer<S>, m: &Map) {
    w.start(El::Map);
    w.leaf_num(El::CmdID, m.cmd_id.into());
    loc(w, El::Target, &m.target);
    loc(w, El::Source, &m.source);
    cred(w, m.cred.as_ref());
    meta(w, m.meta.as_ref());
    for mi in &m.items {
        w.start(El::MapItem);
        loc(w, El::Target, &mi.target);
        loc(w, El::Source, &mi.source);
        w.end(El::MapItem);
    }
    w.end(El::Map);
}

fn put_get<S: Sink>(w: &mut Writer<S>, el: El, p: &PutGet) {
    w.start(el);
    w.leaf_num(El::CmdID, p.cmd_id.into());
    w.flag(El::NoResp, p.no_resp);
    w.leaf_opt(El::Lang, p.lang.as_deref());
    cred(w, p.cred.as_ref());
    meta(w, p.meta.as_ref());
    items(w, &p.items);
    w.end(el);
}

fn results<S: Sink>(w: &mut Writer<S>, r: &Results) {
    w.start(El::Results);
    w.leaf_num(El::CmdID, r.cmd_id.into());
    w.leaf_num(El::MsgRef, r.msg_ref.into());
    w.leaf_num(El::CmdRef, r.cmd_ref.into());
    meta(w, r.meta.as_ref());
    w.leaf_opt(El::TargetRef, r.target_ref.as_deref());
    w.leaf_opt(El::SourceRef, r.source_ref.as_deref());
    items(w, &r.items);
    w.end(El::Results);
}

/// Only what the model keeps (CmdID, NoResp). The engine answers these with a
/// Status and is not expected to send them.
fn unsupported<S: Sink>(w: &mut Writer<S>, u: &Unsupported) {
    w.start_named(&u.name);
    w.leaf_num(El::CmdID, u.cmd_id.into());
    w.flag(El::NoResp, u.no_resp);
    w.end_named(&u.name);
}

fn loc<S: Sink>(w: &mut Writer<S>, el: El, l: &Loc) {
    w.start(el);
    w.leaf(El::LocURI, &l.loc_uri);
    w.leaf_opt(El::LocName, l.loc_name.as_deref());
    w.end(el);
}

fn loc_opt<S: Sink>(w: &mut Writer<S>, el: El, l: Option<&Loc>) {
    if let Some(l) = l {
        loc(w, el, l);
    }
}

fn cred<S: Sink>(w: &mut Writer<S>, c: Option<&Cred>) {
    if let Some(c) = c {
        w.start(El::Cred);
        meta(w, c.meta.as_ref());
        w.leaf(El::Data, &c.data);
        w.end(El::Cred);
    }
}

fn items<S: Sink>(w: &mut Writer<S>, items: &[Item]) {
    for it in items {
        item(w, it);
    }
}

fn item<S: Sink>(w: &mut Writer<S>, it: &Item) {
    w.start(El::Item);
    loc_opt(w, El::Target, it.target.as_ref());
    loc_opt(w, El::Source, it.source.as_ref());
    parent_uri(w, El::SourceParent, it.source_parent.as_deref());
    parent_uri(w, El::TargetParent, it.target_parent.as_deref());
    meta(w, it.meta.as_ref());
    if let Some(data) = &it.data {
        w.start(El::Data);
        match data {
            ItemData::Text(text) => w.data_text(text),
            ItemData::DevInf(d) => devinf(w, d),
            ItemData::Anchor(a) => anchor(w, a),
        }
        w.end(El::Data);
    }
    w.flag(El::MoreData, it.more_data);
    w.end(El::Item);
}

fn parent_uri<S: Sink>(w: &mut Writer<S>, el: El, uri: Option<&str>) {
    if let Some(uri) = uri {
        w.start(el);
        w.leaf(El::LocURI, uri);
        w.end(el);
    }
}

/// `Meta` in the SyncML namespace; each MetInf child declares its own.
fn meta<S: Sink>(w: &mut Writer<S>, m: Option<&Meta>) {
    let Some(m) = m else { return };
    w.start(El::Meta);
    let text = [
        (El::Format, &m.format),
        (El::Type, &m.type_),
        (El::Mark, &m.mark),
    ];
    for (el, v) in text {
        if let Some(v) = v {
            w.metinf_leaf(el, v);
        }
    }
    if let Some(n) = m.size {
        w.metinf_num(El::Size, n);
    }
    if let Some(a) = &m.anchor {
        anchor(w, a);
    }
    if let Some(v) = &m.version {
        w.metinf_leaf(El::Version, v);
    }
    if let Some(v) = &m.next_nonce {
        w.metinf_leaf(El::NextNonce, v);
    }
    if let Some(n) = m.max_msg_size {
        w.metinf_num(El::MaxMsgSize, n);
    }
    if let Some(n) = m.max_obj_size {
        w.metinf_num(El::MaxObjSize, n);
    }
    for e in &m.emi {
        w.metinf_leaf(El::EMI, e);
    }
    if let Some(mem) = &m.mem {
        w.start_ns(El::Mem, NS_METINF);
        w.flag(El::SharedMem, mem.shared_mem);
        w.leaf_num_opt(El::FreeMem, mem.free_mem);
        w.leaf_num_opt(El::FreeID, mem.free_id);
        w.end(El::Mem);
    }
    w.end(El::Meta);
}

/// MetInf `Anchor`, in Meta or as Item Data; children inherit the namespace.
fn anchor<S: Sink>(w: &mut Writer<S>, a: &Anchor) {
    w.start_ns(El::Anchor, NS_METINF);
    w.leaf_opt(El::Last, a.last.as_deref());
    w.leaf(El::Next, &a.next);
    w.end(El::Anchor);
}
