//! Message and object sizes (syncml-protocol.md §3.6, §3.7): a server
//! never sends more than the client's MaxMsgSize, splits packages over
//! messages, and sends items that do not fit in chunks (MoreData, Size on
//! the first chunk, 213 for each chunk it receives but the last).

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::vcard;
use super::{Outcome, Pass, card, contact, ensure, with_line};

/// SyncEvolution's smallest MaxMsgSize (10 KiB).
const SMALL: u64 = 10_240;

/// A property line of about `len` bytes, folded at 75 octets (ASCII).
pub fn folded(name: &str, len: usize) -> String {
    let mut text = String::new();
    let mut n = 0;
    while text.len() < len {
        text.push_str(&format!(
            "Line {n:05} of a long text that fills the object. "
        ));
        n += 1;
    }
    let line = format!("{name}:{}", text.trim_end());
    let mut out = String::new();
    for (i, chunk) in line.as_bytes().chunks(74).enumerate() {
        if i > 0 {
            out.push_str("\r\n ");
        }
        out.push_str(&String::from_utf8_lossy(chunk));
    }
    out
}

pub async fn multi_message(cx: &Ctx) -> Outcome {
    let a = cx.small_device(1, SMALL);
    let b = cx.small_device(2, SMALL);
    let xs: Vec<String> = (0..30)
        .map(|i| with_line(&contact(cx, "multi", i), &folded("NOTE", 400)))
        .collect();
    for x in &xs {
        a.add(x)?;
    }
    let sa = a.sync(cx, alert::SLOW_SYNC).await?;
    let codes = sa.seen.codes("Add");
    ensure!(
        codes.len() == xs.len() && codes.iter().all(|c| matches!(c, 200 | 201)),
        "statuses for {} Adds sent over {} messages: {}",
        xs.len(),
        sa.report.messages,
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::SLOW_SYNC).await?;
    let sizes = sb.seen.reply_sizes();
    let biggest = sizes.iter().copied().max().unwrap_or(0);
    ensure!(
        biggest as u64 <= SMALL,
        "the server sent a {biggest}-byte message to a client with MaxMsgSize {SMALL}"
    );
    let carrying =
        sb.seen
            .replies()
            .filter(|m| {
                m.body.commands.iter().any(
                    |c| matches!(c, crate::protocol::Command::Sync(s) if !s.commands.is_empty()),
                )
            })
            .count();
    ensure!(
        carrying >= 2,
        "the server's {} contacts came in {carrying} message(s); with MaxMsgSize {SMALL} they need several",
        sb.report.received.adds
    );
    let want: Vec<_> = xs.iter().map(|x| card(x)).collect();
    let have: Vec<_> = b.cards()?.into_iter().map(|(_, c)| c).collect();
    let lacking = vcard::missing(&want, &have);
    ensure!(
        lacking.is_empty(),
        "{} of the {} contacts did not arrive intact",
        lacking.len(),
        want.len()
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(format!(
        "client package in {} messages; server package in {carrying} messages of at most {biggest} bytes",
        sa.report.messages
    )))
}

pub async fn large_object(cx: &Ctx) -> Outcome {
    if !cx.server.large_objects() {
        return Ok(Pass::Skip(
            "the server's DevInf does not claim SupportLargeObjs".into(),
        ));
    }
    // Bigger than a message in both directions: the client splits by the
    // server's MaxMsgSize, the server by ours.
    let server_max = cx.server.max_msg_size.unwrap_or(150_000);
    let size = (server_max as usize + 20_000).clamp(25_000, 1_000_000);
    let a = cx.small_device(1, SMALL);
    let b = cx.small_device(2, SMALL);
    let big = with_line(&contact(cx, "large", 1), &folded("NOTE", size));
    a.add(&big)?;
    let sa = a.sync(cx, alert::SLOW_SYNC).await?;
    let codes = sa.seen.codes("Add");
    let up_chunked = big.len() as u64 > server_max;
    ensure!(
        matches!(codes.last(), Some(200 | 201))
            && codes[..codes.len().saturating_sub(1)]
                .iter()
                .all(|c| *c == 213)
            && (codes.len() >= 2 || !up_chunked),
        "statuses for a {}-byte item sent in chunks to a server with MaxMsgSize {server_max}: {}, expected 213 for each chunk but the last, then 201",
        big.len(),
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::SLOW_SYNC).await?;
    let ops = sb.seen.server_ops();
    let chunks: Vec<_> = ops.iter().filter(|o| o.item.more_data).collect();
    ensure!(
        !chunks.is_empty(),
        "the server sent the {}-byte item without MoreData to a client with MaxMsgSize {SMALL}",
        big.len()
    );
    let declared = chunks[0]
        .item
        .meta
        .as_ref()
        .and_then(|m| m.size)
        .or_else(|| chunks[0].cmd.meta.as_ref().and_then(|m| m.size));
    ensure!(declared.is_some(), "the first chunk carries no Meta/Size");
    let biggest = sb.seen.reply_sizes().into_iter().max().unwrap_or(0);
    ensure!(
        biggest as u64 <= SMALL,
        "the server sent a {biggest}-byte message to a client with MaxMsgSize {SMALL}"
    );
    ensure!(
        b.luids_of(&card(&big))?.len() == 1,
        "the reassembled item differs from the one sent"
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(format!(
        "{} bytes: up in {} chunks (213 each), down in {} chunks with Size {}",
        big.len(),
        codes.len(),
        chunks.len() + 1,
        declared.unwrap_or(0)
    )))
}
