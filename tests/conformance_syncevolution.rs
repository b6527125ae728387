//! `syncmld conformance` against SyncEvolution's SyncML server (Debian's
//! syncevolution 2.0 via `shared/peers/syncevo-server.sh`), whose book
//! holds two contacts. The expected verdict of every scenario is pinned
//! here and explained in docs/conformance.md ("Results against
//! SyncEvolution"): a change either way — a new failure, or a failure that
//! went away — fails this test.
//!
//! The run takes a few minutes: SyncEvolution spends about a second on
//! each message that carries changes.

mod common;
mod conformance_support;

use std::time::Duration;

use common::TestDir;
use common::syncevo::{SyncEvoServer, SyncEvoServerOpts};
use common::vcards::{read_book, vcard, write_card};
use conformance_support::{run_conformance, verdicts};
use syncmld::conformance::{DEFAULT_DEVICE_PREFIX, DEVICES};

/// Scenarios SyncEvolution fails (everything else passes; none is skipped).
const EXPECTED_FAILURES: &[&str] = &[
    // 200 for a Delete of an item it never had, not 211 / 404.
    "sync.delete-unknown",
    // HTTP 500 for malformed XML instead of 400.
    "bad.malformed-xml",
    // HTTP 500 ("could not extract LocURI=deviceID") instead of SyncML 513.
    "bad.unsupported-version",
];

#[test]
fn conformance_against_syncevolution_server() {
    if !common::require_syncevolution_server() {
        return;
    }
    let dir = TestDir::new("conformance-sevo");
    let mut opts = SyncEvoServerOpts::new(&dir.join("server"));
    opts.client_device_ids = (1..=DEVICES)
        .map(|n| format!("{DEFAULT_DEVICE_PREFIX}-{n}"))
        .collect();
    write_card(
        &opts.vcf_dir,
        "Dave.vcf",
        &vcard("Dave Dunn", &["EMAIL;TYPE=INTERNET:dave@example.org"]),
    );
    write_card(
        &opts.vcf_dir,
        "Eve.vcf",
        &vcard("Eve Evans", &["TEL;TYPE=CELL:+49 555 0102"]),
    );
    let before = read_book(&opts.vcf_dir);
    let server = SyncEvoServer::start(opts);
    let out = run_conformance(
        &server.url,
        &dir.join("run"),
        &[],
        Duration::from_secs(1800),
    );
    let got = verdicts(&dir.join("run/junit.xml"));
    let mut unexpected = Vec::new();
    for s in syncmld::conformance::list() {
        let want = if EXPECTED_FAILURES.contains(&s.id) {
            "fail"
        } else {
            "pass"
        };
        match got.get(s.id) {
            Some(v) if *v == want => {}
            other => unexpected.push(format!("{}: expected {want}, got {other:?}", s.id)),
        }
    }
    assert!(
        unexpected.is_empty(),
        "SyncEvolution's results changed (update docs/conformance.md and EXPECTED_FAILURES if this is right):\n{}\n\n{}",
        unexpected.join("\n"),
        out.stdout
    );
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(1),
        "exit status with failures"
    );
    // Each failure kept its exchange, and the JUnit report points to it.
    let junit = std::fs::read_to_string(dir.join("run/junit.xml")).unwrap();
    for id in EXPECTED_FAILURES {
        let first = dir.join("run/transcripts").join(id).join("01-client.xml");
        assert!(first.is_file(), "no transcript {}", first.display());
        assert!(junit.contains(&format!(
            "transcript: {}",
            first.parent().unwrap().display()
        )));
    }
    assert!(
        out.stdout.contains("server book: as found (2 contacts"),
        "the run left SyncEvolution's book changed:\n{}",
        out.stdout
    );
    // By content, the server's folder holds what it held before.
    common::vcards::assert_same_books_named(
        &before,
        "before",
        &read_book(&server.opts.vcf_dir),
        "after",
    );
}
