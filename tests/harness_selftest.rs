//! Proves the interop harness in `tests/common` works: vCard normalisation and
//! book comparison, transcript queries, the syncmld process wrapper (against a
//! stand-in binary), and a real SyncEvolution client ↔ SyncEvolution server
//! exchange driven through it.

mod common;

use std::path::Path;

use common::TestDir;
use common::server::{ServerOpts, SyncmldServer};
use common::syncevo::{
    ClientOpts, Element, Mode, Side, SyncEvoClient, SyncEvoServer, SyncEvoServerOpts, Transcript,
};
use common::vcards::{
    Card, assert_same_books, assert_same_books_named, book_diff, card_by_fn, delete_card,
    edit_card, fns, read_book, vcard, write_card,
};

// ---------------------------------------------------------------------------
// Card normalisation

#[test]
fn card_unfolds_lines_crlf_and_lf() {
    let folded = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alice Anders\r\nNOTE:a long\r\n  note\r\n\t across lines\r\nEND:VCARD\r\n";
    let plain = "BEGIN:VCARD\nFN:Alice Anders\nNOTE:a long note across lines\nEND:VCARD\n";
    let lf_folded = "BEGIN:VCARD\nFN:Alice Anders\nNOTE:a long no\n te across lines\nEND:VCARD\n";
    assert_eq!(Card::parse(folded), Card::parse(plain));
    assert_eq!(Card::parse(lf_folded), Card::parse(plain));
    assert_eq!(
        Card::parse(folded).get("note"),
        Some("a long note across lines")
    );
}

#[test]
fn card_drops_noise_and_empty_props() {
    let ours = vcard("Dave Dunn", &["EMAIL;TYPE=INTERNET:dave@example.org"]);
    // As SyncEvolution's file backend writes it after a sync.
    let theirs = "BEGIN:VCARD\nVERSION:3.0\nPRODID:-//Synthesis AG//NONSGML SyncML Engine V3.4.0.47//EN\n\
        REV:20100328T103410Z\nUID:1234\nN:Dunn;Dave;;;\nFN:Dave Dunn\nX-EVOLUTION-FILE-AS:\nX-GENDER:\n\
        NICKNAME:\nTITLE:\nORG:;;;\nROLE:\nTEL:\nEMAIL;TYPE=INTERNET:dave@example.org\nURL:\n\
        X-MOZILLA-HTML:\nADR:;;;;;;\nBDAY:\nNOTE:\nPHOTO:\nGEO:;\nEND:VCARD\n";
    let (a, b) = (Card::parse(&ours), Card::parse(theirs));
    assert_eq!(a, b, "\n{a}\nvs\n{b}");
    let names: Vec<&str> = b.props.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["EMAIL", "FN", "N"]);
    assert_eq!(b.get("N"), Some("Dunn;Dave"));
}

#[test]
fn card_normalises_params_names_and_escapes() {
    let a = Card::parse(
        "BEGIN:VCARD\nFN:X\ntel;type=work;TYPE=voice;X-A=1:+1\nNOTE:a\\, b\\Nc\nEND:VCARD\n",
    );
    let b = Card::parse(
        "BEGIN:VCARD\nFN:X\nitem1.TEL;X-A=1;TYPE=VOICE,WORK:+1\nNOTE:a, b\\nc\nEND:VCARD\n",
    );
    assert_eq!(a, b, "\n{a}\nvs\n{b}");
    // vCard 2.1 bare types and quoted-printable with a soft line break.
    let c = Card::parse(
        "BEGIN:VCARD\nVERSION:2.1\nFN:X\nTEL;WORK;VOICE:+1\nNOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:a, =\nb=0Ac\n\
         END:VCARD\n",
    );
    assert_eq!(c.get("TEL"), Some("+1"));
    assert_eq!(c.get("NOTE"), Some("a, b\nc"));
    // Comma escapes stay significant in list properties.
    let d = Card::parse("BEGIN:VCARD\nFN:X\nCATEGORIES:a\\,b,c\nEND:VCARD\n");
    assert_eq!(d.get("CATEGORIES"), Some("a\\,b,c"));
    // Values are case-sensitive; different data stays different.
    assert_ne!(
        Card::parse("BEGIN:VCARD\nFN:X\nNOTE:Hi\nEND:VCARD\n"),
        Card::parse("BEGIN:VCARD\nFN:X\nNOTE:hi\nEND:VCARD\n")
    );
}

#[test]
fn same_books_compares_as_multisets() {
    let alice = Card::parse(&vcard("Alice Anders", &["TEL:1"]));
    let bob = Card::parse(&vcard("Bob Brown", &[]));
    assert_same_books(&[alice.clone(), bob.clone()], &[bob.clone(), alice.clone()]);
    // A duplicate on one side is a difference.
    let twice = [alice.clone(), alice.clone()];
    assert!(book_diff(&twice, "a", &twice[..1], "b").is_some());
}

#[test]
#[should_panic(expected = "address books differ")]
fn same_books_fails_on_a_real_difference() {
    let a = [Card::parse(&vcard("Alice Anders", &["TEL:1"]))];
    let b = [Card::parse(&vcard("Alice Anders", &["TEL:2"]))];
    assert_same_books(&a, &b);
}

