//! `syncmld`: command-line glue. Parses arguments, loads the configuration,
//! and hands over to the library; no protocol logic lives here.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use syncmld::config::{self, Config};
use syncmld::{admin, daemon};

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
    /// Run the daemon (server role) until SIGTERM/SIGINT.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides server.listen).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
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
    /// Manage users (while the daemon is stopped).
    #[command(subcommand)]
    User(UserCmd),
    /// Manage devices (while the daemon is stopped).
    #[command(subcommand)]
    Device(DeviceCmd),
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
            daemon::init_logging(&cfg.log);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(daemon::serve(cfg))
        }
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
            if status {
                let store = daemon::open_store(&cfg)?;
                for line in syncmld::client_role::status_lines(&cfg, &store)? {
                    println!("{line}");
                }
                return Ok(());
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let failures =
                rt.block_on(syncmld::client_role::sync_now(&cfg, peer.as_deref(), mode))?;
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
            let cfg = load_config(&common)?;
            let password = read_secret("password")?;
            let store = daemon::open_store(&cfg)?;
            admin::add_user(
                &store,
                &name,
                &password,
                restrict_devices,
                replace,
                now_ms(),
            )?;
            println!("user {name} {}", if replace { "updated" } else { "added" });
            Ok(())
        }
        Command::User(UserCmd::List { common }) => {
            let cfg = load_config(&common)?;
            let store = daemon::open_store(&cfg)?;
            for (name, rec) in admin::list_users(&store)? {
                println!(
                    "{name}{}",
                    if rec.restrict_devices {
                        "\t(registered devices only)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        Command::Device(DeviceCmd::Add {
            user,
            device,
            common,
            secret_stdin,
        }) => {
            let cfg = load_config(&common)?;
            let secret = if secret_stdin {
                Some(read_secret("device secret")?)
            } else {
                None
            };
            let store = daemon::open_store(&cfg)?;
            admin::add_device(
                &store,
                &user,
                &device,
                secret.as_deref().map(str::as_bytes),
                now_ms(),
            )?;
            println!("device {device} registered for {user}");
            Ok(())
        }
        Command::Device(DeviceCmd::List { user, common }) => {
            let cfg = load_config(&common)?;
            let store = daemon::open_store(&cfg)?;
            for (device, rec) in admin::list_devices(&store, &user)? {
                let reg = if rec.registered { "registered" } else { "seen" };
                let secret = if rec.secret_key.is_some() {
                    ", has secret"
                } else {
                    ""
                };
                println!("{device}\t{reg}{secret}");
            }
            Ok(())
        }
    }
}

fn load_config(common: &Common) -> Result<Config> {
    let etc = Path::new(config::ETC_CONFIG);
    let mut cfg = config::load(common.config.as_deref(), Some(etc))?;
    if let Some(dir) = &common.data_dir {
        cfg.storage.data_dir = std::path::absolute(dir)
            .with_context(|| format!("data directory {}", dir.display()))?;
    }
    Ok(cfg)
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
