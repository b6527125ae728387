//! What the server itself says, for figures the client can't see: CPU time
//! and memory of its processes (`/proc`, when it runs on this machine) and,
//! for syncmld, its `/metrics` counters — an independent count of what the
//! benchmark did.

use std::collections::BTreeMap;

use serde::Serialize;

use super::BenchError;

/// CPU seconds (user + system, with reaped children: SyncEvolution runs
/// each session in a helper process) of the given processes.
pub fn cpu_seconds(pids: &[u32]) -> Result<f64, BenchError> {
    // USER_HZ is 100 on every Linux this runs on.
    const TICKS: f64 = 100.0;
    let mut ticks = 0u64;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BenchError::Probe(format!("{path}: {e}")))?;
        // The command name (field 2) may hold spaces: count from after its ')'.
        let rest = text
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| BenchError::Probe(format!("{path}: unexpected format")))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ')': state is field 3, so utime (14) .. cstime (17) are 11..=14.
        for f in fields.get(11..15).unwrap_or_default() {
            ticks += f.parse::<u64>().unwrap_or(0);
        }
    }
    Ok(ticks as f64 / TICKS)
}

/// Resident and peak resident memory (KiB) summed over the processes.
pub fn memory_kib(pids: &[u32]) -> Result<(u64, u64), BenchError> {
    let (mut rss, mut hwm) = (0, 0);
    for pid in pids {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BenchError::Probe(format!("{path}: {e}")))?;
        for line in text.lines() {
            let value = |l: &str| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if line.starts_with("VmRSS:") {
                rss += value(line);
            } else if line.starts_with("VmHWM:") {
                hwm += value(line);
            }
        }
    }
    Ok((rss, hwm))
}

/// What the server's processes used during the measured phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerUsage {
    pub cpu_seconds: f64,
    /// Server CPU per completed measured session.
    pub cpu_ms_per_session: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// Counters from syncmld's `/metrics` (sums over labels).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerCounters {
    /// `syncmld_messages_total` by result.
    pub messages: BTreeMap<String, f64>,
    /// `syncmld_sessions_total` by result.
    pub sessions: BTreeMap<String, f64>,
    /// `syncmld_items_total` by direction ("in": from clients).
    pub items: BTreeMap<String, f64>,
    /// `syncmld_message_duration_seconds_sum`: time the server spent on messages.
    pub message_seconds: f64,
}

impl ServerCounters {
    /// `after - self`, counter by counter.
    pub fn delta(&self, after: &ServerCounters) -> ServerCounters {
        let diff = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
            b.iter()
                .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0.0)))
                .collect()
        };
        ServerCounters {
            messages: diff(&self.messages, &after.messages),
            sessions: diff(&self.sessions, &after.sessions),
            items: diff(&self.items, &after.items),
            message_seconds: after.message_seconds - self.message_seconds,
        }
    }
}

/// Parse the Prometheus text of syncmld's `/metrics`.
pub fn parse_metrics(text: &str) -> ServerCounters {
    let mut c = ServerCounters::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (n, l.trim_end_matches('}')),
            None => (name_labels, ""),
        };
        let label = |key: &str| {
            labels.split(',').find_map(|kv| {
                kv.strip_prefix(key)
                    .and_then(|v| v.strip_prefix("=\""))
                    .map(|v| v.trim_end_matches('"').to_owned())
            })
        };
        match name {
            "syncmld_messages_total" => {
                *c.messages
                    .entry(label("result").unwrap_or_default())
                    .or_default() += value;
            }
            "syncmld_sessions_total" => {
                *c.sessions
                    .entry(label("result").unwrap_or_default())
                    .or_default() += value;
            }
            "syncmld_items_total" => {
                *c.items
                    .entry(label("direction").unwrap_or_default())
                    .or_default() += value;
            }
            "syncmld_message_duration_seconds_sum" => c.message_seconds = value,
            _ => {}
        }
    }
    c
}

/// GET `url` (syncmld's /metrics) through the benchmark's HTTP client.
pub async fn scrape(
    http: &crate::http::client::HttpTransport,
    url: &str,
) -> Result<ServerCounters, BenchError> {
    let (status, body) = http
        .request("GET", url, &[], Vec::new())
        .await
        .map_err(|e| BenchError::Probe(format!("{url}: {e}")))?;
    if status != 200 {
        return Err(BenchError::Probe(format!("{url}: HTTP {status}")));
    }
    Ok(parse_metrics(&String::from_utf8_lossy(&body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        assert!(cpu_seconds(&[me]).unwrap() >= 0.0);
        let (rss, hwm) = memory_kib(&[me]).unwrap();
        assert!(rss > 0 && hwm >= rss);
    }

    #[test]
    fn parses_and_subtracts_counters() {
        let before = parse_metrics(
            "# HELP x\nsyncmld_messages_total{result=\"ok\"} 3\nsyncmld_sessions_total{mode=\"slow\",result=\"completed\"} 1\n",
        );
        let after = parse_metrics(
            "syncmld_messages_total{result=\"ok\"} 9\nsyncmld_messages_total{result=\"error\"} 1\n\
             syncmld_sessions_total{mode=\"slow\",result=\"completed\"} 1\n\
             syncmld_sessions_total{mode=\"two-way\",result=\"completed\"} 2\n\
             syncmld_message_duration_seconds_sum 0.5\n",
        );
        let d = before.delta(&after);
        assert_eq!(d.messages.get("ok"), Some(&6.0));
        assert_eq!(d.messages.get("error"), Some(&1.0));
        assert_eq!(d.sessions.get("completed"), Some(&2.0));
        assert_eq!(d.message_seconds, 0.5);
    }
}
