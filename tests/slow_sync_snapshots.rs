//! Another device may change the book between two messages of a session.
//! A slow sync matches incoming cards against snapshots of the book taken
//! on its first card, and those snapshots outlive the message; and any
//! session must still send its client what others changed after the
//! client's items were reconciled. These sessions run the real client and
//! server engines in one process (no HTTP), with a hook between messages.

use std::collections::BTreeMap;

use syncmld::bench::{inproc, vcards};
use syncmld::contacts::{Card, canonical};
use syncmld::engine::Env;
use syncmld::engine::book;
use syncmld::engine::client::{ClientConfig, ClientSession};
use syncmld::engine::server::{ServerConfig, ServerEngine, ServerSession};
use syncmld::protocol::{Command, alert};
use syncmld::store::schema::{self, BookId};
use syncmld::store::{MemoryStore, Store, Txn};
use syncmld::wire::xml;

fn env(n: &mut u64) -> Env {
    *n += 1;
    let mut random = [0u8; 32];
    random[..8].copy_from_slice(&n.to_le_bytes());
    Env {
        now_ms: 1_700_000_000_000 + *n * 1000,
        random,
    }
}

/// The daemon's engine, with messages small enough that a 40-card slow
/// sync takes several.
fn engine() -> ServerEngine {
    let cfg = inproc::server_engine().config().clone();
    ServerEngine::new(ServerConfig {
        max_msg_size: 5_000,
        ..cfg
    })
}

/// An item as sent: (source LUID, data, more data follows in a chunk).
type Sent = (String, String, bool);

/// One whole session; `between(k, items, n)` runs after the server
/// handled the client's `k`-th message with items.
fn session(
    engine: &ServerEngine,
    server: &MemoryStore,
    cfg: &ClientConfig,
    client: &MemoryStore,
    mode: u16,
    n: &mut u64,
    mut between: impl FnMut(usize, &[Sent], &mut u64),
) {
    let sizer = xml::XmlSizer;
    let mut step = ClientSession::start(cfg, mode, &env(n), client, &sizer).unwrap();
    client.commit(&step.batch).unwrap();
    let mut srv: Option<ServerSession> = None;
    let mut item_messages = 0;
    loop {
        if let Some(done) = step.done {
            done.unwrap();
            return;
        }
        let (Some((_, msg)), Some(next)) = (step.send, step.next) else {
            panic!("the client stopped without a result");
        };
        let items: Vec<Sent> = msg
            .body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Sync(s) => Some(&s.commands),
                _ => None,
            })
            .flatten()
            .filter_map(|c| match c {
                Command::Add(c) | Command::Replace(c) => Some(&c.items),
                _ => None,
            })
            .flatten()
            .map(|i| {
                let luid = i.source_uri().unwrap_or("").to_owned();
                (luid, i.text().unwrap_or("").to_owned(), i.more_data)
            })
            .collect();
        let decoded = xml::decode(&xml::encode(&msg)).unwrap();
        let out = engine
            .handle(srv.take(), decoded, &env(n), server, &sizer, inproc::URL)
            .unwrap();
        server.commit(&out.batch).unwrap();
        srv = out.next;
        if !items.is_empty() {
            item_messages += 1;
            between(item_messages, &items, n);
        }
        let reply = xml::decode(&xml::encode(&out.reply)).unwrap();
        step = next.handle(reply, &env(n), client, &sizer).unwrap();
        client.commit(&step.batch).unwrap();
    }
}

/// The live items of a book, as content fingerprints with their counts.
fn contents(store: &dyn Store, book: &BookId) -> BTreeMap<u128, usize> {
    let mut out = BTreeMap::new();
    for (_, rec) in schema::items_page(store, book, "", usize::MAX).unwrap() {
        if !rec.deleted {
            let fp = canonical::fingerprint(&Card::parse(&rec.data).unwrap());
            *out.entry(fp).or_default() += 1;
        }
    }
    out
}

/// Delete every live item of a client's book (local changes).
fn delete_all(store: &MemoryStore, book: &BookId) {
    let mut txn = Txn::new(store);
    for (id, rec) in schema::items_page(store, book, "", usize::MAX).unwrap() {
        if !rec.deleted {
            book::delete(&mut txn, book, &id, &rec, "", 0).unwrap();
        }
    }
    store.commit(&txn.into_batch()).unwrap();
}