#[test]
fn book_diff_is_readable() {
    let a = [
        Card::parse(&vcard("Alice Anders", &["TEL:1"])),
        Card::parse(&vcard("Carol Clark", &[])),
    ];
    let b = [
        Card::parse(&vcard("Alice Anders", &["TEL:2"])),
        Card::parse(&vcard("Bob Brown", &[])),
    ];
    let diff = book_diff(&a, "client", &b, "server").unwrap();
    assert!(diff.contains("differs: FN=\"Alice Anders\""), "{diff}");
    assert!(diff.contains("- TEL:1   (only client)"), "{diff}");
    assert!(diff.contains("+ TEL:2   (only server)"), "{diff}");
    assert!(
        diff.contains("only in client: FN=\"Carol Clark\""),
        "{diff}"
    );
    assert!(diff.contains("only in server: FN=\"Bob Brown\""), "{diff}");
}

#[test]
fn folder_helpers_read_write_edit_delete() {
    let dir = TestDir::new("folder");
    let book = dir.join("book");
    write_card(&book, "Alice.vcf", &vcard("Alice Anders", &["TEL:1"]));
    write_card(&book, "1", &vcard("Bob Brown", &[]));
    write_card(&book, ".hidden", "not a card");
    assert_eq!(fns(&read_book(&book)), ["Alice Anders", "Bob Brown"]);

    let path = edit_card(&book, "Alice Anders", |t| t.replace("TEL:1", "TEL:9"));
    assert!(path.ends_with("Alice.vcf"));
    assert_eq!(
        card_by_fn(&read_book(&book), "Alice Anders")
            .unwrap()
            .get("TEL"),
        Some("9")
    );

    delete_card(&book, "Bob Brown");
    let after = read_book(&book);
    assert!(card_by_fn(&after, "Bob Brown").is_none());
    assert_eq!(after.len(), 1);
}

// ---------------------------------------------------------------------------
// Transcript queries

#[test]
fn element_tree_reads_status_codes_and_cdata() {
    let xml = "<?xml version=\"1.0\"?><SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><MsgID>1</MsgID></SyncHdr>\
        <SyncBody><Status><CmdID>1</CmdID><Cmd>Alert</Cmd><Data>508</Data><Item><Data><Anchor xmlns='syncml:metinf'>\
        <Next>x</Next></Anchor></Data></Item></Status><Alert><Data>201</Data></Alert>\
        <Add><Item><Data><![CDATA[BEGIN:VCARD\r\nFN:A &amp; B\r\nEND:VCARD]]></Data></Item></Add>\
        <Status><Cmd>Add</Cmd><Data>201</Data><SourceRef>a&amp;b</SourceRef></Status><Final/></SyncBody></SyncML>";
    let doc = Element::parse(xml).unwrap();
    assert_eq!(doc.name, "SyncML");
    assert_eq!(doc.at(&["SyncHdr", "MsgID"]).unwrap().text, "1");
    let statuses = doc.descendants("Status");
    assert_eq!(statuses[0].child_text("Data").as_deref(), Some("508"));
    assert_eq!(statuses[1].child_text("SourceRef").as_deref(), Some("a&b"));
    let card = &doc.descendants("Add")[0]
        .at(&["Item", "Data"])
        .unwrap()
        .text;
    assert!(card.contains("FN:A &amp; B\r\n"), "{card:?}");
    assert_eq!(doc.descendants("Final").len(), 1);
}

#[test]
fn transcript_finds_508_in_a_recorded_session() {
    let dir = common::peers_dir().join("transcripts/12-server-lost-anchors");
    if !dir.is_dir() {
        assert!(!common::in_ci(), "{} missing", dir.display());
        println!("SKIP: {} not found (set SYNCMLD_SHARED)", dir.display());
        return;
    }
    let t = Transcript::new(&dir);
    assert_eq!(t.messages.len(), 8);
    assert_eq!(t.messages[0].from, Side::Client);
    assert!(t.count_status(Side::Server, 508) > 0, "{}", t.summary());
    assert_eq!(t.status_codes_for(Side::Server, "SyncHdr")[..2], [401, 212]);
    assert!(t.status_codes_for(Side::Server, "Alert").contains(&508));
    assert!(
        t.alert_codes(Side::Server).contains(&201),
        "{}",
        t.summary()
    );
    assert!(!t.grep("NextNonce").is_empty());
}

// ---------------------------------------------------------------------------
// The syncmld process wrapper, against a stand-in that follows the CLI contract

