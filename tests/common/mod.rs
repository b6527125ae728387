//! Shared harness for syncmld's integration tests (`mod common;`).
//!
//! * [`syncevo`]: SyncEvolution as a scripted SyncML client (and its wire transcripts)
//! * [`vcards`]: address-book folders and content comparison of vCards
//! * [`server`]: start/stop the syncmld binary on a free loopback port
//! * [`http`]: raw HTTP/1.1 requests (any Content-Type, body, query)
//! * [`syncml`]: a scripted SyncML client over HTTP (model + XML codec)
//! * [`store`]: whole-store snapshots for "the store is unchanged" checks
//!
//! Everything runs on 127.0.0.1 only. The peer scripts come from
//! `$SYNCMLD_SHARED/peers` (see `../shared/peers/README.md`).

// Each integration test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod http;
pub mod server;
pub mod store;
pub mod syncevo;
pub mod syncml;
pub mod vcards;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The `shared` directory holding `peers/` and `docs/`: `$SYNCMLD_SHARED`, or
/// the `shared` folder next to the repository.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("SYNCMLD_SHARED") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest_dir().join("../shared"),
    }
}

/// The repository root. Prefers the run-time `CARGO_MANIFEST_DIR` (set by
/// `cargo test`) over the compile-time one, which goes stale when a target
/// dir is shared between checkouts.
pub fn manifest_dir() -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    }
}

/// `$SYNCMLD_SHARED/peers`.
pub fn peers_dir() -> PathBuf {
    shared_dir().join("peers")
}

/// True when running under CI (`CI` set to anything but empty/`0`/`false`):
/// then a missing tool is a failure, not a skipped test.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Is `name` (a command on PATH, or an absolute path) available?
///
/// Missing under CI: panics with a clear message. Missing otherwise: returns
/// false so the caller can print a skip line and return early.
pub fn require_tool(name: &str) -> bool {
    if tool_exists(name) {
        return true;
    }
    if in_ci() {
        panic!(
            "required tool `{name}` is not installed (CI is set, so this is a failure). \
             Run ./tests/run.sh, which installs the test dependencies."
        );
    }
    false
}

/// Everything the SyncEvolution client needs. Prints the skip line itself
/// and returns false when something is missing (panics under CI).
pub fn require_syncevolution_client() -> bool {
    require_all(
        "SyncEvolution client",
        &["syncevolution", "gcc", "bash"],
        &[peers_dir().join("syncevo-client.sh")],
    )
}

/// Everything SyncEvolution as a server needs (see peers/syncevo-server.sh).
pub fn require_syncevolution_server() -> bool {
    require_all(
        "SyncEvolution server",
        &[
            "syncevolution",
            "dbus-daemon",
            "dbus-send",
            "/usr/libexec/syncevo-dbus-server",
            "/usr/bin/syncevo-http-server",
            "/usr/bin/python3",
        ],
        &[peers_dir().join("syncevo-server.sh")],
    )
}

fn require_all(what: &str, tools: &[&str], files: &[PathBuf]) -> bool {
    for f in files {
        if !f.is_file() {
            let msg = format!(
                "{} not found: set SYNCMLD_SHARED to the shared directory (with peers/)",
                f.display()
            );
            if in_ci() {
                panic!("{msg}");
            }
            println!("SKIP ({what}): {msg}");
            return false;
        }
    }
    for t in tools {
        if !require_tool(t) {
            println!("SKIP ({what}): `{t}` is not installed; run ./tests/run.sh to install it");
            return false;
        }
    }
    true
}

fn tool_exists(name: &str) -> bool {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// A temporary directory that is removed when the test passes and kept (with
/// its path printed) when the test panics, so transcripts and logs of a
/// failure can be read. `SYNCMLD_KEEP_TMP=1` keeps it always.
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    pub fn new(label: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("syncmld-{label}-"))
            .tempdir()
            .unwrap();
        let path = dir.path().to_path_buf();
        Self {
            dir: Some(dir),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let keep =
            thread::panicking() || std::env::var_os("SYNCMLD_KEEP_TMP").is_some_and(|v| v == "1");
        if let Some(dir) = self.dir.take()
            && keep
        {
            let path = dir.keep();
            eprintln!("kept test directory {}", path.display());
        }
    }
}

/// The result of [`run_with_timeout`].
#[derive(Debug)]
pub struct RunOutput {
    /// `None` when killed by a signal (including our own timeout kill).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub duration: Duration,
}

/// Run `cmd` (stdin from `stdin`, or /dev/null) in its own process group and
/// collect its output; after `timeout` the whole group is killed, so a hung
/// peer (a script and its children) can not hang the test run.
pub fn run_with_timeout(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> RunOutput {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        // A child that exits without reading its input is not our problem here.
        let _ = pipe.write_all(input);
    }
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let (status, timed_out) = wait_or_kill_group(&mut child, timeout);
    RunOutput {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        timed_out,
        duration: started.elapsed(),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Wait for `child` (leader of its own process group) up to `timeout`; kill
/// the group with SIGKILL on expiry. Returns the status (None if signalled).
fn wait_or_kill_group(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (Some(status).filter(|s| s.code().is_some()), false);
        }
        if Instant::now() >= deadline {
            signal_group(child.id(), libc::SIGKILL);
            let status = child.wait().unwrap();
            return (Some(status).filter(|s| s.code().is_some()), true);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Send `signal` to the process group led by `pid`.
pub fn signal_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// Send `signal` to the process `pid`.
pub fn signal_pid(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A free TCP port on 127.0.0.1: bind port 0 and release it. Another process
/// may grab it before we use it; callers retry start-up on "address in use".
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The last `n` lines of `text`, for failure messages.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
