//! Interop: the unmodified SyncEvolution client (Debian's syncevolution 2.0)
//! against the real syncmld binary on loopback. Every test asserts the
//! resulting address book on both sides, compared by content.
//!
//! The server's side is read from its store (the daemon is stopped for
//! that: sled is single-process) and restarted when the test goes on.

mod common;

use std::path::Path;

use common::TestDir;
use common::server::{ServerOpts, SyncmldServer};
use common::syncevo::{Auth, ClientOpts, Mode, Side, SyncEvoClient, SyncOutcome};
use common::vcards::{
    Card, assert_same_books_named, card_by_fn, delete_card, edit_card, fns, read_book, vcard,
    write_card,
};
use syncmld::store::SledStore;
use syncmld::store::schema::{self, BookId};

const USER: &str = "alice";
const PASSWORD: &str = "secret";

fn start(dir: &TestDir, extra_config: &str) -> SyncmldServer {
    let _ = dir;
    SyncmldServer::start(
        ServerOpts::default()
            .user(USER, PASSWORD)
            .config(extra_config),
    )
}

/// The server's address book, read from its store (the server is stopped
/// and restarted around the read).
fn server_book(server: &mut SyncmldServer) -> Vec<Card> {
    server.stop();
    let cards = {
        let store = SledStore::open(&server.data_dir().join("store"), 8 << 20).expect("open store");
        let book = BookId {
            user: USER.into(),
            store: "contacts".into(),
        };
        schema::items_page(&store, &book, "", usize::MAX)
            .expect("read items")
            .into_iter()
            .filter(|(_, rec)| !rec.deleted)
            .map(|(_, rec)| Card::parse(&rec.data))
            .collect()
    };
    server.restart();
    cards
}

fn client(dir: &TestDir, name: &str, device: &str) -> SyncEvoClient {
    SyncEvoClient::new(&dir.join(name), device)
}

fn sync(c: &SyncEvoClient, server: &SyncmldServer, mode: Mode) -> SyncOutcome {
    sync_with(c, server, mode, &ClientOpts::default())
}

fn sync_with(
    c: &SyncEvoClient,
    server: &SyncmldServer,
    mode: Mode,
    opts: &ClientOpts,
) -> SyncOutcome {
    let out = c.sync(&server.url(), USER, PASSWORD, mode, opts);
    if out.exit_code != 0 {
        eprintln!("--- server log ---\n{}", common::tail(&server.log(), 60));
    }
    out.assert_ok();
    out
}

fn add(c: &SyncEvoClient, file: &str, fn_value: &str, extra: &[&str]) {
    write_card(&c.vcf_dir, file, &vcard(fn_value, extra));
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// All three books equal by content, and the names as expected.
fn assert_converged(server: &mut SyncmldServer, clients: &[&SyncEvoClient], names: &[&str]) {
    let srv = server_book(server);
    let want = sorted(names.iter().map(|s| s.to_string()).collect());
    assert_eq!(sorted(fns(&srv)), want, "server book");
    for c in clients {
        let book = read_book(&c.vcf_dir);
        assert_same_books_named(&book, &c.device_id, &srv, "server");
    }
}

#[test]
fn first_slow_sync_with_data_on_both_sides() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("slow-both");
    let mut server = start(&dir, "");
    // Data already on the server, from another device.
    let seed = client(&dir, "seed", "seed-device");
    add(
        &seed,
        "Dave.vcf",
        "Dave Dunn",
        &["EMAIL;TYPE=INTERNET:dave@example.org"],
    );
    add(
        &seed,
        "Eve.vcf",
        "Eve Evans",
        &["EMAIL;TYPE=INTERNET:eve@example.org"],
    );
    sync(&seed, &server, Mode::Slow);

    let c = client(&dir, "c1", "syncevo-client");
    add(
        &c,
        "Alice.vcf",
        "Alice Anders",
        &["TEL;TYPE=CELL:+49-555-0101"],
    );
    add(&c, "Bob.vcf", "Bob Brown", &["TEL;TYPE=CELL:+49-555-0102"]);
    add(
        &c,
        "Carol.vcf",
        "Carol Clark",
        &["TEL;TYPE=CELL:+49-555-0103"],
    );
    let out = sync(&c, &server, Mode::Slow);
    let t = out.transcript();
    assert_eq!(
        t.alert_codes(Side::Server),
        vec![201],
        "server alerts slow sync"
    );
    assert_eq!(
        t.status_codes_for(Side::Server, "Add")
            .iter()
            .filter(|s| **s == 201)
            .count(),
        3
    );

    assert_converged(
        &mut server,
        &[&c],
        &[
            "Alice Anders",
            "Bob Brown",
            "Carol Clark",
            "Dave Dunn",
            "Eve Evans",
        ],
    );
    // A second slow sync of the same data creates no duplicates anywhere.
    sync(&c, &server, Mode::Slow);
    assert_converged(
        &mut server,
        &[&c],
        &[
            "Alice Anders",
            "Bob Brown",
            "Carol Clark",
            "Dave Dunn",
            "Eve Evans",
        ],
    );
}

