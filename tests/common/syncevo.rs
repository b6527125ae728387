//! SyncEvolution as a scripted SyncML client (`peers/syncevo-client.sh`) and
//! helpers to read the wire transcript it captures.
//!
//! One [`SyncEvoClient`] is one device: it keeps the same `--state` dir for
//! every call (so the second sync is incremental) and gets a fresh
//! `--dump-dir` per call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::{peers_dir, run_with_timeout, tail};

/// The sync mode asked for by the client (Alert code on the wire in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200
    TwoWay,
    /// 201
    Slow,
    /// 202
    OneWayFromClient,
    /// 204
    OneWayFromServer,
    /// 203
    RefreshFromClient,
    /// 205
    RefreshFromServer,
}

impl Mode {
    /// The mode argument of syncevo-client.sh.
    pub fn arg(self) -> &'static str {
        match self {
            Mode::TwoWay => "two-way",
            Mode::Slow => "slow",
            Mode::OneWayFromClient => "one-way-from-client",
            Mode::OneWayFromServer => "one-way-from-server",
            Mode::RefreshFromClient => "refresh-from-client",
            Mode::RefreshFromServer => "refresh-from-server",
        }
    }

    /// The Alert code the client sends for this mode.
    pub fn alert_code(self) -> u16 {
        match self {
            Mode::TwoWay => 200,
            Mode::Slow => 201,
            Mode::OneWayFromClient => 202,
            Mode::RefreshFromClient => 203,
            Mode::OneWayFromServer => 204,
            Mode::RefreshFromServer => 205,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    Md5,
    Basic,
}

/// The vCard flavour the client syncs (`addressbook/syncFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/vcard`, vCard 3.0 (SyncEvolution's default)
    VCard30,
    /// `text/x-vcard`, vCard 2.1
    VCard21,
}

impl Format {
    fn mime(self) -> &'static str {
        match self {
            Format::VCard30 => "text/vcard",
            Format::VCard21 => "text/x-vcard",
        }
    }
}

/// Per-call client options; `ClientOpts::default()` is md5 auth, XML,
/// SyncEvolution's defaults for everything else.
#[derive(Debug, Clone)]
pub struct ClientOpts {
    pub auth: Auth,
    /// `maxMsgSize` announced in the SyncHdr (SyncEvolution rounds e.g. 10000 up to 10240).
    pub max_msg_size: Option<u32>,
    /// Server database URI (Alert Target); the script's default is `addressbook`.
    pub uri: Option<String>,
    pub format: Option<Format>,
    /// Send WBXML instead of XML.
    pub wbxml: bool,
    /// Further syncevo-client.sh options, e.g. `--no-refresh-sync`, `--syncml-version 1.1`.
    pub extra_args: Vec<String>,
    /// Kill the client after this long; a normal sync takes 1–3 s.
    pub timeout: Duration,
}

