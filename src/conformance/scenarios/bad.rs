//! Bad input (syncml-protocol.md §1, §3.1, §9): what a server must say to
//! garbage, an unknown datastore and a protocol version it does not speak —
//! and that it keeps working afterwards.

use crate::protocol::alert;
use crate::sync_client::TransportError;
use crate::wire::xml;

use super::super::ctx::Ctx;
use super::super::raw::{self, Raw};
use super::{Fail, Outcome, Pass, ensure};

/// A short session of our own: the server still works.
async fn still_works(cx: &Ctx) -> Result<(), Fail> {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let reply = r.open(vec![raw::put_devinf(&dev)]).await?;
    let code = raw::header_code(&reply);
    ensure!(
        matches!(code, Some(200 | 212)),
        "after the bad input a normal session is refused (SyncHdr status {:?})",
        code
    );
    r.finish(reply, Vec::new()).await
}

pub async fn malformed_xml(cx: &Ctx) -> Outcome {
    // A plausible start (a server may sniff the device id) that breaks off
    // in the middle of the body.
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>\
         <VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto><SessionID>{sid}</SessionID>\
         <MsgID>1</MsgID><Target><LocURI>{url}</LocURI></Target><Source><LocURI>{dev}</LocURI>\
         <LocName>{user}</LocName></Source></SyncHdr><SyncBody><Alert><CmdID>1</Data></Item>",
        sid = cx.session_id(),
        url = cx.opts.url,
        dev = cx.device_id(1),
        user = cx.opts.user
    );
    let result = cx.rec.post_bytes(&cx.opts.url, body.into_bytes()).await;
    let answer = match result {
        Err(TransportError::Http { status, .. }) if (400..500).contains(&status) => {
            format!("HTTP {status}")
        }
        Err(TransportError::Http { status, .. }) => {
            return Err(Fail::Check(format!(
                "HTTP {status} for malformed XML: a server error for the client's mistake, expected 400 (bad request)"
            )));
        }
        Err(e) => return Err(Fail::Transport(e)),
        Ok(bytes) => match xml::decode(&bytes) {
            Ok(m) if matches!(raw::header_code(&m), Some(400..=499)) => format!(
                "SyncML reply with SyncHdr status {}",
                raw::header_code(&m).unwrap_or(0)
            ),
            Ok(m) => {
                return Err(Fail::Check(format!(
                    "a SyncML reply with SyncHdr status {:?} for malformed XML",
                    raw::header_code(&m)
                )));
            }
            Err(e) => {
                return Err(Fail::Check(format!(
                    "HTTP 200 with a body that is not SyncML for malformed XML: {e}"
                )));
            }
        },
    };
    still_works(cx).await?;
    Ok(Pass::Ok(format!("{answer}; the next session works")))
}

pub async fn unknown_datastore(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let store = format!("ct{}-no-such-datastore", cx.tag);
    let mut r = Raw::new(cx, &dev);
    let reply = r
        .open(vec![
            raw::put_devinf(&dev),
            raw::sync_alert(alert::SLOW_SYNC, &store, None, cx.anchor()),
        ])
        .await?;
    let hdr = raw::header_code(&reply);
    ensure!(
        matches!(hdr, Some(200 | 212)),
        "SyncHdr status {:?} for our credentials",
        hdr
    );
    let code = raw::status_for(&reply, 1, 2).map(|s| s.data.0);
    // Accepted after all? Then the session wants a Sync for it.
    let pkg3 = if code.is_some_and(|c| (200..300).contains(&c)) {
        vec![raw::sync(&store, Vec::new())]
    } else {
        Vec::new()
    };
    r.finish(reply, pkg3).await?;
    ensure!(
        code == Some(404),
        "Status {:?} for an Alert naming datastore {store}, expected 404 (not found)",
        code
    );
    Ok(Pass::Ok(
        "404 for the Alert; the session ended cleanly".into(),
    ))
}

pub async fn unsupported_version(cx: &Ctx) -> Outcome {
    let dev = cx.device_id(1);
    let mut r = Raw::new(cx, &dev);
    let cred = r.credential();
    let mut msg = r.message(vec![raw::put_devinf(&dev)], true, Some(cred));
    msg.header.ver_proto = "SyncML/9.9".into();
    let reply = match r.post(&msg).await {
        Ok(m) => m,
        Err(Fail::Transport(TransportError::Http { status, .. })) => {
            return Err(Fail::Check(format!(
                "HTTP {status} instead of a SyncML reply with SyncHdr status 513 for VerProto SyncML/9.9"
            )));
        }
        Err(e) => return Err(e),
    };
    let code = raw::header_code(&reply);
    if matches!(code, Some(200 | 212)) {
        r.finish(reply, Vec::new()).await?;
    }
    ensure!(
        code == Some(513),
        "SyncHdr status {:?} for VerProto SyncML/9.9, expected 513 (protocol version not supported)",
        code
    );
    still_works(cx).await?;
    Ok(Pass::Ok("513 for VerProto SyncML/9.9".into()))
}
