//! `syncmld conformance`: drive any SyncML server through a catalogue of
//! scenarios and report pass, fail or skip (with the reason) for each.
//!
//! * [`catalogue`] lists the scenarios: id, title, the rule checked (a
//!   section of `syncml-protocol.md` or docs/sync-rules.md), and the code.
//! * Scenarios use virtual devices ([`device`]): the client engine over an
//!   in-memory store, device ids `PREFIX-1`, `PREFIX-2`, … Where the engine
//!   would never produce the message under test (no Cred, a resend, a Map in
//!   the next session, malformed XML…) they script the exchange ([`raw`]).
//! * Every message is recorded ([`wire::Recorder`]); a failed scenario's
//!   exchange is kept and written out ([`transcript`]).
//! * Before the scenarios the runner reads the server's DevInf (optional
//!   capabilities decide skips) and its address book (the *baseline*).
//!   Scenarios put the book back as they found it — by content; see
//!   docs/conformance.md for what is left behind.
//!
//! The runner is one task doing one thing at a time: scenarios share the
//! server's book, so they never run in parallel.

mod catalogue;
pub mod cli;
mod ctx;
mod device;
mod inspect;
pub mod junit;
mod raw;
pub mod report;
mod scenarios;
mod server_info;
pub mod transcript;
pub mod vcard;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::Scheme;
use crate::sync_client::Transport;

pub use catalogue::{ScenarioInfo, list};
pub use report::{FinalState, RunReport, ScenarioResult, Verdict};

/// What to check and how to reach it.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's SyncML URL.
    pub url: String,
    pub user: String,
    pub password: String,
    /// `Scheme::Md5` or `Scheme::Basic`.
    pub auth: Scheme,
    /// The server's contacts datastore (Alert Target).
    pub datastore: String,
    /// Only scenarios matching (see [`catalogue::matches`]); `None` = all.
    pub only: Option<String>,
    /// Virtual device ids are `PREFIX-1`, `PREFIX-2`, ….
    pub device_prefix: String,
    /// MaxMsgSize the virtual devices announce (except where a scenario
    /// asks for small messages).
    pub max_msg_size: u64,
}

impl Options {
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        Options {
            url: url.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            auth: Scheme::Md5,
            datastore: "addressbook".into(),
            only: None,
            device_prefix: DEFAULT_DEVICE_PREFIX.into(),
            max_msg_size: 150_000,
        }
    }
}

pub const DEFAULT_DEVICE_PREFIX: &str = "syncmld-conformance";

/// How many device ids the catalogue uses (`PREFIX-1` … `PREFIX-3`); a
/// server that admits devices by id must know them all.
pub const DEVICES: usize = 3;

/// Why the run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("no scenario matches {0:?} (see --list)")]
    NoMatch(String),
    #[error("cannot reach the server or open a session: {0}")]
    Setup(String),
}

/// Run the catalogue (or the scenarios `opts.only` selects) against the
/// server behind `transport`. `progress` sees each result as it is known.
pub async fn run<T: Transport + 'static>(
    opts: &Options,
    transport: T,
    progress: &mut dyn FnMut(&ScenarioResult),
) -> Result<RunReport, ConformanceError> {
    let selected: Vec<&catalogue::Scenario> = catalogue::SCENARIOS
        .iter()
        .filter(|s| catalogue::matches(opts.only.as_deref(), s.id))
        .collect();
    if selected.is_empty() {
        return Err(ConformanceError::NoMatch(
            opts.only.clone().unwrap_or_default(),
        ));
    }
    let started = Instant::now();
    let mut cx = ctx::Ctx::new(opts.clone(), Arc::new(transport));
    let setup = cx.setup().await;
    let setup_transcript = cx.rec.take();
    if let Err(e) = setup {
        return Err(ConformanceError::Setup(format!(
            "{e}{}",
            describe_last(&setup_transcript)
        )));
    }
    let mut results = Vec::new();
    for sc in selected {
        let t = Instant::now();
        cx.begin_scenario();
        let verdict = match (sc.run)(&cx).await {
            Ok(scenarios::Pass::Ok(detail)) => Verdict::Pass(detail),
            Ok(scenarios::Pass::Skip(reason)) => Verdict::Skip(reason),
            Err(fail) => Verdict::Fail(fail.to_string()),
        };
        let elapsed = t.elapsed();
        let transcript = cx.rec.take();
        let mut result = ScenarioResult {
            id: sc.id,
            title: sc.title,
            rule: sc.rule,
            verdict,
            elapsed,
            transcript: Vec::new(),
            note: None,
        };
        if result.verdict.is_fail() {
            result.transcript = transcript;
        }
        if cx.needs_cleanup() {
            // A scenario that failed half-way may have left contacts behind.
            if let Err(e) = cx.janitor().await {
                result.note = Some(format!("cleanup failed: {e}"));
            }
            cx.rec.take();
        }
        progress(&result);
        results.push(result);
    }
    let final_state = cx.final_state().await;
    cx.rec.take();
    Ok(RunReport {
        server: cx.server.summary(),
        results,
        final_state,
        elapsed: started.elapsed(),
    })
}

/// The last exchange of a failed setup, for the error message.
fn describe_last(exchanges: &[wire::Exchange]) -> String {
    match exchanges.last() {
        None => String::new(),
        Some(x) => match &x.reply {
            Err(e) => format!(" (POST {}: {e})", x.url),
            Ok(b) => format!(
                " (last reply from {}: {} bytes: {})",
                x.url,
                b.len(),
                String::from_utf8_lossy(&b[..b.len().min(300)])
            ),
        },
    }
}

/// Per-request timeout of the HTTP transport: a server may take seconds on
/// a message with 1,000 contacts.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(120);
