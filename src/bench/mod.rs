//! `syncmld bench`: a load generator of N virtual SyncML clients against
//! any SyncML server over HTTP, and what it measured.
//!
//! Each virtual client is the client engine with an in-memory store (no
//! daemon state), with its own device id. Clients map to users round robin
//! over the user list (one user, or `PREFIX0..PREFIXn`), so several clients
//! of one user share its book — and, on syncmld, its lock — while distinct
//! users sync in parallel.
//!
//! A run has two phases. **Warm-up** (not in the figures): every client's
//! first session, a slow sync; the first client of each user goes first
//! and, unless the server's books were prepared through the admin socket,
//! carries the user's `--contacts` cards to the server; the others then
//! fetch them. **Measured**: every client runs `--sessions` sessions in
//! `--mode`, each after `--changes` local edits, all clients at once.
//!
//! Modules: `client` (a virtual client and its timing transport), `stats`
//! (percentiles, the phase summary), `probe` (server CPU/RSS from /proc,
//! syncmld's /metrics), `prepare` (admin socket), `vcards` (test data),
//! `report` (the printed form).

mod client;
pub mod inproc;
mod prepare;
pub mod probe;
mod report;
pub mod stats;
pub mod vcards;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::Scheme;
use crate::http::client::HttpTransport;
use crate::protocol::alert;

pub use client::{ClientSettings, Identity, VirtualClient};
pub use report::render;
use stats::{PhaseReport, SessionSample};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Options(String),
    #[error("preparing the server: {0}")]
    Prepare(String),
    #[error("reading the server's figures: {0}")]
    Probe(String),
    #[error("the contacts to load: {0}")]
    Vcards(#[from] crate::ops::import_export::VcfError),
    #[error("a virtual client's store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("a virtual client's store: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("a benchmark task failed: {0}")]
    Task(String),
}

/// Which users the clients sync as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Users {
    /// Every client as this one user.
    One { user: String },
    /// `count` users `PREFIX0 ..`; client i is user i mod count.
    Prefixed { prefix: String, count: usize },
}

impl Users {
    pub fn names(&self) -> Vec<String> {
        match self {
            Users::One { user } => vec![user.clone()],
            Users::Prefixed { prefix, count } => {
                (0..*count).map(|i| format!("{prefix}{i}")).collect()
            }
        }
    }
}

/// A benchmark run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub url: String,
    pub clients: usize,
    /// Measured sessions per client.
    pub sessions: usize,
    /// Cards in each user's book.
    pub contacts: usize,
    /// Local edits before each measured session.
    pub changes: usize,
    /// Alert code of the measured sessions.
    pub mode: u16,
    pub users: Users,
    pub password: String,
    /// Client i is device `{device_prefix}{i}`.
    pub device_prefix: String,
    pub remote_uri: String,
    pub scheme: Scheme,
    pub max_msg_size: u64,
    pub timeout: Duration,
    /// syncmld's admin socket: add the users and fill their books there.
    pub prepare_socket: Option<PathBuf>,
    /// Cards from this vdir or .vcf file instead of generated ones.
    pub vcards: Option<PathBuf>,
    pub seed: u64,
    /// Server processes to read CPU time and memory of (same machine).
    pub server_pids: Vec<u32>,
    /// syncmld's /metrics, read before and after the measured phase.
    pub metrics_url: Option<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            url: String::new(),
            clients: 1,
            sessions: 10,
            contacts: 0,
            changes: 0,
            mode: alert::TWO_WAY,
            users: Users::One {
                user: "bench".into(),
            },
            password: "bench".into(),
            device_prefix: "syncmld-bench-".into(),
            remote_uri: "addressbook".into(),
            scheme: Scheme::Md5,
            max_msg_size: 150_000,
            timeout: Duration::from_secs(60),
            prepare_socket: None,
            vcards: None,
            seed: 1,
            server_pids: Vec::new(),
            metrics_url: None,
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub url: String,
    pub clients: usize,
    pub users: usize,
    pub sessions_per_client: usize,
    pub contacts: usize,
    pub changes: usize,
    pub mode: u16,
    /// Cards the admin socket added to the server's books.
    pub prepared_cards: Option<u64>,
    pub warmup: PhaseReport,
    pub measured: PhaseReport,
    /// CPU and memory of `server_pids` during the measured phase.
    pub server: Option<probe::ServerUsage>,
    /// syncmld's /metrics counters over the measured phase.
    pub server_counters: Option<probe::ServerCounters>,
}

