//! The client role's entry points: sync the configured peers now
//! (`syncmld sync`), and report their state (`syncmld sync --status`).

use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::config::{Config, Peer, mode_name};
use crate::engine::client::ClientReport;
use crate::http::client::HttpTransport;
use crate::store::schema::{self, PeerId};
use crate::store::{KvRead, Store};
use crate::sync_client::{DriverOptions, sync_once};

fn selected<'a>(cfg: &'a Config, only: Option<&str>) -> Result<Vec<&'a Peer>> {
    if cfg.peers.is_empty() {
        bail!("no [[peers]] configured (see conf/client.toml)");
    }
    match only {
        None => Ok(cfg.peers.iter().collect()),
        Some(name) => match cfg.peers.iter().find(|p| p.name == name) {
            Some(p) => Ok(vec![p]),
            None => bail!(
                "no peer named {name:?} (configured: {})",
                cfg.peers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

/// One session per selected peer, now; prints a line per peer and returns
/// how many failed.
pub async fn sync_now(
    cfg: &Config,
    store: Arc<dyn Store>,
    only: Option<&str>,
    mode: Option<u16>,
) -> Result<usize> {
    let peers = selected(cfg, only)?;
    let transport = HttpTransport::new(cfg.client.http_timeout);
    let lock = crate::local_book::WriteLock::default();
    let opts = DriverOptions {
        resends: cfg.client.resends,
        ..DriverOptions::default()
    };
    let mut failures = 0;
    for peer in peers {
        let mode = mode.unwrap_or(peer.mode);
        match sync_once(&peer.session, mode, &store, &transport, &opts, &lock).await {
            Ok(report) => println!("{}: {}", peer.name, describe(&report)),
            Err(e) => {
                failures += 1;
                println!("{}: failed: {e}", peer.name);
            }
        }
    }
    store.flush().context("flushing the store")?;
    Ok(failures)
}

/// "two-way: sent 1 add, 0 replaces, 0 deletes; received …".
pub fn describe(r: &ClientReport) -> String {
    let modes: Vec<String> = r
        .modes
        .iter()
        .map(|(book, m)| format!("{book} {}", mode_name(*m)))
        .collect();
    let mut s = format!(
        "{}: sent {} add, {} replace, {} delete; received {} add, {} replace, {} delete; {} messages",
        modes.join(", "),
        r.sent.adds,
        r.sent.replaces,
        r.sent.deletes,
        r.received.adds,
        r.received.replaces,
        r.received.deletes,
        r.messages
    );
    if r.conflicts > 0 {
        s.push_str(&format!(
            "; {} conflicts resolved by the server",
            r.conflicts
        ));
    }
    if !r.refused.is_empty() {
        s.push_str(&format!("; {} items refused", r.refused.len()));
    }
    s
}

/// One line per (peer, book): last sync time and mode, or "never".
pub fn status_lines(cfg: &Config, store: &dyn KvRead) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for peer in selected(cfg, None)? {
        for db in &peer.session.dbs {
            let id = PeerId {
                user: cfg.client.local_user.clone(),
                device: peer.name.clone(),
                store: db.local.clone(),
            };
            let line = match schema::peer_state(store, &id)? {
                Some(st) if st.last_sync_ms > 0 => format!(
                    "{} {} ↔ {}: last sync {} ({}), next in about {} s",
                    peer.name,
                    db.local,
                    db.remote_uri,
                    crate::engine::anchor::format_utc(st.last_sync_ms),
                    mode_name(st.last_mode),
                    peer.interval.as_secs()
                ),
                _ => format!(
                    "{} {} ↔ {}: never synced",
                    peer.name, db.local, db.remote_uri
                ),
            };
            out.push(line);
        }
    }
    Ok(out)
}

/// The poll-first request (update notification, patent P7): a
/// `POST {peer url}/pending` with the device id and the datastore URIs as
/// JSON and the credentials as HTTP Basic; the answer says which datastores
/// have something for this device. Servers without it (404/405/415) are
/// synced on every interval, as before.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PendingRequest {
    pub device: String,
    pub stores: Vec<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PendingReply {
    /// Anything at all for this device.
    pub pending: bool,
    /// Per datastore URI as asked.
    pub stores: std::collections::BTreeMap<String, bool>,
}

/// The URL of the poll-first endpoint for a sync URL.
pub fn pending_url(sync_url: &str) -> String {
    let base = sync_url
        .split('?')
        .next()
        .unwrap_or(sync_url)
        .trim_end_matches('/');
    format!("{base}/pending")
}

/// How a peer's scheduled run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Synced(String),
    /// Poll-first said neither side has anything.
    Skipped,
    Failed {
        error: String,
        transient: bool,
    },
}

/// Delay before the next run: the interval plus jitter after success; after
/// `failures` consecutive transient failures, the shorter of the interval
/// and 30 s, doubled each time, up to `max_backoff`.
pub fn next_delay(
    interval: std::time::Duration,
    jitter: std::time::Duration,
    random: u64,
    failures: u32,
    max_backoff: std::time::Duration,
) -> std::time::Duration {
    use std::time::Duration;
    if failures == 0 {
        let j = if jitter.is_zero() {
            0
        } else {
            random % (jitter.as_millis() as u64 + 1)
        };
        return interval + Duration::from_millis(j);
    }
    let base = interval
        .min(Duration::from_secs(30))
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    base.min(max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn back_off_doubles_to_the_cap_and_success_uses_the_interval() {
        let (i, j, cap) = (
            Duration::from_secs(900),
            Duration::from_secs(60),
            Duration::from_secs(3600),
        );
        assert_eq!(next_delay(i, j, 0, 0, cap), i);
        assert!(next_delay(i, j, 59_999, 0, cap) <= i + j);
        assert_eq!(next_delay(i, j, 0, 1, cap), Duration::from_secs(30));
        assert_eq!(next_delay(i, j, 0, 2, cap), Duration::from_secs(60));
        assert_eq!(next_delay(i, j, 0, 5, cap), Duration::from_secs(480));
        assert_eq!(next_delay(i, j, 0, 40, cap), cap);
        // A short interval backs off from itself.
        let one = Duration::from_secs(1);
        assert_eq!(
            next_delay(one, Duration::ZERO, 0, 3, cap),
            Duration::from_secs(4)
        );
    }

    #[test]
    fn pending_url_is_next_to_the_sync_url() {
        assert_eq!(
            pending_url("http://h:8080/sync"),
            "http://h:8080/sync/pending"
        );
        assert_eq!(
            pending_url("http://h/sync/?sessionid=1"),
            "http://h/sync/pending"
        );
    }
}