/// A server with one user whose book holds `count` generated cards.
fn server_with(seed: u64, count: usize) -> (MemoryStore, Vec<String>) {
    let server = MemoryStore::new();
    inproc::add_user(&server).unwrap();
    let cards = vcards::book(seed, count, None);
    inproc::fill(&server, &inproc::server_book(), &cards).unwrap();
    (server, cards)
}

/// A device whose book holds `cards` (not yet synced).
fn device(name: &str, cards: &[String]) -> (ClientConfig, MemoryStore) {
    let store = MemoryStore::new();
    inproc::fill(&store, &inproc::client_book(), cards).unwrap();
    (inproc::client_config(name), store)
}

fn as_21(cards: &[String]) -> Vec<String> {
    cards
        .iter()
        .map(|c| vcards::as_vcard21(c).unwrap())
        .collect()
}

/// No hook between messages.
fn none(_: usize, _: &[Sent], _: &mut u64) {}

/// Cards as the server took them: whole (a card split into chunks is
/// taken with its last chunk).
#[derive(Default)]
struct WholeCards(BTreeMap<String, String>);

impl WholeCards {
    fn take(&mut self, items: &[Sent]) -> Vec<String> {
        let mut whole = Vec::new();
        for (luid, chunk, more) in items {
            self.0.entry(luid.clone()).or_default().push_str(chunk);
            if !*more {
                whole.extend(self.0.remove(luid));
            }
        }
        whole
    }
}

/// Device B, new, slow-syncs the same 40 people (written as vCard 2.1:
/// each is found by its content fingerprint) in several messages; after
/// the first, device A deletes the whole book. The cards B sends after
/// that must not be matched to the deleted items (they would be mapped
/// to tombstones and lost to everyone else): they come back, once each.
///
/// With `keep_tombstones` a third device that has not synced since keeps
/// the tombstones (B learns of the deletes from the change log);
/// without, they are purged as soon as A's session ends (no change is
/// left behind to say so).
fn deleted_between_messages(keep_tombstones: bool) {
    let engine = engine();
    let (server, cards) = server_with(3, 40);
    let mut n = 0;
    let (a, a_store) = device("dev-a", &[]);
    session(
        &engine,
        &server,
        &a,
        &a_store,
        alert::SLOW_SYNC,
        &mut n,
        none,
    );
    if keep_tombstones {
        let (c, c_store) = device("dev-c", &[]);
        session(
            &engine,
            &server,
            &c,
            &c_store,
            alert::SLOW_SYNC,
            &mut n,
            none,
        );
    }
    let (b, b_store) = device("dev-b", &as_21(&cards));
    let (mut sent_before_delete, mut sent_after_delete) = (0, Vec::new());
    let mut whole = WholeCards::default();
    session(
        &engine,
        &server,
        &b,
        &b_store,
        alert::SLOW_SYNC,
        &mut n,
        |k, items, n| {
            let taken = whole.take(items);
            if k == 1 {
                sent_before_delete += taken.len();
                delete_all(&a_store, &inproc::client_book());
                session(&engine, &server, &a, &a_store, alert::TWO_WAY, n, none);
            } else {
                sent_after_delete.extend(taken);
            }
        },
    );
    assert!(sent_before_delete > 0, "B's slow sync sent no cards");
    assert!(
        !sent_after_delete.is_empty(),
        "B's cards took several messages"
    );
    assert_eq!(sent_before_delete + sent_after_delete.len(), cards.len());

    let on_server = contents(&server, &inproc::server_book());
    assert!(on_server.values().all(|c| *c == 1), "no duplicates");
    for card in &sent_after_delete {
        let fp = canonical::fingerprint(&Card::parse(card).unwrap());
        assert!(on_server.contains_key(&fp), "lost: {card}");
    }
    // What stays of the cards sent before the delete: only one that B's
    // session had changed on the server (a merge), which beats A's delete.
    assert!(
        on_server.len() - sent_after_delete.len() <= 1,
        "{on_server:?}"
    );
    // B's session also deleted what it had matched before A's delete:
    // A's change came after B reconciled those items, so it is newer
    // than B's copy.
    assert_eq!(contents(&b_store, &inproc::client_book()), on_server);
    session(&engine, &server, &a, &a_store, alert::TWO_WAY, &mut n, none);
    assert_eq!(contents(&a_store, &inproc::client_book()), on_server);
}

