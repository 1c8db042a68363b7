//! Time as the domain counts it: instants in epoch milliseconds and spans written the way
//! people write them in config. The leaf every other module may use, so it imports nothing
//! from the crate.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, UTC. One integer type serves both databases.
pub type Millis = i64;

/// A length of time written the way people write it in config: `250ms`, `90s`, `30m`, `2h`, `7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    millis: u64,
}

impl Span {
    pub const fn millis(millis: u64) -> Self {
        Span { millis }
    }

    pub const fn seconds(seconds: u64) -> Self {
        Span {
            millis: seconds * 1000,
        }
    }

    pub const fn minutes(minutes: u64) -> Self {
        Span {
            millis: minutes * 60_000,
        }
    }

    pub const fn hours(hours: u64) -> Self {
        Span {
            millis: hours * 3_600_000,
        }
    }

    pub const fn days(days: u64) -> Self {
        Span {
            millis: days * 86_400_000,
        }
    }

    pub fn as_secs(self) -> u64 {
        self.millis / 1000
    }

    pub fn as_millis(self) -> i64 {
        i64::try_from(self.millis).unwrap_or(i64::MAX)
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.millis;
        if ms == 0 {
            f.write_str("0s")
        } else if ms.is_multiple_of(86_400_000) {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("`{text}` is not a duration such as `500ms`, `90s`, `30m`, `2h` or `7d`");
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let n: u64 = number.parse().map_err(|_| bad())?;
        let factor = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        Ok(Span {
            millis: n.checked_mul(factor).ok_or_else(bad)?,
        })
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `2026-12-04 03:20:07 UTC`, for sentences that name a time (the dashboard formats its
/// own columns); `—` for an instant chrono cannot represent.
pub fn utc_text(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}
