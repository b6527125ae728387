//! Interop, client role: `syncmld sync` (the real binary, over HTTP)
//! against SyncEvolution's SyncML server (Debian's syncevolution 2.0, via
//! `shared/peers/syncevo-server.sh`). Each test asserts both address books
//! by content: the server's folder and syncmld's local store.
//!
//! Local edits are written into syncmld's store through the library between
//! runs (what the local API and vdir will do); `syncmld sync` is a one-shot
//! process, so nothing else holds the store then.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::syncevo::{SyncEvoServer, SyncEvoServerOpts};
use common::vcards::{
    Card, assert_same_books_named, card_by_fn, delete_card, edit_card, fns, read_book, vcard,
    write_card,
};
use common::{TestDir, run_with_timeout};
use syncmld::engine::book::{self, Change};
use syncmld::store::schema::{self, BookId};
use syncmld::store::{SledStore, Store, Txn};

const DEVICE: &str = "syncmld-platform";

struct Platform {
    dir: PathBuf,
    config: PathBuf,
}

impl Platform {
    fn new(dir: &Path, url: &str, extra_peer_keys: &str) -> Self {
        let config = dir.join("client.toml");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            &config,
            format!(
                "role = \"client\"\n[storage]\ndata_dir = \"{data}\"\n[log]\nlevel = \"info\"\n[client]\ndevice_id = \"{DEVICE}\"\nhttp_timeout_secs = 30\n\
                 [[peers]]\nname = \"sevo\"\nurl = \"{url}\"\nuser = \"alice\"\npassword = \"secret\"\n{extra_peer_keys}\n\
                 [[peers.books]]\nlocal = \"contacts\"\nremote = \"addressbook\"\n",
                data = dir.join("data").display()
            ),
        )
        .unwrap();
        Platform {
            dir: dir.to_owned(),
            config,
        }
    }

    /// `syncmld sync --config … [--mode M]`; returns stdout.
    fn sync(&self, mode: &str) -> String {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_syncmld"));
        cmd.arg("sync")
            .arg("--config")
            .arg(&self.config)
            .args(["--mode", mode]);
        let out = run_with_timeout(cmd, None, Duration::from_secs(120));
        assert!(
            out.status.map(|s| s.success()).unwrap_or(false),
            "syncmld sync --mode {mode} failed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    fn with_store<T>(&self, f: impl FnOnce(&SledStore, &BookId) -> T) -> T {
        // sled releases its file lock a moment after the last handle is
        // dropped (its flusher thread): retry briefly.
        let mut tries = 0;
        let store = loop {
            match SledStore::open(&self.dir.join("data/store"), 8 << 20) {
                Ok(s) => break s,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("opening the platform's store: {e}"),
            }
        };
        f(
            &store,
            &BookId {
                user: "local".into(),
                store: "contacts".into(),
            },
        )
    }

    fn book(&self) -> Vec<Card> {
        self.with_store(|s, b| {
            schema::items_page(s, b, "", usize::MAX)
                .unwrap()
                .into_iter()
                .filter(|(_, r)| !r.deleted)
                .map(|(_, r)| Card::parse(&r.data))
                .collect()
        })
    }

    fn add(&self, text: &str) {
        self.with_store(|s, b| {
            let mut t = Txn::new(s);
            book::create(
                &mut t,
                b,
                &Change {
                    content_type: "text/vcard",
                    data: text,
                    origin: "",
                    now_ms: 1,
                },
            )
            .unwrap();
            s.commit(&t.into_batch()).unwrap();
        })
    }

    fn edit(&self, fn_value: &str, f: impl Fn(&str) -> String) {
        self.with_store(|s, b| {
            let (id, rec) = find(s, b, fn_value);
            let mut t = Txn::new(s);
            let data = f(&rec.data);
            book::update(
                &mut t,
                b,
                &id,
                Some(&rec),
                &Change {
                    content_type: &rec.content_type,
                    data: &data,
                    origin: "",
                    now_ms: 2,
                },
            )
            .unwrap();
            s.commit(&t.into_batch()).unwrap();
        })
    }

    fn delete(&self, fn_value: &str) {
        self.with_store(|s, b| {
            let (id, rec) = find(s, b, fn_value);
            let mut t = Txn::new(s);
            book::delete(&mut t, b, &id, &rec, "", 3).unwrap();
            s.commit(&t.into_batch()).unwrap();
        })
    }
}

/// The card with every `name` property replaced by one with `value`
/// (SyncEvolution writes empty properties such as `NOTE:`; a second NOTE
/// would be dropped on its side).
fn set_prop(text: &str, name: &str, value: &str) -> String {
    let mut out: Vec<String> = text
        .replace("\r\n ", "")
        .lines()
        .filter(|l| {
            !l.to_ascii_uppercase().starts_with(&format!("{name}:"))
                && !l.eq_ignore_ascii_case("END:VCARD")
        })
        .map(str::to_owned)
        .collect();
    out.push(format!("{name}:{value}"));
    out.push("END:VCARD".into());
    out.join("\r\n") + "\r\n"
}

