//! Bad input against the real daemon over HTTP: every case gets the right
//! HTTP code or SyncML status **and leaves the store unchanged**.
//!
//! Each test starts a daemon with user alice/secret and first runs a real
//! slow sync that stores one contact, so "unchanged" is checked against a
//! store with data in it. Then:
//!
//! * transport and header cases (nothing of the message may be applied):
//!   stop → snapshot → restart, send the bad input, stop → snapshot, compare.
//! * in-session cases (a bad item inside an authenticated session): the
//!   session lives in the daemon's memory, so the "before" snapshot is read
//!   from a copy of the store while the daemon is idle
//!   ([`common::store::live_store_snapshot`], checked against a stopped
//!   snapshot by `live_snapshot_equals_stopped_snapshot`); "after" is a
//!   stopped snapshot.
//!
//! Bodies that should be refused before parsing are *valid* first messages
//! with correct credentials wherever possible: had the daemon processed
//! them, it would have written the device record and a nonce, so the store
//! comparison really shows they were not processed.

mod common;

use common::http::{Framing, HttpReply, post, post_framed};
use common::server::{ServerOpts, SyncmldServer};
use common::store::{
    Snapshot, assert_same_store, device_record, live_items, live_store_snapshot, rows,
    store_snapshot, without,
};
use common::syncml::{AddItem, Client, Exchange, SYNCML_XML, add, sync_alert, sync_cmd, vcard};

use syncmld::protocol::{Command, alert, auth_type};
use syncmld::wire::xml;

const USER: &str = "alice";
const PASSWORD: &str = "secret";
const DEVICE: &str = "bad-input-device";

/// A daemon with alice/secret, `config` appended to its test.toml, and one
/// contact stored by a completed slow sync of [`DEVICE`]. Returns the
/// server and the client, ready for a new session.
fn seeded(config: &str) -> (SyncmldServer, Client) {
    let (server, client, _) = seeded_with_resp_uri(config);
    (server, client)
}

/// [`seeded`], plus the RespURI of the (completed) seed session.
fn seeded_with_resp_uri(config: &str) -> (SyncmldServer, Client, String) {
    let server = SyncmldServer::start(ServerOpts::default().user(USER, PASSWORD).config(config));
    let mut client = Client::new(&server.url(), DEVICE, USER, PASSWORD);
    client.new_session("100");
    client.slow_sync_adding("seed-anchor", &[("seed-1", &vcard("Seed Contact"))]);
    let resp_uri = client.resp_uri.clone().expect("seed session had a RespURI");
    client.new_session("101");
    (server, client, resp_uri)
}

/// Stop the daemon, snapshot the store, start it again (the port may
/// change: the client follows).
fn snapshot_and_restart(server: &mut SyncmldServer, client: &mut Client) -> Snapshot {
    server.stop();
    let snap = store_snapshot(server.data_dir());
    server.launch();
    client.url = server.url();
    snap
}

/// Stop the daemon and snapshot the store.
fn stop_and_snapshot(server: &mut SyncmldServer) -> Snapshot {
    server.stop();
    store_snapshot(server.data_dir())
}

/// A valid first message with correct credentials and a sync Alert: what
/// the bad transport cases wrap or relabel.
fn valid_first_message(client: &Client) -> Vec<u8> {
    xml::encode(&client.message(
        Some(client.cred()),
        vec![sync_alert(alert::SLOW_SYNC, "addressbook", None, "A1")],
        true,
    ))
}

/// Assert an HTTP error reply: status and a plain-text body.
#[track_caller]
fn expect_http(reply: &HttpReply, status: u16, what: &str) {
    assert_eq!(
        reply.status,
        status,
        "{what}: HTTP {} (expected {status}); body:\n{}",
        reply.status,
        reply.text()
    );
    assert!(
        reply
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("text/plain")),
        "{what}: an HTTP error should be text/plain, got {:?}: {}",
        reply.header("content-type"),
        reply.text()
    );
}

