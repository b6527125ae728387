//! Running syncmld like a service: the systemd notify protocol, the unit
//! files, `check-config`, the admin socket against a running and a stopped
//! daemon, import/export of 1,000 contacts, `/metrics` after real syncs and
//! SIGTERM in the middle of a sync.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::server::{ServerOpts, SyncmldServer};
use common::syncevo::{Mode, SyncEvoClient};
use common::vcards::{vcard, write_card};
use common::{RunOutput, TestDir, run_with_timeout};
use syncmld::auth;
use syncmld::protocol::{
    Alert, Anchor, Command as SyncCommand, Cred, Item, ItemCommand, ItemData, Loc, Meta, SyncBody,
    SyncHdr, SyncMl, alert, auth_type,
};
use syncmld::store::schema::{self, BookId, PeerId};
use syncmld::store::{Batch, KeyRange, KvRead, SledStore, Store, Table, Txn};
use syncmld::wire::xml;

const USER: &str = "alice";
const PASSWORD: &str = "secret";

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_syncmld"))
}

/// `syncmld ARGS --data-dir D --config C` against the server's files.
fn cli(server: &SyncmldServer, args: &[&str], stdin: Option<&str>) -> RunOutput {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .arg("--data-dir")
        .arg(server.data_dir())
        .arg("--config")
        .arg(server.config_path())
        .env_remove("RUNTIME_DIRECTORY");
    run_with_timeout(cmd, stdin.map(str::as_bytes), Duration::from_secs(120))
}

fn cli_ok(server: &SyncmldServer, args: &[&str], stdin: Option<&str>) -> String {
    let out = cli(server, args, stdin);
    assert!(
        out.status.is_some_and(|s| s.success()),
        "syncmld {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn server() -> SyncmldServer {
    SyncmldServer::start(ServerOpts::default().user(USER, PASSWORD))
}

// ---- systemd ---------------------------------------------------------------

/// Collects datagrams from a NOTIFY_SOCKET.
struct NotifySocket {
    path: PathBuf,
    rx: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        NotifySocket {
            path,
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait for a datagram with the line `line`; panics after `timeout`.
    fn expect(&mut self, line: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => {
                    self.seen.push(msg.clone());
                    if msg.lines().any(|l| l == line) {
                        return msg;
                    }
                }
                Err(_) => panic!("no {line} within {timeout:?}; seen {:?}", self.seen),
            }
        }
    }
}

