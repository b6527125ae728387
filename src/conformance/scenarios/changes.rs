//! The client's changes and how they reach another device
//! (syncml-protocol.md §4.2, §5): statuses 201/200/200; the server's Add
//! names its GUID in Source, its Replace and Delete the other device's LUID
//! in Target; nothing comes back to the device that made the change.

use crate::protocol::alert;

use super::super::ctx::Ctx;
use super::super::inspect::summarize;
use super::super::vcard;
use super::{Fail, Outcome, Pass, card, contact, ensure, with_line};

pub async fn client_add(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let xs = [contact(cx, "add", 1), contact(cx, "add", 2)];
    for x in &xs {
        a.add(x)?;
    }
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let codes = s.seen.codes("Add");
    ensure!(
        codes == [201, 201],
        "statuses for two client Adds: {}, expected 201 (item added) for each",
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    let ops = sb.seen.server_ops();
    let kinds: Vec<&str> = ops.iter().map(|o| o.kind).collect();
    ensure!(
        kinds == ["Add", "Add"],
        "the other device received {kinds:?}, expected two Adds"
    );
    for op in &ops {
        let guid = op.item.source_uri().unwrap_or("");
        ensure!(
            !guid.is_empty(),
            "a server Add without Item/Source (the GUID the client must map)"
        );
        ensure!(
            op.item.target.is_none(),
            "a server Add with a Target ({:?}): the server cannot know the client's LUID yet",
            op.item.target_uri()
        );
    }
    let got: Vec<_> = ops
        .iter()
        .map(|o| card(o.item.text().unwrap_or("")))
        .collect();
    let want: Vec<_> = xs.iter().map(|x| card(x)).collect();
    ensure!(
        vcard::missing(&want, &got).is_empty(),
        "the Adds' data differs from what was added: {}",
        want[0].diff(&got[0], &|_| true).join("; ")
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(
        "201 for each Add; the other device got two Adds with GUIDs in Source".into(),
    ))
}

pub async fn client_replace(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    let x = contact(cx, "replace", 1);
    let luid = a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let theirs = single(b.luids_of(&card(&x))?, "the other device's copy")?;
    let x2 = with_line(&x, "NOTE:changed on device 1");
    a.modify(&luid, &x2)?;
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let codes = s.seen.codes("Replace");
    ensure!(
        codes == [200],
        "status for the client's Replace: {}, expected 200",
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    let ops = sb.seen.server_ops();
    let kinds: Vec<&str> = ops.iter().map(|o| o.kind).collect();
    ensure!(
        kinds == ["Replace"],
        "the other device received {kinds:?}, expected one Replace"
    );
    let target = ops[0].item.target_uri().unwrap_or("");
    ensure!(
        target == theirs,
        "the Replace names Target {target:?} (Source {:?}); the other device's LUID is {theirs}",
        ops[0].item.source_uri()
    );
    let got = card(ops[0].item.text().unwrap_or(""));
    ensure!(
        got == card(&x2),
        "the Replace carries other data: {}",
        card(&x2).diff(&got, &|_| true).join("; ")
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(
        "200; the other device got a Replace with Target = its LUID".into(),
    ))
}

pub async fn client_delete(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    let b = cx.device(2);
    let x = contact(cx, "delete", 1);
    let luid = a.add(&x)?;
    a.sync(cx, alert::SLOW_SYNC).await?;
    b.sync(cx, alert::SLOW_SYNC).await?;
    let theirs = single(b.luids_of(&card(&x))?, "the other device's copy")?;
    a.delete(&luid)?;
    let s = a.sync(cx, alert::TWO_WAY).await?;
    let codes = s.seen.codes("Delete");
    ensure!(
        codes == [200],
        "status for the client's Delete: {}, expected 200",
        summarize(&codes)
    );
    let sb = b.sync(cx, alert::TWO_WAY).await?;
    let ops = sb.seen.server_ops();
    let kinds: Vec<&str> = ops.iter().map(|o| o.kind).collect();
    ensure!(
        kinds == ["Delete"],
        "the other device received {kinds:?}, expected one Delete"
    );
    let target = ops[0].item.target_uri().unwrap_or("");
    ensure!(
        target == theirs,
        "the Delete names Target {target:?} (Source {:?}); the other device's LUID is {theirs}",
        ops[0].item.source_uri()
    );
    ensure!(
        b.luids_of(&card(&x))?.is_empty(),
        "the other device still has the contact"
    );
    cx.restore_from(&b).await?;
    Ok(Pass::Ok(
        "200; the other device got a Delete with Target = its LUID".into(),
    ))
}

pub async fn no_echo(cx: &Ctx) -> Outcome {
    let a = cx.device(1);
    a.sync(cx, alert::SLOW_SYNC).await?;
    let luid = a.add(&contact(cx, "echo", 1))?;
    let s1 = a.sync(cx, alert::TWO_WAY).await?;
    a.modify(&luid, &with_line(&contact(cx, "echo", 1), "NOTE:edited"))?;
    let s2 = a.sync(cx, alert::TWO_WAY).await?;
    let s3 = a.sync(cx, alert::TWO_WAY).await?;
    for (what, s) in [
        ("the session of the Add", &s1),
        ("the session of the Replace", &s2),
        ("the session after", &s3),
    ] {
        let ops = s.seen.server_ops();
        ensure!(
            ops.is_empty(),
            "in {what} the server sent {} item(s) back ({})",
            ops.len(),
            ops.iter().map(|o| o.kind).collect::<Vec<_>>().join(", ")
        );
    }
    cx.restore_from(&a).await?;
    Ok(Pass::Ok(
        "nothing sent back after an Add and a Replace".into(),
    ))
}

/// The one element of `v`.
pub fn single(v: Vec<String>, what: &str) -> Result<String, Fail> {
    match <[String; 1]>::try_from(v) {
        Ok([one]) => Ok(one),
        Err(v) => Err(Fail::Check(format!(
            "{what}: {} copies, expected one",
            v.len()
        ))),
    }
}
