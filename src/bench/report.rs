//! The printed form of a [`BenchReport`].

use std::fmt::Write as _;

use super::BenchReport;
use super::stats::{Percentiles, PhaseReport};

fn mode_name(code: u16) -> &'static str {
    crate::config::MODES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

fn lat(p: &Percentiles) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2} ms",
        p.p50, p.p90, p.p99, p.max, p.mean
    )
}

fn phase(out: &mut String, name: &str, p: &PhaseReport) {
    let _ = writeln!(
        out,
        "{name}: {} sessions ok, {} failed in {:.3} s = {:.1} sessions/s",
        p.sessions_ok, p.sessions_failed, p.wall_seconds, p.sessions_per_second
    );
    let _ = writeln!(
        out,
        "  round trips      {} ({:.2} per session)",
        p.round_trips, p.round_trips_per_session
    );
    let _ = writeln!(out, "  session latency  {}", lat(&p.session_latency_ms));
    let _ = writeln!(out, "  message latency  {}", lat(&p.message_latency_ms));
    let _ = writeln!(
        out,
        "  bytes/session    sent {:.0}  received {:.0}  (largest message {} / {})",
        p.bytes_sent_per_session,
        p.bytes_received_per_session,
        p.max_message_sent,
        p.max_message_received
    );
    let _ = writeln!(
        out,
        "  items            sent {}  received {}",
        p.items_sent, p.items_received
    );
    if p.errors.is_empty() {
        let _ = writeln!(out, "  errors           none");
    } else {
        let list: Vec<String> = p.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  errors           {}", list.join(", "));
    }
}

/// Human-readable summary.
pub fn render(r: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "syncmld bench {}: {} clients, {} users, {} x {} sessions, {} contacts/user, {} changes/session",
        r.url,
        r.clients,
        r.users,
        mode_name(r.mode),
        r.sessions_per_client,
        r.contacts,
        r.changes
    );
    if let Some(n) = r.prepared_cards {
        let _ = writeln!(out, "prepared: {n} cards added through the admin socket");
    }
    phase(&mut out, "warm-up", &r.warmup);
    phase(&mut out, "measured", &r.measured);
    if let Some(s) = &r.server {
        let _ = writeln!(
            out,
            "server: {:.3} s CPU = {:.3} ms/session; RSS {} KiB, peak {} KiB",
            s.cpu_seconds, s.cpu_ms_per_session, s.rss_kib, s.peak_rss_kib
        );
    }
    if let Some(c) = &r.server_counters {
        let list = |m: &std::collections::BTreeMap<String, f64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "server /metrics: messages {}; sessions {}; items {}; {:.3} s in messages",
            list(&c.messages),
            list(&c.sessions),
            list(&c.items),
            c.message_seconds
        );
    }
    out
}