impl Default for ClientOpts {
    fn default() -> Self {
        Self {
            auth: Auth::Md5,
            max_msg_size: None,
            uri: None,
            format: None,
            wbxml: false,
            extra_args: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// One SyncEvolution client device syncing the folder `vcf_dir`.
#[derive(Debug)]
pub struct SyncEvoClient {
    /// SyncEvolution's config and state (reused across calls).
    pub state_dir: PathBuf,
    /// The client's address book: one vCard per file.
    pub vcf_dir: PathBuf,
    /// SyncHdr Source LocURI.
    pub device_id: String,
    /// Each sync gets its own `NN-mode` subfolder here.
    pub dump_dir_root: PathBuf,
    calls: AtomicU32,
}

/// What one client run produced.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// SyncEvolution's exit status (0 = success); -1 when killed (see `timed_out`).
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The `--dump-dir` of this call: `NN-client.xml`, `NN-server.xml`, `engine/`.
    pub transcript_dir: PathBuf,
    pub duration: Duration,
    pub timed_out: bool,
}

impl SyncEvoClient {
    /// A device with id `device_id` whose folders live below `base`
    /// (`base/state`, `base/vcf`, `base/dumps`).
    pub fn new(base: &Path, device_id: &str) -> Self {
        Self::with_dirs(
            base.join("state"),
            base.join("vcf"),
            device_id,
            base.join("dumps"),
        )
    }

    pub fn with_dirs(
        state_dir: PathBuf,
        vcf_dir: PathBuf,
        device_id: &str,
        dump_dir_root: PathBuf,
    ) -> Self {
        for d in [&state_dir, &vcf_dir, &dump_dir_root] {
            std::fs::create_dir_all(d).unwrap();
        }
        Self {
            state_dir,
            vcf_dir,
            device_id: device_id.to_owned(),
            dump_dir_root,
            calls: AtomicU32::new(0),
        }
    }

    /// Run one sync session against `url`. Never panics on a failed sync;
    /// check [`SyncOutcome::exit_code`] or call [`SyncOutcome::assert_ok`].
    pub fn sync(
        &self,
        url: &str,
        user: &str,
        password: &str,
        mode: Mode,
        opts: &ClientOpts,
    ) -> SyncOutcome {
        let transcript_dir = self.next_dump_dir(mode);
        let mut cmd = Command::new("bash");
        cmd.arg(peers_dir().join("syncevo-client.sh"))
            .arg("--state")
            .arg(&self.state_dir)
            .arg("--dump-dir")
            .arg(&transcript_dir)
            .args(["--device-id", &self.device_id])
            .args([
                "--auth",
                match opts.auth {
                    Auth::Md5 => "md5",
                    Auth::Basic => "basic",
                },
            ]);
        if let Some(n) = opts.max_msg_size {
            cmd.args(["--max-msg-size", &n.to_string()]);
        }
        if let Some(uri) = &opts.uri {
            cmd.args(["--uri", uri]);
        }
        if let Some(f) = opts.format {
            cmd.args(["--format", f.mime()]);
        }
        if opts.wbxml {
            cmd.arg("--wbxml");
        }
        cmd.args(&opts.extra_args);
        cmd.arg("--")
            .args([url, user, password])
            .arg(&self.vcf_dir)
            .arg(mode.arg());
        // Build the curl-fix shim once per target dir, not in the user's ~/.cache.
        if std::env::var_os("SYNCEVO_PEERS_BUILD").is_none() {
            cmd.env(
                "SYNCEVO_PEERS_BUILD",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("syncevo-peers"),
            );
        }

        let out = run_with_timeout(cmd, None, opts.timeout);
        let outcome = SyncOutcome {
            exit_code: out.status.and_then(|s| s.code()).unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
            transcript_dir,
            duration: out.duration,
            timed_out: out.timed_out,
        };
        println!(
            "syncevo-client [{}] {} sync: exit {}{} in {:.2} s, transcript {}",
            self.device_id,
            mode.arg(),
            outcome.exit_code,
            if outcome.timed_out {
                " (timed out, killed)"
            } else {
                ""
            },
            outcome.duration.as_secs_f64(),
            outcome.transcript_dir.display()
        );
        outcome
    }

    /// A fresh, not yet existing `NN-mode` dump dir (the script refuses a
    /// dir that already holds messages).
    fn next_dump_dir(&self, mode: Mode) -> PathBuf {
        loop {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let dir = self.dump_dir_root.join(format!("{n:02}-{}", mode.arg()));
            if !dir.exists() {
                return dir;
            }
        }
    }
}

impl SyncOutcome {
    pub fn success(&self) -> bool {
        self.exit_code == 0 && !self.timed_out
    }

    /// Panic with the client's output and the transcript location unless the
    /// sync succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "SyncEvolution sync failed:\n{self}");
        self
    }

    /// Panic unless the sync failed (for auth-failure and similar tests).
    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(
            !self.success(),
            "SyncEvolution sync unexpectedly succeeded:\n{self}"
        );
        self
    }

    pub fn transcript(&self) -> Transcript {
        Transcript::new(&self.transcript_dir)
    }
}

impl fmt::Display for SyncOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "exit code {}{}, {:.2} s, transcript {}",
            self.exit_code,
            if self.timed_out { " (timed out)" } else { "" },
            self.duration.as_secs_f64(),
            self.transcript_dir.display()
        )?;
        writeln!(f, "--- stdout (last 40 lines)\n{}", tail(&self.stdout, 40))?;
        writeln!(f, "--- stderr (last 40 lines)\n{}", tail(&self.stderr, 40))?;
        let log = self.transcript_dir.join("engine/syncevolution-log.html");
        if log.exists() {
            writeln!(f, "--- engine log: {}", log.display())?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Transcripts

/// Who sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One HTTP body as captured on the wire.
#[derive(Debug, Clone)]
pub struct WireMessage {
    /// The `NN` of `NN-client.xml`: position in the whole exchange, from 1.
    pub seq: u32,
    pub from: Side,
    pub path: PathBuf,
    /// The message as XML. For WBXML, the engine's XML translation
    /// (`xml/NN-*.xml`) when there is one, else empty.
    pub xml: String,
}

/// The messages of one client run, in wire order.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub dir: PathBuf,
    pub messages: Vec<WireMessage>,
}

