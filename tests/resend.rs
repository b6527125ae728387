//! Resends against the real daemon over HTTP. SyncEvolution resends a
//! message when the reply does not come in time (RetryInterval), so a
//! message that arrives twice must get the reply of its first arrival,
//! byte for byte, and must not be applied twice.
//!
//! Sessions live in the daemon's memory, so the store is compared through
//! copies read while the daemon is idle (`live_store_snapshot`), and each
//! test ends with a snapshot of the stopped daemon's store.

mod common;

use common::http::{Framing, post, request_bytes, send_and_hang_up};
use common::server::{ServerOpts, SyncmldServer};
use common::store::{
    Snapshot, assert_same_store, live_items, live_store_snapshot, rows, store_snapshot,
};
use common::syncml::{AddItem, Client, Exchange, SYNCML_XML, add, sync_cmd, vcard};

const USER: &str = "alice";
const PASSWORD: &str = "secret";
const DEVICE: &str = "resend-device";

fn start() -> (SyncmldServer, Client) {
    let server = SyncmldServer::start(ServerOpts::default().user(USER, PASSWORD));
    let client = Client::new(&server.url(), DEVICE, USER, PASSWORD);
    (server, client)
}

/// Package 3 of a slow sync: one Add, Final. Returns the exchange.
fn send_one_add(client: &mut Client, luid: &str, name: &str) -> Exchange {
    let msg = client.message(
        None,
        vec![sync_cmd(vec![add(AddItem::vcard(luid, &vcard(name)))])],
        true,
    );
    let ex = client.send(&msg);
    ex.expect("SyncHdr", 0, 200);
    ex.expect("Add", 2, 201);
    ex
}

/// POST `original.request` again to `url` and check the reply is the
/// original reply, byte for byte.
#[track_caller]
fn resend_expecting_cached(client: &Client, url: &str, original: &Exchange) -> Exchange {
    let again = client.send_bytes(url, original.request.clone());
    if again.http.body != original.http.body {
        panic!(
            "the resend got a different reply.\n--- first reply\n{}\n--- reply to the resend\n{}",
            clip(&original.xml()),
            clip(&again.xml())
        );
    }
    again
}

/// Stop the daemon; the store must hold exactly one live contact, one
/// change and book counters that say one item was ever written.
fn expect_exactly_one_item(server: &mut SyncmldServer) -> Snapshot {
    server.stop();
    let snap = store_snapshot(server.data_dir());
    let items = live_items(&snap, USER);
    assert_eq!(items.len(), 1, "expected one contact, found {items:#?}");
    assert_eq!(
        rows(&snap, "items").len(),
        1,
        "an item row besides the contact (a tombstone?)"
    );
    assert_eq!(
        rows(&snap, "changes").len(),
        1,
        "more than one change was recorded"
    );
    let (_, raw) = rows(&snap, "books")[0];
    let meta: syncmld::store::schema::BookMeta = ciborium::from_reader(raw).unwrap();
    assert_eq!(
        (meta.seq, meta.guid),
        (1, 1),
        "book counters (change sequence, GUIDs): the item was written more than once"
    );
    snap
}

#[test]
fn resent_sync_message_gets_cached_reply_and_is_not_applied_twice() {
    let (mut server, mut client) = start();
    client.start_slow_sync("A1", true);
    let first = send_one_add(&mut client, "luid-1", "Only Once");
    let after_first = live_store_snapshot(server.data_dir());
    assert_eq!(live_items(&after_first, USER).len(), 1);

    // The same bytes to the same session URL, twice.
    for _ in 0..2 {
        resend_expecting_cached(&client, &first.url, &first);
        let now = live_store_snapshot(server.data_dir());
        assert_same_store(&after_first, &now, "resent Sync message");
    }

    // The session goes on from where the first send left it.
    let msg = client.message(None, Vec::new(), true);
    let ex = client.send(&msg);
    ex.expect("SyncHdr", 0, 200);
    assert!(ex.reply.body.final_, "package 6 not final:\n{}", ex.xml());
    let done = live_store_snapshot(server.data_dir());
    let stopped = expect_exactly_one_item(&mut server);
    assert_same_store(&done, &stopped, "live copy vs stopped store");
}