/// Two devices of one user, both slow-synced with a common start set.
fn two_devices(dir: &TestDir, server: &SyncmldServer) -> (SyncEvoClient, SyncEvoClient) {
    let c1 = client(dir, "c1", "syncevo-client");
    add(
        &c1,
        "Alice.vcf",
        "Alice Anders",
        &["TEL;TYPE=CELL:+49-555-0101"],
    );
    add(&c1, "Bob.vcf", "Bob Brown", &["TEL;TYPE=CELL:+49-555-0102"]);
    add(
        &c1,
        "Carol.vcf",
        "Carol Clark",
        &["TEL;TYPE=CELL:+49-555-0103"],
    );
    add(
        &c1,
        "Dave.vcf",
        "Dave Dunn",
        &["EMAIL;TYPE=INTERNET:dave@example.org"],
    );
    add(
        &c1,
        "Eve.vcf",
        "Eve Evans",
        &["EMAIL;TYPE=INTERNET:eve@example.org"],
    );
    sync(&c1, server, Mode::Slow);
    let c2 = client(dir, "c2", "syncevo-client-2");
    sync(&c2, server, Mode::Slow);
    assert_eq!(
        read_book(&c2.vcf_dir).len(),
        5,
        "second device got everything"
    );
    (c1, c2)
}

#[test]
fn two_way_with_add_modify_delete_on_both_sides_and_a_second_device() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("two-way");
    let mut server = start(&dir, "");
    let (c1, c2) = two_devices(&dir, &server);

    // Nothing changed: a two-way sync moves nothing.
    let out = sync(&c1, &server, Mode::TwoWay);
    assert_eq!(out.transcript().alert_codes(Side::Server), vec![200]);
    assert_eq!(out.transcript().count_elements(Side::Server, "Add"), 0);

    // Client side: +Frank, Alice's TEL changed, -Bob.
    add(
        &c1,
        "Frank.vcf",
        "Frank Fischer",
        &["TEL;TYPE=WORK:+49-555-0106"],
    );
    edit_card(&c1.vcf_dir, "Alice Anders", |t| {
        t.replace("+49-555-0101", "+49-555-1111")
    });
    delete_card(&c1.vcf_dir, "Bob Brown");
    // "Server" side (the other device): +Grace, Dave's EMAIL changed, -Eve.
    add(
        &c2,
        "Grace.vcf",
        "Grace Green",
        &["EMAIL;TYPE=INTERNET:grace@example.org"],
    );
    edit_card(&c2.vcf_dir, "Dave Dunn", |t| {
        t.replace("dave@example.org", "dave.dunn@example.com")
    });
    delete_card(&c2.vcf_dir, "Eve Evans");

    sync(&c2, &server, Mode::TwoWay);
    let out = sync(&c1, &server, Mode::TwoWay);
    let t = out.transcript();
    // c1 got exactly c2's three changes, and none of its own back.
    assert_eq!(t.count_elements(Side::Server, "Add"), 1, "{}", t.summary());
    assert_eq!(
        t.count_elements(Side::Server, "Replace"),
        1,
        "{}",
        t.summary()
    );
    assert_eq!(
        t.count_elements(Side::Server, "Delete"),
        1,
        "{}",
        t.summary()
    );
    sync(&c2, &server, Mode::TwoWay);

    let names = [
        "Alice Anders",
        "Carol Clark",
        "Dave Dunn",
        "Frank Fischer",
        "Grace Green",
    ];
    assert_converged(&mut server, &[&c1, &c2], &names);
    let srv = server_book(&mut server);
    assert_eq!(
        card_by_fn(&srv, "Alice Anders").unwrap().get("TEL"),
        Some("+49-555-1111")
    );
    assert_eq!(
        card_by_fn(&srv, "Dave Dunn").unwrap().get("EMAIL"),
        Some("dave.dunn@example.com")
    );
}