/// One `<Status>` as seen in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInfo {
    /// Wire position of the message that carried it.
    pub seq: u32,
    pub from: Side,
    /// `<Cmd>`: the command the status answers (`SyncHdr`, `Alert`, `Add`, ...).
    pub cmd: String,
    pub cmd_ref: String,
    pub msg_ref: String,
    /// The status code (`<Data>` directly inside `<Status>`).
    pub code: u16,
    pub target_ref: Vec<String>,
    pub source_ref: Vec<String>,
}

impl Transcript {
    /// Read `NN-client.*` / `NN-server.*` from `dir`.
    pub fn new(dir: &Path) -> Self {
        let mut messages = Vec::new();
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read transcript {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((num, rest)) = name.split_once('-') else {
                continue;
            };
            let Ok(seq) = num.parse::<u32>() else {
                continue;
            };
            let (side, ext) = match rest.split_once('.') {
                Some(("client", ext)) => (Side::Client, ext),
                Some(("server", ext)) => (Side::Server, ext),
                _ => continue,
            };
            let xml = match ext {
                "xml" => String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
                "wbxml" => std::fs::read(dir.join("xml").join(name.replace(".wbxml", ".xml")))
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
                _ => continue,
            };
            messages.push(WireMessage {
                seq,
                from: side,
                path,
                xml,
            });
        }
        messages.sort_by_key(|m| m.seq);
        Self {
            dir: dir.to_path_buf(),
            messages,
        }
    }

    pub fn from(&self, side: Side) -> impl Iterator<Item = &WireMessage> {
        self.messages.iter().filter(move |m| m.from == side)
    }

    /// Every `<Status>` that `side` sent, in wire order.
    pub fn statuses(&self, side: Side) -> Vec<StatusInfo> {
        let mut out = Vec::new();
        for m in self.from(side) {
            for st in m.doc().descendants("Status") {
                out.push(StatusInfo {
                    seq: m.seq,
                    from: side,
                    cmd: st.child_text("Cmd").unwrap_or_default(),
                    cmd_ref: st.child_text("CmdRef").unwrap_or_default(),
                    msg_ref: st.child_text("MsgRef").unwrap_or_default(),
                    code: st
                        .child_text("Data")
                        .and_then(|d| d.trim().parse().ok())
                        .unwrap_or(0),
                    target_ref: st.children("TargetRef").map(|e| e.text.clone()).collect(),
                    source_ref: st.children("SourceRef").map(|e| e.text.clone()).collect(),
                });
            }
        }
        out
    }

    /// All status codes `side` sent, in order.
    pub fn status_codes(&self, side: Side) -> Vec<u16> {
        self.statuses(side).into_iter().map(|s| s.code).collect()
    }

    /// The codes `side` sent in answer to command `cmd` (e.g. "Alert", "Add", "SyncHdr").
    pub fn status_codes_for(&self, side: Side, cmd: &str) -> Vec<u16> {
        self.statuses(side)
            .into_iter()
            .filter(|s| s.cmd == cmd)
            .map(|s| s.code)
            .collect()
    }

    /// How many `<Status>` with `code` `side` sent ("508 was sent" = `count_status(Server, 508) > 0`).
    pub fn count_status(&self, side: Side, code: u16) -> usize {
        self.statuses(side)
            .iter()
            .filter(|s| s.code == code)
            .count()
    }

