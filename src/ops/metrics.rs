//! Counters for `GET /metrics`, rendered in the Prometheus text exposition
//! format 0.0.4 (`text/plain; version=0.0.4`).
//!
//! [`Metrics`] implements the service's [`SyncObserver`] hook: it counts
//! what the messages themselves say (items by command in the client's and
//! our `Sync`, conflict statuses, the SyncHdr status) and what the service
//! reports (message results and latency, session ends). Gauges that live in
//! the store (size, users, devices) are read when scraped ([`Gauges`]).
//!
//! Nothing here holds contact data or user names: labels are fixed words.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::server::Report;
use crate::protocol::{Command, SyncMl, alert};
use crate::service::{MessageResult, SessionEnd, SyncObserver};
use crate::store::{KeyRange, KvRead, Store, Table};

/// Upper bounds (seconds) of the message latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

const MODES: [&str; 7] = [
    "two-way",
    "slow",
    "one-way-from-client",
    "refresh-from-client",
    "one-way-from-server",
    "refresh-from-server",
    "none",
];
const SESSION_RESULTS: [&str; 3] = ["completed", "failed", "abandoned"];
const COMMANDS: [&str; 3] = ["add", "replace", "delete"];
const CONFLICTS: [&str; 4] = ["server-won", "client-won", "duplicated", "merged"];

#[derive(Default)]
struct Inner {
    sessions: BTreeMap<(&'static str, &'static str), u64>,
    messages: BTreeMap<&'static str, u64>,
    items: BTreeMap<(&'static str, &'static str), u64>,
    conflicts: BTreeMap<&'static str, u64>,
    auth_failures: BTreeMap<u16, u64>,
    latency_counts: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
}

/// The daemon's counters.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gauges {
    pub sessions_active: u64,
    pub store_size_bytes: u64,
    pub users: u64,
    pub devices: u64,
}

impl Gauges {
    /// Read the store-backed gauges (a scan of the users and devices tables).
    pub fn read(
        store: &dyn Store,
        sessions_active: usize,
    ) -> Result<Gauges, crate::store::StoreError> {
        Ok(Gauges {
            sessions_active: sessions_active as u64,
            store_size_bytes: store.size_on_disk(),
            users: count(store, Table::Users)?,
            devices: count(store, Table::Devices)?,
        })
    }
}

fn count(store: &dyn KvRead, table: Table) -> Result<u64, crate::store::StoreError> {
    Ok(store.scan(table, &KeyRange::prefix(&[]), usize::MAX)?.len() as u64)
}

/// The configuration-independent name of a sync mode (alert code).
pub fn mode_name(mode: Option<u16>) -> &'static str {
    match mode {
        Some(alert::TWO_WAY) => MODES[0],
        Some(alert::SLOW_SYNC) => MODES[1],
        Some(alert::ONE_WAY_FROM_CLIENT) => MODES[2],
        Some(alert::REFRESH_FROM_CLIENT) => MODES[3],
        Some(alert::ONE_WAY_FROM_SERVER) => MODES[4],
        Some(alert::REFRESH_FROM_SERVER) => MODES[5],
        _ => MODES[6],
    }
}

