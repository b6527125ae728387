//! DevInf (syncml-protocol.md §6): a Get of `./devinf12` is answered with
//! Results carrying a valid DevInf 1.2; a Put of ours is accepted.

use crate::protocol::{Command, DevInf, ItemData, Results};

use super::super::ctx::Ctx;
use super::super::raw::{self, Raw};
use super::{Fail, Outcome, Pass, ensure};

pub async fn get(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let reply = r.open(vec![raw::get_devinf()]).await?;
    let status = raw::status_for(&reply, 1, 1).map(|s| s.data.0);
    let results: Option<&Results> = reply.body.commands.iter().find_map(|c| match c {
        Command::Results(res) if res.cmd_ref == 1 => Some(res),
        _ => None,
    });
    let devinf = results.and_then(|res| {
        res.items.iter().find_map(|i| match &i.data {
            Some(ItemData::DevInf(d)) => Some(d.as_ref().clone()),
            _ => None,
        })
    });
    let msg_ref = results.map(|r| r.msg_ref);
    r.finish(reply, Vec::new()).await?;
    ensure!(
        status == Some(200),
        "Status {:?} for Get ./devinf12, expected 200",
        status
    );
    let Some(d) = devinf else {
        return Err(Fail::Check(
            "no Results with a DevInf answering the Get (CmdRef 1)".into(),
        ));
    };
    ensure!(
        matches!(msg_ref, Some(0 | 1)),
        "the Results' MsgRef is {:?}, not the Get's message (1)",
        msg_ref
    );
    let problems = check(&d, &cx.opts.datastore);
    ensure!(
        problems.is_empty(),
        "invalid DevInf: {}",
        problems.join("; ")
    );
    let ds = d
        .data_store(&cx.opts.datastore)
        .or_else(|| d.data_stores.first());
    Ok(Pass::Ok(format!(
        "DevInf {} from {} {}; datastore {} Rx-Pref {}, SyncCap {}",
        d.ver_dtd,
        d.man.as_deref().unwrap_or("?"),
        d.mod_.as_deref().unwrap_or("?"),
        ds.map_or("?", |s| s.source_ref.as_str()),
        ds.and_then(|s| s.rx_pref.as_ref())
            .map_or("?".into(), |t| format!("{} {}", t.ct_type, t.ver_ct)),
        ds.map_or(String::new(), |s| s.sync_types.join(","))
    )))
}

/// What the DevInf DTD requires, and what a contacts server must say.
fn check(d: &DevInf, datastore: &str) -> Vec<String> {
    let mut p = Vec::new();
    if d.ver_dtd.trim() != "1.2" {
        p.push(format!("VerDTD {:?}, expected 1.2", d.ver_dtd));
    }
    if d.dev_id.trim().is_empty() {
        p.push("no DevID".into());
    }
    if d.dev_typ.trim().is_empty() {
        p.push("no DevTyp".into());
    }
    let want = datastore.trim_start_matches("./");
    let Some(ds) = d.data_stores.iter().find(|s| {
        s.source_ref
            .trim_start_matches("./")
            .eq_ignore_ascii_case(want)
    }) else {
        let have: Vec<&str> = d
            .data_stores
            .iter()
            .map(|s| s.source_ref.as_str())
            .collect();
        p.push(format!("no DataStore {datastore} (has: {have:?})"));
        return p;
    };
    if ds.rx_pref.is_none() || ds.tx_pref.is_none() {
        p.push(format!(
            "DataStore {} lacks Rx-Pref or Tx-Pref",
            ds.source_ref
        ));
    }
    for t in ["1", "2"] {
        if !ds.sync_types.iter().any(|s| s.trim() == t) {
            p.push(format!(
                "SyncCap of {} lacks SyncType {t} (two-way and slow sync are mandatory)",
                ds.source_ref
            ));
        }
    }
    let vcard = ds
        .rx_pref
        .iter()
        .chain(ds.rx.iter())
        .any(|t| t.ct_type.to_ascii_lowercase().contains("vcard"));
    if !vcard {
        p.push(format!(
            "DataStore {} receives no vCard type",
            ds.source_ref
        ));
    }
    p
}

pub async fn put(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let reply = r.open(vec![raw::put_devinf(&dev)]).await?;
    let status = raw::status_for(&reply, 1, 1).map(|s| (s.cmd.clone(), s.data.0));
    r.finish(reply, Vec::new()).await?;
    match status {
        Some((cmd, 200)) if cmd == "Put" => Ok(Pass::Ok("Put ./devinf12 answered 200".into())),
        other => Err(Fail::Check(format!(
            "Status for Put ./devinf12: {other:?}, expected 200"
        ))),
    }
}