    /// The `<Alert>` codes `side` sent, in order (e.g. `[201]` after a forced slow sync).
    pub fn alert_codes(&self, side: Side) -> Vec<u16> {
        self.from(side)
            .flat_map(|m| {
                m.doc()
                    .descendants("Alert")
                    .into_iter()
                    .filter_map(|a| a.child_text("Data").and_then(|d| d.trim().parse().ok()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// How many times element `name` (local name) occurs in what `side` sent.
    pub fn count_elements(&self, side: Side, name: &str) -> usize {
        self.from(side)
            .map(|m| m.doc().descendants(name).len())
            .sum()
    }

    /// Messages whose raw XML contains `needle`: (seq, side) of each.
    pub fn grep(&self, needle: &str) -> Vec<(u32, Side)> {
        self.messages
            .iter()
            .filter(|m| m.xml.contains(needle))
            .map(|m| (m.seq, m.from))
            .collect()
    }

    /// One line per message with its commands, for failure messages.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for m in &self.messages {
            let doc = m.doc();
            let body = doc.children("SyncBody").next();
            let cmds: Vec<String> = body
                .map(|b| {
                    b.children.iter().map(|c| match c.child_text("Data") {
                        Some(d) if c.name == "Status" || c.name == "Alert" => {
                            format!("{}({})", c.name, d.trim())
                        }
                        _ => c.name.clone(),
                    })
                })
                .into_iter()
                .flatten()
                .collect();
            s.push_str(&format!("{:02} {:?}: {}\n", m.seq, m.from, cmds.join(" ")));
        }
        s
    }
}

impl WireMessage {
    /// The message parsed into a small element tree (local names, no namespaces).
    pub fn doc(&self) -> Element {
        Element::parse(&self.xml).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }
}

// ---------------------------------------------------------------------------
// A minimal element tree: enough to query SyncML messages in tests.

/// An XML element by local name, with its concatenated direct text/CDATA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Parse a document and return its root element.
    pub fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Element> = vec![Element::default()];
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("XML error at {}: {e}", reader.buffer_position()))?;
            match event {
                Event::Start(e) => stack.push(Element {
                    name: e.local_name().as_ref().to_owned(),
                    ..Element::default()
                }),
                Event::Empty(e) => {
                    let el = Element {
                        name: e.local_name().as_ref().to_owned(),
                        ..Element::default()
                    };
                    stack.last_mut().unwrap().children.push(el);
                }
                Event::End(_) => {
                    let el = stack.pop().unwrap();
                    stack
                        .last_mut()
                        .ok_or("unbalanced end tag")?
                        .children
                        .push(el);
                }
                Event::Text(t) => stack.last_mut().unwrap().text.push_str(&t.xml10_content()),
                Event::CData(t) => stack.last_mut().unwrap().text.push_str(&t.into_inner()),
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c.to_string(),
                        None => match &*r.into_inner() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => format!("&{other};"),
                        },
                    };
                    stack.last_mut().unwrap().text.push_str(&resolved);
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let mut root = stack.pop().ok_or("empty document")?;
        if !stack.is_empty() {
            return Err("unclosed elements".into());
        }
        root.children.pop().ok_or_else(|| "no root element".into())
    }

    pub fn children<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a Element> + use<'a, 'n> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Trimmed text of the first direct child named `name`.
    pub fn child_text(&self, name: &str) -> Option<String> {
        self.children(name).next().map(|c| c.text.trim().to_owned())
    }

    /// All elements named `name` below (not including) this one, document order.
    pub fn descendants(&self, name: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
            for c in &e.children {
                if c.name == name {
                    out.push(c);
                }
                walk(c, name, out);
            }
        }
        walk(self, name, &mut out);
        out
    }

    /// Follow a path of direct children, e.g. `["SyncHdr", "Source", "LocURI"]`.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for p in path {
            cur = cur.children(p).next()?;
        }
        Some(cur)
    }
}

// ---------------------------------------------------------------------------
// SyncEvolution as a server (peers/syncevo-server.sh): the reference peer for
// the harness self-test and for syncmld's client role.

/// Options for [`SyncEvoServer::start`].
#[derive(Debug, Clone)]
pub struct SyncEvoServerOpts {
    /// The server's address book folder.
    pub vcf_dir: PathBuf,
    /// Config/state dir; reuse it to keep the server's anchors across runs.
    pub state_dir: PathBuf,
    /// Wire dumps: `DIR/session-NNN/NN-client.xml|NN-server.xml`.
    pub dump_dir: PathBuf,
    /// `None`: no credentials required.
    pub credentials: Option<(String, String)>,
    /// Device ids (SyncHdr Source LocURI) of accepted clients; SyncEvolution
    /// answers unknown ones with HTTP 500.
    pub client_device_ids: Vec<String>,
    pub max_msg_size: Option<u32>,
    pub uri: Option<String>,
}

impl SyncEvoServerOpts {
    /// Folders below `base`, user alice/secret, device `syncevo-client`.
    pub fn new(base: &Path) -> Self {
        Self {
            vcf_dir: base.join("vcf"),
            state_dir: base.join("state"),
            dump_dir: base.join("dumps"),
            credentials: Some(("alice".into(), "secret".into())),
            client_device_ids: vec!["syncevo-client".into()],
            max_msg_size: None,
            uri: None,
        }
    }
}