/// Items per command in the `Sync`s of a message. A chunked item counts
/// once, on its last chunk.
fn count_items(msg: &SyncMl, mut f: impl FnMut(&'static str, u64)) {
    for cmd in &msg.body.commands {
        let Command::Sync(sync) = cmd else { continue };
        for op in &sync.commands {
            let (name, c) = match op {
                Command::Add(c) => (COMMANDS[0], c),
                Command::Replace(c) => (COMMANDS[1], c),
                Command::Delete(c) => (COMMANDS[2], c),
                _ => continue,
            };
            let n = c.items.iter().filter(|i| !i.more_data).count() as u64;
            if n > 0 {
                f(name, n);
            }
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let m = self.inner();
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "syncmld_sessions_total",
            "Sync sessions that ended, by sync mode and result.",
            "counter",
        );
        for ((mode, result), v) in &m.sessions {
            let _ = writeln!(
                out,
                "syncmld_sessions_total{{mode=\"{mode}\",result=\"{result}\"}} {v}"
            );
        }
        header(
            &mut out,
            "syncmld_messages_total",
            "SyncML messages received over HTTP, by result.",
            "counter",
        );
        for r in MessageResult::ALL {
            let v = m.messages.get(r.name()).copied().unwrap_or(0);
            let _ = writeln!(out, "syncmld_messages_total{{result=\"{}\"}} {v}", r.name());
        }
        header(
            &mut out,
            "syncmld_items_total",
            "Items in the Sync commands of client messages (in) and of our replies (out), by command.",
            "counter",
        );
        for dir in ["in", "out"] {
            for c in COMMANDS {
                let v = m.items.get(&(dir, c)).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "syncmld_items_total{{direction=\"{dir}\",command=\"{c}\"}} {v}"
                );
            }
        }
        header(
            &mut out,
            "syncmld_conflicts_total",
            "Conflicts reported to clients, by resolution.",
            "counter",
        );
        for c in CONFLICTS {
            let v = m.conflicts.get(c).copied().unwrap_or(0);
            let _ = writeln!(out, "syncmld_conflicts_total{{resolution=\"{c}\"}} {v}");
        }
        header(
            &mut out,
            "syncmld_auth_failures_total",
            "Messages refused in the SyncHdr status, by SyncML status code (401 bad credentials, 403 device not allowed, 407 credentials missing, which includes the first challenge of a nonce handshake).",
            "counter",
        );
        for (code, v) in &m.auth_failures {
            let _ = writeln!(out, "syncmld_auth_failures_total{{code=\"{code}\"}} {v}");
        }
        header(
            &mut out,
            "syncmld_message_duration_seconds",
            "Time to answer one SyncML message (decode, engine, commit and flush, encode).",
            "histogram",
        );
        let mut cumulative = 0;
        for (le, n) in LATENCY_BUCKETS.iter().zip(m.latency_counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "syncmld_message_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "syncmld_message_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            m.latency_count
        );
        let _ = writeln!(
            out,
            "syncmld_message_duration_seconds_sum {}",
            m.latency_sum
        );
        let _ = writeln!(
            out,
            "syncmld_message_duration_seconds_count {}",
            m.latency_count
        );
        drop(m);
        for (name, help, v) in [
            (
                "syncmld_sessions_active",
                "Sync sessions kept in memory now.",
                g.sessions_active,
            ),
            (
                "syncmld_store_size_bytes",
                "Approximate size of the database on disk.",
                g.store_size_bytes,
            ),
            ("syncmld_users", "Users in the store.", g.users),
            ("syncmld_devices", "Devices known for all users.", g.devices),
        ] {
            header(&mut out, name, help, "gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        out
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl SyncObserver for Metrics {
    fn incoming(&self, msg: &SyncMl) {
        let mut m = self.inner();
        count_items(msg, |c, n| *m.items.entry(("in", c)).or_default() += n);
    }

    fn replied(&self, reply: &SyncMl) {
        let mut m = self.inner();
        count_items(reply, |c, n| *m.items.entry(("out", c)).or_default() += n);
        for cmd in &reply.body.commands {
            let Command::Status(st) = cmd else { continue };
            let code = st.data.0;
            if st.cmd_ref == 0 && st.cmd == "SyncHdr" {
                if matches!(code, 401 | 403 | 407) {
                    *m.auth_failures.entry(code).or_default() += 1;
                }
                continue;
            }
            if matches!(st.cmd.as_str(), "Add" | "Replace" | "Delete") {
                let resolution = match code {
                    419 => CONFLICTS[0],
                    208 => CONFLICTS[1],
                    209 => CONFLICTS[2],
                    207 => CONFLICTS[3],
                    _ => continue,
                };
                *m.conflicts.entry(resolution).or_default() += 1;
            }
        }
    }

    fn message_done(&self, result: MessageResult, elapsed: Duration) {
        let mut m = self.inner();
        *m.messages.entry(result.name()).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|le| secs <= *le) {
            m.latency_counts[i] += 1;
        }
        m.latency_sum += secs;
        m.latency_count += 1;
    }

    fn session_ended(&self, report: &Report, end: SessionEnd) {
        let result = match end {
            SessionEnd::Completed => SESSION_RESULTS[0],
            SessionEnd::Failed => SESSION_RESULTS[1],
            SessionEnd::Abandoned => SESSION_RESULTS[2],
        };
        *self
            .inner()
            .sessions
            .entry((mode_name(report.mode), result))
            .or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::new();
        m.message_done(MessageResult::Ok, Duration::from_millis(3));
        m.message_done(MessageResult::Ok, Duration::from_secs(30));
        m.session_ended(
            &Report {
                mode: Some(alert::SLOW_SYNC),
                ..Report::default()
            },
            SessionEnd::Completed,
        );
        let text = m.render(&Gauges {
            users: 2,
            ..Gauges::default()
        });
        assert!(text.contains("syncmld_sessions_total{mode=\"slow\",result=\"completed\"} 1\n"));
        assert!(text.contains("syncmld_messages_total{result=\"ok\"} 2\n"));
        assert!(text.contains("syncmld_message_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("syncmld_message_duration_seconds_bucket{le=\"10\"} 1\n"));
        assert!(text.contains("syncmld_message_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("syncmld_users 2\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {name} "))
                    || text.contains(&format!("# TYPE {base} ")),
                "{line}"
            );
        }
    }
}
