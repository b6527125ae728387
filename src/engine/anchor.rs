//! Sync anchors and timestamps.
//!
//! Anchors are opaque strings compared exactly; ours are UTC timestamps in
//! the basic ISO 8601 form libsynthesis uses (`20261123T214238Z`), with a
//! counter suffix when two sessions of a peer fall in the same second.

/// `YYYYMMDDTHHMMSSZ` for a Unix time in milliseconds.
pub fn format_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Our Next anchor: the timestamp, made distinct from the previous anchor.
pub fn next_anchor(now_ms: u64, previous: Option<&str>) -> String {
    let base = format_utc(now_ms);
    match previous {
        Some(p) if p.starts_with(&base) => {
            let n = p
                .get(base.len() + 1..)
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0);
            format!("{base}-{}", n + 1)
        }
        _ => base,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "19700101T000000Z");
        // 2026-11-23T21:42:38Z, an anchor seen in the SyncEvolution transcripts.
        assert_eq!(format_utc(1_795_470_158_000), "20261123T214238Z");
        assert_eq!(format_utc(951_782_400_000), "20000229T000000Z");
    }

    #[test]
    fn next_anchor_differs_from_previous_in_same_second() {
        let a = next_anchor(1_795_470_158_000, None);
        let b = next_anchor(1_795_470_158_500, Some(&a));
        let c = next_anchor(1_795_470_158_900, Some(&b));
        assert_eq!(b, "20261123T214238Z-1");
        assert_eq!(c, "20261123T214238Z-2");
        assert_eq!(next_anchor(1_795_470_160_000, Some(&c)), "20261123T214240Z");
    }
}
