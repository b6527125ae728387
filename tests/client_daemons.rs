//! Client role end to end: one syncmld server and two syncmld client
//! daemons (the real binary, `role = "client"`) syncing on a 1 s interval.
//! Edits arrive through every door — the clients' local API and vdir
//! folder, the server's admin import — and all three books converge.
//! Also: poll-first skips idle sessions, and a dead server is backed off.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{ServerOpts, SyncmldServer};
use common::vcards::{Card, fns, vcard};
use common::{TestDir, free_port, run_with_timeout};

const USER: &str = "alice";
const PASSWORD: &str = "secret";

fn client_config(server_url: &str, device: &str, extra_client: &str) -> String {
    format!(
        "role = \"client\"\n[log]\nlevel = \"info\"\n[client]\ndevice_id = \"{device}\"\nhttp_timeout_secs = 10\n{extra_client}\n\
         [[peers]]\nname = \"backup\"\nurl = \"{server_url}\"\nuser = \"{USER}\"\npassword = \"{PASSWORD}\"\ninterval_secs = 1\njitter_secs = 0\n\
         [[peers.books]]\nlocal = \"contacts\"\nremote = \"addressbook\"\n"
    )
}

fn start_client(config: String) -> SyncmldServer {
    SyncmldServer::start(ServerOpts::default().config(&config))
}