#[test]
fn resent_first_message_gets_cached_reply() {
    let (mut server, mut client) = start();
    let first = client.start_slow_sync("A1", true);
    assert_eq!(
        first.url, client.url,
        "the first message goes to the base URL"
    );
    // Authentication wrote a nonce and the device record.
    let after_first = live_store_snapshot(server.data_dir());

    // Re-POSTed to the base URL (no sessionid), same SessionID and MsgID.
    let again = resend_expecting_cached(&client, &client.url, &first);
    assert_eq!(
        again.reply.header.resp_uri, first.reply.header.resp_uri,
        "the resend must stay in the same session"
    );
    let now = live_store_snapshot(server.data_dir());
    assert_same_store(&after_first, &now, "resent first message");

    // The session continues at the RespURI of the (one) reply.
    send_one_add(&mut client, "luid-1", "First Message Resent");
    let msg = client.message(None, Vec::new(), true);
    client.send(&msg).expect("SyncHdr", 0, 200);
    expect_exactly_one_item(&mut server);
}

#[test]
fn message_id_going_backwards_is_http_400() {
    let (mut server, mut client) = start();
    let pkg1 = client.start_slow_sync("A1", true);
    let url = client.target_url();
    send_one_add(&mut client, "luid-1", "Forward Only");
    let before = live_store_snapshot(server.data_dir());

    // A new Sync with MsgID 1 (lower than the last, 2) to the session URL.
    let mut stale = client.clone();
    stale.next_msg_id = 1;
    let msg = stale.message(
        None,
        vec![sync_cmd(vec![add(AddItem::vcard(
            "luid-2",
            &vcard("Backwards"),
        ))])],
        true,
    );
    let reply = post(&url, Some(SYNCML_XML), &syncmld::wire::xml::encode(&msg));
    assert_eq!(
        reply.status,
        400,
        "MsgID 1 after MsgID 2: HTTP {} (expected 400); body:\n{}",
        reply.status,
        reply.text()
    );
    // The very bytes of message 1, resent to the session URL after
    // message 2: also older than the last message, so also 400.
    let reply = post(&url, Some(SYNCML_XML), &pkg1.request);
    assert_eq!(
        reply.status,
        400,
        "message 1 resent after message 2: HTTP {}; body:\n{}",
        reply.status,
        reply.text()
    );
    let after = live_store_snapshot(server.data_dir());
    assert_same_store(&before, &after, "MsgID going backwards");

    // The session is not disturbed: package 5 completes it.
    let msg = client.message(None, Vec::new(), true);
    let ex = client.send(&msg);
    ex.expect("SyncHdr", 0, 200);
    assert!(ex.reply.body.final_, "package 6 not final:\n{}", ex.xml());
    expect_exactly_one_item(&mut server);
}

#[test]
fn resent_last_message_after_completion_gets_cached_reply() {
    let (mut server, mut client) = start();
    client.start_slow_sync("A1", true);
    send_one_add(&mut client, "luid-1", "Completed");
    let msg = client.message(None, Vec::new(), true);
    let last = client.send(&msg);
    last.expect("SyncHdr", 0, 200);
    let done = live_store_snapshot(server.data_dir());

    // The reply to the last message got lost: the client resends it.
    resend_expecting_cached(&client, &last.url, &last);
    // A new message to the finished session is refused.
    let msg = client.message(None, Vec::new(), true);
    let reply = post(
        &last.url,
        Some(SYNCML_XML),
        &syncmld::wire::xml::encode(&msg),
    );
    assert_eq!(
        reply.status,
        404,
        "new message to a finished session: HTTP {}; body:\n{}",
        reply.status,
        reply.text()
    );
    let now = live_store_snapshot(server.data_dir());
    assert_same_store(&done, &now, "resend after completion");
    let stopped = expect_exactly_one_item(&mut server);
    assert_same_store(&done, &stopped, "live copy vs stopped store");
}

