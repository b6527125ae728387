//! Every sync type a client may ask for (syncml-protocol.md §3.2): the
//! server alerts the same code back and data moves in the right direction.

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::vcard;
use super::{Outcome, Pass, card, contact, ensure, expect_mode};

pub async fn two_way(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    a.sync(cx, alert::SLOW_SYNC).await?;
    a.add(&contact(cx, "alert200", 1))?;
    let s = a.sync(cx, alert::TWO_WAY).await?;
    expect_mode(&s, alert::TWO_WAY)?;
    let codes = s.seen.codes("Add");
    ensure!(
        s.report.sent.adds == 1 && codes.len() == 1 && s.report.refused.is_empty(),
        "sent {} Add(s), server statuses {:?}, refused {:?}",
        s.report.sent.adds,
        codes,
        s.report.refused
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "server alerted 200; Add answered {}",
        summarize(&codes)
    )))
}

pub async fn slow(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let x = contact(cx, "alert201", 1);
    a.add(&x)?;
    let s = a.sync(cx, alert::SLOW_SYNC).await?;
    expect_mode(&s, alert::SLOW_SYNC)?;
    ensure!(
        s.report.refused.is_empty(),
        "the server refused {:?}",
        s.report.refused
    );
    let mut want = cx.baseline_cards();
    want.push(card(&x));
    let have: Vec<_> = a.cards()?.into_iter().map(|(_, c)| c).collect();
    ensure!(
        vcard::missing(&want, &have).is_empty() && have.len() == want.len(),
        "after the slow sync the device has {} contacts, expected the {} of the server plus ours",
        have.len(),
        want.len() - 1
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "server alerted 201; Add answered {}",
        s.seen.status_summary("Add")
    )))
}

pub async fn one_way_from_client(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    a.add(&contact(cx, "alert202", 1))?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    // A change the server holds for A…
    b.add(&contact(cx, "alert202", 2))?;
    b.sync(cx, alert::TWO_WAY).await?;
    // …must not come down in A's one-way-from-client session.
    a.add(&contact(cx, "alert202", 3))?;
    let s = a.sync(cx, alert::ONE_WAY_FROM_CLIENT).await?;
    expect_mode(&s, alert::ONE_WAY_FROM_CLIENT)?;
    let ops = s.seen.server_ops();
    ensure!(
        ops.is_empty(),
        "the server sent {} item(s) ({}) in a one-way-from-client session",
        ops.len(),
        ops.iter().map(|o| o.kind).collect::<Vec<_>>().join(", ")
    );
    ensure!(
        s.report.sent.adds == 1 && s.report.refused.is_empty(),
        "sent {} Add(s), refused {:?}",
        s.report.sent.adds,
        s.report.refused
    );
    // B sees A's change; B then holds the whole book.
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    ensure!(
        sb.report.received.adds == 1,
        "the other device received {} Add(s) after the one-way-from-client session, expected A's 1",
        sb.report.received.adds
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(
        "server alerted 202; our Add went up, the pending change stayed on the server".into(),
    ))
}

pub async fn refresh_from_client(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let keep = contact(cx, "alert203", 1);
    let drop = contact(cx, "alert203", 2);
    a.add(&keep)?;
    let gone = a.add(&drop)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    // Deleted locally only: the refresh must remove it from the server.
    a.delete(&gone)?;
    let s = a.sync(cx, alert::REFRESH_FROM_CLIENT).await?;
    expect_mode(&s, alert::REFRESH_FROM_CLIENT)?;
    let c = cx.device(2);
    c.sync(cx, alert::SLOW_SYNC).await?;
    let have: Vec<_> = c.cards()?.into_iter().map(|(_, c)| c).collect();
    let mut want = cx.baseline_cards();
    want.push(card(&keep));
    let lacking = vcard::missing(&want, &have);
    let extra = vcard::missing(&have, &want);
    ensure!(
        lacking.is_empty() && extra.is_empty(),
        "after refresh-from-client the server's book has {} contact(s) the client did not send{} and lacks {} it sent",
        extra.len(),
        if extra.iter().any(|x| **x == card(&drop)) {
            " (among them the one deleted on the client)"
        } else {
            ""
        },
        lacking.len()
    );
    cx.restore_from(&c).await?;
    Ok(Pass::Ok(
        "server alerted 203; its book now equals the client's".into(),
    ))
}

pub async fn one_way_from_server(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let theirs = contact(cx, "alert204", 1);
    b.add(&theirs)?;
    b.sync(cx, alert::TWO_WAY).await?;
    let local = a.add(&contact(cx, "alert204", 2))?;
    let s = a.sync(cx, alert::ONE_WAY_FROM_SERVER).await?;
    expect_mode(&s, alert::ONE_WAY_FROM_SERVER)?;
    ensure!(
        s.seen.codes("Add").is_empty(),
        "the client's Sync carried items in one-way-from-server (engine bug)"
    );
    ensure!(
        s.report.received.adds == 1 && a.luids_of(&card(&theirs))?.len() == 1,
        "received {} Add(s); expected the other device's new contact",
        s.report.received.adds
    );
    // Our local contact never went up: drop it, then A mirrors the server.
    a.delete(&local)?;
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(
        "server alerted 204; its change came down, ours stayed local".into(),
    ))
}

pub async fn refresh_from_server(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let x = contact(cx, "alert205", 1);
    a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    let junk = contact(cx, "alert205", 2);
    a.add(&junk)?;
    let s = a.sync(cx, alert::REFRESH_FROM_SERVER).await?;
    expect_mode(&s, alert::REFRESH_FROM_SERVER)?;
    let have: Vec<_> = a.cards()?.into_iter().map(|(_, c)| c).collect();
    let mut want = cx.baseline_cards();
    want.push(card(&x));
    ensure!(
        vcard::missing(&want, &have).is_empty() && vcard::missing(&have, &want).is_empty(),
        "after refresh-from-server the client has {} contacts, expected exactly the server's {}",
        have.len(),
        want.len()
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "server alerted 205 and sent {} Add(s): the client's book equals the server's",
        s.report.received.adds
    )))
}