/// Transport-level case: snapshot, `bad`, snapshot, compare everything.
fn transport_case(config: &str, what: &str, bad: impl FnOnce(&SyncmldServer, &Client)) {
    let (mut server, mut client) = seeded(config);
    let before = snapshot_and_restart(&mut server, &mut client);
    bad(&server, &client);
    let after = stop_and_snapshot(&mut server);
    assert_same_store(&before, &after, what);
}

// ---------------------------------------------------------------------------
// Transport: HTTP status codes, nothing processed

#[test]
fn malformed_xml_is_http_400() {
    transport_case("", "malformed XML", |_, client| {
        let valid = valid_first_message(client);
        let cut = &valid[..valid.len() / 2];
        let mut unclosed = valid.clone();
        unclosed.truncate(valid.len() - "</SyncML>".len());
        let mismatched =
            String::from_utf8(valid.clone())
                .unwrap()
                .replacen("</SyncHdr>", "</SyncHeader>", 1);
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("cut in the middle", cut.to_vec()),
            ("without the closing root tag", unclosed),
            ("mismatched end tag", mismatched.into_bytes()),
            (
                "bad MsgID number",
                String::from_utf8(valid.clone())
                    .unwrap()
                    .replacen("<MsgID>1</MsgID>", "<MsgID>one</MsgID>", 1)
                    .into_bytes(),
            ),
        ];
        for (label, body) in bodies {
            let reply = post(&client.url, Some(SYNCML_XML), &body);
            expect_http(&reply, 400, label);
        }
    });
}

#[test]
fn non_syncml_or_garbage_body_is_http_400() {
    transport_case("", "non-SyncML body", |_, client| {
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            (
                "HTML document",
                b"<?xml version=\"1.0\"?><html><body>hello</body></html>".to_vec(),
            ),
            (
                "SyncML header outside a SyncML root",
                b"<SyncHdr><VerDTD>1.2</VerDTD></SyncHdr>".to_vec(),
            ),
            ("plain text", b"hello, server".to_vec()),
            (
                "binary, not UTF-8",
                vec![0xff, 0xfe, 0x00, 0x01, 0x80, 0x81],
            ),
            ("empty body", Vec::new()),
            (
                "SyncML without SyncBody",
                b"<SyncML><SyncHdr/></SyncML>".to_vec(),
            ),
        ];
        for (label, body) in bodies {
            let reply = post(&client.url, Some(SYNCML_XML), &body);
            expect_http(&reply, 400, label);
        }
    });
}

#[test]
fn wrong_content_type_is_http_415() {
    transport_case("", "wrong Content-Type", |_, client| {
        let body = valid_first_message(client);
        for ct in [
            Some("text/xml"),
            Some("application/xml"),
            Some("text/plain; charset=utf-8"),
            Some("application/vnd.syncml+xmlx"),
            None,
        ] {
            let reply = post(&client.url, ct, &body);
            expect_http(&reply, 415, &format!("Content-Type {ct:?}"));
        }
    });
}

#[test]
fn wbxml_content_type_is_http_415() {
    transport_case("", "WBXML Content-Type", |_, client| {
        let body = valid_first_message(client);
        let reply = post(&client.url, Some("application/vnd.syncml+wbxml"), &body);
        expect_http(&reply, 415, "WBXML");
        assert!(
            reply.text().contains("WBXML") && reply.text().contains(SYNCML_XML),
            "the 415 for WBXML should say WBXML is not supported and name the XML type: {}",
            reply.text()
        );
    });
}

#[test]
fn body_over_max_body_bytes_is_http_413() {
    let config = "[server]\nmax_body_bytes = 65536\nmax_msg_size = 60000";
    transport_case(config, "oversized body", |_, client| {
        // A valid first message made large by a big (valid) vCard.
        let big = vcard(&"X".repeat(70_000));
        let msg = client.message(
            Some(client.cred()),
            vec![
                sync_alert(alert::SLOW_SYNC, "addressbook", None, "A1"),
                sync_cmd(vec![add(AddItem::vcard("big-1", &big))]),
            ],
            true,
        );
        let body = xml::encode(&msg);
        assert!(body.len() > 65536);
        // Announced by Content-Length: refused before reading.
        let reply = post(&client.url, Some(SYNCML_XML), &body);
        expect_http(&reply, 413, "oversized body with Content-Length");
        // Chunked: only counting the bytes read can notice.
        let reply = post_framed(&client.url, Some(SYNCML_XML), &body, Framing::Chunked);
        expect_http(&reply, 413, "oversized chunked body");
        // The same to a (made-up) session URL: still 413, size comes first.
        let url = format!("{}?sessionid=doesnotexist", client.url);
        let reply = post(&url, Some(SYNCML_XML), &body);
        expect_http(&reply, 413, "oversized body to a session URL");
    });
}