#[test]
fn regression_items_deleted_between_messages_of_a_slow_sync_are_not_matched() {
    deleted_between_messages(true);
}

#[test]
fn regression_items_purged_between_messages_of_a_slow_sync_are_not_matched() {
    deleted_between_messages(false);
}

/// Give every live item of a client's book one more email (local edits).
fn add_email_to_all(store: &MemoryStore, book: &BookId, tag: &str) {
    let mut txn = Txn::new(store);
    for (id, rec) in schema::items_page(store, book, "", usize::MAX).unwrap() {
        if rec.deleted {
            continue;
        }
        let end = rec.data.rfind("END:VCARD").unwrap();
        let data = format!(
            "{}EMAIL:{tag}-{id}@example.org\r\n{}",
            &rec.data[..end],
            &rec.data[end..]
        );
        let change = book::Change {
            content_type: &rec.content_type,
            data: &data,
            origin: "",
            now_ms: 1,
        };
        book::update(&mut txn, book, &id, Some(&rec), &change).unwrap();
    }
    store.commit(&txn.into_batch()).unwrap();
}

fn full_name(card: &str) -> String {
    Card::parse(card).unwrap().first("FN").unwrap().text()
}

/// Device B, new, slow-syncs the same 40 people (as vCard 2.1) in several
/// messages; after the first, device A edits every card (one more email).
/// The cards B sends after that are no longer the same content as the
/// server's: each must be reconciled with the edited item (same person),
/// not mapped to it as identical because the session's snapshots still
/// hold the content it had before the edit. B then holds the edited
/// version of each of them, and of the cards it sent before the edit.
///
/// With `people_index_first`, B's first message also carries a person
/// the server does not know, so the session builds its people index
/// before the edit (and must bring it up to date); without, the content
/// fingerprints alone are stale.
fn edited_between_messages(people_index_first: bool) {
    let engine = engine();
    let (server, cards) = server_with(4, 40);
    let mut n = 0;
    let (a, a_store) = device("dev-a", &[]);
    session(
        &engine,
        &server,
        &a,
        &a_store,
        alert::SLOW_SYNC,
        &mut n,
        none,
    );

    let stranger = vcards::book(99, 1, None).remove(0);
    let mut b_cards: Vec<String> = Vec::new();
    if people_index_first {
        b_cards.push(stranger.clone());
    }
    b_cards.extend(as_21(&cards));
    let (b, b_store) = device("dev-b", &b_cards);
    let mut stranger_sent_first = false;
    let mut sent_after_edit: Vec<String> = Vec::new();
    let mut whole = WholeCards::default();
    session(
        &engine,
        &server,
        &b,
        &b_store,
        alert::SLOW_SYNC,
        &mut n,
        |k, items, n| {
            let taken = whole.take(items);
            if k == 1 {
                stranger_sent_first = taken.contains(&stranger);
                add_email_to_all(&a_store, &inproc::client_book(), "changed");
                session(&engine, &server, &a, &a_store, alert::TWO_WAY, n, none);
            } else {
                sent_after_edit.extend(taken);
            }
        },
    );
    assert!(
        !sent_after_edit.is_empty(),
        "B's cards took several messages"
    );
    assert_eq!(stranger_sent_first, people_index_first);

    let on_server: BTreeMap<String, String> =
        schema::items_page(&server, &inproc::server_book(), "", usize::MAX)
            .unwrap()
            .into_iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(_, r)| (full_name(&r.data), r.data))
            .collect();
    let expected = cards.len() + usize::from(people_index_first);
    assert_eq!(on_server.len(), expected, "no duplicates, nothing lost");
    let on_b = contents(&b_store, &inproc::client_book());
    for card in &sent_after_edit {
        let edited = &on_server[&full_name(card)];
        assert!(edited.contains("changed-"), "A's edit was kept: {edited}");
        let fp = canonical::fingerprint(&Card::parse(edited).unwrap());
        assert!(on_b.contains_key(&fp), "B did not get A's edit of {card}");
    }
    // The cards B sent before the edit, too: it matched them first, and
    // A's edit is newer.
    assert_eq!(on_b, contents(&server, &inproc::server_book()));
}

