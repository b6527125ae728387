//! `syncmld conformance` (the binary, over HTTP) against `syncmld serve`
//! (the binary): every scenario passes, the JUnit report says so, and the
//! run is quick.

mod common;
mod conformance_support;

use std::time::Duration;

use common::TestDir;
use common::server::{ServerOpts, SyncmldServer};
use conformance_support::{run_conformance, verdicts};

#[test]
fn conformance_passes_against_syncmld_serve() {
    let mut opts = ServerOpts::default().user("alice", "secret");
    // Debug logging of ~600 messages would only slow the daemon down.
    opts.env.push(("RUST_LOG".into(), "info".into()));
    let server = SyncmldServer::start(opts);
    let dir = TestDir::new("conformance-syncmld");
    let out = run_conformance(&server.url(), dir.path(), &[], Duration::from_secs(300));
    assert_eq!(
        out.status.and_then(|s| s.code()),
        Some(0),
        "syncmld conformance failed against syncmld serve:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let got = verdicts(&dir.join("junit.xml"));
    let ids: Vec<&str> = syncmld::conformance::list().iter().map(|s| s.id).collect();
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut v = ids.clone();
            v.sort();
            v
        },
        "the JUnit report lists every scenario once"
    );
    let not_passed: Vec<_> = got.iter().filter(|(_, v)| **v != "pass").collect();
    assert!(not_passed.is_empty(), "not passed: {not_passed:?}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"failures="0""#) && junit.contains(r#"skipped="0""#));
    assert!(
        out.stdout.contains("server book: as found"),
        "the run left the server's book changed:\n{}",
        out.stdout
    );
    println!("conformance run took {:.1} s", out.duration.as_secs_f64());
}

#[test]
fn list_only_and_failure_exit_status() {
    // --list needs no server.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(["conformance", "--list"]);
    let out = common::run_with_timeout(cmd, None, Duration::from_secs(30));
    assert_eq!(out.status.and_then(|s| s.code()), Some(0));
    for s in syncmld::conformance::list() {
        assert!(out.stdout.contains(s.id), "--list lacks {}", s.id);
    }
    // A wrong password: the run cannot start, non-zero exit, no panic.
    let server = SyncmldServer::start(ServerOpts::default().user("alice", "other"));
    let dir = TestDir::new("conformance-refused");
    let out = run_conformance(
        &server.url(),
        dir.path(),
        &["--only", "auth"],
        Duration::from_secs(60),
    );
    assert_eq!(out.status.and_then(|s| s.code()), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("authentication failed"),
        "{}",
        out.stderr
    );
}