/// A running SyncEvolution server on 127.0.0.1; stopped on drop.
#[derive(Debug)]
pub struct SyncEvoServer {
    /// Supervisor PID printed by the script.
    pub pid: u32,
    /// `http://127.0.0.1:PORT/syncevolution`
    pub url: String,
    pub opts: SyncEvoServerOpts,
    stopped: bool,
}

impl SyncEvoServer {
    pub fn start(opts: SyncEvoServerOpts) -> Self {
        let mut last_error = String::new();
        // The port is probed free and then handed to the script, so another
        // process may take it in between: retry with a new one.
        for _ in 0..3 {
            let mut cmd = Command::new("bash");
            cmd.arg(peers_dir().join("syncevo-server.sh"))
                .arg("start")
                .arg("--vcf-dir")
                .arg(&opts.vcf_dir)
                .arg("--state")
                .arg(&opts.state_dir)
                .arg("--dump-dir")
                .arg(&opts.dump_dir)
                .args(["--port", &super::free_port().to_string()]);
            if let Some((user, password)) = &opts.credentials {
                cmd.args(["--user", user, "--password", password]);
            }
            for id in &opts.client_device_ids {
                cmd.args(["--client-device-id", id]);
            }
            if let Some(n) = opts.max_msg_size {
                cmd.args(["--max-msg-size", &n.to_string()]);
            }
            if let Some(uri) = &opts.uri {
                cmd.args(["--uri", uri]);
            }
            let out = run_with_timeout(cmd, None, Duration::from_secs(60));
            let field = |key: &str| {
                out.stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(key).map(str::trim).map(str::to_owned))
            };
            if out.status.is_some_and(|s| s.success())
                && let (Some(pid), Some(url)) = (field("PID="), field("URL="))
            {
                println!(
                    "syncevo-server started: PID={pid} URL={url} in {:.2} s",
                    out.duration.as_secs_f64()
                );
                return Self {
                    pid: pid.parse().unwrap(),
                    url,
                    opts,
                    stopped: false,
                };
            }
            last_error = format!(
                "status {:?}\nstdout:\n{}\nstderr:\n{}",
                out.status, out.stdout, out.stderr
            );
            if !out.stderr.contains("already in use") {
                break;
            }
        }
        panic!("syncevo-server.sh start failed: {last_error}");
    }

    /// `syncevo-server.sh stop PID` (about 1.6 s).
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let mut cmd = Command::new("bash");
        cmd.arg(peers_dir().join("syncevo-server.sh"))
            .arg("stop")
            .arg(self.pid.to_string());
        let out = run_with_timeout(cmd, None, Duration::from_secs(30));
        if out.status.is_some_and(|s| s.success()) {
            println!(
                "syncevo-server {} stopped in {:.2} s",
                self.pid,
                out.duration.as_secs_f64()
            );
        } else {
            eprintln!(
                "syncevo-server.sh stop {} failed ({:?}): {}{}",
                self.pid, out.status, out.stdout, out.stderr
            );
        }
        kill_leftovers(self.pid, &self.opts.state_dir);
    }

    /// Server-side transcripts, one folder per HTTP session, in order.
    pub fn session_transcripts(&self) -> Vec<Transcript> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.opts.dump_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs.iter().map(|d| Transcript::new(d)).collect()
    }
}

/// Last resort after `syncevo-server.sh stop`: a private dbus-daemon and
/// syncevo-dbus-server left behind would outlive the test run, so SIGKILL
/// whatever of the supervisor and its children (recorded by the script in
/// STATE/child-pids) is still alive.
fn kill_leftovers(supervisor: u32, state_dir: &Path) {
    let mut pids = vec![supervisor];
    if let Ok(text) = std::fs::read_to_string(state_dir.join("child-pids")) {
        pids.extend(
            text.split_whitespace()
                .filter_map(|kv| kv.split_once('=')?.1.parse::<u32>().ok()),
        );
    }
    for pid in pids {
        // SAFETY: kill(2) with signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        // Only ours: a reused PID would no longer name a syncevo/dbus process.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains("syncevo")
            || String::from_utf8_lossy(&cmdline).contains(&*state_dir.to_string_lossy());
        if alive && ours {
            eprintln!("syncevo-server: killing leftover process {pid}");
            super::signal_pid(pid, libc::SIGKILL);
        }
    }
    let _ = std::fs::remove_file(format!("/tmp/syncevo-server.pid.{supervisor}"));
}

impl Drop for SyncEvoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
