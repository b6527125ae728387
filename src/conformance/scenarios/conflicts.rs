//! Matching and conflicts (syncml-protocol.md §3.2 slow sync, §7): equal
//! contacts are matched, not doubled; concurrent edits end resolved and
//! the same on every device. How a server resolves is its choice: the
//! detail reports it.

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::vcard::{self, Card};
use super::changes::single;
use super::{Fail, Outcome, Pass, card, contact, count, ensure, with_line};

pub async fn identical_no_dup(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    let xs: Vec<String> = (1..=3).map(|i| contact(cx, "slow-same", i)).collect();
    for x in &xs {
        a.add(x)?;
        b.add(x)?;
    }
    a.sync(cx, alert::SLOW_SYNC).await?;
    // B has exactly what the server has now: its slow sync must match all.
    let sb = b.sync(cx, alert::SLOW_SYNC).await?;
    let codes = sb.seen.codes("Add");
    ensure!(
        codes.len() == xs.len() && codes.iter().all(|c| matches!(c, 200 | 201 | 418)),
        "statuses for the slow sync's Adds: {}",
        summarize(&codes)
    );
    ensure!(
        sb.report.received.adds as usize == cx.baseline.len(),
        "the server sent {} Add(s) back in the slow sync, expected only its {} other contacts",
        sb.report.received.adds,
        cx.baseline.len()
    );
    let sa = a.sync(cx, alert::TWO_WAY).await?;
    let r = sa.report.received;
    ensure!(
        (r.adds, r.replaces, r.deletes) == (0, 0, 0),
        "after the slow sync the first device received {} Add(s), {} Replace(s), {} Delete(s): the slow sync changed the book (duplicates?)",
        r.adds,
        r.replaces,
        r.deletes
    );
    for x in &xs {
        let n = count(&a.cards()?, &card(x));
        ensure!(n == 1, "{n} copies of a contact after the slow sync");
    }
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "Adds answered {}; nothing sent back, nothing doubled",
        summarize(&codes)
    )))
}

pub async fn same_add_both_sides(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let x = contact(cx, "both-add", 1);
    a.add(&x)?;
    b.add(&x)?;
    a.sync(cx, alert::TWO_WAY).await?;
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    a.sync(cx, alert::TWO_WAY).await?;
    let (ca, cb) = (a.cards()?, b.cards()?);
    let (na, nb) = (count(&ca, &card(&x)), count(&cb, &card(&x)));
    ensure!(
        na >= 1 && nb >= 1,
        "the contact was lost: A has {na}, B {nb}"
    );
    converged(&ca, &cb)?;
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(match na {
        1 => format!(
            "merged: one copy on both devices (B's Add answered {})",
            sb.seen.status_summary("Add")
        ),
        n => format!(
            "duplicated: {n} copies on both devices (allowed in a two-way sync; B's Add answered {})",
            sb.seen.status_summary("Add")
        ),
    }))
}

pub async fn both_modified(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    let x = contact(cx, "conflict", 1);
    let xl = a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let bl = single(b.luids_of(&card(&x))?, "the second device's copy")?;
    let xa = with_line(&x, "TITLE:edited on A");
    let xb = with_line(&x, "NOTE:edited on B");
    a.modify(&xl, &xa)?;
    a.sync(cx, alert::TWO_WAY).await?;
    b.modify(&bl, &xb)?;
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    let code = sb.seen.codes("Replace");
    ensure!(
        code.len() == 1 && (code[0] < 300 || code[0] == 419),
        "status {} for the conflicting Replace, expected 200/207/208/209/419",
        summarize(&code)
    );
    a.sync(cx, alert::TWO_WAY).await?;
    b.sync(cx, alert::TWO_WAY).await?;
    let (ca, cb) = (a.cards()?, b.cards()?);
    converged(&ca, &cb)?;
    // Which versions of the contact survive (by the FN they share)?
    let fn_x = card(&x).fn_value().to_owned();
    let versions: Vec<&Card> = ca
        .iter()
        .map(|(_, c)| c)
        .filter(|c| c.fn_value() == fn_x)
        .collect();
    let (ka, kb) = (card(&xa), card(&xb));
    let has = |c: &Card, name: &str, value: &str| {
        c.props.iter().any(|p| p.name == name && p.value == value)
    };
    let outcome = match versions.as_slice() {
        [one] if **one == ka => "server won: A's earlier edit kept, B's dropped",
        [one] if **one == kb => "client won: B's later edit kept, A's dropped",
        [one] if has(one, "TITLE", "edited on A") && has(one, "NOTE", "edited on B") => {
            "merged: both edits in one contact"
        }
        [_, _] if versions.contains(&&ka) && versions.contains(&&kb) => {
            "duplicated: both versions kept"
        }
        _ => {
            return Err(Fail::Check(format!(
                "neither edit survived: the devices hold {} version(s): {}",
                versions.len(),
                versions
                    .iter()
                    .map(|v| ka.diff(v, &|_| true).join(", "))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )));
        }
    };
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(format!(
        "{outcome}; B's Replace answered {}",
        summarize(&code)
    )))
}

/// Both devices hold the same contacts (by content).
fn converged(a: &[(String, Card)], b: &[(String, Card)]) -> Result<(), Fail> {
    let ca: Vec<Card> = a.iter().map(|(_, c)| c.clone()).collect();
    let cb: Vec<Card> = b.iter().map(|(_, c)| c.clone()).collect();
    let (only_a, only_b) = (vcard::missing(&ca, &cb), vcard::missing(&cb, &ca));
    ensure!(
        only_a.is_empty() && only_b.is_empty(),
        "the devices disagree after syncing: {} contact(s) only on A ({}), {} only on B ({})",
        only_a.len(),
        names(&only_a),
        only_b.len(),
        names(&only_b)
    );
    Ok(())
}

fn names(cards: &[&Card]) -> String {
    cards
        .iter()
        .map(|c| c.fn_value())
        .collect::<Vec<_>>()
        .join(", ")
}