#[test]
fn two_devices_adding_the_same_person_between_syncs_get_one_contact() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("same-person-twice");
    let mut server = start(&dir, "");
    let (c1, c2) = two_devices(&dir, &server);
    // The user enters Heidi on both devices, the phone written two ways;
    // the second device also has her email.
    add(
        &c1,
        "Heidi.vcf",
        "Heidi Hill",
        &["TEL;TYPE=CELL:+49-555-0108"],
    );
    add(
        &c2,
        "Heidi.vcf",
        "Heidi Hill",
        &[
            "TEL;TYPE=CELL:+49 555 0108",
            "EMAIL;TYPE=INTERNET:heidi@example.org",
        ],
    );
    sync(&c1, &server, Mode::TwoWay);
    let out = sync(&c2, &server, Mode::TwoWay);
    let t = out.transcript();
    assert_eq!(
        t.count_elements(Side::Server, "Add"),
        0,
        "no copy of Heidi for device 2: {}",
        t.summary()
    );
    sync(&c1, &server, Mode::TwoWay);
    let names = [
        "Alice Anders",
        "Bob Brown",
        "Carol Clark",
        "Dave Dunn",
        "Eve Evans",
        "Heidi Hill",
    ];
    assert_converged(&mut server, &[&c1, &c2], &names);
    let srv = server_book(&mut server);
    assert_eq!(
        card_by_fn(&srv, "Heidi Hill").unwrap().get("EMAIL"),
        Some("heidi@example.org"),
        "both devices' fields kept"
    );
}

#[test]
fn both_sides_modify_one_contact_server_wins() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("conflict");
    let mut server = start(&dir, "[contacts]\nconflict_policy = \"server-wins\"\n");
    let (c1, c2) = two_devices(&dir, &server);
    edit_card(&c2.vcf_dir, "Carol Clark", |t| {
        t.replace("+49-555-0103", "+49-555-3333")
    });
    sync(&c2, &server, Mode::TwoWay);
    edit_card(&c1.vcf_dir, "Carol Clark", |t| {
        t.replace("+49-555-0103", "+49-555-2222")
    });
    let out = sync(&c1, &server, Mode::TwoWay);
    let t = out.transcript();
    assert!(
        t.status_codes_for(Side::Server, "Replace").contains(&419),
        "{}",
        t.summary()
    );
    assert_eq!(
        t.count_elements(Side::Server, "Replace"),
        1,
        "the server's version is sent back"
    );
    sync(&c2, &server, Mode::TwoWay);
    assert_converged(
        &mut server,
        &[&c1, &c2],
        &[
            "Alice Anders",
            "Bob Brown",
            "Carol Clark",
            "Dave Dunn",
            "Eve Evans",
        ],
    );
    let srv = server_book(&mut server);
    assert_eq!(
        card_by_fn(&srv, "Carol Clark").unwrap().get("TEL"),
        Some("+49-555-3333")
    );
}