/// Bug: a client that gave up waiting while the daemon processed its
/// message lost its session. Hyper drops the handler's future when the
/// connection closes; the engine's blocking task still committed the
/// message, but the future had already taken the session out of its slot
/// and never put the result back, so the client's resend got HTTP 404
/// "session already finished" instead of the reply (and the sync failed).
/// A message that was received must be processed to the end, and its
/// resend answered from the cache.
#[test]
fn session_lost_when_client_hangs_up_mid_request() {
    let (mut server, mut client) = start();
    client.start_slow_sync("A1", true);
    let body = big_sync_message(&client);
    let url = client.target_url();
    let request = request_bytes(&url, Some(SYNCML_XML), &body, Framing::ContentLength);
    let read_all = send_and_hang_up(&url, &request, std::time::Duration::from_millis(50));
    if !read_all {
        eprintln!("note: could not watch the server read the request (no /proc/net/tcp?)");
    }

    // The client resends the same message to the same session URL.
    let again = client.send_bytes(&url, body);
    again.expect("SyncHdr", 0, 200);
    again.expect("Sync", 1, 200);
    let added = common::syncml::statuses(&again.reply)
        .filter(|s| s.cmd == "Add" && s.data.0 == 201)
        .count();
    assert_eq!(
        added,
        N,
        "Adds answered 201 in the reply:\n{}",
        clip(&again.xml())
    );
    expect_n_items(&mut server);
}

/// Contacts in [`big_sync_message`]: enough that processing takes a while
/// (a few hundred ms in a debug build).
const N: usize = 3000;

/// Package 3 with [`N`] Adds, Final, encoded.
fn big_sync_message(client: &Client) -> Vec<u8> {
    let cards: Vec<(String, String)> = (0..N)
        .map(|i| (format!("luid-{i}"), vcard(&format!("Person {i}"))))
        .collect();
    let ops = cards
        .iter()
        .map(|(luid, card)| add(AddItem::vcard(luid, card)))
        .collect();
    syncmld::wire::xml::encode(&client.message(None, vec![sync_cmd(ops)], true))
}

/// Stop the daemon: the store holds the [`N`] contacts, each once.
fn expect_n_items(server: &mut SyncmldServer) {
    server.stop();
    let snap = store_snapshot(server.data_dir());
    assert_eq!(
        live_items(&snap, USER).len(),
        N,
        "every contact exactly once"
    );
    assert_eq!(rows(&snap, "changes").len(), N, "changes recorded");
}

/// The first 4000 characters, for failure messages about big replies.
fn clip(text: &str) -> String {
    match text.char_indices().nth(4000) {
        Some((i, _)) => format!("{}... [{} bytes in all]", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

/// A resend that arrives while the first copy is still being processed
/// waits for it and gets the same reply; the message is applied once.
#[test]
fn resend_during_processing_gets_the_same_reply() {
    let (mut server, mut client) = start();
    client.start_slow_sync("A1", true);
    let body = big_sync_message(&client);
    let url = client.target_url();
    let first = {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        std::thread::spawn(move || client.send_bytes(&url, body))
    };
    // Give the first copy a head start (either order must work anyway).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = client.send_bytes(&url, body);
    let first = first.join().expect("first send panicked");
    first.expect("SyncHdr", 0, 200);
    if first.http.body != second.http.body {
        panic!(
            "two copies of one message got different replies.\n--- first\n{}\n--- second\n{}",
            clip(&first.xml()),
            clip(&second.xml())
        );
    }
    expect_n_items(&mut server);
}