fn find(s: &SledStore, b: &BookId, fn_value: &str) -> (String, schema::ItemRecord) {
    schema::items_page(s, b, "", usize::MAX)
        .unwrap()
        .into_iter()
        .find(|(_, r)| !r.deleted && Card::parse(&r.data).fn_value() == fn_value)
        .unwrap_or_else(|| panic!("no local card {fn_value}"))
}

fn server(dir: &TestDir, max_msg_size: Option<u32>) -> SyncEvoServer {
    let mut opts = SyncEvoServerOpts::new(&dir.join("server"));
    opts.client_device_ids = vec![DEVICE.into()];
    opts.max_msg_size = max_msg_size;
    write_card(
        &opts.vcf_dir,
        "Dave.vcf",
        &vcard("Dave Dunn", &["EMAIL;TYPE=INTERNET:dave@example.org"]),
    );
    write_card(
        &opts.vcf_dir,
        "Eve.vcf",
        &vcard("Eve Evans", &["EMAIL;TYPE=INTERNET:eve@example.org"]),
    );
    SyncEvoServer::start(opts)
}

fn assert_same(p: &Platform, s: &SyncEvoServer, names: &[&str]) {
    let local = p.book();
    let remote = read_book(&s.opts.vcf_dir);
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut got = fns(&local);
    got.sort();
    assert_eq!(got, want, "syncmld's book");
    assert_same_books_named(&local, "syncmld", &remote, "SyncEvolution server");
}

fn started(dir: &TestDir, max_msg_size: Option<u32>) -> Option<(SyncEvoServer, Platform)> {
    if !common::require_syncevolution_server() {
        return None;
    }
    let s = server(dir, max_msg_size);
    let p = Platform::new(&dir.join("platform"), &s.url, "");
    Some((s, p))
}

#[test]
fn slow_then_two_way_both_directions() {
    let dir = TestDir::new("client-two-way");
    let Some((s, p)) = started(&dir, None) else {
        return;
    };
    p.add(&vcard("Alice Anders", &["TEL;TYPE=CELL:+49-555-0101"]));
    p.add(&vcard("Bob Brown", &["TEL;TYPE=CELL:+49-555-0102"]));
    let out = p.sync("slow");
    assert!(out.contains("contacts slow"), "{out}");
    assert!(out.contains("sent 2 add"), "{out}");
    assert_same(
        &p,
        &s,
        &["Alice Anders", "Bob Brown", "Dave Dunn", "Eve Evans"],
    );

    // Nothing changed: nothing moves.
    let out = p.sync("two-way");
    assert!(
        out.contains(
            "two-way: sent 0 add, 0 replace, 0 delete; received 0 add, 0 replace, 0 delete"
        ),
        "{out}"
    );

    // Changes on both sides.
    p.add(&vcard("Frank Fischer", &["TEL;TYPE=WORK:+49-555-0106"]));
    p.edit("Alice Anders", |t| {
        t.replace("+49-555-0101", "+49-555-1111")
    });
    p.delete("Bob Brown");
    write_card(
        &s.opts.vcf_dir,
        "Grace.vcf",
        &vcard("Grace Green", &["EMAIL;TYPE=INTERNET:grace@example.org"]),
    );
    edit_card(&s.opts.vcf_dir, "Dave Dunn", |t| {
        t.replace("dave@example.org", "dave.dunn@example.com")
    });
    delete_card(&s.opts.vcf_dir, "Eve Evans");
    let out = p.sync("two-way");
    assert!(
        out.contains("sent 1 add, 1 replace, 1 delete; received 1 add, 1 replace, 1 delete"),
        "{out}"
    );
    assert_same(
        &p,
        &s,
        &["Alice Anders", "Dave Dunn", "Frank Fischer", "Grace Green"],
    );
    let local = p.book();
    assert_eq!(
        card_by_fn(&local, "Dave Dunn").unwrap().get("EMAIL"),
        Some("dave.dunn@example.com")
    );
    let remote = read_book(&s.opts.vcf_dir);
    assert_eq!(
        card_by_fn(&remote, "Alice Anders").unwrap().get("TEL"),
        Some("+49-555-1111")
    );
}