#[test]
fn both_sides_modify_one_contact_duplicate_policy() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("conflict-dup");
    let mut server = start(&dir, "[contacts]\nconflict_policy = \"duplicate\"\n");
    let (c1, c2) = two_devices(&dir, &server);
    edit_card(&c2.vcf_dir, "Carol Clark", |t| {
        t.replace("+49-555-0103", "+49-555-3333")
    });
    sync(&c2, &server, Mode::TwoWay);
    edit_card(&c1.vcf_dir, "Carol Clark", |t| {
        t.replace("+49-555-0103", "+49-555-2222")
    });
    let out = sync(&c1, &server, Mode::TwoWay);
    assert!(
        out.transcript()
            .status_codes_for(Side::Server, "Replace")
            .contains(&209)
    );
    sync(&c2, &server, Mode::TwoWay);
    let srv = server_book(&mut server);
    let mut tels: Vec<&str> = srv
        .iter()
        .filter(|c| c.fn_value() == "Carol Clark")
        .filter_map(|c| c.get("TEL"))
        .collect();
    tels.sort();
    assert_eq!(
        tels,
        vec!["+49-555-2222", "+49-555-3333"],
        "both versions kept"
    );
    for c in [&c1, &c2] {
        assert_same_books_named(&read_book(&c.vcf_dir), &c.device_id, &srv, "server");
    }
}

#[test]
fn modify_versus_delete_keeps_the_modification() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("modify-delete");
    let mut server = start(&dir, "");
    let (c1, c2) = two_devices(&dir, &server);
    delete_card(&c2.vcf_dir, "Eve Evans");
    sync(&c2, &server, Mode::TwoWay);
    edit_card(&c1.vcf_dir, "Eve Evans", |t| {
        t.replace("eve@example.org", "eve@example.net")
    });
    let out = sync(&c1, &server, Mode::TwoWay);
    let t = out.transcript();
    assert!(
        t.status_codes_for(Side::Server, "Replace").contains(&201),
        "re-created: {}",
        t.summary()
    );
    assert_eq!(t.count_elements(Side::Server, "Delete"), 0);
    sync(&c2, &server, Mode::TwoWay);
    assert_converged(
        &mut server,
        &[&c1, &c2],
        &[
            "Alice Anders",
            "Bob Brown",
            "Carol Clark",
            "Dave Dunn",
            "Eve Evans",
        ],
    );
    let srv = server_book(&mut server);
    assert_eq!(
        card_by_fn(&srv, "Eve Evans").unwrap().get("EMAIL"),
        Some("eve@example.net")
    );
}

#[test]
fn one_way_syncs_move_one_direction_only() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("one-way");
    let mut server = start(&dir, "");
    let (c1, c2) = two_devices(&dir, &server);
    add(
        &c1,
        "Henry.vcf",
        "Henry Hill",
        &["TEL;TYPE=HOME:+49-555-0108"],
    );
    add(
        &c2,
        "Irene.vcf",
        "Irene Ito",
        &["EMAIL;TYPE=INTERNET:irene@example.org"],
    );
    sync(&c2, &server, Mode::TwoWay);

    // One-way from client: Henry goes up, Irene does not come down.
    let out = sync(&c1, &server, Mode::OneWayFromClient);
    assert_eq!(out.transcript().alert_codes(Side::Server), vec![202]);
    assert!(card_by_fn(&read_book(&c1.vcf_dir), "Irene Ito").is_none());
    let srv = server_book(&mut server);
    assert!(card_by_fn(&srv, "Henry Hill").is_some());

    // One-way from server: Irene comes down, a new local card stays local.
    add(
        &c1,
        "Jack.vcf",
        "Jack Jones",
        &["EMAIL;TYPE=INTERNET:jack@example.org"],
    );
    let out = sync(&c1, &server, Mode::OneWayFromServer);
    assert_eq!(out.transcript().alert_codes(Side::Server), vec![204]);
    assert!(card_by_fn(&read_book(&c1.vcf_dir), "Irene Ito").is_some());
    let srv = server_book(&mut server);
    assert!(card_by_fn(&srv, "Jack Jones").is_none());

    // A two-way sync afterwards brings everything together.
    sync(&c1, &server, Mode::TwoWay);
    sync(&c2, &server, Mode::TwoWay);
    assert_converged(
        &mut server,
        &[&c1, &c2],
        &[
            "Alice Anders",
            "Bob Brown",
            "Carol Clark",
            "Dave Dunn",
            "Eve Evans",
            "Henry Hill",
            "Irene Ito",
            "Jack Jones",
        ],
    );
}