#[test]
fn notify_protocol_ready_watchdog_reload_stopping() {
    let dir = TestDir::new("notify");
    let mut notify = NotifySocket::bind(dir.path());
    let mut server = SyncmldServer::start(
        ServerOpts {
            env: vec![
                ("NOTIFY_SOCKET".into(), notify.path.display().to_string()),
                ("WATCHDOG_USEC".into(), "200000".into()),
            ],
            ..ServerOpts::default()
        }
        .user(USER, PASSWORD),
    );
    let ready = notify.expect("READY=1", Duration::from_secs(10));
    assert!(ready.contains("STATUS=serving on "), "{ready:?}");
    // Pings at half of WATCHDOG_USEC: several within a second.
    for _ in 0..3 {
        notify.expect("WATCHDOG=1", Duration::from_secs(2));
    }
    // SIGHUP: RELOADING=1, then READY=1 again; the daemon keeps serving.
    common::signal_pid(server.pid().unwrap(), libc::SIGHUP);
    notify.expect("RELOADING=1", Duration::from_secs(5));
    notify.expect("READY=1", Duration::from_secs(5));
    assert!(server.is_running());
    let status = server.stop().unwrap();
    notify.expect("STOPPING=1", Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    assert!(server.log().contains("configuration reloaded"));
}

#[test]
fn reload_applies_the_log_level() {
    let mut server = SyncmldServer::start(
        ServerOpts {
            // Without RUST_LOG the configured level decides.
            env: vec![("RUST_LOG".into(), String::new())],
            ..ServerOpts::default()
        }
        .user(USER, PASSWORD)
        .config("[log]\nlevel = \"warn\""),
    );
    // No info lines at warn.
    assert!(
        !server.log().contains("syncmld serving"),
        "{}",
        server.log()
    );
    let cfg = std::fs::read_to_string(server.config_path())
        .unwrap()
        .replace("level = \"warn\"", "level = \"info\"");
    std::fs::write(server.config_path(), cfg).unwrap();
    common::signal_pid(server.pid().unwrap(), libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("configuration reloaded") {
        assert!(Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.stop().and_then(|s| s.code()), Some(0));
}

/// The unit files with ExecStart pointing at the binary under test.
fn units_for_test(dir: &Path) -> Vec<PathBuf> {
    let repo = common::manifest_dir();
    let mut out = Vec::new();
    for (file, as_name) in [
        ("syncmld.service", "syncmld.service"),
        ("syncmld@.service", "syncmld@test.service"),
    ] {
        let text = std::fs::read_to_string(repo.join("systemd").join(file)).unwrap();
        let text = text.replace("/usr/bin/syncmld", &binary().display().to_string());
        let path = dir.join(as_name);
        std::fs::write(&path, text).unwrap();
        out.push(path);
    }
    out
}

#[test]
fn unit_files_pass_systemd_analyze() {
    if !common::require_tool("systemd-analyze") {
        println!("SKIP: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let dir = TestDir::new("units");
    for unit in units_for_test(dir.path()) {
        let mut verify = Command::new("systemd-analyze");
        verify.arg("verify").arg(&unit).current_dir(dir.path());
        let out = run_with_timeout(verify, None, Duration::from_secs(60));
        assert!(
            out.status.is_some_and(|s| s.success()) && out.stderr.trim().is_empty(),
            "systemd-analyze verify {}:\n{}{}",
            unit.display(),
            out.stdout,
            out.stderr
        );
        let mut security = Command::new("systemd-analyze");
        security
            .args(["security", "--offline=true", "--threshold=20"])
            .arg(&unit)
            .current_dir(dir.path());
        let out = run_with_timeout(security, None, Duration::from_secs(60));
        let overall = out
            .stdout
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")
            })
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no exposure level:\n{}{}", out.stdout, out.stderr));
        assert!(
            overall <= 2.0,
            "{}: exposure {overall} > 2.0\n{}",
            unit.display(),
            out.stdout
        );
        assert!(out.status.is_some_and(|s| s.success()), "{}", out.stderr);
        let text = std::fs::read_to_string(&unit).unwrap();
        for line in [
            "Type=notify",
            "WatchdogSec=",
            "ExecReload=",
            "DynamicUser=yes",
            "StateDirectory=",
            "RuntimeDirectory=",
        ] {
            assert!(text.contains(line), "{}: no {line}", unit.display());
        }
    }
}

// ---- configuration ---------------------------------------------------------

#[test]
fn check_config_reports_typos_values_and_missing_files() {
    let dir = TestDir::new("check-config");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:9\"\nmax_sesions = 3\n\n[log]\nlevl = \"info\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(binary());
        cmd.args(args).env_remove("RUNTIME_DIRECTORY");
        run_with_timeout(cmd, None, Duration::from_secs(30))
    };
    let out = run(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(1), "{out:?}");
    let b = bad.display();
    assert!(
        out.stdout.contains(&format!(
            "{b}:3: unknown key `server.max_sesions`; did you mean `server.max_sessions`?"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "{b}:6: unknown key `log.levl`; did you mean `log.level`?"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("2 problems"), "{}", out.stderr);

    std::fs::write(&bad, "[server]\n# comment\nmax_msg_size = 0\n").unwrap();
    let out = run(&["check-config", "--config", bad.to_str().unwrap()]);
    assert!(
        out.stdout.contains(&format!(
            "{b}:3: invalid `server.max_msg_size` = 0: must be positive"
        )),
        "{}",
        out.stdout
    );

    let missing = dir.join("missing.toml");
    let out = run(&["check-config", "--config", missing.to_str().unwrap()]);
    assert!(
        out.stdout
            .contains("missing.toml: configuration file not found"),
        "{}",
        out.stdout
    );

    let good = dir.join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9\"\n").unwrap();
    let out = run(&["check-config", "--config", good.to_str().unwrap()]);
    assert_eq!(out.status.and_then(|s| s.code()), Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("configuration OK: listen 127.0.0.1:9/sync")
    );
}

// ---- admin -------------------------------------------------------------------

#[test]
fn admin_commands_work_the_same_with_and_without_a_daemon() {
    let mut server = server();
    let socket = server.data_dir().join("admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    // Running: every command goes through the socket.
    assert_eq!(
        cli_ok(&server, &["user", "add", "bob"], Some("pw\n")),
        "user bob added\n"
    );
    cli_ok(&server, &["device", "add", "bob", "IMEI:1"], None);
    cli_ok(&server, &["device", "add", "bob", "IMEI:2"], None);
    cli_ok(
        &server,
        &["device", "secret", "bob", "IMEI:2"],
        Some("shh\n"),
    );
    cli_ok(&server, &["user", "passwd", "bob"], Some("pw2\n"));
    let running: Vec<String> = [
        vec!["user", "list"],
        vec!["device", "list", "bob"],
        vec!["stats"],
        vec!["conflicts"],
    ]
    .iter()
    .map(|a| cli_ok(&server, a, None))
    .collect();
    assert_eq!(running[0], "alice\nbob\n");
    assert_eq!(
        running[1],
        "IMEI:1\tregistered\nIMEI:2\tregistered, has secret\n"
    );
    assert!(
        running[2].starts_with("users\t2\ndevices\t2\ncontacts\t0\n"),
        "{}",
        running[2]
    );
    let out = cli(&server, &["user", "add", "bob"], Some("x\n"));
    assert_eq!(out.status.and_then(|s| s.code()), Some(1));
    assert!(
        out.stderr.contains("user 'bob' already exists"),
        "{}",
        out.stderr
    );
    assert!(server.log().contains("admin command done"));
    // The password change took: bob's digest is the new one (read below).

    // Stopped: the same commands open the store, with the same output.
    server.stop();
    assert!(!socket.exists(), "socket removed at shutdown");
    let stopped: Vec<String> = [
        vec!["user", "list"],
        vec!["device", "list", "bob"],
        vec!["stats"],
        vec!["conflicts"],
    ]
    .iter()
    .map(|a| cli_ok(&server, a, None))
    .collect();
    for (r, s) in running.iter().zip(&stopped) {
        if r.starts_with("users\t") {
            // store_size_bytes differs by what the stop flushed.
            let strip = |t: &str| -> String {
                t.lines()
                    .filter(|l| !l.starts_with("store_size_bytes"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(r), strip(s));
        } else {
            assert_eq!(r, s);
        }
    }
    {
        let store = SledStore::open(&server.data_dir().join("store"), 8 << 20).unwrap();
        let bob = schema::user(&store, "bob").unwrap().unwrap();
        assert_eq!(bob.md5_userpass, auth::userpass_digest("bob", "pw2"));
    }
    assert_eq!(
        cli_ok(&server, &["device", "remove", "bob", "IMEI:1"], None),
        "device IMEI:1 of bob removed\n"
    );
    assert_eq!(
        cli_ok(&server, &["device", "list", "bob"], None),
        "IMEI:2\tregistered, has secret\n"
    );
    // Back up: removal through the socket.
    server.launch();
    assert_eq!(
        cli_ok(&server, &["user", "remove", "bob"], None),
        "user bob removed with all their data\n"
    );
    assert_eq!(cli_ok(&server, &["user", "list"], None), "alice\n");
    server.stop();
}

// ---- import / export -------------------------------------------------------

fn contacts_1k() -> Option<PathBuf> {
    let dir = common::shared_dir().join("data/contacts-1k");
    if dir.is_dir() {
        return Some(dir);
    }
    if common::in_ci() {
        panic!("{} not found (set SYNCMLD_SHARED)", dir.display());
    }
    println!("SKIP: {} not found", dir.display());
    None
}

/// The canonical contents of a user's live contacts, sorted.
fn book_contents(data_dir: &Path, user: &str) -> Vec<Vec<String>> {
    let store = SledStore::open(&data_dir.join("store"), 8 << 20).unwrap();
    let book = BookId {
        user: user.into(),
        store: "contacts".into(),
    };
    let mut v: Vec<Vec<String>> = schema::items_page(&store, &book, "", usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| !r.deleted)
        .map(|(_, r)| syncmld::contacts::canonical_lines(&r.data))
        .collect();
    v.sort();
    v
}

#[test]
fn import_twice_gives_1000_and_export_import_round_trips() {
    let Some(data) = contacts_1k() else { return };
    let data = data.to_str().unwrap().to_owned();
    let mut server = server();
    cli_ok(&server, &["user", "add", "bob"], Some("pw\n"));
    cli_ok(&server, &["user", "add", "carol"], Some("pw\n"));

    // Through the running daemon.
    let out = cli_ok(&server, &["import", "--user", USER, &data], None);
    assert_eq!(out, "1000 added, 0 already there, 0 invalid\n");
    let out = cli_ok(&server, &["import", "--user", USER, &data], None);
    assert_eq!(out, "0 added, 1000 already there, 0 invalid\n");
    let stats = cli_ok(&server, &["stats"], None);
    assert!(stats.contains("user\talice\tcontacts 1000\t"), "{stats}");

    let dir = TestDir::new("export");
    let vdir = dir.join("vdir");
    let file = dir.join("all.vcf");
    let vdir_s = vdir.to_str().unwrap();
    let file_s = file.to_str().unwrap();
    assert_eq!(
        cli_ok(&server, &["export", "--user", USER, "--out", vdir_s], None),
        format!("1000 contacts exported to {vdir_s}\n")
    );
    assert_eq!(std::fs::read_dir(&vdir).unwrap().count(), 1000);
    cli_ok(&server, &["export", "--user", USER, "--out", file_s], None);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("BEGIN:VCARD").count(), 1000);

    // The multi-vCard file into bob (running), the vdir into carol (stopped).
    assert_eq!(
        cli_ok(&server, &["import", "--user", "bob", file_s], None),
        "1000 added, 0 already there, 0 invalid\n"
    );
    server.stop();
    assert_eq!(
        cli_ok(&server, &["import", "--user", "carol", vdir_s], None),
        "1000 added, 0 already there, 0 invalid\n"
    );
    assert_eq!(
        cli_ok(&server, &["import", "--user", USER, vdir_s], None),
        "0 added, 1000 already there, 0 invalid\n"
    );
    let alice = book_contents(server.data_dir(), USER);
    assert_eq!(alice.len(), 1000);
    assert_eq!(book_contents(server.data_dir(), "bob"), alice);
    assert_eq!(book_contents(server.data_dir(), "carol"), alice);
    // And the originals, by content.
    let mut originals: Vec<Vec<String>> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|t| syncmld::contacts::canonical_lines(&t))
        .collect();
    originals.sort();
    assert_eq!(alice, originals);
}

#[test]
fn imported_contacts_reach_devices_on_their_next_sync() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("import-sync");
    let server = server();
    let client = SyncEvoClient::new(&dir.join("c1"), "syncevo-import");
    write_card(&client.vcf_dir, "a.vcf", &vcard("Ann Client", &[]));
    client
        .sync(
            &server.url(),
            USER,
            PASSWORD,
            Mode::Slow,
            &Default::default(),
        )
        .assert_ok();
    let file = dir.join("new.vcf");
    std::fs::write(
        &file,
        format!(
            "{}{}",
            vcard("Imported One", &["TEL:+1 555 0101"]),
            vcard("Imported Two", &[])
        ),
    )
    .unwrap();
    assert_eq!(
        cli_ok(
            &server,
            &["import", "--user", USER, file.to_str().unwrap()],
            None
        ),
        "2 added, 0 already there, 0 invalid\n"
    );
    client
        .sync(
            &server.url(),
            USER,
            PASSWORD,
            Mode::TwoWay,
            &Default::default(),
        )
        .assert_ok();
    let names = common::vcards::fns(&common::vcards::read_book(&client.vcf_dir));
    for n in ["Ann Client", "Imported One", "Imported Two"] {
        assert!(
            names.iter().any(|x| x == n),
            "{n} not on the device: {names:?}"
        );
    }
}

// ---- metrics -----------------------------------------------------------------

fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// `/metrics` parsed with a Prometheus text parser: (name, labels) → value.
fn scrape(server: &SyncmldServer) -> HashMap<String, f64> {
    let (status, body) = http_get(server.addr(), "/metrics");
    assert_eq!(status, 200, "{body}");
    let parsed = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text format");
    let mut out = HashMap::new();
    for s in parsed.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        let key = format!("{}{{{}}}", s.metric, labels.join(","));
        let v = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(h) => h
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count)
                .unwrap_or(-1.0),
            _ => -1.0,
        };
        out.insert(key, v);
    }
    out
}