#[test]
fn unknown_session_is_http_404() {
    // The RespURI of the seed session, which ended (and the daemon restarts).
    let (mut server, mut client, old_resp_uri) = seeded_with_resp_uri("");
    let before = snapshot_and_restart(&mut server, &mut client);
    let body = valid_first_message(&client);
    for query in [
        "sessionid=doesnotexist",
        "sessionid=00000000000000000000000",
    ] {
        let url = format!("{}?{query}", client.url);
        let reply = post(&url, Some(SYNCML_XML), &body);
        expect_http(&reply, 404, query);
    }
    // A message 2 with a Sync and an Add, to a session the daemon forgot
    // when it restarted.
    let mut stale = client.clone();
    stale.new_session("100");
    stale.next_msg_id = 4;
    let token = old_resp_uri.split("sessionid=").nth(1).unwrap().to_owned();
    let url = format!("{}?sessionid={token}", client.url);
    let msg = stale.message(
        None,
        vec![sync_cmd(vec![add(AddItem::vcard(
            "stale-1",
            &vcard("Stale Session"),
        ))])],
        true,
    );
    let reply = post(&url, Some(SYNCML_XML), &xml::encode(&msg));
    expect_http(&reply, 404, "session from before the restart");
    let after = stop_and_snapshot(&mut server);
    assert_same_store(&before, &after, "unknown session");
}

// ---------------------------------------------------------------------------
// SyncHdr: versions and authentication (SyncML statuses inside HTTP 200)

/// The first message with `client`'s header settings and `cred`; returns
/// the exchange (HTTP 200 with SyncML is asserted by `send`).
fn first_message(client: &mut Client, cred: Option<syncmld::protocol::Cred>) -> Exchange {
    let msg = client.message(
        cred,
        vec![sync_alert(alert::SLOW_SYNC, "addressbook", None, "A1")],
        true,
    );
    client.send(&msg)
}

/// A refused first message: header and Alert (CmdID 1) get `code`, no
/// RespURI (no session), Final.
#[track_caller]
fn expect_refused(ex: &Exchange, code: u16) {
    ex.expect("SyncHdr", 0, code);
    ex.expect("Alert", 1, code);
    assert_eq!(
        ex.reply.header.resp_uri,
        None,
        "a refused message must not open a session:\n{}",
        ex.xml()
    );
    assert!(ex.reply.body.final_, "refusal without Final:\n{}", ex.xml());
    let others: Vec<&str> = ex
        .reply
        .body
        .commands
        .iter()
        .filter(|c| !matches!(c, Command::Status(_)))
        .map(|c| c.name())
        .collect();
    assert!(
        others.is_empty(),
        "a refusal carries only statuses, got {others:?}:\n{}",
        ex.xml()
    );
}

#[test]
fn wrong_verproto_gets_status_513() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    client.ver_proto = "SyncML/3.0".into();
    let cred = Some(client.cred());
    let ex = first_message(&mut client, cred);
    expect_refused(&ex, 513);
    let hdr = ex.status("SyncHdr", 0);
    assert!(
        hdr.items
            .iter()
            .filter_map(|i| i.text())
            .any(|t| t.contains("SyncML/1.2")),
        "513 should list the versions we speak:\n{}",
        ex.xml()
    );
    let after = stop_and_snapshot(&mut server);
    assert_same_store(&before, &after, "VerProto SyncML/3.0");
}

