//! `syncmld conformance`: arguments, the terminal table, JUnit and
//! transcript files, the exit status.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use crate::auth::Scheme;
use crate::http::client::HttpTransport;

use super::{
    ConformanceError, DEFAULT_DEVICE_PREFIX, DEVICES, HTTP_TIMEOUT, Options, ScenarioResult, junit,
    list, report, run, transcript,
};

/// Check a SyncML server against the conformance catalogue
/// (docs/conformance.md). Use a test account: the scenarios add, change
/// and delete contacts, and put the book back by content at the end.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The server's SyncML URL (http://…).
    #[arg(long, required_unless_present = "list")]
    pub url: Option<String>,
    /// The user name at the server.
    #[arg(long, required_unless_present = "list")]
    pub user: Option<String>,
    /// The password (or set SYNCMLD_CONFORMANCE_PASSWORD).
    #[arg(
        long,
        env = "SYNCMLD_CONFORMANCE_PASSWORD",
        hide_env_values = true,
        required_unless_present = "list"
    )]
    pub password: Option<String>,
    /// Credential scheme of the virtual devices.
    #[arg(long, default_value = "md5", value_parser = ["md5", "basic"])]
    pub auth: String,
    /// The server's contacts datastore (Alert Target).
    #[arg(long, default_value = "addressbook")]
    pub datastore: String,
    /// Only these scenarios: ids, groups (`auth`) or globs (`alert.20*`),
    /// comma-separated.
    #[arg(long, value_name = "PATTERN")]
    pub only: Option<String>,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the messages of failed scenarios below this folder (default:
    /// a new temporary folder, printed at the end).
    #[arg(long, value_name = "DIR")]
    pub keep_transcripts: Option<PathBuf>,
    /// Virtual devices are PREFIX-1 … PREFIX-3.
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_DEVICE_PREFIX)]
    pub device_prefix: String,
    /// Print the catalogue and exit.
    #[arg(long)]
    pub list: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Run(#[from] ConformanceError),
    #[error("{0} scenario(s) failed")]
    Failed(usize),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("--{0} is required")]
    Missing(&'static str),
}

pub fn main(args: Args) -> Result<(), CliError> {
    if args.list {
        for s in list() {
            println!("{:<34} {}\n{:<34} rule: {}", s.id, s.title, "", s.rule);
        }
        return Ok(());
    }
    let opts = Options {
        url: args.url.clone().ok_or(CliError::Missing("url"))?,
        user: args.user.clone().ok_or(CliError::Missing("user"))?,
        password: args.password.clone().ok_or(CliError::Missing("password"))?,
        auth: if args.auth == "basic" {
            Scheme::Basic
        } else {
            Scheme::Md5
        },
        datastore: args.datastore.clone(),
        only: args.only.clone(),
        device_prefix: args.device_prefix.clone(),
        ..Options::new("", "", "")
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    println!(
        "syncmld conformance: {} as {} ({}), datastore {}, devices {}-1…{}-{DEVICES}",
        opts.url,
        opts.user,
        opts.auth.name(),
        opts.datastore,
        opts.device_prefix,
        opts.device_prefix
    );
    println!("{}", report::table_header());
    let mut saver = Saver {
        dir: args.keep_transcripts.clone(),
        saved: HashMap::new(),
        errors: Vec::new(),
    };
    let transport = HttpTransport::new(HTTP_TIMEOUT);
    let report = rt.block_on(run(&opts, transport, &mut |r| {
        println!("{}", report::table_row(r));
        let _ = std::io::stdout().flush();
        if r.verdict.is_fail() {
            saver.save(r);
        }
    }))?;
    println!();
    println!("server: {}", report.server);
    println!("{}", report.summary());
    println!("{}", report.final_state_line());
    if let Some(dir) = &saver.dir
        && !saver.saved.is_empty()
    {
        println!("transcripts of failed scenarios: {}", dir.display());
    }
    for e in &saver.errors {
        eprintln!("syncmld: {e}");
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&report, &saver.saved)).map_err(|source| {
            CliError::Write {
                path: path.clone(),
                source,
            }
        })?;
    }
    match report.failures() {
        0 => Ok(()),
        n => Err(CliError::Failed(n)),
    }
}

/// Writes failed scenarios' transcripts as they come.
struct Saver {
    dir: Option<PathBuf>,
    saved: HashMap<&'static str, PathBuf>,
    errors: Vec<String>,
}

impl Saver {
    fn save(&mut self, r: &ScenarioResult) {
        let dir = match &self.dir {
            Some(d) => d.clone(),
            None => match transcript::temp_dir() {
                Ok(d) => {
                    self.dir = Some(d.clone());
                    d
                }
                Err(e) => {
                    self.errors.push(format!("no folder for transcripts: {e}"));
                    return;
                }
            },
        };
        match transcript::save(&dir, r.id, &r.transcript) {
            Ok(p) => {
                self.saved.insert(r.id, p);
            }
            Err(e) => self.errors.push(format!(
                "writing the transcript of {} below {}: {e}",
                r.id,
                dir.display()
            )),
        }
    }
}
