//! Authentication (syncml-protocol.md §2): the SyncHdr Status says 407 for
//! no credentials, 401 for wrong ones, both with a Chal; md5 nonces roll
//! from one session to the next; basic works.

use crate::auth::Scheme;
use crate::protocol::{SyncMl, auth_type};

use super::super::ctx::Ctx;
use super::super::raw::{self, Raw};
use super::{Fail, Outcome, Pass, ensure};

/// A message with only our DevInf: whatever the server decides about the
/// credentials, it opens no datastore.
fn harmless(device: &str) -> Vec<crate::protocol::Command> {
    vec![raw::put_devinf(device)]
}

/// If the server accepted a message it should have refused, end the
/// session it opened before reporting.
async fn close_if_open(r: &mut Raw<'_>, reply: &SyncMl) -> Result<(), Fail> {
    if matches!(raw::header_code(reply), Some(200 | 212)) {
        r.finish(reply.clone(), Vec::new()).await?;
    }
    Ok(())
}

fn chal_type(reply: &SyncMl) -> Option<String> {
    raw::header_status(reply)
        .and_then(|s| s.chal.as_ref())
        .map(|c| c.meta.type_.clone().unwrap_or_else(|| "(no Type)".into()))
}

pub async fn no_cred_407(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let reply = r.first(harmless(&dev), None).await?;
    let code = raw::header_code(&reply);
    close_if_open(&mut r, &reply).await?;
    ensure!(
        code == Some(407),
        "SyncHdr status {:?} for a message without Cred, expected 407 (missing credentials)",
        code
    );
    let Some(t) = chal_type(&reply) else {
        return Err(Fail::Check(
            "407 without a Chal: the client cannot learn which scheme to use".into(),
        ));
    };
    Ok(Pass::Ok(format!("407 with a Chal for {t}")))
}

pub async fn bad_password_401(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    r.password = format!("{}-not", cx.opts.password);
    let cred = r.credential();
    let reply = r.first(harmless(&dev), Some(cred)).await?;
    let code = raw::header_code(&reply);
    close_if_open(&mut r, &reply).await?;
    ensure!(
        code == Some(401),
        "SyncHdr status {:?} for a wrong password ({}), expected 401 (invalid credentials)",
        code,
        r.scheme.name()
    );
    let Some(t) = chal_type(&reply) else {
        return Err(Fail::Check(
            "401 without a Chal: the client gets no nonce for its retry".into(),
        ));
    };
    Ok(Pass::Ok(format!(
        "401 with a Chal for {t} ({} credentials)",
        r.scheme.name()
    )))
}

pub async fn md5_nonce(cx: &Ctx) -> Outcome {
    if let Some(t) = &cx.server.chal_type
        && !t.eq_ignore_ascii_case(auth_type::MD5)
    {
        return Ok(Pass::Skip(format!(
            "the server challenges with {t}, not {}",
            auth_type::MD5
        )));
    }
    let dev = cx.device_id(1);
    // Session 1: md5, retried once with the challenge's nonce if needed.
    let mut r1 = Raw::new(cx, &dev);
    r1.scheme = Scheme::Md5;
    let reply = r1.open(harmless(&dev)).await?;
    let c1 = raw::header_code(&reply);
    ensure!(
        matches!(c1, Some(200 | 212)),
        "md5 credentials refused (SyncHdr status {:?}) even with the challenge's nonce",
        c1
    );
    let next_nonce = raw::header_status(&reply)
        .and_then(|s| s.chal.as_ref())
        .and_then(|c| c.meta.next_nonce.clone());
    r1.finish(reply, Vec::new()).await?;
    // Session 2: the nonce from session 1, no retry allowed.
    let mut r2 = Raw::new(cx, &dev);
    r2.scheme = Scheme::Md5;
    let cred = r2.credential();
    let reply = r2.first(harmless(&dev), Some(cred)).await?;
    let c2 = raw::header_code(&reply);
    close_if_open(&mut r2, &reply).await?;
    ensure!(
        matches!(c2, Some(200 | 212)),
        "the next session's first message was refused (SyncHdr status {:?}): the NextNonce {} of the previous session does not authenticate it",
        c2,
        next_nonce
            .as_deref()
            .unwrap_or("(none sent, the old nonce kept)")
    );
    Ok(Pass::Ok(format!(
        "session 1: {} with NextNonce {}; session 2 accepted at once ({})",
        c1.unwrap_or(0),
        if next_nonce.is_some() {
            "sent"
        } else {
            "not sent (nonce kept)"
        },
        c2.unwrap_or(0)
    )))
}

pub async fn basic(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    r.scheme = Scheme::Basic;
    let cred = r.credential();
    let reply = r.first(harmless(&dev), Some(cred)).await?;
    let code = raw::header_code(&reply);
    close_if_open(&mut r, &reply).await?;
    ensure!(
        matches!(code, Some(200 | 212)),
        "SyncHdr status {:?} for correct {} credentials, expected 212 or 200",
        code,
        auth_type::BASIC
    );
    Ok(Pass::Ok(format!(
        "accepted ({}); the server then challenges with {}",
        code.unwrap_or(0),
        chal_type(&reply).unwrap_or_else(|| "nothing".into())
    )))
}
