//! What the load generator measured, and its summary: latency percentiles
//! (nearest rank over every sample, no histogram buckets, so small runs are
//! exact), throughput, bytes, and errors by status.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// One message round trip.
#[derive(Debug, Clone, Copy)]
pub struct MessageSample {
    pub latency: Duration,
    pub sent: u64,
    pub received: u64,
}

/// One session of one virtual client.
#[derive(Debug, Clone)]
pub struct SessionSample {
    pub latency: Duration,
    pub messages: Vec<MessageSample>,
    /// `None` when the session completed; else what failed ("HTTP 500",
    /// "SyncML 401", "timeout", ...).
    pub error: Option<String>,
    pub items_sent: u64,
    pub items_received: u64,
    /// Items the server refused, by status code.
    pub item_errors: Vec<u16>,
}

/// p50/p90/p99 and friends, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rank = |p: f64| {
            // Nearest rank: the smallest sample with at least p of them at or below it.
            let n = samples.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            ms(samples[i])
        };
        let total: f64 = samples.iter().map(|d| ms(*d)).sum();
        Percentiles {
            count: samples.len() as u64,
            mean: total / samples.len() as f64,
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples.last().map(|d| ms(*d)).unwrap_or(0.0),
        }
    }
}

/// The summary of one phase (warm-up or measured).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseReport {
    pub sessions_ok: u64,
    pub sessions_failed: u64,
    pub wall_seconds: f64,
    /// Completed sessions per second of wall time.
    pub sessions_per_second: f64,
    /// HTTP requests, all sessions (failed ones included).
    pub round_trips: u64,
    pub round_trips_per_session: f64,
    pub session_latency_ms: Percentiles,
    pub message_latency_ms: Percentiles,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent_per_session: f64,
    pub bytes_received_per_session: f64,
    /// The largest single request and reply.
    pub max_message_sent: u64,
    pub max_message_received: u64,
    pub items_sent: u64,
    pub items_received: u64,
    /// Failed sessions by cause, and refused items as "item NNN".
    pub errors: BTreeMap<String, u64>,
}

impl PhaseReport {
    pub fn of(sessions: &[SessionSample], wall: Duration) -> PhaseReport {
        let mut r = PhaseReport {
            wall_seconds: wall.as_secs_f64(),
            ..PhaseReport::default()
        };
        let mut session_lat = Vec::with_capacity(sessions.len());
        let mut message_lat = Vec::new();
        for s in sessions {
            match &s.error {
                None => {
                    r.sessions_ok += 1;
                    session_lat.push(s.latency);
                }
                Some(e) => {
                    r.sessions_failed += 1;
                    *r.errors.entry(e.clone()).or_default() += 1;
                }
            }
            for code in &s.item_errors {
                *r.errors.entry(format!("item {code}")).or_default() += 1;
            }
            for m in &s.messages {
                r.round_trips += 1;
                r.bytes_sent += m.sent;
                r.bytes_received += m.received;
                r.max_message_sent = r.max_message_sent.max(m.sent);
                r.max_message_received = r.max_message_received.max(m.received);
                message_lat.push(m.latency);
            }
            r.items_sent += s.items_sent;
            r.items_received += s.items_received;
        }
        let n = sessions.len().max(1) as f64;
        r.round_trips_per_session = r.round_trips as f64 / n;
        r.bytes_sent_per_session = r.bytes_sent as f64 / n;
        r.bytes_received_per_session = r.bytes_received as f64 / n;
        if r.wall_seconds > 0.0 {
            r.sessions_per_second = r.sessions_ok as f64 / r.wall_seconds;
        }
        r.session_latency_ms = Percentiles::of(session_lat);
        r.message_latency_ms = Percentiles::of(message_lat);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).map(ms).collect());
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        let one = Percentiles::of(vec![ms(7)]);
        assert_eq!((one.p50, one.p99, one.count), (7.0, 7.0, 1));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    #[test]
    fn phase_sums_bytes_and_counts_errors() {
        let msg = |s, r| MessageSample {
            latency: ms(1),
            sent: s,
            received: r,
        };
        let ok = SessionSample {
            latency: ms(3),
            messages: vec![msg(100, 200), msg(10, 20)],
            error: None,
            items_sent: 1,
            items_received: 2,
            item_errors: vec![500],
        };
        let failed = SessionSample {
            error: Some("HTTP 500".into()),
            messages: vec![msg(5, 0)],
            ..ok.clone()
        };
        let r = PhaseReport::of(&[ok, failed], Duration::from_secs(2));
        assert_eq!((r.sessions_ok, r.sessions_failed, r.round_trips), (1, 1, 3));
        assert_eq!((r.bytes_sent, r.bytes_received), (115, 220));
        assert_eq!(r.sessions_per_second, 0.5);
        assert_eq!(r.errors.get("HTTP 500"), Some(&1));
        assert_eq!(r.errors.get("item 500"), Some(&2));
    }
}