#[test]
fn refresh_from_client_and_from_server() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("refresh");
    let mut server = start(&dir, "");
    let (c1, c2) = two_devices(&dir, &server);

    // Refresh from client: the server's book becomes c1's.
    delete_card(&c1.vcf_dir, "Bob Brown");
    add(&c1, "Henry.vcf", "Henry Hill", &[]);
    let out = sync(&c1, &server, Mode::RefreshFromClient);
    assert_eq!(out.transcript().alert_codes(Side::Server), vec![203]);
    let names = [
        "Alice Anders",
        "Carol Clark",
        "Dave Dunn",
        "Eve Evans",
        "Henry Hill",
    ];
    assert_converged(&mut server, &[&c1], &names);
    // The other device follows with an ordinary two-way sync.
    sync(&c2, &server, Mode::TwoWay);
    assert_converged(&mut server, &[&c1, &c2], &names);

    // Refresh from server: c2's local junk is replaced by the server's book.
    add(&c2, "Junk.vcf", "Local Junk", &[]);
    delete_card(&c2.vcf_dir, "Alice Anders");
    let out = sync(&c2, &server, Mode::RefreshFromServer);
    assert_eq!(out.transcript().alert_codes(Side::Server), vec![205]);
    assert_converged(&mut server, &[&c1, &c2], &names);
}

#[test]
fn wrong_password_is_refused_and_changes_nothing() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("wrong-password");
    let mut server = start(&dir, "");
    let c1 = client(&dir, "c1", "syncevo-client");
    add(&c1, "Alice.vcf", "Alice Anders", &[]);
    sync(&c1, &server, Mode::Slow);
    let before = server_book(&mut server);

    let intruder = client(&dir, "intruder", "syncevo-client");
    add(&intruder, "Mallory.vcf", "Mallory", &[]);
    let out = intruder.sync(
        &server.url(),
        USER,
        "wrong",
        Mode::Slow,
        &ClientOpts::default(),
    );
    out.assert_failed();
    let t = out.transcript();
    assert!(t.count_status(Side::Server, 401) >= 1, "{}", t.summary());
    assert!(
        t.from(Side::Server).all(|m| !m.xml.contains("RespURI")),
        "no session for a failed login"
    );
    assert_eq!(server_book(&mut server), before);
    // The rightful client still syncs.
    sync(&c1, &server, Mode::TwoWay);
}

#[test]
fn server_state_lost_gives_508_and_a_slow_sync_without_duplicates() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("state-lost");
    let mut server = start(&dir, "");
    let c1 = client(&dir, "c1", "syncevo-client");
    add(
        &c1,
        "Alice.vcf",
        "Alice Anders",
        &["TEL;TYPE=CELL:+49-555-0101"],
    );
    add(&c1, "Bob.vcf", "Bob Brown", &[]);
    sync(&c1, &server, Mode::Slow);
    sync(&c1, &server, Mode::TwoWay);

    // The server loses everything (a new, empty data directory).
    server.stop();
    std::fs::remove_dir_all(server.data_dir().join("store")).unwrap();
    server.restart();

    let out = sync(&c1, &server, Mode::TwoWay);
    let t = out.transcript();
    assert_eq!(t.count_status(Side::Server, 508), 1, "{}", t.summary());
    assert_eq!(t.alert_codes(Side::Server), vec![201]);
    assert_converged(&mut server, &[&c1], &["Alice Anders", "Bob Brown"]);

    // Only the anchors lost (the maps kept): still no duplicates.
    sync(&c1, &server, Mode::TwoWay);
    sync(&c1, &server, Mode::Slow);
    assert_converged(&mut server, &[&c1], &["Alice Anders", "Bob Brown"]);
}