#[test]
fn wrong_verdtd_gets_status_505() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    for (i, dtd) in ["1.1", "1.0", "2.0"].into_iter().enumerate() {
        client.new_session(&format!("50{i}"));
        client.ver_dtd = dtd.into();
        let cred = Some(client.cred());
        let ex = first_message(&mut client, cred);
        expect_refused(&ex, 505);
    }
    let after = stop_and_snapshot(&mut server);
    assert_same_store(&before, &after, "VerDTD not 1.2 with SyncML/1.2");
}

#[test]
fn wrong_password_gets_401_with_chal() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    let cred = Some(syncmld::protocol::Cred {
        data: syncmld::auth::basic_credential(USER, "not-the-password"),
        ..client.cred()
    });
    let ex = first_message(&mut client, cred);
    expect_refused(&ex, 401);
    expect_md5_chal(&ex);
    let after = stop_and_snapshot(&mut server);
    // A failed attempt issues a fresh nonce for the device (the Chal's
    // NextNonce, kept per device because clients retry in a new session):
    // that is the protocol, so the nonces table is not compared; the one
    // nonce that changed must be the one in the Chal.
    assert_same_store(
        &without(&before, &["nonces"]),
        &without(&after, &["nonces"]),
        "wrong password",
    );
    expect_nonce_is_chal(&after, &ex);
}

#[test]
fn missing_credentials_get_407_with_chal() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    let ex = first_message(&mut client, None);
    expect_refused(&ex, 407);
    expect_md5_chal(&ex);
    let after = stop_and_snapshot(&mut server);
    // As for 401: the Chal's nonce is stored per device; compare the rest.
    assert_same_store(
        &without(&before, &["nonces"]),
        &without(&after, &["nonces"]),
        "no credentials",
    );
    expect_nonce_is_chal(&after, &ex);
}

/// The nonces table holds one nonce, alice's for [`DEVICE`], and it is the
/// NextNonce of the Chal in `ex`.
#[track_caller]
fn expect_nonce_is_chal(after: &Snapshot, ex: &Exchange) {
    let chal = ex.status("SyncHdr", 0).chal.as_ref().expect("Chal");
    let wire = chal.meta.next_nonce.as_deref().expect("NextNonce");
    let sent = syncmld::auth::decode_nonce(wire).expect("NextNonce is Base64");
    let nonces = rows(after, "nonces");
    let mut key = Vec::new();
    for part in [USER, DEVICE] {
        key.extend_from_slice(&(part.len() as u16).to_be_bytes());
        key.extend_from_slice(part.as_bytes());
    }
    assert_eq!(
        nonces,
        [(key.as_slice(), sent.as_slice())],
        "stored nonces vs the Chal's NextNonce {wire}"
    );
}

#[test]
fn failed_authentication_for_unknown_users_writes_nothing() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    // Nonces are only kept for users that exist, so made-up names can't
    // grow the store: here even the nonces table must stay as it was.
    client.user = "mallory".into();
    let ex = first_message(&mut client, None);
    expect_refused(&ex, 407);
    expect_md5_chal(&ex);
    client.new_session("102");
    let cred = Some(client.cred());
    let ex = first_message(&mut client, cred);
    expect_refused(&ex, 401);
    expect_md5_chal(&ex);
    let after = stop_and_snapshot(&mut server);
    assert_same_store(&before, &after, "authentication as an unknown user");
}

/// The SyncHdr Status carries a Chal for md5 (the default first scheme)
/// with a NextNonce.
#[track_caller]
fn expect_md5_chal(ex: &Exchange) {
    let hdr = ex.status("SyncHdr", 0);
    let chal = hdr
        .chal
        .as_ref()
        .unwrap_or_else(|| panic!("{} without Chal:\n{}", hdr.data.0, ex.xml()));
    assert_eq!(
        chal.meta.type_.as_deref(),
        Some(auth_type::MD5),
        "Chal type:\n{}",
        ex.xml()
    );
    assert!(
        chal.meta
            .next_nonce
            .as_deref()
            .is_some_and(|n| !n.is_empty()),
        "Chal without NextNonce:\n{}",
        ex.xml()
    );
}

