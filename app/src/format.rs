//! Plain text forms of times and durations. Times are shown in UTC, so the server's render
//! and the browser's hydration agree to the character.

use chrono::{DateTime, Utc};

/// `2026-11-22 14:03:07 UTC` from milliseconds since the epoch; `—` for an instant chrono
/// cannot represent (beyond ±262,000 years), which no stored time reaches.
pub fn timestamp(ms: i64) -> String {
    utc(ms, "%Y-%m-%d %H:%M:%S UTC")
}

fn utc(ms: i64, format: &str) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(|| "—".to_owned(), |t| t.format(format).to_string())
}

/// `850 ms`, `12.4 s`, `3m 05s`, `2h 14m`.
pub fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 0 => "—".to_owned(),
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms if ms < 3_600_000 => format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000),
        ms => format!("{}h {:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// `14:03:07` (UTC) from milliseconds since the epoch, for lists where the date is in a title.
pub fn time_of_day(ms: i64) -> String {
    utc(ms, "%H:%M:%S")
}

/// `850 B`, `12.3 KiB`, `2.7 MiB`, `1.25 GiB`: binary units, as ECR sizes are bytes.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `sha256:59bf1c3509f3…`: the algorithm and twelve hex digits, enough to tell images apart
/// on a page; the full digest belongs in a `title`.
pub fn short_digest(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("", digest));
    match hex.get(..12) {
        Some(head) if hex.len() > 12 => {
            if algorithm.is_empty() {
                format!("{head}…")
            } else {
                format!("{algorithm}:{head}…")
            }
        }
        _ => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_known_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(timestamp(1_795_309_387_000), "2026-11-22 01:03:07 UTC");
        // Before the epoch, and the millisecond before a day starts, stay on the right day.
        assert_eq!(timestamp(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(timestamp(1_795_305_599_999), "2026-11-21 23:59:59 UTC");
        assert_eq!(timestamp(i64::MAX), "—");
    }

    #[test]
    fn sizes_and_digests_read_well() {
        assert_eq!(bytes(850), "850 B");
        assert_eq!(bytes(2_811_478), "2.68 MiB");
        assert_eq!(bytes(31_457_280), "30.0 MiB");
        assert_eq!(bytes(1_342_177_280), "1.25 GiB");
        assert_eq!(
            short_digest("sha256:59bf1c3509f33515622619af21ed55bbe26d24913cedbca106468a5fb37a50c3"),
            "sha256:59bf1c3509f3…"
        );
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(time_of_day(1_795_309_387_000), "01:03:07");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(8_040_000), "2h 14m");
    }
}