#[test]
fn small_max_msg_size_splits_messages_and_large_contacts() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("multi-message");
    // Both sides announce 10 KiB: each splits what it sends to fit the other.
    let mut server = start(&dir, "[server]\nmax_msg_size = 10240\n");
    let opts = ClientOpts {
        max_msg_size: Some(10240),
        ..ClientOpts::default()
    };
    let big_note = "x".repeat(15_000);
    let c1 = client(&dir, "c1", "syncevo-client");
    for i in 1..=12 {
        let pad = "c".repeat(300);
        add(
            &c1,
            &format!("bulk-c{i:02}.vcf"),
            &format!("Client Bulk {i:02}"),
            &[&format!("NOTE:padding {pad}")],
        );
    }
    add(
        &c1,
        "big-client.vcf",
        "Big Client",
        &[&format!("NOTE:{big_note}")],
    );
    let out = sync_with(&c1, &server, Mode::Slow, &opts);
    let t = out.transcript();
    assert!(
        t.count_status(Side::Server, 213) >= 1,
        "server acknowledged chunks: {}",
        t.summary()
    );

    let c2 = client(&dir, "c2", "syncevo-client-2");
    for i in 1..=12 {
        let pad = "s".repeat(300);
        add(
            &c2,
            &format!("bulk-s{i:02}.vcf"),
            &format!("Server Bulk {i:02}"),
            &[&format!("NOTE:padding {pad}")],
        );
    }
    add(
        &c2,
        "big-server.vcf",
        "Big Server",
        &[&format!("NOTE:{}", "y".repeat(15_000))],
    );
    sync(&c2, &server, Mode::Slow);

    // c1 now receives c2's 13 cards, one of them 15 KB, in 10 KiB messages.
    let out = sync_with(&c1, &server, Mode::TwoWay, &opts);
    let t = out.transcript();
    assert!(
        t.count_elements(Side::Server, "MoreData") >= 1,
        "server sent chunks: {}",
        t.summary()
    );
    assert!(
        t.count_status(Side::Client, 213) >= 1,
        "client acknowledged chunks"
    );
    for m in t.from(Side::Server) {
        assert!(
            m.xml.len() <= 10240,
            "server message {} is {} bytes",
            m.seq,
            m.xml.len()
        );
    }
    sync(&c2, &server, Mode::TwoWay);
    let srv = server_book(&mut server);
    assert_eq!(srv.len(), 26);
    assert_eq!(
        card_by_fn(&srv, "Big Server")
            .unwrap()
            .get("NOTE")
            .map(str::len),
        Some(15_000)
    );
    assert_eq!(
        card_by_fn(&srv, "Big Client")
            .unwrap()
            .get("NOTE")
            .map(str::len),
        Some(15_000)
    );
    for c in [&c1, &c2] {
        assert_same_books_named(&read_book(&c.vcf_dir), &c.device_id, &srv, "server");
    }
}

#[test]
fn basic_and_md5_auth() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("auth");
    let mut server = start(&dir, "");
    // basic
    let c1 = client(&dir, "c1", "basic-client");
    add(&c1, "Alice.vcf", "Alice Anders", &[]);
    let out = sync_with(
        &c1,
        &server,
        Mode::Slow,
        &ClientOpts {
            auth: Auth::Basic,
            ..ClientOpts::default()
        },
    );
    let t = out.transcript();
    assert!(
        t.from(Side::Client)
            .any(|m| m.xml.contains("syncml:auth-basic")),
        "{}",
        t.summary()
    );
    assert_eq!(
        t.status_codes_for(Side::Server, "SyncHdr").first(),
        Some(&212)
    );
    // md5: first contact is challenged once (no nonce yet), then accepted;
    // the next session uses the stored nonce directly.
    let c2 = client(&dir, "c2", "md5-client");
    let out = sync(&c2, &server, Mode::Slow);
    let t = out.transcript();
    assert!(
        t.from(Side::Client)
            .any(|m| m.xml.contains("syncml:auth-md5"))
    );
    assert_eq!(
        t.status_codes_for(Side::Server, "SyncHdr").first(),
        Some(&401)
    );
    assert!(t.status_codes_for(Side::Server, "SyncHdr").contains(&212));
    let out = sync(&c2, &server, Mode::TwoWay);
    assert_eq!(
        out.transcript()
            .status_codes_for(Side::Server, "SyncHdr")
            .first(),
        Some(&212)
    );
    assert_converged(&mut server, &[&c1, &c2], &["Alice Anders"]);
}

