//! Whole-book operations (syncml-protocol.md §3.6, §4): deleting every
//! contact, and a thousand of them in one go.

use crate::protocol::{Command, alert};

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::vcard;
use super::{Outcome, Pass, card, contact, ensure};

pub async fn delete_all(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    for i in 1..=5 {
        a.add(&contact(cx, "delete-all", i))?;
    }
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let all = a.items()?;
    for (luid, _) in &all {
        a.delete(luid)?;
    }
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let codes = s.seen.codes("Delete");
    ensure!(
        codes.len() == all.len() && codes.iter().all(|c| *c == 200),
        "statuses for {} Deletes: {}, expected 200 each",
        all.len(),
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    let left = b.items()?.len();
    ensure!(
        left == 0,
        "the other device received {} Delete(s) and still has {left} contact(s)",
        sb.report.received.deletes
    );
    let c = cx.device(3);
    c.sync(cx, alert::SLOW_SYNC).await?;
    let on_server = c.items()?.len();
    ensure!(
        on_server == 0,
        "a new device still gets {on_server} contact(s) from the server"
    );
    // Put the book back (the baseline's contacts come back with new GUIDs).
    cx.restore_from(&c).await?;
    Ok(Pass::Ok(format!(
        "{} Deletes answered 200; the other device and the server are empty",
        all.len()
    )))
}

pub async fn thousand(cx: &Ctx) -> Outcome {
    const N: usize = 1000;
    let a = cx.device(1);
    let xs: Vec<String> = (0..N).map(|i| contact(cx, "bulk", i)).collect();
    for x in &xs {
        a.add(x)?;
    }
    let sa = a.sync(cx, alert::SLOW_SYNC).await?;
    let codes = sa.seen.codes("Add");
    ensure!(
        codes.len() == N && codes.iter().all(|c| matches!(c, 200 | 201)),
        "statuses for {N} Adds: {}",
        summarize(&codes)
    );
    let b = cx.device(2);
    let sb = b.sync(cx, alert::SLOW_SYNC).await?;
    let have: Vec<_> = b.cards()?.into_iter().map(|(_, c)| c).collect();
    let want: Vec<_> = xs.iter().map(|x| card(x)).collect();
    let lacking = vcard::missing(&want, &have);
    ensure!(
        lacking.is_empty(),
        "{} of the {N} contacts did not reach the other device intact",
        lacking.len()
    );
    ensure!(
        have.len() == N + cx.baseline.len(),
        "the other device has {} contacts, expected {}",
        have.len(),
        N + cx.baseline.len()
    );
    // NumberOfChanges, when the server sends it, must count its items (once
    // for the package, or per message).
    let announced: Vec<usize> = sb
        .seen
        .replies()
        .flat_map(|m| m.body.commands.iter())
        .filter_map(|c| match c {
            Command::Sync(s) => s.number_of_changes.map(|n| n as usize),
            _ => None,
        })
        .collect();
    let sent = sb.seen.server_ops().len();
    ensure!(
        announced.is_empty()
            || announced.iter().sum::<usize>() == sent
            || announced.iter().all(|n| *n == sent),
        "NumberOfChanges says {announced:?}, the server sent {sent} items"
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(format!(
        "{N} up in {} messages, {} down in {} messages",
        sa.report.messages, sb.report.received.adds, sb.report.messages
    )))
}