#[test]
fn one_way_and_refresh_both_ways() {
    let dir = TestDir::new("client-one-way");
    let Some((s, p)) = started(&dir, None) else {
        return;
    };
    p.add(&vcard("Alice Anders", &[]));
    p.sync("slow");
    // one-way from client: Henry goes up, Irene stays on the server only.
    p.add(&vcard("Henry Hill", &[]));
    write_card(&s.opts.vcf_dir, "Irene.vcf", &vcard("Irene Ito", &[]));
    let out = p.sync("one-way-from-client");
    assert!(
        out.contains("one-way-from-client")
            && out.contains("sent 1 add")
            && out.contains("received 0 add"),
        "{out}"
    );
    assert!(card_by_fn(&read_book(&s.opts.vcf_dir), "Henry Hill").is_some());
    assert!(card_by_fn(&p.book(), "Irene Ito").is_none());
    // one-way from server: Irene comes down, Jack stays local.
    p.add(&vcard("Jack Jones", &[]));
    let out = p.sync("one-way-from-server");
    assert!(
        out.contains("one-way-from-server")
            && out.contains("sent 0 add")
            && out.contains("received 1 add"),
        "{out}"
    );
    assert!(card_by_fn(&read_book(&s.opts.vcf_dir), "Jack Jones").is_none());
    // Jack goes up with the next two-way sync.
    let out = p.sync("two-way");
    assert!(out.contains("sent 1 add"), "{out}");
    let all = [
        "Alice Anders",
        "Dave Dunn",
        "Eve Evans",
        "Henry Hill",
        "Irene Ito",
        "Jack Jones",
    ];
    assert_same(&p, &s, &all);

    // refresh from server: local junk replaced by the server's book.
    p.add(&vcard("Local Junk", &[]));
    let out = p.sync("refresh-from-server");
    assert!(out.contains("refresh-from-server"), "{out}");
    assert_same(&p, &s, &all);
    // refresh from client: the server's book becomes ours.
    p.delete("Dave Dunn");
    write_card(
        &s.opts.vcf_dir,
        "Server-Only.vcf",
        &vcard("Server Only", &[]),
    );
    let out = p.sync("refresh-from-client");
    assert!(out.contains("refresh-from-client"), "{out}");
    assert_same(
        &p,
        &s,
        &[
            "Alice Anders",
            "Eve Evans",
            "Henry Hill",
            "Irene Ito",
            "Jack Jones",
        ],
    );
}

#[test]
fn both_sides_modify_one_contact() {
    let dir = TestDir::new("client-conflict");
    let Some((s, p)) = started(&dir, None) else {
        return;
    };
    p.sync("slow");
    // The server changes TEL, we add a NOTE: SyncEvolution's server merges.
    edit_card(&s.opts.vcf_dir, "Dave Dunn", |t| {
        t.replace("END:VCARD", "TITLE:edited on server\r\nEND:VCARD")
    });
    std::thread::sleep(Duration::from_millis(1100));
    p.edit("Dave Dunn", |t| {
        set_prop(t, "NOTE", "edited on the platform")
    });
    p.sync("two-way");
    p.sync("two-way");
    let local = p.book();
    let dave = card_by_fn(&local, "Dave Dunn").unwrap();
    assert_eq!(
        dave.get("NOTE"),
        Some("edited on the platform"),
        "our edit survived: {dave}"
    );
    assert_eq!(
        dave.get("TITLE"),
        Some("edited on server"),
        "the server's edit survived: {dave}"
    );
    assert_same(&p, &s, &["Dave Dunn", "Eve Evans"]);
}

#[test]
fn multi_message_with_a_large_contact_and_md5() {
    let dir = TestDir::new("client-multi");
    let Some((s, p)) = started(&dir, Some(10_240)) else {
        return;
    };
    let p = {
        drop(p);
        Platform::new(&dir.join("platform"), &s.url, "max_msg_size = 10240")
    };
    for i in 1..=12 {
        p.add(&vcard(
            &format!("Platform Bulk {i:02}"),
            &[&format!("NOTE:{}", "p".repeat(300))],
        ));
        write_card(
            &s.opts.vcf_dir,
            &format!("s{i:02}.vcf"),
            &vcard(
                &format!("Server Bulk {i:02}"),
                &[&format!("NOTE:{}", "s".repeat(300))],
            ),
        );
    }
    p.add(&vcard(
        "Big Platform",
        &[&format!("NOTE:{}", "x".repeat(15_000))],
    ));
    write_card(
        &s.opts.vcf_dir,
        "big.vcf",
        &vcard("Big Server", &[&format!("NOTE:{}", "y".repeat(15_000))]),
    );
    let out = p.sync("slow");
    let messages: u32 = out
        .trim()
        .rsplit("; ")
        .find_map(|p| {
            p.strip_suffix(" messages")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0);
    assert!(messages > 4, "split into several messages: {out}");
    let local = p.book();
    assert_eq!(local.len(), 28);
    assert_eq!(
        card_by_fn(&local, "Big Server")
            .unwrap()
            .get("NOTE")
            .map(str::len),
        Some(15_000)
    );
    let remote = read_book(&s.opts.vcf_dir);
    assert_eq!(
        card_by_fn(&remote, "Big Platform")
            .unwrap()
            .get("NOTE")
            .map(str::len),
        Some(15_000)
    );
    assert_same_books_named(&local, "syncmld", &remote, "SyncEvolution server");
    // The md5 nonce from this session is used in the next one (no retry).
    let out = p.sync("two-way");
    assert!(out.contains("received 0 add"), "{out}");
    let dumps = std::fs::read_dir(&s.opts.dump_dir).unwrap().count();
    assert!(dumps >= 2, "sessions recorded: {dumps}");
}