/// A tiny HTTP client for the local API (std only).
fn http(addr: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn api_book(client: &SyncmldServer) -> Vec<Card> {
    let (status, body) = http(
        &client.addr().to_string(),
        "GET",
        "/books/contacts/contacts",
        "text/plain",
        "",
    );
    assert_eq!(status, 200, "{body}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    list.iter()
        .map(|c| Card::parse(c["vcard"].as_str().unwrap()))
        .collect()
}

/// The server's book through its admin socket (the daemon keeps running).
fn server_book(server: &SyncmldServer, dir: &Path) -> Vec<Card> {
    let file = dir.join(format!("export-{}.vcf", rand_suffix()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(["export", "--user", USER, "--out"])
        .arg(&file)
        .arg("--data-dir")
        .arg(server.data_dir())
        .arg("--config")
        .arg(server.config_path())
        .env_remove("RUNTIME_DIRECTORY");
    let out = run_with_timeout(cmd, None, Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "export: {}\n{}",
        out.stdout,
        out.stderr
    );
    Card::parse_all(&std::fs::read_to_string(&file).unwrap())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Wait until `f` holds (polling), or fail with `what`.
fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn peers_status(client: &SyncmldServer) -> serde_json::Value {
    let (status, body) = http(
        &client.addr().to_string(),
        "GET",
        "/peers",
        "text/plain",
        "",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()[0].clone()
}

#[test]
fn two_clients_and_a_server_converge_through_every_door() {
    let dir = TestDir::new("client-daemons");
    let server = SyncmldServer::start(ServerOpts::default().user(USER, PASSWORD));
    let vdir = dir.join("vdir");
    std::fs::create_dir_all(&vdir).unwrap();
    let c1 = start_client(client_config(
        &server.url(),
        "platform-1",
        &format!("vdir = \"{}\"\nvdir_interval_secs = 1", vdir.display()),
    ));
    let c2 = start_client(client_config(&server.url(), "platform-2", ""));

    // Edits through the three doors.
    let (status, body) = http(
        &c1.addr().to_string(),
        "POST",
        "/books/contacts/contacts",
        "text/vcard",
        &vcard("Alice Api", &["TEL:+1-555-0001"]),
    );
    assert_eq!(status, 201, "{body}");
    std::fs::write(
        vdir.join("bob.vcf"),
        vcard("Bob Vdir", &["TEL:+1-555-0002"]),
    )
    .unwrap();
    let (status, _) = http(
        &c2.addr().to_string(),
        "POST",
        "/books/contacts/contacts",
        "application/json",
        &serde_json::json!({"vcard": vcard("Carol Second", &[])}).to_string(),
    );
    assert_eq!(status, 201);
    let import = dir.join("import.vcf");
    std::fs::write(&import, vcard("Dave Server", &["EMAIL:dave@example.org"])).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(["import", "--user", USER])
        .arg(&import)
        .arg("--data-dir")
        .arg(server.data_dir())
        .arg("--config")
        .arg(server.config_path())
        .env_remove("RUNTIME_DIRECTORY");
    let out = run_with_timeout(cmd, None, Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "import: {}",
        out.stderr
    );

    let all = sorted(
        ["Alice Api", "Bob Vdir", "Carol Second", "Dave Server"]
            .map(String::from)
            .to_vec(),
    );
    eventually("all books converge", Duration::from_secs(60), || {
        let (b1, b2) = (sorted(fns(&api_book(&c1))), sorted(fns(&api_book(&c2))));
        let srv = sorted(fns(&server_book(&server, dir.path())));
        if b1 == all && b2 == all && srv == all {
            Ok(())
        } else {
            Err(format!("c1 {b1:?} c2 {b2:?} server {srv:?}"))
        }
    });
    // The vdir folder got the contacts that arrived from elsewhere.
    eventually("vdir has everything", Duration::from_secs(20), || {
        let files = std::fs::read_dir(&vdir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".vcf")
            })
            .count();
        if files == 4 {
            Ok(())
        } else {
            Err(format!("{files} files"))
        }
    });

    // An edit in the vdir folder and a delete through the API travel too.
    let bob_file = vdir.join("bob.vcf");
    std::fs::write(&bob_file, vcard("Bob Vdir", &["TEL:+1-555-9999"])).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(
        &http(
            &c2.addr().to_string(),
            "GET",
            "/books/contacts/contacts",
            "text/plain",
            "",
        )
        .1,
    )
    .unwrap();
    let carol = list
        .iter()
        .find(|c| c["vcard"].as_str().unwrap().contains("Carol Second"))
        .unwrap();
    let (status, _) = http(
        &c2.addr().to_string(),
        "DELETE",
        &format!("/books/contacts/contacts/{}", carol["id"].as_str().unwrap()),
        "text/plain",
        "",
    );
    assert_eq!(status, 204);
    let rest = sorted(
        ["Alice Api", "Bob Vdir", "Dave Server"]
            .map(String::from)
            .to_vec(),
    );
    eventually("edit and delete propagate", Duration::from_secs(60), || {
        let b1 = api_book(&c1);
        let b2 = api_book(&c2);
        let bob_tel = b2
            .iter()
            .find(|c| c.fn_value() == "Bob Vdir")
            .and_then(|c| c.get("TEL").map(str::to_owned));
        if sorted(fns(&b1)) == rest
            && sorted(fns(&b2)) == rest
            && bob_tel.as_deref() == Some("+1-555-9999")
        {
            Ok(())
        } else {
            Err(format!(
                "c1 {:?} c2 {:?} bob {bob_tel:?}",
                fns(&b1),
                fns(&b2)
            ))
        }
    });

    // Idle now: poll-first skips sessions instead of running them. A
    // session of c1 may still be finishing (its book changes before its
    // counters do): its scheduler runs one thing at a time, so once an
    // interval was skipped, whatever was in flight has ended.
    let settling = peers_status(&c1);
    eventually("c1 skips an idle interval", Duration::from_secs(20), || {
        let now = peers_status(&c1);
        if now["skipped"].as_u64() > settling["skipped"].as_u64() {
            Ok(())
        } else {
            Err(format!("{settling} → {now}"))
        }
    });
    let before = peers_status(&c1);
    std::thread::sleep(Duration::from_secs(4));
    let after = peers_status(&c1);
    let skipped = after["skipped"].as_u64().unwrap() - before["skipped"].as_u64().unwrap();
    let sessions = after["sessions"].as_u64().unwrap() - before["sessions"].as_u64().unwrap();
    assert!(
        skipped >= 2,
        "idle intervals were skipped: {before} → {after}"
    );
    assert_eq!(
        sessions, 0,
        "no session while nothing changed: {before} → {after}"
    );

    // `syncmld sync` against a running client daemon goes through its API.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.args(["sync", "--peer", "backup", "--config"])
        .arg(c1.config_path())
        .arg("--data-dir")
        .arg(c1.data_dir())
        .env("SYNCMLD__SERVER__LISTEN", c1.addr().to_string());
    let out = run_with_timeout(cmd, None, Duration::from_secs(60));
    assert!(
        out.status.is_some_and(|s| s.success()),
        "sync via daemon: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("backup: contacts two-way"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_dead_server_is_backed_off() {
    let dead = format!("http://127.0.0.1:{}/sync", free_port());
    let client = start_client(client_config(
        &dead,
        "platform-lonely",
        "poll_first = false",
    ));
    eventually(
        "failures accumulate with growing delays",
        Duration::from_secs(30),
        || {
            let st = peers_status(&client);
            let failures = st["failures"].as_u64().unwrap_or(0);
            let next = st["next_run_in_secs"].as_u64().unwrap_or(0);
            if failures >= 3 && next >= 4 {
                Ok(())
            } else {
                Err(st.to_string())
            }
        },
    );
    let st = peers_status(&client);
    assert_eq!(st["ok"], serde_json::Value::Bool(false));
    assert!(
        st["last_result"]
            .as_str()
            .unwrap_or("")
            .contains("connection"),
        "{st}"
    );
}

#[test]
fn a_server_alerted_notification_starts_a_session_at_once() {
    let server = SyncmldServer::start(ServerOpts::default().user(USER, PASSWORD));
    let port = free_port();
    // c1 syncs once at start, then only every hour — unless notified.
    let c1 = start_client(
        client_config(&server.url(), "platform-notified", &format!("notify_listen = \"127.0.0.1:{port}\"\ncallback_url = \"http://127.0.0.1:{port}/san\""))
            .replace("interval_secs = 1", "interval_secs = 3600"),
    );
    let c2 = start_client(client_config(&server.url(), "platform-busy", ""));
    eventually("c1's first session", Duration::from_secs(30), || {
        let st = peers_status(&c1);
        if st["sessions"].as_u64() == Some(1) {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    let (status, _) = http(
        &c2.addr().to_string(),
        "POST",
        "/books/contacts/contacts",
        "text/vcard",
        &vcard("Eve Notified", &[]),
    );
    assert_eq!(status, 201);
    eventually(
        "the notification brings Eve to c1 long before its interval",
        Duration::from_secs(30),
        || {
            let names = fns(&api_book(&c1));
            if names == ["Eve Notified"] {
                Ok(())
            } else {
                Err(format!("{names:?} {}", peers_status(&c1)))
            }
        },
    );
    // A forged notification (wrong credentials) starts nothing.
    let (status, _) = http(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/san",
        "application/vnd.syncml.ds.notification",
        "0123456789abcdef0123456789",
    );
    assert!(status == 400 || status == 401, "{status}");
}

/// Regression: `syncmld sync` took a store that was locked for a moment (a
/// process that had just closed it: sled drops its lock from a background
/// thread) for a running daemon and failed asking that daemon. It now
/// waits for the lock while nothing answers on the local API.
#[test]
fn sync_waits_for_a_store_locked_by_an_exiting_process_instead_of_asking_a_daemon() {
    let dir = TestDir::new("client-lock");
    let config = dir.join("client.toml");
    let data = dir.join("data");
    let listen = format!("127.0.0.1:{}", free_port());
    let dead = format!("http://127.0.0.1:{}/sync", free_port());
    std::fs::write(
        &config,
        format!(
            "{}\n[storage]\ndata_dir = \"{}\"\n[server]\nlisten = \"{listen}\"\n",
            client_config(&dead, "platform-lock", ""),
            data.display(),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(data.join("store")).unwrap();
    // Hold the store as another process would, and let go after the CLI
    // started.
    let held = syncmld::store::SledStore::open(&data.join("store"), 1 << 20).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_syncmld"));
    cmd.arg("sync").arg("--config").arg(&config).arg("--status");
    let child = std::thread::spawn(move || run_with_timeout(cmd, None, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(700));
    drop(held);
    let out = child.join().unwrap();
    assert!(
        out.status.map(|s| s.success()).unwrap_or(false),
        "syncmld sync --status failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("backup"),
        "status of the peer from the store:\n{}",
        out.stdout
    );
}
