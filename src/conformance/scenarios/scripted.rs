//! Scripted sessions for what a well-behaved client never sends
//! (syncml-protocol.md §4.3, §1): a Replace or Delete of an item the server
//! never saw, and the same message twice.

use crate::protocol::{Command, SyncMl, alert};

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::raw::{self, Raw};
use super::{Fail, Outcome, Pass, card, contact, count, ensure};

/// A scripted two-way session of `device` whose last completed session
/// ended with our Next = `last`. Returns the script, the server's reply to
/// message 1 and the Next anchor sent (the Last of the session after).
pub async fn open_two_way<'a>(
    cx: &'a Ctx,
    device: &str,
    last: String,
) -> Result<(Raw<'a>, SyncMl, String), Fail> {
    let mut r = Raw::new(cx, device);
    let next = cx.anchor();
    let reply = r
        .open(vec![
            raw::put_devinf(device),
            raw::sync_alert(alert::TWO_WAY, &cx.opts.datastore, Some(last), next.clone()),
        ])
        .await?;
    let hdr = raw::header_code(&reply);
    ensure!(
        matches!(hdr, Some(200 | 212)),
        "SyncHdr status {:?} for our credentials",
        hdr
    );
    let code = raw::status_for(&reply, 1, 2).map(|s| s.data.0);
    if code != Some(200) {
        r.finish(reply, vec![raw::sync(&cx.opts.datastore, Vec::new())])
            .await?;
        return Err(Fail::Check(format!(
            "Status {code:?} for a two-way Alert with the Last anchor of the completed session \
             (expected 200), so the scenario cannot run"
        )));
    }
    Ok((r, reply, next))
}

/// A device that synced once (slow), and its anchor.
async fn synced_device(cx: &Ctx) -> Result<(super::super::device::Device, String), Fail> {
    let a = cx.device(1);
    a.sync(cx, alert::SLOW_SYNC).await?;
    let last = a
        .client_anchor()?
        .ok_or_else(|| Fail::Check("no anchor saved after a completed session".into()))?;
    Ok((a, last))
}

pub async fn replace_unknown(cx: &Ctx) -> Outcome {
    let (a, last) = synced_device(cx).await?;
    let (mut r, reply, _) = open_two_way(cx, &a.id, last).await?;
    let u = contact(cx, "replace-unknown", 1);
    let luid = format!("ct{}-never-sent-{}", cx.tag, cx.unique());
    r.finish(
        reply,
        vec![raw::sync(
            &cx.opts.datastore,
            vec![raw::item_op("Replace", &luid, Some(&u))],
        )],
    )
    .await?;
    let codes = r.seen().codes("Replace");
    let c = cx.device(2);
    c.sync(cx, alert::SLOW_SYNC).await?;
    let copies = count(&c.cards()?, &card(&u));
    let verdict = if codes == [201] && copies == 1 {
        Ok(Pass::Ok("201; the item was added once".into()))
    } else {
        Err(Fail::Check(format!(
            "status {} for a Replace of a LUID the server never saw, expected 201 (added); the server now has {copies} cop{} of it",
            summarize(&codes),
            if copies == 1 { "y" } else { "ies" }
        )))
    };
    cx.restore_from(&c).await?;
    verdict
}

pub async fn delete_unknown(cx: &Ctx) -> Outcome {
    let (a, last) = synced_device(cx).await?;
    let (mut r, reply, _) = open_two_way(cx, &a.id, last).await?;
    let luid = format!("ct{}-never-sent-{}", cx.tag, cx.unique());
    r.finish(
        reply,
        vec![raw::sync(
            &cx.opts.datastore,
            vec![raw::item_op("Delete", &luid, None)],
        )],
    )
    .await?;
    let codes = r.seen().codes("Delete");
    ensure!(
        codes == [211] || codes == [404],
        "status {} for a Delete of a LUID the server never saw, expected 211 (item not deleted) or 404",
        summarize(&codes)
    );
    let c = cx.device(2);
    c.sync(cx, alert::SLOW_SYNC).await?;
    let have: Vec<_> = c.cards()?.into_iter().map(|(_, c)| c).collect();
    let base = cx.baseline_cards();
    ensure!(
        super::super::vcard::missing(&base, &have).is_empty(),
        "the server's book lost contacts after a Delete of an unknown item"
    );
    cx.restore_from(&c).await?;
    Ok(Pass::Ok(format!("{}; nothing deleted", codes[0])))
}

/// (Cmd, code) of every Status in `reply`, for comparing two replies.
fn status_list(reply: &SyncMl) -> Vec<(String, u32, u16)> {
    reply
        .body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some((s.cmd.clone(), s.cmd_ref, s.data.0)),
            _ => None,
        })
        .collect()
}

pub async fn resend(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let reply = r
        .open(vec![
            raw::put_devinf(&dev),
            raw::sync_alert(alert::SLOW_SYNC, &cx.opts.datastore, None, cx.anchor()),
        ])
        .await?;
    let hdr = raw::header_code(&reply);
    ensure!(
        matches!(hdr, Some(200 | 212)),
        "SyncHdr status {:?} for our credentials",
        hdr
    );
    ensure!(
        reply.body.final_,
        "the server's package 2 does not fit one message (the script sends its Add with the answer to the first)"
    );
    let u = contact(cx, "resend", 1);
    let luid = format!("ct{}-resent-{}", cx.tag, cx.unique());
    let mut pkg3 = r.answer(&reply);
    pkg3.push(raw::sync(
        &cx.opts.datastore,
        vec![raw::item_op("Add", &luid, Some(&u))],
    ));
    let first = r.send(pkg3, true).await?;
    // The same bytes again, as a client whose reply got lost.
    let second = match r.resend().await {
        Ok(m) => m,
        Err(e) => {
            r.finish_sent(first).await?;
            return Err(Fail::Check(format!(
                "the resent message got no SyncML reply: {e}"
            )));
        }
    };
    let (one, two) = (status_list(&first), status_list(&second));
    r.finish_sent(second).await?;
    let c = cx.device(2);
    c.sync(cx, alert::SLOW_SYNC).await?;
    let copies = count(&c.cards()?, &card(&u));
    cx.restore_from(&c).await?;
    ensure!(
        one == two,
        "the resend got other statuses: first {one:?}, then {two:?}"
    );
    ensure!(
        copies == 1,
        "the resent Add left {copies} copies on the server, expected 1"
    );
    Ok(Pass::Ok(
        "same statuses for the resend; the Add applied once".into(),
    ))
}
