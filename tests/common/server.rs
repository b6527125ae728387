//! Run the syncmld binary under test on a free loopback port.
//!
//! Contract with the CLI:
//! `syncmld serve [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]`,
//! `syncmld user add NAME [--data-dir DIR]` (password on stdin), config
//! `[[users]] name = "...", password = "..."`, and `GET /healthz` → 200 once
//! the server accepts syncs.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{TestDir, free_port, run_with_timeout, signal_pid, tail};

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerOpts {
    /// TOML placed into the generated `test.toml`, before the `[[users]]`
    /// tables (so its top-level keys stay top-level).
    pub config: String,
    /// Users declared in `test.toml` as `[[users]] name, password`.
    pub users: Vec<(String, String)>,
    /// Extra environment for the daemon. `RUST_LOG` defaults to `debug`
    /// unless set here or in the test's environment.
    pub env: Vec<(String, String)>,
    /// The binary to run; defaults to the syncmld built for these tests.
    pub binary: PathBuf,
    /// How long to wait for `/healthz` after start.
    pub startup_timeout: Duration,
}

impl Default for ServerOpts {
    fn default() -> Self {
        Self {
            config: String::new(),
            users: Vec::new(),
            env: Vec::new(),
            binary: PathBuf::from(env!("CARGO_BIN_EXE_syncmld")),
            startup_timeout: Duration::from_secs(20),
        }
    }
}

impl ServerOpts {
    /// Declare a user in `test.toml`.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Append TOML to the generated configuration.
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }
}

/// A syncmld process with its own data dir, config and log file.
/// Dropping it kills the process.
pub struct SyncmldServer {
    opts: ServerOpts,
    dir: TestDir,
    data_dir: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl SyncmldServer {
    /// Prepare and start a server; panics (with its log) if `/healthz` does
    /// not answer within `opts.startup_timeout`.
    pub fn start(opts: ServerOpts) -> Self {
        let mut server = Self::prepare(opts);
        server.launch();
        server
    }

    /// Set up the data dir and `test.toml` but do not start yet, e.g. to run
    /// [`add_user`](Self::add_user) first.
    pub fn prepare(opts: ServerOpts) -> Self {
        let dir = TestDir::new("server");
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let config_path = dir.join("test.toml");
        std::fs::write(&config_path, render_config(&opts)).unwrap();
        let log_path = dir.join("syncmld.log");
        Self {
            opts,
            data_dir,
            config_path,
            log_path,
            dir,
            port: free_port(),
            child: None,
        }
    }

    /// `http://127.0.0.1:PORT/sync`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/sync", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The test's scratch dir (holds data/, test.toml, syncmld.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the daemon printed so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The daemon's process id while it runs (to signal it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// `syncmld user add NAME --data-dir DIR` with the password on stdin.
    /// Only while stopped: the running daemon holds the database.
    pub fn add_user(&mut self, name: &str, password: &str) {
        assert!(
            !self.is_running(),
            "add_user needs a stopped server (the daemon holds the database): \
             call stop() first, or declare the user with ServerOpts::user"
        );
        let mut cmd = Command::new(&self.opts.binary);
        cmd.args(["user", "add", name, "--data-dir"])
            .arg(&self.data_dir);
        let out = run_with_timeout(
            cmd,
            Some(format!("{password}\n").as_bytes()),
            Duration::from_secs(30),
        );
        assert!(
            out.status.is_some_and(|s| s.success()),
            "`syncmld user add {name}` failed (status {:?}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }

    /// Start (again) after [`prepare`](Self::prepare) or [`stop`](Self::stop).
    /// If the port was taken meanwhile, a new one is picked: call
    /// [`url`](Self::url) after starting.
    pub fn launch(&mut self) {
        assert!(!self.is_running(), "server already running");
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            match self.try_launch() {
                Ok(()) => return,
                Err(Failure::PortInUse) if attempt < ATTEMPTS => self.port = free_port(),
                Err(failure) => {
                    let log = self.log();
                    self.kill();
                    panic!(
                        "syncmld did not come up on {}: {failure:?}\ncommand: {:?} serve --listen {} --data-dir {} --config {}\n--- log {} (last 60 lines)\n{}",
                        self.addr(),
                        self.opts.binary,
                        self.addr(),
                        self.data_dir.display(),
                        self.config_path.display(),
                        self.log_path.display(),
                        tail(&log, 60)
                    );
                }
            }
        }
    }

    fn try_launch(&mut self) -> Result<(), Failure> {
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        writeln!(log, "=== harness: starting syncmld on {}", self.addr()).unwrap();
        let log_len_before = log.metadata().unwrap().len();

        let mut cmd = Command::new(&self.opts.binary);
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.addr().to_string())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if std::env::var_os("RUST_LOG").is_none()
            && !self.opts.env.iter().any(|(k, _)| k == "RUST_LOG")
        {
            cmd.env("RUST_LOG", "debug");
        }
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.opts.binary.display()));
        self.child = Some(child);

        let deadline = Instant::now() + self.opts.startup_timeout;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = self.log();
                let this_run = log.get(log_len_before as usize..).unwrap_or("");
                if this_run
                    .to_ascii_lowercase()
                    .contains("address already in use")
                {
                    return Err(Failure::PortInUse);
                }
                return Err(Failure::Exited(status));
            }
            if healthz(self.addr()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Failure::Timeout(self.opts.startup_timeout));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status
    /// (`None` if it was not running).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        signal_pid(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("syncmld ignored SIGTERM for 10 s; killing it");
        let _ = child.kill();
        Some(child.wait().unwrap())
    }

    /// Stop, then start again with the same data dir and config.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SyncmldServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- syncmld log {} (last 40 lines)\n{}",
                self.log_path.display(),
                tail(&self.log(), 40)
            );
        }
    }
}

#[derive(Debug)]
enum Failure {
    PortInUse,
    Exited(ExitStatus),
    Timeout(Duration),
}

/// One `GET /healthz`; true on a 200.
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && (&head == b"HTTP/1.1 200" || &head == b"HTTP/1.0 200")
}

fn render_config(opts: &ServerOpts) -> String {
    let mut s = String::from(
        "# generated by tests/common/server.rs; --listen and --data-dir come from the command line\n",
    );
    s.push_str(&opts.config);
    s.push('\n');
    for (name, password) in &opts.users {
        s.push_str(&format!(
            "\n[[users]]\nname = {}\npassword = {}\n",
            toml_string(name),
            toml_string(password)
        ));
    }
    s
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