#[test]
fn syncmld_wrapper_lifecycle_with_a_stand_in() {
    if !common::require_tool("/usr/bin/python3") {
        println!("SKIP: /usr/bin/python3 not installed");
        return;
    }
    // Committed with its exec bit: writing it at run time could hit ETXTBSY
    // when another test thread forks while the file is open for writing.
    let bin = common::manifest_dir().join("tests/common/fake-syncmld");

    let opts = ServerOpts {
        binary: bin,
        ..ServerOpts::default()
            .config("[server]\nmax_msg_size = 65536")
            .user("alice", "se\"cret")
    };
    let mut srv = SyncmldServer::prepare(opts);
    srv.add_user("bob", "hunter2");
    srv.launch();
    assert!(srv.url().starts_with("http://127.0.0.1:") && srv.url().ends_with("/sync"));
    let seen = std::fs::read_to_string(srv.data_dir().join("seen.toml")).unwrap();
    assert!(seen.contains("[server]\nmax_msg_size = 65536"), "{seen}");
    assert!(
        seen.contains("[[users]]\nname = \"alice\"\npassword = \"se\\\"cret\""),
        "{seen}"
    );
    let users = std::fs::read_to_string(srv.data_dir().join("users.txt")).unwrap();
    assert_eq!(users, "bob:hunter2\n");

    srv.restart();
    assert!(srv.is_running());
    assert!(srv.stop().is_some());
    assert!(!srv.is_running());
    srv.add_user("carol", "pw");
    srv.launch();
    let runs = std::fs::read_to_string(srv.data_dir().join("runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 3, "{runs}");
    assert_eq!(
        srv.log().matches("fake syncmld listening").count(),
        3,
        "{}",
        srv.log()
    );
}

// ---------------------------------------------------------------------------
// SyncEvolution client ↔ SyncEvolution server through the harness

#[test]
fn syncevolution_client_and_server_converge() {
    if !common::require_syncevolution_client() || !common::require_syncevolution_server() {
        return;
    }
    let started = std::time::Instant::now();
    let dir = TestDir::new("selftest");
    let server_opts = SyncEvoServerOpts::new(&dir.join("server"));
    write_card(
        &server_opts.vcf_dir,
        "Dave.vcf",
        &vcard("Dave Dunn", &["EMAIL;TYPE=INTERNET:dave@example.org"]),
    );
    let server = SyncEvoServer::start(server_opts);
    let server_vcf = server.opts.vcf_dir.clone();

    let client = SyncEvoClient::new(&dir.join("client"), "syncevo-client");
    write_card(
        &client.vcf_dir,
        "Alice.vcf",
        &vcard("Alice Anders", &["TEL;TYPE=CELL:+49-555-0101"]),
    );
    write_card(
        &client.vcf_dir,
        "Bob.vcf",
        &vcard(
            "Bob Brown",
            &[
                "TEL;TYPE=CELL:+49-555-0102",
                "NOTE:likes commas\\, and long lines",
            ],
        ),
    );

    // 1. Slow sync: everything meets everything.
    let out = client.sync(
        &server.url,
        "alice",
        "secret",
        Mode::Slow,
        &ClientOpts::default(),
    );
    out.assert_ok();
    let t = out.transcript();
    assert_eq!(t.messages.len(), 6, "{}", t.summary());
    assert_eq!(t.alert_codes(Side::Client), [201], "{}", t.summary());
    assert_eq!(
        t.status_codes_for(Side::Server, "SyncHdr")[0],
        212,
        "{}",
        t.summary()
    );
    assert_eq!(
        t.status_codes_for(Side::Server, "Add"),
        [201, 201],
        "{}",
        t.summary()
    );
    assert_eq!(t.count_elements(Side::Server, "Add"), 1, "{}", t.summary());
    assert_books_equal(&client.vcf_dir, &server_vcf);
    assert_eq!(
        fns(&read_book(&client.vcf_dir)),
        ["Alice Anders", "Bob Brown", "Dave Dunn"]
    );

    // 2. A client-side edit travels in a two-way sync.
    edit_card(&client.vcf_dir, "Alice Anders", |text| {
        text.replace("+49-555-0101", "+49-555-1111")
    });
    let out = client.sync(
        &server.url,
        "alice",
        "secret",
        Mode::TwoWay,
        &ClientOpts::default(),
    );
    out.assert_ok();
    let t = out.transcript();
    assert_eq!(t.alert_codes(Side::Client), [200], "{}", t.summary());
    assert_eq!(
        t.count_elements(Side::Client, "Replace"),
        1,
        "{}",
        t.summary()
    );
    assert_eq!(
        t.status_codes_for(Side::Server, "Replace"),
        [200],
        "{}",
        t.summary()
    );
    assert_books_equal(&client.vcf_dir, &server_vcf);
    let server_book = read_book(&server_vcf);
    assert_eq!(
        card_by_fn(&server_book, "Alice Anders").unwrap().get("TEL"),
        Some("+49-555-1111")
    );

    // 3. A wrong password fails the run, and the transcript shows why.
    let out = client.sync(
        &server.url,
        "alice",
        "wrong",
        Mode::TwoWay,
        &ClientOpts::default(),
    );
    out.assert_failed();
    let t = out.transcript();
    assert!(t.count_status(Side::Server, 401) > 0, "{}", t.summary());
    assert_books_equal(&client.vcf_dir, &server_vcf);

    // The server-side capture saw the sessions too.
    assert!(server.session_transcripts().len() >= 3);
    drop(server);
    println!(
        "self-test wall time {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn assert_books_equal(client: &Path, server: &Path) {
    assert_same_books_named(&read_book(client), "client", &read_book(server), "server");
}
