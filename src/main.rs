//! `syncmld`: command-line glue. Parses arguments, loads the configuration,
//! and hands over to the library; no protocol logic lives here.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use syncmld::config::{self, Config};
use syncmld::daemon;
use syncmld::ops::admin_api::{self, Request};
use syncmld::ops::admin_socket::{self, Admin};
use syncmld::ops::{self, check_config, import_export};

/// mimalloc instead of glibc's malloc: the message path (XML, vCards, sled's
/// pages) allocates many small short-lived objects; docs/performance.md has
/// the measured difference.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "syncmld",
    version,
    about = "SyncML (OMA DS 1.2) contact-sync daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (server role) until SIGTERM/SIGINT; SIGHUP reloads.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides server.listen).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check the configuration layers: unknown keys (with the closest valid
    /// name), syntax errors and bad values, with file and line.
    CheckConfig {
        /// Configuration file, layered over the built-in defaults and /etc/syncmld/syncmld.toml.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Client role: sync with the configured peers now and print what moved.
    Sync {
        #[command(flatten)]
        common: Common,
        /// Only this peer (default: every configured peer).
        #[arg(long)]
        peer: Option<String>,
        /// two-way, slow, one-way-from-client, refresh-from-client,
        /// one-way-from-server or refresh-from-server (default: the peer's mode).
        #[arg(long)]
        mode: Option<String>,
        /// Show each peer's last result instead of syncing.
        #[arg(long)]
        status: bool,
    },
    /// Check any SyncML server against the conformance catalogue.
    Conformance(syncmld::conformance::cli::Args),
    /// Manage users (through the running daemon, or on the store when stopped).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage devices (through the running daemon, or on the store when stopped).
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Users, devices, contacts and store size.
    Stats {
        #[command(flatten)]
        common: Common,
    },
    /// Write a user's contacts as a vdir (one .vcf per contact) or, when
    /// --out ends in .vcf, as one multi-vCard file.
    Export {
        #[arg(long)]
        user: String,
        #[arg(long, value_name = "DIR|FILE.vcf")]
        out: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Add the contacts of a vdir or a multi-vCard file to a user's book;
    /// contacts already there are skipped. Devices get them on their next sync.
    Import {
        #[arg(long)]
        user: String,
        #[arg(value_name = "DIR|FILE")]
        path: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Load generator: N virtual SyncML clients against any SyncML server;
    /// prints sessions/s, round trips, latency percentiles, bytes, errors.
    Bench(Box<BenchArgs>),
    /// Conflicts and how they were resolved: `list` (default) or `show ID`
    /// (both versions and the result).
    Conflicts {
        #[arg(value_parser = ["list", "show"], default_value = "list")]
        action: String,
        /// The conflict to show (from the list).
        id: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// The server's SyncML URL (http://).
    #[arg(long)]
    url: String,
    /// Virtual clients running at once (each its own device id).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Measured sessions per client, after one warm-up (slow) sync each.
    #[arg(long, default_value_t = 10)]
    sessions: usize,
    /// Contacts in each user's book.
    #[arg(long, default_value_t = 0)]
    contacts: usize,
    /// Contacts each client changes before each measured session.
    #[arg(long, default_value_t = 0)]
    changes: usize,
    /// Mode of the measured sessions: two-way, slow, one-way-from-client, ...
    #[arg(long, default_value = "two-way")]
    mode: String,
    /// Every client syncs as this user.
    #[arg(long, conflicts_with = "users_prefix")]
    user: Option<String>,
    /// Users PREFIX0, PREFIX1, ...: client i syncs as user i mod --users.
    #[arg(long, value_name = "PREFIX")]
    users_prefix: Option<String>,
    /// How many --users-prefix users (default: one per client).
    #[arg(long, requires = "users_prefix")]
    users: Option<usize>,
    #[arg(long, default_value = "bench")]
    password: String,
    /// Client i has device id PREFIXi.
    #[arg(long, default_value = "syncmld-bench-")]
    device_prefix: String,
    /// The server's datastore URI.
    #[arg(long, default_value = "addressbook")]
    uri: String,
    /// Credentials: md5 or basic.
    #[arg(long, default_value = "md5")]
    auth: String,
    #[arg(long, default_value_t = 150_000)]
    max_msg_size: u64,
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// syncmld's admin socket: add the users and import their contacts first.
    #[arg(long, value_name = "PATH")]
    prepare_admin_socket: Option<PathBuf>,
    /// Contacts from this vdir or .vcf file instead of generated ones.
    #[arg(long, value_name = "DIR|FILE")]
    vcards: Option<PathBuf>,
    /// Seed of the generated contacts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A server process on this machine to report CPU time and memory of (repeatable).
    #[arg(long = "server-pid", value_name = "PID")]
    server_pids: Vec<u32>,
    /// syncmld's /metrics URL, read before and after the measured phase.
    #[arg(long)]
    metrics_url: Option<String>,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads of the load generator (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Clone)]
struct Common {
    /// Configuration file, layered over the built-in defaults and /etc/syncmld/syncmld.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (overrides storage.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from the first line of stdin.
    Add {
        name: String,
        #[command(flatten)]
        common: Common,
        /// Only devices registered with `syncmld device add` may sync for this user.
        #[arg(long)]
        restrict_devices: bool,
        /// Replace the password of an existing user.
        #[arg(long)]
        replace: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a user with all their contacts, devices and sync state.
    Remove {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Change a user's password (read from the first line of stdin).
    Passwd {
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
enum DeviceCmd {
    /// Register a device (SyncHdr Source LocURI) for a user.
    Add {
        user: String,
        device: String,
        #[command(flatten)]
        common: Common,
        /// Read a shared secret for the device credentials from stdin.
        #[arg(long)]
        secret_stdin: bool,
    },
    /// List a user's devices.
    List {
        user: String,
        #[command(flatten)]
        common: Common,
    },
    /// Forget a device: its registration, maps and sync state (its next
    /// sync is a slow sync).
    Remove {
        user: String,
        device: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set a device's shared secret (read from the first line of stdin).
    Secret {
        user: String,
        device: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set a device's conflict policy: merge, server-wins, client-wins,
    /// duplicate, newer-wins, or default (the server's).
    Policy {
        user: String,
        device: String,
        policy: String,
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("syncmld: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { common, listen } => {
            let mut cfg = load_config(&common)?;
            if let Some(addr) = listen {
                cfg.server.listen = addr;
            }
            let log = daemon::init_logging(&cfg.log);
            let reload_common = common.clone();
            let loader: ops::ConfigLoader = Box::new(move || {
                let mut c = load_config_typed(&reload_common)?;
                if let Some(addr) = listen {
                    c.server.listen = addr;
                }
                Ok(c)
            });
            // Blocking threads run the engine step and apply its
            // transaction (the flush is awaited on the runtime). Hundreds
            // only add thread switches and, each with its own allocator
            // heap, memory; 4 were faster on a small store but slower on a
            // 1M-contact one, where sled reads wait for the disk
            // (docs/performance.md, third round).
            let rt = tokio::runtime::Builder::new_multi_thread()
                .max_blocking_threads(16)
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let control = daemon::Control {
                log,
                loader: Some(loader),
            };
            match cfg.role {
                config::Role::Server => rt.block_on(daemon::serve(cfg, control)),
                config::Role::Client => rt.block_on(syncmld::client_daemon::serve(cfg, control)),
            }
        }
        Command::CheckConfig { config: file } => check_config(file.as_deref()),
        Command::Sync {
            common,
            peer,
            mode,
            status,
        } => {
            let cfg = load_config(&common)?;
            daemon::init_logging(&cfg.log);
            let mode = match mode.as_deref() {
                None => None,
                Some(m) => Some(config::mode_by_name(m).with_context(|| {
                    format!(
                        "unknown mode {m:?}: use {}",
                        config::MODES.map(|(n, _)| n).join(", ")
                    )
                })?),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            // A running client daemon holds the store (sled is
            // single-process): then the request goes through its local API.
            let local = open_store_unless_daemon(&cfg)?;
            if status {
                let lines = match &local {
                    None => rt.block_on(syncmld::client_daemon::status_via_daemon(&cfg))?,
                    Some(store) => syncmld::client_role::status_lines(&cfg, store)?,
                };
                for line in lines {
                    println!("{line}");
                }
                return Ok(());
            }
            let failures = match local {
                None => rt.block_on(syncmld::client_daemon::sync_via_daemon(
                    &cfg,
                    peer.as_deref(),
                    mode,
                ))?,
                Some(store) => rt.block_on(syncmld::client_role::sync_now(
                    &cfg,
                    std::sync::Arc::new(store),
                    peer.as_deref(),
                    mode,
                ))?,
            };
            if failures > 0 {
                bail!("{failures} peer(s) failed");
            }
            Ok(())
        }
        Command::Conformance(args) => Ok(syncmld::conformance::cli::main(args)?),
        Command::User(UserCmd::Add {
            name,
            common,
            restrict_devices,
            replace,
        }) => {
            let admin = connect(&common)?;
            let password = read_secret("password")?;
            call(
                &admin,
                Request::UserAdd {
                    name,
                    password,
                    restrict_devices,
                    replace,
                },
            )
        }
        Command::User(UserCmd::List { common }) => call(&connect(&common)?, Request::UserList),
        Command::User(UserCmd::Remove { name, common }) => {
            call(&connect(&common)?, Request::UserRemove { name })
        }
        Command::User(UserCmd::Passwd { name, common }) => {
            let admin = connect(&common)?;
            let password = read_secret("new password")?;
            call(&admin, Request::UserPasswd { name, password })
        }
        Command::Device(DeviceCmd::Add {
            user,
            device,
            common,
            secret_stdin,
        }) => {
            let admin = connect(&common)?;
            let secret = if secret_stdin {
                Some(read_secret("device secret")?)
            } else {
                None
            };
            call(
                &admin,
                Request::DeviceAdd {
                    user,
                    device,
                    secret,
                },
            )
        }
        Command::Device(DeviceCmd::List { user, common }) => {
            call(&connect(&common)?, Request::DeviceList { user })
        }
        Command::Device(DeviceCmd::Remove {
            user,
            device,
            common,
        }) => call(&connect(&common)?, Request::DeviceRemove { user, device }),
        Command::Device(DeviceCmd::Secret {
            user,
            device,
            common,
        }) => {
            let admin = connect(&common)?;
            let secret = read_secret("device secret")?;
            call(
                &admin,
                Request::DeviceSecret {
                    user,
                    device,
                    secret,
                },
            )
        }
        Command::Device(DeviceCmd::Policy {
            user,
            device,
            policy,
            common,
        }) => call(
            &connect(&common)?,
            Request::DevicePolicy {
                user,
                device,
                policy: Some(policy),
            },
        ),
        Command::Stats { common } => call(&connect(&common)?, Request::Stats),
        Command::Conflicts {
            action,
            id,
            user,
            common,
        } => {
            if action == "show" && id.is_none() {
                bail!("conflicts show needs the ID from `syncmld conflicts list`");
            }
            let id = if action == "show" { id } else { None };
            call(&connect(&common)?, Request::Conflicts { user, id })
        }
        Command::Export { user, out, common } => export(&connect(&common)?, &user, &out),
        Command::Bench(args) => bench(*args),
        Command::Import { user, path, common } => import(&connect(&common)?, &user, &path),
    }
}

fn load_config_typed(common: &Common) -> Result<Config, config::ConfigError> {
    let etc = Path::new(config::ETC_CONFIG);
    let mut cfg = config::load(common.config.as_deref(), Some(etc))?;
    if let Some(dir) = &common.data_dir {
        let dir = std::path::absolute(dir).map_err(config::ConfigError::WorkingDir)?;
        cfg.set_data_dir(dir);
    }
    Ok(cfg)
}

fn load_config(common: &Common) -> Result<Config> {
    Ok(load_config_typed(common)?)
}

fn check_config(file: Option<&Path>) -> Result<()> {
    let cwd = std::env::current_dir().context("working directory")?;
    let env = config::process_env()?;
    let report = check_config::check(&config::Sources {
        config_file: file,
        etc_file: Some(Path::new(config::ETC_CONFIG)),
        env,
        cwd: &cwd,
    });
    for f in &report.findings {
        println!("{f}");
    }
    match report.config {
        Some(cfg) if report.findings.is_empty() => {
            println!(
                "configuration OK: listen {}{}, data {}, admin socket {}",
                cfg.server.listen,
                cfg.server.path,
                cfg.storage.data_dir.display(),
                if cfg.admin.enabled {
                    cfg.admin.socket.display().to_string()
                } else {
                    "off".into()
                }
            );
            Ok(())
        }
        _ => bail!(
            "{} problem{} in the configuration",
            report.findings.len(),
            if report.findings.len() == 1 { "" } else { "s" }
        ),
    }
}

/// Through the running daemon's admin socket when one answers there, else
/// on the store directly (which fails while another process holds it).
fn connect(common: &Common) -> Result<Admin> {
    let cfg = load_config(common)?;
    if admin_socket::daemon_listening(&cfg.admin.socket) {
        return Ok(Admin::Socket(cfg.admin.socket));
    }
    let store = daemon::open_store(&cfg).with_context(|| {
        format!(
            "no daemon answers on the admin socket {}",
            cfg.admin.socket.display()
        )
    })?;
    Ok(Admin::Direct {
        store: Box::new(store),
        max_item_bytes: cfg.server.max_obj_size.get(),
    })
}

fn call(admin: &Admin, req: Request) -> Result<()> {
    let reply = admin.call(req)?;
    let text = admin_api::render(&reply);
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// A progress bar on a terminal, a plain line per step otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: &'static str,
    total: Option<u64>,
    done: u64,
}

impl Progress {
    fn new(what: &'static str, total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style =
                indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
                    .map(|s| s.progress_chars("=> "))
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            if total.is_some() {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar
        });
        Progress {
            bar,
            what,
            total,
            done: 0,
        }
    }

    fn inc(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => match self.total {
                Some(t) => eprintln!("{}: {}/{t}", self.what, self.done),
                None => eprintln!("{}: {}", self.what, self.done),
            },
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

const BATCH: usize = 250;

fn import(admin: &Admin, user: &str, path: &Path) -> Result<()> {
    let cards = import_export::read_cards(path)?;
    let mut progress = Progress::new("importing", Some(cards.len() as u64));
    let mut total = import_export::ImportCounts::default();
    for chunk in cards.chunks(BATCH) {
        let reply = admin.call(Request::ImportBatch {
            user: user.to_owned(),
            cards: chunk.to_vec(),
        });
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        };
        let admin_api::Reply::Imported(counts) = reply else {
            bail!("unexpected reply to an import batch");
        };
        total.add(counts);
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    println!("{}", admin_api::render(&admin_api::Reply::Imported(total)));
    Ok(())
}

fn export(admin: &Admin, user: &str, out: &Path) -> Result<()> {
    let target = import_export::ExportTarget::from_path(out);
    let mut writer = import_export::ExportWriter::create(target)?;
    let mut progress = Progress::new("exporting", None);
    let mut after = String::new();
    loop {
        let reply = admin.call(Request::ExportPage {
            user: user.to_owned(),
            after: after.clone(),
            limit: BATCH,
        });
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        };
        let admin_api::Reply::ExportPage { cards, next } = reply else {
            bail!("unexpected reply to an export request");
        };
        for (guid, card) in &cards {
            writer.write(guid, card)?;
        }
        progress.inc(cards.len() as u64);
        match next {
            Some(n) => after = n,
            None => break,
        }
    }
    progress.finish();
    let n = writer.finish()?;
    println!("{n} contacts exported to {}", out.display());
    Ok(())
}

fn bench(a: BenchArgs) -> Result<()> {
    use syncmld::bench::{self, BenchOptions, Users};
    let mode = config::mode_by_name(&a.mode).with_context(|| {
        format!(
            "unknown mode {:?}: use {}",
            a.mode,
            config::MODES.map(|(n, _)| n).join(", ")
        )
    })?;
    let scheme = match a.auth.as_str() {
        "md5" => syncmld::auth::Scheme::Md5,
        "basic" => syncmld::auth::Scheme::Basic,
        other => bail!("unknown --auth {other:?}: use md5 or basic"),
    };
    let users = match (a.user, a.users_prefix) {
        (Some(user), _) => Users::One { user },
        (None, Some(prefix)) => Users::Prefixed {
            prefix,
            count: a.users.unwrap_or(a.clients).max(1),
        },
        (None, None) => Users::One {
            user: "bench".into(),
        },
    };
    let opts = BenchOptions {
        url: a.url,
        clients: a.clients,
        sessions: a.sessions,
        contacts: a.contacts,
        changes: a.changes,
        mode,
        users,
        password: a.password,
        device_prefix: a.device_prefix,
        remote_uri: a.uri,
        scheme,
        max_msg_size: a.max_msg_size,
        timeout: std::time::Duration::from_secs(a.timeout_secs),
        prepare_socket: a.prepare_admin_socket,
        vcards: a.vcards,
        seed: a.seed,
        server_pids: a.server_pids,
        metrics_url: a.metrics_url,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = a.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    let report = rt.block_on(bench::run(&opts))?;
    print!("{}", bench::render(&report));
    if let Some(path) = a.json {
        let json = serde_json::to_vec_pretty(&report).context("encoding the report")?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The client's store, or `None` when a running daemon holds it (its local
/// API answers on `server.listen`). A store locked while nothing answers
/// there belongs to a process that is exiting — sled releases its lock a
/// moment after the last handle is gone, from a background thread — so it
/// is tried again for a few seconds instead of being taken for a daemon
/// (regression: `interop_client_role::multi_message_with_a_large_contact_and_md5`
/// failed now and then when `syncmld sync` started right after another
/// process closed the store).
fn open_store_unless_daemon(cfg: &Config) -> Result<Option<syncmld::store::SledStore>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match daemon::open_store(cfg) {
            Ok(store) => return Ok(Some(store)),
            Err(e) => {
                let listen = cfg.server.listen;
                let answering = std::net::TcpStream::connect_timeout(
                    &listen,
                    std::time::Duration::from_millis(500),
                )
                .is_ok();
                if answering {
                    return Ok(None);
                }
                if std::time::Instant::now() >= deadline {
                    return Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

/// One line from stdin (without prompting when stdin is not a terminal).
fn read_secret(what: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("{what}: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from stdin"))?;
    let value = line.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        bail!("no {what} on stdin");
    }
    Ok(value)
}