/// Run the benchmark.
pub async fn run(opts: &BenchOptions) -> Result<BenchReport, BenchError> {
    if opts.clients == 0 {
        return Err(BenchError::Options("--clients must be at least 1".into()));
    }
    if !opts.url.starts_with("http://") {
        return Err(BenchError::Options(format!(
            "{}: only http:// URLs are supported",
            opts.url
        )));
    }
    let source = match &opts.vcards {
        Some(path) => Some(vcards::read(path)?),
        None => None,
    };
    let cards = vcards::book(opts.seed, opts.contacts, source.as_deref());
    let users = opts.users.names();
    if users.is_empty() {
        return Err(BenchError::Options("no users".into()));
    }

    let prepared_cards = match &opts.prepare_socket {
        Some(socket) => {
            let (socket, users, password, cards) = (
                socket.clone(),
                users.clone(),
                opts.password.clone(),
                cards.clone(),
            );
            eprintln!(
                "bench: preparing {} users on {}",
                users.len(),
                socket.display()
            );
            let n = tokio::task::spawn_blocking(move || {
                prepare::prepare(&socket, &users, &password, &cards)
            })
            .await
            .map_err(|e| BenchError::Task(e.to_string()))??;
            Some(n)
        }
        None => None,
    };

    let settings = ClientSettings {
        url: opts.url.clone(),
        remote_uri: opts.remote_uri.clone(),
        scheme: opts.scheme,
        max_msg_size: opts.max_msg_size,
    };
    let mut clients = Vec::with_capacity(opts.clients);
    for i in 0..opts.clients {
        let id = Identity {
            user: users[i % users.len()].clone(),
            password: opts.password.clone(),
            device_id: format!("{}{i}", opts.device_prefix),
        };
        // The user's first client brings the cards unless the server has them.
        let seeds = i < users.len() && prepared_cards.is_none();
        let own: &[String] = if seeds { &cards } else { &[] };
        clients.push(VirtualClient::new(&id, &settings, own)?);
    }
    let transport = Arc::new(HttpTransport::new(opts.timeout));

    // Warm-up: first sessions (slow syncs), the users' first clients first.
    eprintln!("bench: warm-up, {} first sessions", clients.len());
    let started = Instant::now();
    let rest = clients.split_off(users.len().min(clients.len()));
    let (mut clients, mut warm) = phase(clients, &transport, 1, 0, alert::TWO_WAY).await?;
    let (rest, warm_rest) = phase(rest, &transport, 1, 0, alert::TWO_WAY).await?;
    clients.extend(rest);
    warm.extend(warm_rest);
    let warmup = PhaseReport::of(&warm, started.elapsed());

    // Measured phase.
    eprintln!(
        "bench: measuring, {} clients x {} sessions",
        clients.len(),
        opts.sessions
    );
    let cpu_before = match opts.server_pids.is_empty() {
        true => None,
        false => Some(probe::cpu_seconds(&opts.server_pids)?),
    };
    let counters_before = match &opts.metrics_url {
        Some(url) => Some(probe::scrape(&transport, url).await?),
        None => None,
    };
    let started = Instant::now();
    let (_clients, samples) =
        phase(clients, &transport, opts.sessions, opts.changes, opts.mode).await?;
    let wall = started.elapsed();
    let measured = PhaseReport::of(&samples, wall);

    let server = match cpu_before {
        Some(before) => {
            let cpu = probe::cpu_seconds(&opts.server_pids)? - before;
            let (rss, peak) = probe::memory_kib(&opts.server_pids)?;
            Some(probe::ServerUsage {
                cpu_seconds: cpu,
                cpu_ms_per_session: cpu * 1e3 / measured.sessions_ok.max(1) as f64,
                rss_kib: rss,
                peak_rss_kib: peak,
            })
        }
        None => None,
    };
    let server_counters = match (&opts.metrics_url, counters_before) {
        (Some(url), Some(before)) => Some(before.delta(&probe::scrape(&transport, url).await?)),
        _ => None,
    };
    Ok(BenchReport {
        url: opts.url.clone(),
        clients: opts.clients,
        users: users.len(),
        sessions_per_client: opts.sessions,
        contacts: opts.contacts,
        changes: opts.changes,
        mode: opts.mode,
        prepared_cards,
        warmup,
        measured,
        server,
        server_counters,
    })
}

/// Every client runs `sessions` sessions in `mode` (each after `changes`
/// local edits), all clients concurrently. Returns the clients for the
/// next phase and every session's sample.
async fn phase(
    clients: Vec<VirtualClient>,
    transport: &Arc<HttpTransport>,
    sessions: usize,
    changes: usize,
    mode: u16,
) -> Result<(Vec<VirtualClient>, Vec<SessionSample>), BenchError> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let transport = transport.clone();
        tasks.spawn(async move {
            let mut samples = Vec::with_capacity(sessions);
            for _ in 0..sessions {
                client.edit(changes)?;
                samples.push(client.session(mode, transport.as_ref()).await);
            }
            Ok::<_, BenchError>((i, client, samples))
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        done.push(joined.map_err(|e| BenchError::Task(e.to_string()))??);
    }
    // Keep client order stable (client i stays device i).
    done.sort_by_key(|(i, _, _)| *i);
    let mut clients = Vec::with_capacity(done.len());
    let mut samples = Vec::new();
    for (_, c, s) in done {
        clients.push(c);
        samples.extend(s);
    }
    Ok((clients, samples))
}