fn metric(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no {key} in /metrics: {:#?}", m.keys().collect::<Vec<_>>()))
}

#[test]
fn metrics_after_syncs_show_what_happened() {
    if !common::require_syncevolution_client() {
        return;
    }
    let dir = TestDir::new("metrics");
    let server = server();
    let before = scrape(&server);
    assert_eq!(metric(&before, "syncmld_users{}"), 1.0);
    assert_eq!(metric(&before, "syncmld_messages_total{result=ok}"), 0.0);

    // Two contacts already on the server, three on the device.
    let file = dir.join("seed.vcf");
    std::fs::write(
        &file,
        format!("{}{}", vcard("Server One", &[]), vcard("Server Two", &[])),
    )
    .unwrap();
    cli_ok(
        &server,
        &["import", "--user", USER, file.to_str().unwrap()],
        None,
    );
    let client = SyncEvoClient::new(&dir.join("c1"), "syncevo-metrics");
    for (f, n) in [("a.vcf", "Dev A"), ("b.vcf", "Dev B"), ("c.vcf", "Dev C")] {
        write_card(&client.vcf_dir, f, &vcard(n, &[]));
    }
    client
        .sync(
            &server.url(),
            USER,
            PASSWORD,
            Mode::Slow,
            &Default::default(),
        )
        .assert_ok();
    let m = scrape(&server);
    assert_eq!(
        metric(&m, "syncmld_sessions_total{mode=slow,result=completed}"),
        1.0
    );
    assert_eq!(
        metric(&m, "syncmld_items_total{command=add,direction=in}"),
        3.0
    );
    assert_eq!(
        metric(&m, "syncmld_items_total{command=add,direction=out}"),
        2.0
    );
    assert_eq!(
        metric(&m, "syncmld_items_total{command=replace,direction=in}"),
        0.0
    );
    assert_eq!(metric(&m, "syncmld_devices{}"), 1.0);
    assert_eq!(metric(&m, "syncmld_users{}"), 1.0);
    assert!(metric(&m, "syncmld_store_size_bytes{}") > 0.0);
    let ok = metric(&m, "syncmld_messages_total{result=ok}");
    assert!(ok >= 2.0, "{ok}");
    let all = ok
        + metric(&m, "syncmld_messages_total{result=resend}")
        + metric(&m, "syncmld_messages_total{result=rejected}")
        + metric(&m, "syncmld_messages_total{result=error}");
    assert_eq!(metric(&m, "syncmld_message_duration_seconds{}"), all);

    // A modification and a deletion on the device, one change on the server.
    common::vcards::edit_card(&client.vcf_dir, "Dev A", |t| {
        t.replace("END:VCARD", "NOTE:changed\r\nEND:VCARD")
    });
    common::vcards::delete_card(&client.vcf_dir, "Dev B");
    client
        .sync(
            &server.url(),
            USER,
            PASSWORD,
            Mode::TwoWay,
            &Default::default(),
        )
        .assert_ok();
    let m = scrape(&server);
    assert_eq!(
        metric(&m, "syncmld_sessions_total{mode=two-way,result=completed}"),
        1.0
    );
    assert_eq!(
        metric(&m, "syncmld_items_total{command=replace,direction=in}"),
        1.0
    );
    assert_eq!(
        metric(&m, "syncmld_items_total{command=delete,direction=in}"),
        1.0
    );
    assert_eq!(
        metric(&m, "syncmld_conflicts_total{resolution=server-won}"),
        0.0
    );

    // A wrong password is an auth failure.
    let out = client.sync(
        &server.url(),
        USER,
        "wrong",
        Mode::TwoWay,
        &Default::default(),
    );
    assert!(!out.success());
    let m = scrape(&server);
    assert!(
        metric(&m, "syncmld_auth_failures_total{code=401}") >= 1.0,
        "{m:#?}"
    );
}

// ---- shutdown ----------------------------------------------------------------

fn header(msg_id: u32, target: &str, session: &str) -> SyncHdr {
    SyncHdr {
        ver_dtd: "1.2".into(),
        ver_proto: "SyncML/1.2".into(),
        session_id: session.into(),
        msg_id,
        target: Loc::uri(target),
        source: Loc {
            loc_uri: "raw-device".into(),
            loc_name: Some(USER.into()),
        },
        cred: (msg_id == 1).then(|| Cred {
            meta: Some(Meta::with_type(auth_type::BASIC)),
            data: auth::basic_credential(USER, PASSWORD),
        }),
        ..SyncHdr::default()
    }
}

fn post(url: &str, msg: &SyncMl) -> Option<SyncMl> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let body = xml::encode(msg);
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/vnd.syncml+xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(&body).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let status = String::from_utf8_lossy(&buf[..split]);
    if !status.starts_with("HTTP/1.1 200") {
        return None;
    }
    xml::decode(&buf[split + 4..]).ok()
}