#[test]
fn unknown_datastore_alert_gets_404() {
    let (mut server, mut client) = seeded("");
    let before = snapshot_and_restart(&mut server, &mut client);
    let cred = Some(client.cred());
    let msg = client.message(
        cred,
        vec![sync_alert(alert::SLOW_SYNC, "calendar", None, "A1")],
        true,
    );
    let ex = client.send(&msg);
    ex.expect("SyncHdr", 0, 212);
    let st = ex.expect("Alert", 1, 404);
    assert_eq!(st.target_refs, ["calendar"], "TargetRef:\n{}", ex.xml());
    // No server Alert for a datastore we don't have.
    assert!(
        !ex.reply
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(_))),
        "server alerted a datastore after 404:\n{}",
        ex.xml()
    );
    let after = stop_and_snapshot(&mut server);
    // The credentials were good, so authentication did its bookkeeping: a
    // new nonce for the next session and the device's last-seen time.
    // Everything else (books, items, maps, anchors...) must be unchanged,
    // and the device record may differ in nothing but last_seen_ms.
    assert_same_store(
        &without(&before, &["nonces", "devices"]),
        &without(&after, &["nonces", "devices"]),
        "unknown datastore",
    );
    let dev_before = device_record(&before, USER, DEVICE).expect("device known before");
    let mut dev_after = device_record(&after, USER, DEVICE).expect("device known after");
    assert!(dev_after.last_seen_ms >= dev_before.last_seen_ms);
    dev_after.last_seen_ms = dev_before.last_seen_ms;
    assert_eq!(
        dev_before, dev_after,
        "device record changed beyond last_seen_ms"
    );
}

// ---------------------------------------------------------------------------
// Items inside an authenticated session (SyncML item statuses)

/// A seeded daemon and a new slow-sync session past package 1 (the
/// client's Sync is expected next). Returns the live "before" snapshot.
fn in_session(config: &str) -> (SyncmldServer, Client, Snapshot) {
    let (server, mut client) = seeded(config);
    let ex = client.start_slow_sync("A1", true);
    ex.expect("Alert", 1, 200);
    let before = live_store_snapshot(server.data_dir());
    (server, client, before)
}

/// Send a Sync (CmdID 1) with `ops` and no Final; returns the exchange.
fn send_sync(client: &mut Client, ops: Vec<Command>) -> Exchange {
    let msg = client.message(None, vec![sync_cmd(ops)], false);
    let ex = client.send(&msg);
    ex.expect("SyncHdr", 0, 200);
    ex.expect("Sync", 1, 200);
    ex
}

/// Stop, snapshot, compare with `before`, and check alice still has only
/// the seed contact.
fn expect_unchanged_after_session(mut server: SyncmldServer, before: &Snapshot, what: &str) {
    let after = stop_and_snapshot(&mut server);
    assert_same_store(before, &after, what);
    let items = live_items(&after, USER);
    assert_eq!(
        items.len(),
        1,
        "{what}: expected only the seed contact, found {items:?}"
    );
}

#[test]
fn broken_vcard_in_add_gets_400() {
    let (server, mut client, before) = in_session("");
    let broken = [
        "BEGIN:VCARD\r\nFN:x\r\n",
        "FN:no begin\r\nEND:VCARD\r\n",
        "this is not a vCard at all",
    ];
    let ops = broken
        .iter()
        .enumerate()
        .map(|(i, data)| {
            add(AddItem::vcard(
                ["broken-1", "broken-2", "broken-3"][i],
                data,
            ))
        })
        .collect();
    let ex = send_sync(&mut client, ops);
    for i in 0..broken.len() as u32 {
        let st = ex.expect("Add", 2 + i, 400);
        assert_eq!(
            st.source_refs,
            [format!("broken-{}", i + 1)],
            "SourceRef of the refused item:\n{}",
            ex.xml()
        );
    }
    expect_unchanged_after_session(server, &before, "broken vCards");
}

