//! Map (syncml-protocol.md §3.5): the client tells the server its LUIDs
//! for the server's Adds, in package 5 or — when that was lost — at the
//! start of the next session's package 3; from then on the server names
//! the item by that LUID.

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::raw::{self, Raw};
use super::changes::single;
use super::scripted::open_two_way;
use super::{Fail, Outcome, Pass, card, contact, ensure, with_line};

pub async fn basic(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    let x = contact(cx, "map", 1);
    a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    let sb = b.sync(cx, alert::SLOW_SYNC).await?;
    let codes = sb.seen.codes("Map");
    ensure!(
        !codes.is_empty() && codes.iter().all(|c| *c == 200),
        "statuses for our Map: {}, expected 200",
        summarize(&codes)
    );
    // The server must know our LUID now: a Replace by it is an update.
    let theirs = single(b.luids_of(&card(&x))?, "the mapped copy")?;
    let x2 = with_line(&x, "NOTE:changed by the device that mapped it");
    b.modify(&theirs, &x2)?;
    let s = b.sync(cx, alert::TWO_WAY).await?;
    let replace = s.seen.codes("Replace");
    ensure!(
        replace == [200],
        "status {} for a Replace by the mapped LUID, expected 200{}",
        summarize(&replace),
        if replace == [201] {
            " (201: the server did not know the LUID, so the Map was not stored)"
        } else {
            ""
        }
    );
    let sa = a.sync(cx, alert::TWO_WAY).await?;
    ensure!(
        a.luids_of(&card(&x2))?.len() == 1 && a.luids_of(&card(&x))?.is_empty(),
        "the first device now has {} Add(s) and {} Replace(s): the edit did not replace the contact",
        sa.report.received.adds,
        sa.report.received.replaces
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "Map answered {}; a Replace by the mapped LUID updated the contact",
        summarize(&codes)
    )))
}

pub async fn next_session(cx: &Ctx) -> Outcome {
    let ds = cx.opts.datastore.clone();
    let a = cx.device(1);
    let x = contact(cx, "map-next", 1);
    let xl = a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    let dev = cx.device_id(2);

    // Session 1: a slow sync that takes everything and sends no Map.
    let mut r1 = Raw::new(cx, &dev);
    r1.send_maps = false;
    let n1 = cx.anchor();
    let reply = r1
        .open(vec![
            raw::put_devinf(&dev),
            raw::sync_alert(alert::SLOW_SYNC, &ds, None, n1.clone()),
        ])
        .await?;
    let code = raw::status_for(&reply, 1, 2).map(|s| s.data.0);
    r1.finish(reply, vec![raw::sync(&ds, Vec::new())]).await?;
    ensure!(
        matches!(code, Some(200 | 508)),
        "Status {code:?} for a slow-sync Alert"
    );
    let adds: Vec<(String, String)> = r1
        .received
        .iter()
        .filter(|it| it.kind == "Add")
        .filter_map(|it| Some((it.luid.clone()?, it.id.clone())))
        .collect();
    let ours = r1
        .received
        .iter()
        .find(|it| it.kind == "Add" && card(it.data.as_deref().unwrap_or("")) == card(&x))
        .and_then(|it| it.luid.clone())
        .ok_or_else(|| Fail::Check("the slow sync did not bring the contact as an Add".into()))?;

    // Session 2: two-way; package 3 starts with the Map of session 1.
    let (mut r2, reply, n2) = open_two_way(cx, &dev, n1).await?;
    r2.send_maps = false;
    r2.finish(
        reply,
        vec![raw::map(&ds, &adds), raw::sync(&ds, Vec::new())],
    )
    .await?;
    let codes = r2.seen().codes("Map");
    ensure!(
        codes == [200],
        "status {} for a Map of the previous session, expected 200",
        summarize(&codes)
    );

    // The server must now name the contact by the LUID that Map gave.
    let x2 = with_line(&x, "NOTE:changed after the late Map");
    a.modify(&xl, &x2)?;
    a.sync(cx, alert::TWO_WAY).await?;
    let (mut r3, reply, _) = open_two_way(cx, &dev, n2).await?;
    r3.finish(reply, vec![raw::sync(&ds, Vec::new())]).await?;
    let got: Vec<String> = r3
        .received
        .iter()
        .map(|it| format!("{} {}", it.kind, it.id))
        .collect();
    let hit = r3.received.iter().any(|it| {
        it.kind == "Replace" && it.id == ours && card(it.data.as_deref().unwrap_or("")) == card(&x2)
    });
    cx.restore_from(&a).await?;
    ensure!(
        hit,
        "after the late Map the server sent {got:?}, expected a Replace with Target {ours}"
    );
    Ok(Pass::Ok(
        "Map in the next package 3 answered 200; the server then used its LUID".into(),
    ))
}