fn adds(msg_id: u32, url: &str, session: &str, names: &[String]) -> SyncMl {
    let items = names
        .iter()
        .map(|n| Item {
            source: Some(Loc::uri(format!("L-{n}"))),
            data: Some(ItemData::Text(format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{n}\r\nN:{n};;;;\r\nEND:VCARD\r\n"
            ))),
            ..Item::default()
        })
        .collect();
    SyncMl {
        header: header(msg_id, url, session),
        body: SyncBody {
            commands: vec![SyncCommand::Sync(syncmld::protocol::Sync {
                cmd_id: 1,
                target: Some(Loc::uri("addressbook")),
                source: Some(Loc::uri("./c")),
                commands: vec![SyncCommand::Add(ItemCommand {
                    cmd_id: 2,
                    meta: Some(Meta::with_type("text/vcard")),
                    items,
                    ..ItemCommand::default()
                })],
                ..Default::default()
            })],
            // Not final: the client has more to send, the session stays open.
            final_: false,
        },
    }
}

/// Open a slow-sync session; returns the RespURI to continue at.
fn open_session(server: &SyncmldServer, session: &str) -> String {
    let init = SyncMl {
        header: header(1, &server.url(), session),
        body: SyncBody {
            commands: vec![SyncCommand::Alert(Alert {
                cmd_id: 1,
                data: Some(alert::SLOW_SYNC),
                items: vec![Item {
                    target: Some(Loc::uri("addressbook")),
                    source: Some(Loc::uri("./c")),
                    meta: Some(Meta {
                        anchor: Some(Anchor {
                            last: None,
                            next: "1".into(),
                        }),
                        ..Meta::default()
                    }),
                    ..Item::default()
                }],
                ..Alert::default()
            })],
            final_: true,
        },
    };
    let reply = post(&server.url(), &init).expect("init answered");
    reply.header.resp_uri.expect("RespURI")
}