/// The card with its NOTE (SyncEvolution keeps one) replaced by `note`.
fn replace_note(text: &str, note: &str) -> String {
    let unfolded = text.replace("\r\n ", "").replace("\n ", "");
    let mut out: Vec<String> = unfolded
        .lines()
        .filter(|l| !l.to_ascii_uppercase().starts_with("NOTE"))
        .filter(|l| !l.eq_ignore_ascii_case("END:VCARD"))
        .map(str::to_owned)
        .collect();
    out.push(format!("NOTE:{note}"));
    out.push("END:VCARD".into());
    out.join("\r\n") + "\r\n"
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn thousand_contacts_slow_sync_then_two_way_with_changes() {
    if !common::require_syncevolution_client() {
        return;
    }
    let data = common::shared_dir().join("data/contacts-1k");
    assert!(data.is_dir(), "missing {}", data.display());
    let dir = TestDir::new("contacts-1k");
    let mut server = start(&dir, "");
    let c1 = client(&dir, "c1", "syncevo-client");
    copy_dir(&data, &c1.vcf_dir);
    sync(&c1, &server, Mode::Slow);
    let srv = server_book(&mut server);
    assert_eq!(srv.len(), 1000);

    // A second device gets all 1,000 as the server renders them.
    let c2 = client(&dir, "c2", "syncevo-client-2");
    sync(&c2, &server, Mode::Slow);
    assert_same_books_named(&read_book(&c2.vcf_dir), "c2", &srv, "server");

    // Changes on c2: 10 edits, 5 deletes, 3 adds; c1 two-way picks them up.
    let book2 = read_book(&c2.vcf_dir);
    let names = fns(&book2);
    for n in names.iter().take(10) {
        edit_card(&c2.vcf_dir, n, |t| replace_note(t, "edited on device 2"));
    }
    for n in names.iter().skip(10).take(5) {
        delete_card(&c2.vcf_dir, n);
    }
    for i in 0..3 {
        add(
            &c2,
            &format!("new{i}.vcf"),
            &format!("Newcomer {i}"),
            &["TEL:+1-555-000"],
        );
    }
    sync(&c2, &server, Mode::TwoWay);
    let out = sync(&c1, &server, Mode::TwoWay);
    let t = out.transcript();
    assert_eq!(
        t.count_elements(Side::Server, "Replace"),
        10,
        "{}",
        t.summary()
    );
    assert_eq!(t.count_elements(Side::Server, "Delete"), 5);
    assert_eq!(t.count_elements(Side::Server, "Add"), 3);
    let srv = server_book(&mut server);
    assert_eq!(srv.len(), 998);
    assert_same_books_named(&read_book(&c2.vcf_dir), "c2", &srv, "server");
    let c1_book = read_book(&c1.vcf_dir);
    assert_eq!(sorted(fns(&c1_book)), sorted(fns(&srv)));
    assert_eq!(
        c1_book
            .iter()
            .filter(|c| c.get("NOTE") == Some("edited on device 2"))
            .count(),
        10
    );
}

/// Both devices change Carol; the second to sync meets the conflict.
fn conflict_under(
    policy: &str,
    server_edit: &str,
    client_edit: &str,
) -> (
    TestDir,
    SyncmldServer,
    SyncEvoClient,
    SyncEvoClient,
    SyncOutcome,
) {
    let dir = TestDir::new(&format!("conflict-{policy}"));
    let server = start(
        &dir,
        &format!("[contacts]\nconflict_policy = \"{policy}\"\n"),
    );
    let (c1, c2) = two_devices(&dir, &server);
    let (se, ce) = (server_edit.to_owned(), client_edit.to_owned());
    edit_card(&c2.vcf_dir, "Carol Clark", move |t| {
        t.replace("TEL;TYPE=CELL:+49-555-0103", &se)
    });
    sync(&c2, &server, Mode::TwoWay);
    edit_card(&c1.vcf_dir, "Carol Clark", move |t| {
        t.replace("TEL;TYPE=CELL:+49-555-0103", &ce)
    });
    let out = sync(&c1, &server, Mode::TwoWay);
    sync(&c2, &server, Mode::TwoWay);
    (dir, server, c1, c2, out)
}

fn carols(book: &[Card]) -> Vec<&Card> {
    book.iter()
        .filter(|c| c.fn_value() == "Carol Clark")
        .collect()
}

#[test]
fn both_sides_modify_one_contact_merge_policy_keeps_both_edits() {
    if !common::require_syncevolution_client() {
        return;
    }
    let (_dir, mut server, c1, c2, out) = conflict_under(
        "merge",
        "TEL;TYPE=CELL:+49-555-3333\r\nTITLE:edited on device 2",
        "TEL;TYPE=CELL:+49-555-2222\r\nNOTE:edited on device 1",
    );
    let t = out.transcript();
    assert!(
        t.status_codes_for(Side::Server, "Replace").contains(&207),
        "{}",
        t.summary()
    );
    let srv = server_book(&mut server);
    let merged = carols(&srv);
    assert_eq!(merged.len(), 1, "merged, not duplicated");
    let mut tels = merged[0].all("TEL");
    tels.sort();
    assert_eq!(
        tels,
        vec!["+49-555-2222", "+49-555-3333"],
        "phones united: {}",
        merged[0]
    );
    assert_eq!(merged[0].get("TITLE"), Some("edited on device 2"));
    assert_eq!(merged[0].get("NOTE"), Some("edited on device 1"));
    for c in [&c1, &c2] {
        assert_same_books_named(&read_book(&c.vcf_dir), &c.device_id, &srv, "server");
    }
    // The conflict was recorded: `syncmld conflicts list|show`.
    let list = cli(&server, &["conflicts", "list"]);
    assert!(
        list.contains("merged (merge)")
            && list.contains("Carol Clark")
            && list.contains("syncevo-client"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap().to_owned();
    let shown = cli(&server, &["conflicts", "show", &id]);
    assert!(
        shown.contains("--- server version ---") && shown.contains("+49-555-3333"),
        "{shown}"
    );
    assert!(
        shown.contains("--- client version ---") && shown.contains("+49-555-2222"),
        "{shown}"
    );
}

#[test]
fn both_sides_modify_one_contact_client_wins_and_newer_wins() {
    if !common::require_syncevolution_client() {
        return;
    }
    let (_dir, mut server, c1, c2, out) = conflict_under(
        "client-wins",
        "TEL;TYPE=CELL:+49-555-3333",
        "TEL;TYPE=CELL:+49-555-2222",
    );
    assert!(
        out.transcript()
            .status_codes_for(Side::Server, "Replace")
            .contains(&208)
    );
    let srv = server_book(&mut server);
    assert_eq!(carols(&srv).len(), 1);
    assert_eq!(carols(&srv)[0].get("TEL"), Some("+49-555-2222"));
    for c in [&c1, &c2] {
        assert_same_books_named(&read_book(&c.vcf_dir), &c.device_id, &srv, "server");
    }
    // newer-wins: the server's edit carries the later REV.
    let (_dir, mut server, c1, c2, out) = conflict_under(
        "newer-wins",
        "TEL;TYPE=CELL:+49-555-3333\r\nREV:20261001T120000Z",
        "TEL;TYPE=CELL:+49-555-2222\r\nREV:20260101T120000Z",
    );
    let t = out.transcript();
    assert!(
        t.status_codes_for(Side::Server, "Replace").contains(&419),
        "{}",
        t.summary()
    );
    let srv = server_book(&mut server);
    assert_eq!(carols(&srv).len(), 1);
    assert_eq!(carols(&srv)[0].get("TEL"), Some("+49-555-3333"));
    for c in [&c1, &c2] {
        assert_same_books_named(&read_book(&c.vcf_dir), &c.device_id, &srv, "server");
    }
}

/// `syncmld CMD…` against the (stopped or running) test server's store.
fn cli(server: &SyncmldServer, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(server.data_dir())
        .arg("--config")
        .arg(server.config_path())
        .env_remove("RUNTIME_DIRECTORY");
    let out = common::run_with_timeout(cmd, None, std::time::Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "syncmld {args:?}: {}\n{}",
        out.stdout,
        out.stderr
    );
    out.stdout
}
