//! `syncmld bench` (the real binary, over HTTP) against syncmld and against
//! SyncEvolution's server; its figures must agree with an independent count:
//! syncmld's own /metrics, and the wire transcripts SyncEvolution's server
//! writes. Small runs: a few seconds each.

mod common;

use std::path::Path;
use std::time::Duration;

use common::server::{ServerOpts, SyncmldServer};
use common::syncevo::{SyncEvoServer, SyncEvoServerOpts};
use common::vcards::{vcard, write_card};
use common::{TestDir, run_with_timeout};
use serde_json::Value;

/// Run `syncmld bench ARGS --json FILE`; returns the report.
fn bench(dir: &Path, args: &[String]) -> Value {
    let json = dir.join("report.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.arg("bench").args(args).arg("--json").arg(&json);
    let out = run_with_timeout(cmd, None, Duration::from_secs(120));
    println!("{}\n{}", out.stdout, out.stderr);
    assert!(
        out.status.is_some_and(|s| s.success()),
        "syncmld bench failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("no number at {path:?} in {v:#}"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bench_against_syncmld_agrees_with_its_metrics() {
    let server = SyncmldServer::start(ServerOpts::default());
    let socket = server.data_dir().join("admin.sock");
    let pid = server.pid().unwrap().to_string();
    let report = bench(
        server.dir(),
        &args(&[
            "--url",
            &server.url(),
            "--clients",
            "4",
            "--sessions",
            "5",
            "--contacts",
            "20",
            "--changes",
            "2",
            "--users-prefix",
            "load",
            "--users",
            "2",
            "--prepare-admin-socket",
            socket.to_str().unwrap(),
            "--metrics-url",
            &format!("{}/metrics", server.base_url()),
            "--server-pid",
            &pid,
        ]),
    );
    let m = &report["measured"];
    assert_eq!(num(m, &["sessions_ok"]), 20.0, "{report:#}");
    assert_eq!(num(m, &["sessions_failed"]), 0.0);
    assert!(m["errors"].as_object().unwrap().is_empty(), "{report:#}");
    // Both users' books were filled, once each.
    assert_eq!(num(&report, &["prepared_cards"]), 40.0);
    // The warm-up brought the 20 cards to each of the 4 clients.
    assert_eq!(num(&report, &["warmup", "items_received"]), 80.0);
    // Two-way with nothing from the server: 3 round trips each.
    assert_eq!(num(m, &["round_trips"]), 60.0);
    // 2 edits per session went to the server; they come back to the
    // other client of the same user.
    assert_eq!(num(m, &["items_sent"]), 40.0);

    // The server's own count of the measured phase.
    let c = &report["server_counters"];
    assert_eq!(
        num(c, &["messages", "ok"]),
        num(m, &["round_trips"]),
        "{c:#}"
    );
    assert_eq!(num(c, &["messages", "rejected"]), 0.0);
    assert_eq!(num(c, &["sessions", "completed"]), 20.0, "{c:#}");
    assert_eq!(num(c, &["items", "in"]), 40.0);
    assert_eq!(num(c, &["items", "out"]), num(m, &["items_received"]));
    assert!(num(c, &["message_seconds"]) > 0.0);
    assert!(num(&report, &["server", "peak_rss_kib"]) > 0.0);
    for p in ["p50", "p90", "p99"] {
        assert!(num(m, &["session_latency_ms", p]) > 0.0);
    }
}

/// Sum of the sizes of the files named `NN-{side}.xml` below `dir`, and their count.
fn transcript_bytes(dir: &Path, side: &str) -> (u64, u64) {
    let mut total = (0, 0);
    for session in std::fs::read_dir(dir).unwrap().flatten() {
        for f in std::fs::read_dir(session.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(&format!("-{side}.xml")) {
                total.0 += f.metadata().unwrap().len();
                total.1 += 1;
            }
        }
    }
    total
}

#[test]
fn bench_against_syncevolution_agrees_with_its_transcripts() {
    if !common::require_syncevolution_server() {
        return;
    }
    let dir = TestDir::new("bench-syncevo");
    let mut opts = SyncEvoServerOpts::new(&dir.join("server"));
    opts.client_device_ids = vec!["bench-0".into(), "bench-1".into()];
    for name in ["Ann Alder", "Bob Birch", "Cy Cedar"] {
        write_card(&opts.vcf_dir, &format!("{name}.vcf"), &vcard(name, &[]));
    }
    let server = SyncEvoServer::start(opts);
    let report = bench(
        dir.path(),
        &args(&[
            "--url",
            &server.url,
            "--clients",
            "2",
            "--sessions",
            "2",
            "--changes",
            "1",
            "--user",
            "alice",
            "--password",
            "secret",
            "--device-prefix",
            "bench-",
        ]),
    );
    let (w, m) = (&report["warmup"], &report["measured"]);
    assert_eq!(num(w, &["sessions_ok"]), 2.0, "{report:#}");
    assert_eq!(num(m, &["sessions_ok"]), 4.0, "{report:#}");
    assert_eq!(num(w, &["items_received"]), 6.0);
    assert_eq!(num(m, &["items_sent"]), 4.0);
    // Every byte the bench counted is in the server's transcript, and back.
    let (sent, requests) = transcript_bytes(&server.opts.dump_dir, "client");
    let (received, _) = transcript_bytes(&server.opts.dump_dir, "server");
    let rt = num(w, &["round_trips"]) + num(m, &["round_trips"]);
    assert_eq!(requests as f64, rt);
    assert_eq!(
        sent as f64,
        num(w, &["bytes_sent"]) + num(m, &["bytes_sent"])
    );
    assert_eq!(
        received as f64,
        num(w, &["bytes_received"]) + num(m, &["bytes_received"])
    );
}