fn live_fns(data_dir: &Path) -> Vec<String> {
    let store = SledStore::open(&data_dir.join("store"), 8 << 20).unwrap();
    let book = BookId {
        user: USER.into(),
        store: "contacts".into(),
    };
    let mut v: Vec<String> = schema::items_page(&store, &book, "", usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, r)| !r.deleted)
        .filter_map(|(_, r)| {
            r.data
                .lines()
                .find_map(|l| l.strip_prefix("FN:").map(str::to_owned))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn sigterm_during_a_sync_loses_nothing_acknowledged() {
    let mut server = server();
    let url = open_session(&server, "1");
    let first: Vec<String> = (0..20).map(|i| format!("Acked {i:02}")).collect();
    let reply = post(&url, &adds(2, &url, "1", &first)).expect("acknowledged");
    assert!(
        reply
            .body
            .commands
            .iter()
            .any(|c| matches!(c, SyncCommand::Status(s) if s.cmd == "Add" && s.data.0 == 201)),
        "{reply:?}"
    );

    // A second session sends a large message and SIGTERM arrives while it
    // is in flight: either it is answered (then it must be stored) or not.
    let url2 = open_session(&server, "2");
    let second: Vec<String> = (0..300).map(|i| format!("Racing {i:03}")).collect();
    let msg = adds(2, &url2, "2", &second);
    let sender = std::thread::spawn(move || post(&url2, &msg));
    std::thread::sleep(Duration::from_millis(5));
    let status = server.stop().expect("was running");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status: {status:?}\n{}",
        server.log()
    );
    let answered = sender.join().unwrap().is_some();

    let stored = live_fns(server.data_dir());
    for n in &first {
        assert!(
            stored.contains(n),
            "acknowledged {n} lost; stored: {stored:?}"
        );
    }
    let racing = stored.iter().filter(|n| n.starts_with("Racing")).count();
    if answered {
        assert_eq!(racing, 300, "answered message not (fully) stored");
    } else {
        assert!(
            racing == 0 || racing == 300,
            "half a message stored: {racing}"
        );
    }
    // The daemon comes back on the same store.
    server.launch();
    server.stop();
}

// ---- store upgrade -----------------------------------------------------------

/// A tuple key as the store encodes it (length-prefixed strings), for rows
/// in the form older versions wrote.
fn tuple_key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for p in parts {
        k.extend_from_slice(&(p.len() as u16).to_be_bytes());
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// A store written before peer maps were chunked (one row per entry and
/// side) is upgraded by the daemon when it opens it, before it serves.
#[test]
fn a_store_with_one_row_maps_is_upgraded_when_the_daemon_opens_it() {
    let mut server = SyncmldServer::prepare(ServerOpts::default());
    let (device, book) = ("IMEI:356938035643809", "contacts");
    {
        let store = SledStore::open(&server.data_dir().join("store"), 8 << 20).unwrap();
        let mut b = Batch::default();
        for i in 0..300 {
            let (luid, guid) = (format!("{i}"), format!("g{i}"));
            let l = tuple_key(&[USER, device, book, "L", &luid]);
            let g = tuple_key(&[USER, device, book, "G", &guid]);
            b.put(Table::Maps, l, guid.into_bytes());
            b.put(Table::Maps, g, luid.into_bytes());
        }
        store.commit(&b).unwrap();
    }
    server.launch();
    server.stop();
    let store = SledStore::open(&server.data_dir().join("store"), 8 << 20).unwrap();
    let rows = store
        .scan(Table::Maps, &KeyRange::prefix(&[]), usize::MAX)
        .unwrap();
    assert!(rows.len() < 10, "{} map rows: not chunked", rows.len());
    let peer = PeerId {
        user: USER.into(),
        device: device.into(),
        store: book.into(),
    };
    let t = Txn::new(&store);
    for i in (0..300).step_by(37) {
        let (luid, guid) = (format!("{i}"), format!("g{i}"));
        assert_eq!(
            schema::guid_for_luid(&t, &peer, &luid).unwrap(),
            Some(guid.clone())
        );
        assert_eq!(schema::luid_for_guid(&t, &peer, &guid).unwrap(), Some(luid));
    }
    assert!(
        server.log().contains("peer maps moved into chunks"),
        "{}",
        server.log()
    );
}