#[test]
fn add_with_unsupported_type_gets_415() {
    let (server, mut client, before) = in_session("");
    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let ex = send_sync(
        &mut client,
        vec![
            add(AddItem {
                content_type: "text/calendar",
                ..AddItem::vcard("event-1", event)
            }),
            // A good vCard labelled with a type we don't store is refused too.
            add(AddItem {
                content_type: "image/jpeg",
                ..AddItem::vcard("jpeg-1", &vcard("Wrong Label"))
            }),
        ],
    );
    ex.expect("Add", 2, 415);
    ex.expect("Add", 3, 415);
    expect_unchanged_after_session(server, &before, "unsupported item types");
}

#[test]
fn add_over_max_obj_size_gets_413() {
    let (server, mut client, before) = in_session("[server]\nmax_obj_size = 2000");
    let big = vcard(&"Y".repeat(2500));
    let ex = send_sync(
        &mut client,
        vec![
            add(AddItem::vcard("big-1", &big)),
            // Announced as a large object bigger than we accept: 416.
            add(AddItem {
                size: Some(5000),
                more_data: true,
                ..AddItem::vcard("big-2", &big[..1000])
            }),
        ],
    );
    ex.expect("Add", 2, 413);
    ex.expect("Add", 3, 416);
    expect_unchanged_after_session(server, &before, "items over MaxObjSize");
}

/// First chunk (declared `size`, MoreData) then the last chunk; the last
/// one must get 424.
fn chunked_add_with_wrong_size(declared: usize, first: &str, last: &str) {
    let (server, mut client, before) = in_session("");
    let ex = send_sync(
        &mut client,
        vec![add(AddItem {
            size: Some(declared as u64),
            more_data: true,
            ..AddItem::vcard("chunked-1", first)
        })],
    );
    ex.expect("Add", 2, 213);
    assert!(
        !ex.reply.body.final_,
        "reply to a chunk must not be Final:\n{}",
        ex.xml()
    );
    let ex = send_sync(&mut client, vec![add(AddItem::vcard("chunked-1", last))]);
    ex.expect("Add", 2, 424);
    expect_unchanged_after_session(
        server,
        &before,
        &format!("chunked Add declaring {declared} bytes"),
    );
}

#[test]
fn chunked_add_shorter_than_declared_size_gets_424() {
    let card = vcard(&"Z".repeat(300));
    let (first, last) = card.split_at(150);
    // Declared far more than sent (more than any CRLF→LF allowance).
    chunked_add_with_wrong_size(card.len() + 100, first, last);
}

#[test]
fn chunked_add_longer_than_declared_size_gets_424() {
    let card = vcard(&"Z".repeat(300));
    let (first, last) = card.split_at(150);
    chunked_add_with_wrong_size(200, first, last);
}

#[test]
fn garbage_inside_a_session_is_http_400_and_the_session_goes_on() {
    let (mut server, mut client, before) = in_session("");
    let url = client.target_url();
    let reply = post(&url, Some(SYNCML_XML), b"<SyncML><SyncHdr>");
    expect_http(&reply, 400, "truncated XML to the session URL");
    let reply = post(&url, Some("text/plain"), b"hello");
    expect_http(&reply, 415, "text/plain to the session URL");
    let after = live_store_snapshot(server.data_dir());
    assert_same_store(&before, &after, "garbage inside a session");
    // The session survived: the client's Sync goes through.
    let ex = send_sync(
        &mut client,
        vec![add(AddItem::vcard("after-1", &vcard("After Garbage")))],
    );
    ex.expect("Add", 2, 201);
    let after = stop_and_snapshot(&mut server);
    assert_eq!(live_items(&after, USER).len(), 2);
}

/// The harness itself: a copy of the store read while the daemon is idle
/// equals the store read after stopping it (so in-session "before"
/// snapshots can be trusted).
#[test]
fn live_snapshot_equals_stopped_snapshot() {
    let (mut server, mut client) = seeded("");
    client.start_slow_sync("A1", true);
    let live = live_store_snapshot(server.data_dir());
    let stopped = stop_and_snapshot(&mut server);
    assert!(!live.is_empty());
    assert_same_store(&live, &stopped, "live copy vs stopped store");
}
