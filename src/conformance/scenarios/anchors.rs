//! Sync anchors (syncml-protocol.md §3.1, §3.4): the server keeps the
//! client's Next of a completed session and compares it with the next
//! Last; a mismatch is 508 and a slow sync.

use crate::protocol::{ItemData, alert};

use super::super::ctx::Ctx;
use super::super::vcard;
use super::{Fail, Outcome, Pass, contact, ensure, expect_mode};

pub async fn second_sync_two_way(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    a.sync(cx, alert::SLOW_SYNC).await?;
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let code = s.seen.alert_status().map(|st| st.data.0);
    ensure!(
        code == Some(200),
        "Status {:?} for a two-way Alert carrying the Last anchor of the completed session, expected 200",
        code
    );
    expect_mode(&s, alert::TWO_WAY)?;
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(
        "Alert 200 answered 200 and alerted back as 200".into(),
    ))
}

pub async fn wrong_last_508(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    a.add(&contact(cx, "anchor508", 1))?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    let before: Vec<_> = a.cards()?.into_iter().map(|(_, c)| c).collect();
    a.set_client_anchor(&format!("{}-never-issued", cx.anchor()))?;
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let code = s.seen.alert_status().map(|st| st.data.0);
    ensure!(
        code == Some(508),
        "Status {:?} for a two-way Alert whose Last anchor the server never issued, expected 508 (refresh required)",
        code
    );
    let alerts = s.seen.server_alert_codes();
    ensure!(
        alerts.contains(&alert::SLOW_SYNC),
        "after 508 the server alerted {alerts:?}, expected 201 (slow sync)"
    );
    expect_mode(&s, alert::SLOW_SYNC)?;
    // The slow sync matched everything: nothing doubled, nothing lost.
    let after: Vec<_> = a.cards()?.into_iter().map(|(_, c)| c).collect();
    ensure!(
        vcard::missing(&before, &after).is_empty() && vcard::missing(&after, &before).is_empty(),
        "the forced slow sync changed the book: {} contacts before, {} after",
        before.len(),
        after.len()
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(
        "508 on the Alert, server alerted 201, nothing duplicated".into(),
    ))
}

pub async fn next_echoed(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let s = a.sync(cx, alert::SLOW_SYNC).await?;
    let ours = s
        .seen
        .client_alert()
        .and_then(|al| al.items.first())
        .and_then(|i| i.meta.as_ref())
        .and_then(|m| m.anchor.as_ref())
        .map(|an| an.next.clone())
        .ok_or_else(|| Fail::Check("our Alert carried no anchor (engine bug)".into()))?;
    let st = s
        .seen
        .alert_status()
        .ok_or_else(|| Fail::Check("no Status for our sync Alert".into()))?;
    let echoed = st.items.iter().find_map(|i| match &i.data {
        Some(ItemData::Anchor(an)) => Some(an.next.clone()),
        _ => None,
    });
    ensure!(
        echoed.as_deref() == Some(ours.as_str()),
        "the Status for our Alert carries Next {:?} in Item/Data, expected ours ({ours})",
        echoed
    );
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!("Status {} echoes Next {ours}", st.data.0)))
}