#[test]
fn regression_items_edited_between_messages_of_a_slow_sync_are_not_taken_as_identical() {
    edited_between_messages(false);
}

#[test]
fn regression_people_index_follows_edits_between_messages_of_a_slow_sync() {
    edited_between_messages(true);
}

/// A book written before content-index rows carried the content's
/// fingerprint: the first slow sync that needs them computes and stores
/// them, and matches as if they had always been there.
#[test]
fn content_rows_without_fingerprints_are_completed_and_still_match() {
    use syncmld::store::{KeyRange, KvRead, Table};
    let engine = engine();
    let (server, cards) = server_with(5, 40);
    let rows = server
        .scan(Table::ContentIndex, &KeyRange::prefix(&[]), usize::MAX)
        .unwrap();
    assert_eq!(rows.len(), cards.len());
    let mut txn = Txn::new(&server);
    for (k, v) in rows {
        assert_eq!(v.len(), 16, "written with its fingerprint");
        txn.put(Table::ContentIndex, k, Vec::new());
    }
    server.commit(&txn.into_batch()).unwrap();
    let old = schema::content_snapshot(&server, &inproc::server_book()).unwrap();
    assert_eq!(old.unknown.len(), cards.len());

    let (b, b_store) = device("dev-b", &as_21(&cards));
    let mut n = 0;
    session(
        &engine,
        &server,
        &b,
        &b_store,
        alert::SLOW_SYNC,
        &mut n,
        none,
    );
    let on_server = contents(&server, &inproc::server_book());
    assert_eq!(
        on_server.values().sum::<usize>(),
        cards.len(),
        "no duplicates"
    );
    assert_eq!(contents(&b_store, &inproc::client_book()), on_server);
    let now = schema::content_snapshot(&server, &inproc::server_book()).unwrap();
    assert!(now.unknown.is_empty());
    let mut by_fp: Vec<(u128, Vec<String>)> = now.by_fingerprint.into_iter().collect();
    by_fp.sort();
    let mut want: Vec<(u128, Vec<String>)> =
        schema::items_page(&server, &inproc::server_book(), "", usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(g, r)| (syncmld::contacts::content_fingerprint(&r.data), vec![g]))
            .collect();
    want.sort();
    assert_eq!(by_fp, want);
}

/// Two-way: B sends edits of all 40 cards in several messages; after the
/// first, A edits the same cards and syncs. The items B's first message
/// updated were reconciled with B before A's edit, which is newer: B must
/// still get the server's version of them (before, B's session skipped
/// every item it had touched and its synced sequence passed A's change).
#[test]
fn regression_two_way_sends_what_another_device_changed_after_the_client_sent_it() {
    let engine = engine();
    let (server, cards) = server_with(6, 40);
    let mut n = 0;
    let (a, a_store) = device("dev-a", &[]);
    let (b, b_store) = device("dev-b", &[]);
    for (cfg, store) in [(&a, &a_store), (&b, &b_store)] {
        session(&engine, &server, cfg, store, alert::SLOW_SYNC, &mut n, none);
    }
    add_email_to_all(&b_store, &inproc::client_book(), "b-edit");
    let mut messages = 0;
    session(
        &engine,
        &server,
        &b,
        &b_store,
        alert::TWO_WAY,
        &mut n,
        |k, _, n| {
            messages = k;
            if k == 1 {
                add_email_to_all(&a_store, &inproc::client_book(), "a-edit");
                session(&engine, &server, &a, &a_store, alert::TWO_WAY, n, none);
            }
        },
    );
    assert!(messages > 1, "B's edits took several messages");
    let on_server = contents(&server, &inproc::server_book());
    assert_eq!(on_server.values().sum::<usize>(), cards.len());
    assert_eq!(contents(&b_store, &inproc::client_book()), on_server);
    session(&engine, &server, &a, &a_store, alert::TWO_WAY, &mut n, none);
    assert_eq!(contents(&a_store, &inproc::client_book()), on_server);
}
