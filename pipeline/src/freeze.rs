//! Deploy freezes: windows, in a team's own time zone, during which nothing is promoted
//! without an admin's say-so. A window is a date range (`from`/`until`) or a recurring one (a
//! cron expression for when it starts, and how long it `lasts`).
//!
//! Windows are parsed once, when the pipeline is read, into [`FreezeWindow`]; they are stored
//! and shown in the text form people wrote ([`FreezeDraft`]).

use crate::gate::ActiveFreeze;
use crate::time::{Millis, Span};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest a recurring window may last: a freeze longer than a month is a date range.
pub const MAX_LASTS: Span = Span::days(31);

/// A freeze window as written in config or the API: all text, so each mistake can be named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeDraft {
    pub name: Option<String>,
    /// An IANA zone such as `Europe/Berlin`; the dates and the cron are read in it.
    pub time_zone: Option<String>,
    /// `YYYY-MM-DD HH:MM` (or a date alone, meaning midnight).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Five fields: minute hour day-of-month month day-of-week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lasts: Option<String>,
}

/// A checked freeze window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FreezeDraft", into = "FreezeDraft")]
pub struct FreezeWindow {
    pub name: String,
    pub time_zone: Tz,
    pub when: FreezeWhen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeWhen {
    Dates {
        from: NaiveDateTime,
        until: NaiveDateTime,
    },
    Recurring {
        cron: Cron,
        lasts: Span,
    },
}

/// What is wrong with a draft, field by field (`time_zone`, `cron`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeErrors(pub Vec<(&'static str, String)>);

impl fmt::Display for FreezeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(field, message)| format!("{field}: {message}"))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl FreezeDraft {
    pub fn validate(&self) -> Result<FreezeWindow, FreezeErrors> {
        let mut errors = Vec::new();
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let name = text(&self.name);
        if name.is_none() {
            errors.push((
                "name",
                "is required (it is what people see while the freeze is on)".to_owned(),
            ));
        }
        let time_zone = match text(&self.time_zone) {
            None => {
                errors.push((
                    "time_zone",
                    "is required, e.g. `Europe/Berlin` or `UTC`".to_owned(),
                ));
                None
            }
            Some(tz) => match tz.parse::<Tz>() {
                Ok(tz) => Some(tz),
                Err(_) => {
                    errors.push((
                        "time_zone",
                        format!("`{tz}` is not an IANA time zone such as `Europe/Berlin` or `UTC`"),
                    ));
                    None
                }
            },
        };
        let (from, until, cron, lasts) = (
            text(&self.from),
            text(&self.until),
            text(&self.cron),
            text(&self.lasts),
        );
        let when = match (
            from.is_some() || until.is_some(),
            cron.is_some() || lasts.is_some(),
        ) {
            (true, true) => {
                errors.push((
                    "cron",
                    "give either `from` and `until`, or `cron` and `lasts`, not both".to_owned(),
                ));
                None
            }
            (false, false) => {
                errors.push(("from", "give either `from` and `until` (dates), or `cron` and `lasts` (a recurring window)".to_owned()));
                None
            }
            (true, false) => {
                let mut date = |field: &'static str, value: Option<String>| match value {
                    None => {
                        errors.push((field, "is required with a date range".to_owned()));
                        None
                    }
                    Some(v) => parse_local(&v).or_else(|| {
                        errors.push((
                            field,
                            format!("`{v}` is not a date and time such as `2026-12-20 18:00`"),
                        ));
                        None
                    }),
                };
                match (date("from", from), date("until", until)) {
                    (Some(from), Some(until)) if until <= from => {
                        errors.push(("until", "must be after `from`".to_owned()));
                        None
                    }
                    (Some(from), Some(until)) => Some(FreezeWhen::Dates { from, until }),
                    _ => None,
                }
            }
            (false, true) => {
                let cron = match cron {
                    None => {
                        errors.push(("cron", "is required with `lasts`".to_owned()));
                        None
                    }
                    Some(c) => c.parse::<Cron>().map_err(|e| errors.push(("cron", e))).ok(),
                };
                let lasts = match lasts {
                    None => {
                        errors.push(("lasts", "is required with `cron`, e.g. `63h`".to_owned()));
                        None
                    }
                    Some(l) => match l.parse::<Span>() {
                        Ok(span) if span.as_millis() < 60_000 || span > MAX_LASTS => {
                            errors.push((
                                "lasts",
                                format!("`{l}` must be at least a minute and at most {MAX_LASTS}"),
                            ));
                            None
                        }
                        Ok(span) => Some(span),
                        Err(e) => {
                            errors.push(("lasts", e));
                            None
                        }
                    },
                };
                cron.zip(lasts)
                    .map(|(cron, lasts)| FreezeWhen::Recurring { cron, lasts })
            }
        };
        match (name, time_zone, when) {
            (Some(name), Some(time_zone), Some(when)) if errors.is_empty() => Ok(FreezeWindow {
                name,
                time_zone,
                when,
            }),
            _ => Err(FreezeErrors(errors)),
        }
    }
}

impl TryFrom<FreezeDraft> for FreezeWindow {
    type Error = FreezeErrors;
    fn try_from(draft: FreezeDraft) -> Result<Self, Self::Error> {
        draft.validate()
    }
}

impl From<FreezeWindow> for FreezeDraft {
    fn from(w: FreezeWindow) -> Self {
        let mut draft = FreezeDraft {
            name: Some(w.name),
            time_zone: Some(w.time_zone.name().to_owned()),
            ..FreezeDraft::default()
        };
        match w.when {
            FreezeWhen::Dates { from, until } => {
                draft.from = Some(local_text(&from));
                draft.until = Some(local_text(&until));
            }
            FreezeWhen::Recurring { cron, lasts } => {
                draft.cron = Some(cron.to_string());
                draft.lasts = Some(lasts.to_string());
            }
        }
        draft
    }
}

impl fmt::Display for FreezeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.when {
            FreezeWhen::Dates { from, until } => write!(
                f,
                "{}: {} to {} ({})",
                self.name,
                local_text(from),
                local_text(until),
                self.time_zone
            ),
            FreezeWhen::Recurring { cron, lasts } => write!(
                f,
                "{}: from `{cron}` for {lasts} ({})",
                self.name, self.time_zone
            ),
        }
    }
}

/// A local date and time as it is stored and shown: to the minute, as people write it, or to
/// the second when it has seconds, so that a window stored and read back is the same window
/// (`2026-12-20 18:00:30` written to the minute would start 30 seconds early, and a range
/// shorter than a minute would read back as empty, and be refused).
fn local_text(t: &NaiveDateTime) -> String {
    let format = if t.second() == 0 && t.nanosecond() == 0 {
        "%Y-%m-%d %H:%M"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    t.format(format).to_string()
}

fn parse_local(text: &str) -> Option<NaiveDateTime> {
    let text = text.replace('T', " ");
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// A local time in `tz` as an instant. A time skipped by a daylight-saving jump counts from
/// the jump; a repeated one from its first occurrence.
fn instant(tz: Tz, local: NaiveDateTime) -> Millis {
    let mut probe = local;
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.timestamp_millis();
        }
        probe += chrono::Duration::minutes(30);
    }
    local.and_utc().timestamp_millis()
}

impl FreezeWindow {
    /// When this window, if it is on at `now`, ends.
    pub fn on_until(&self, now: Millis) -> Option<Millis> {
        match &self.when {
            FreezeWhen::Dates { from, until } => {
                let (from, until) = (
                    instant(self.time_zone, *from),
                    instant(self.time_zone, *until),
                );
                (from <= now && now < until).then_some(until)
            }
            FreezeWhen::Recurring { cron, lasts } => cron
                .newest_start(self.time_zone, now, now - lasts.as_millis())
                .map(|start| start + lasts.as_millis()),
        }
    }
}

/// The freeze in force at `now` among `windows`, if any: the one that ends last.
pub fn active_freeze(windows: &[FreezeWindow], now: Millis) -> Option<ActiveFreeze> {
    windows
        .iter()
        .filter_map(|w| {
            w.on_until(now).map(|until| ActiveFreeze {
                name: w.name.clone(),
                until,
            })
        })
        .max_by_key(|f| f.until)
}

/// A five-field cron expression (minute hour day-of-month month day-of-week), with lists,
/// ranges, steps and English month and day names. As in cron, when both day fields are
/// restricted, a day matching either is a match.
///
/// The text is checked here, field by field, so a mistake is named in people's terms;
/// [`croner`] then does the matching and the search.
#[derive(Clone)]
pub struct Cron {
    text: String,
    /// Boxed: croner's parsed pattern is a few hundred bytes, and windows are moved about.
    schedule: Box<croner::Cron>,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cron").field(&self.text).finish()
    }
}

/// Two crons are the same when they read the same: the schedule is parsed from the text.
impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Cron {}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Reads one field: each comma-separated part is `*`, a value, a range or either with a
/// `/step`, and every value is a number or name within `low..=high`. The values it allows
/// come back as bits.
fn read_cron_field(
    text: &str,
    what: &str,
    low: u32,
    high: u32,
    names: &[&str],
    names_from: u32,
) -> Result<u64, String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(names_from + i as u32);
        }
        v.parse::<u32>()
            .map_err(|_| format!("`{v}` is not a number or name in the {what} field"))
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{step}` is not a step in the {what} field"))?,
            ),
            None => (part, 1),
        };
        let (start, end) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if part.contains('/') => (value(range)?, high),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if start < low || end > high || start > end {
            return Err(format!(
                "`{part}` is out of range for the {what} field ({low}-{high})"
            ));
        }
        // `step_by`, not `v += step`: a step as large as `u32::MAX` must not overflow.
        for v in (start..=end).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

/// A field as croner is given it: `*` stays `*` (croner, like cron, treats a day field that
/// is exactly `*` as unrestricted), anything else becomes the plain list of its values, so
/// croner never has to agree with this parser on steps, names or lists with `*` in them.
fn plain_field(text: &str, bits: u64) -> String {
    if text == "*" {
        return "*".to_owned();
    }
    let values: Vec<String> = (0..64)
        .filter(|v| bits & (1 << v) != 0)
        .map(|v: u32| v.to_string())
        .collect();
    values.join(",")
}

impl std::str::FromStr for Cron {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!(
                "`{text}` has {} fields; a cron has five: minute hour day-of-month month day-of-week",
                fields.len()
            ));
        };
        let minutes = read_cron_field(minute, "minute", 0, 59, &[], 0)?;
        let hours = read_cron_field(hour, "hour", 0, 23, &[], 0)?;
        let days = read_cron_field(day, "day-of-month", 1, 31, &[], 0)?;
        let months = read_cron_field(month, "month", 1, 12, &MONTHS, 1)?;
        let mut weekdays = read_cron_field(weekday, "day-of-week", 0, 7, &WEEKDAYS, 0)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7); // 7 is Sunday too
        }
        let plain = [
            plain_field(minute, minutes),
            plain_field(hour, hours),
            plain_field(day, days),
            plain_field(month, months),
            plain_field(weekday, weekdays),
        ]
        .join(" ");
        // Plain numbers in range, so croner reads every cron the checks above accept; a
        // refusal would be a difference between the two, still named as the cron's fault.
        let schedule = plain
            .parse::<croner::Cron>()
            .map_err(|e| format!("`{text}` cannot be read as a cron: {e}"))?;
        let text = fields.join(" ");
        Ok(Cron {
            text,
            schedule: Box::new(schedule),
        })
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Cron {
    /// Whether a window starts in this local wall-clock minute.
    pub fn matches(&self, t: &NaiveDateTime) -> bool {
        let minute = t.with_second(0).and_then(|t| t.with_nanosecond(0));
        minute.is_some_and(|t| {
            self.schedule
                .is_time_matching(&t.and_utc())
                .unwrap_or(false)
        })
    }

    /// The newest instant in `(after, now]` whose local time in `tz` the cron allows.
    ///
    /// croner searches back through wall-clock time read as UTC, so it applies no
    /// daylight-saving policy of its own; each match is turned back into the instants that
    /// show it. A time skipped by a jump forward is shown by none, so it starts nothing; a time
    /// repeated by a jump back is shown twice, and the later one that is not after `now`
    /// counts. Around a jump back, wall-clock order is not time order, so the search goes on
    /// until no earlier match could be newer than the best so far.
    fn newest_start(&self, tz: Tz, now: Millis, after: Millis) -> Option<Millis> {
        let (low, high) = offsets_between(tz, after, now)?;
        // Starts are whole minutes: from a whole second, croner's matches are whole too.
        let mut cursor = DateTime::from_timestamp(now.checked_add(high)?.div_euclid(1000), 0)?;
        let mut best: Option<Millis> = None;
        loop {
            let Ok(found) = self.schedule.find_previous_occurrence(&cursor, true) else {
                return best;
            };
            // Read with the smallest offset, the match is as late an instant as it can be.
            let latest = found.timestamp_millis() - low;
            if latest <= after || best.is_some_and(|b| latest <= b) {
                return best;
            }
            let starts = tz.from_local_datetime(&found.naive_utc());
            for start in [starts.latest(), starts.earliest()].into_iter().flatten() {
                let start = start.timestamp_millis();
                if after < start && start <= now && best.is_none_or(|b| start > b) {
                    best = Some(start);
                }
            }
            let Some(earlier) = found.checked_sub_signed(chrono::TimeDelta::seconds(1)) else {
                return best;
            };
            cursor = earlier;
        }
    }
}

/// The smallest and largest UTC offsets (in milliseconds) `tz` has from `from` to `to`,
/// sampled at both ends and every six hours between: no zone changes its offset twice in so
/// short a time. `None` when neither end is a time chrono can represent.
fn offsets_between(tz: Tz, from: Millis, to: Millis) -> Option<(Millis, Millis)> {
    const STEP: Millis = 6 * 3_600_000;
    let offset = |at: Millis| {
        DateTime::from_timestamp_millis(at).map(|t| {
            let seconds = tz
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc();
            Millis::from(seconds) * 1000
        })
    };
    (0..)
        .map(|i| from.saturating_add(i * STEP))
        .take_while(|at| *at < to)
        .chain([to])
        .filter_map(offset)
        .fold(None, |range, o| match range {
            None => Some((o, o)),
            Some((low, high)) => Some((o.min(low), o.max(high))),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: Tz, local: &str) -> Millis {
        instant(tz, parse_local(local).unwrap())
    }

    fn draft(tz: &str) -> FreezeDraft {
        FreezeDraft {
            name: Some("freeze".into()),
            time_zone: Some(tz.into()),
            ..FreezeDraft::default()
        }
    }

    fn weekend() -> FreezeWindow {
        // Friday 18:00 to Monday 09:00, New York time.
        FreezeDraft {
            cron: Some("0 18 * * FRI".into()),
            lasts: Some("63h".into()),
            ..draft("America/New_York")
        }
        .validate()
        .unwrap()
    }

    fn year_end() -> FreezeWindow {
        FreezeDraft {
            from: Some("2026-12-20".into()),
            until: Some("2027-01-04 09:00".into()),
            ..draft("Europe/Berlin")
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn freeze_windows_table() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let rows: Vec<(&str, FreezeWindow, Millis, Option<Millis>)> = vec![
            (
                "Friday afternoon is before the weekend freeze",
                weekend(),
                at(ny, "2026-11-27 17:59"),
                None,
            ),
            (
                "Friday 18:00 starts it",
                weekend(),
                at(ny, "2026-11-27 18:00"),
                Some(at(ny, "2026-11-30 09:00")),
            ),
            (
                "Sunday is frozen",
                weekend(),
                at(ny, "2026-11-29 12:00"),
                Some(at(ny, "2026-11-30 09:00")),
            ),
            (
                "Monday 09:00 ends it",
                weekend(),
                at(ny, "2026-11-30 09:00"),
                None,
            ),
            (
                "Wednesday is open",
                weekend(),
                at(ny, "2026-11-25 12:00"),
                None,
            ),
            (
                "before the year-end range",
                year_end(),
                at(berlin, "2026-12-19 23:59"),
                None,
            ),
            (
                "inside the year-end range",
                year_end(),
                at(berlin, "2026-12-20 00:00"),
                Some(at(berlin, "2027-01-04 09:00")),
            ),
            (
                "the range's end is open again",
                year_end(),
                at(berlin, "2027-01-04 09:00"),
                None,
            ),
        ];
        for (case, window, now, expect) in rows {
            assert_eq!(window.on_until(now), expect, "{case}");
        }
    }

    #[test]
    fn a_window_is_read_in_its_own_time_zone() {
        // 18:00 Friday in New York is 23:00 UTC (EST): a UTC clock at 20:00 is not frozen yet.
        let utc: Tz = "UTC".parse().unwrap();
        assert_eq!(weekend().on_until(at(utc, "2026-11-27 20:00")), None);
        assert!(weekend().on_until(at(utc, "2026-11-27 23:00")).is_some());
    }

    #[test]
    fn the_freeze_that_ends_last_is_the_one_reported() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let nightly = FreezeDraft {
            name: Some("nightly".into()),
            cron: Some("0 22 * * *".into()),
            lasts: Some("10h".into()),
            ..draft("Europe/Berlin")
        }
        .validate()
        .unwrap();
        let now = at(berlin, "2026-12-22 23:00");
        let active = active_freeze(&[nightly.clone(), year_end()], now).unwrap();
        assert_eq!(
            (active.name.as_str(), active.until),
            ("freeze", at(berlin, "2027-01-04 09:00"))
        );
        assert_eq!(
            active_freeze(std::slice::from_ref(&nightly), now)
                .unwrap()
                .until,
            at(berlin, "2026-12-23 08:00")
        );
        assert_eq!(
            active_freeze(&[nightly], at(berlin, "2026-12-22 12:00")),
            None
        );
    }

    #[test]
    fn daylight_saving_jumps_table() {
        // New York, 2026: on 8 March 02:00 EST jumps to 03:00 EDT; on 1 November 02:00 EDT
        // falls back to 01:00 EST, so 01:00-01:59 is shown twice.
        let window = |cron: &str, lasts: &str| {
            FreezeDraft {
                cron: Some(cron.into()),
                lasts: Some(lasts.into()),
                ..draft("America/New_York")
            }
            .validate()
            .unwrap()
        };
        let utc = |text: &str| parse_local(text).unwrap().and_utc().timestamp_millis();
        let rows = [
            (
                "a start skipped by the jump forward starts nothing",
                window("30 2 * * *", "2h"),
                utc("2026-03-08 08:00"),
                None,
            ),
            (
                "the day after, it starts as usual",
                window("30 2 * * *", "2h"),
                utc("2026-03-09 07:00"),
                Some(utc("2026-03-09 08:30")),
            ),
            (
                "between the two showings of a repeated time, the first counts",
                window("30 1 * * *", "1h"),
                utc("2026-11-01 05:45"),
                Some(utc("2026-11-01 06:30")),
            ),
            (
                "after the second showing, the second counts",
                window("30 1 * * *", "1h"),
                utc("2026-11-01 06:45"),
                Some(utc("2026-11-01 07:30")),
            ),
            (
                "after a jump back, a later wall-clock time can be the older start",
                window("10,55 1 * * *", "2h"),
                utc("2026-11-01 06:12"),
                Some(utc("2026-11-01 08:10")),
            ),
        ];
        for (case, window, now, expect) in rows {
            assert_eq!(window.on_until(now), expect, "{case}");
        }
    }

    #[test]
    fn a_month_long_window_is_found_from_its_one_start() {
        let monthly = FreezeDraft {
            cron: Some("0 0 1 * *".into()),
            lasts: Some("31d".into()),
            ..draft("UTC")
        }
        .validate()
        .unwrap();
        let utc = |text: &str| parse_local(text).unwrap().and_utc().timestamp_millis();
        assert_eq!(
            monthly.on_until(utc("2026-03-31 23:59")),
            Some(utc("2026-04-01 00:00"))
        );
        assert_eq!(
            monthly.on_until(utc("2026-04-01 00:00")),
            Some(utc("2026-05-02 00:00"))
        );
    }

    #[test]
    fn cron_fields_table() {
        let t = |s: &str| parse_local(s).unwrap();
        let rows = [
            ("*/15 9-17 * * MON-FRI", "2026-11-25 09:45", true),
            ("*/15 9-17 * * MON-FRI", "2026-11-25 09:44", false),
            ("*/15 9-17 * * MON-FRI", "2026-11-28 10:00", false), // Saturday
            ("0 0 1 JAN *", "2027-01-01 00:00", true),
            ("0 0 24,31 DEC *", "2026-12-31 00:00", true),
            ("0 0 13 * 5", "2026-11-13 00:00", true), // Friday the 13th: either day field
            ("0 0 13 * 5", "2026-11-20 00:00", true), // any Friday
            ("0 0 13 * 5", "2026-11-19 00:00", false),
            ("30 2 * * 7", "2026-11-29 02:30", true), // 7 is Sunday
        ];
        for (cron, local, expect) in rows {
            assert_eq!(
                cron.parse::<Cron>().unwrap().matches(&t(local)),
                expect,
                "{cron} at {local}"
            );
        }
    }

    #[test]
    fn bad_drafts_name_each_field() {
        let fields = |d: FreezeDraft| {
            d.validate()
                .unwrap_err()
                .0
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fields(FreezeDraft::default()),
            ["name", "time_zone", "from"]
        );
        assert_eq!(
            fields(FreezeDraft {
                from: Some("2026-12-20".into()),
                cron: Some("* * * * *".into()),
                ..draft("UTC")
            }),
            ["cron"]
        );
        assert_eq!(
            fields(FreezeDraft {
                from: Some("20 Dec".into()),
                until: Some("2026-12-19".into()),
                ..draft("Mars/Olympus")
            }),
            ["time_zone", "from"]
        );
        assert_eq!(
            fields(FreezeDraft {
                from: Some("2026-12-20".into()),
                until: Some("2026-12-19".into()),
                ..draft("UTC")
            }),
            ["until"]
        );
        assert_eq!(
            fields(FreezeDraft {
                cron: Some("0 18 * FRI".into()),
                lasts: Some("63h".into()),
                ..draft("UTC")
            }),
            ["cron"]
        );
        assert_eq!(
            fields(FreezeDraft {
                cron: Some("0 25 * * *".into()),
                lasts: Some("40d".into()),
                ..draft("UTC")
            }),
            ["cron", "lasts"]
        );
        let message = FreezeDraft {
            cron: Some("0 25 * * *".into()),
            lasts: Some("1h".into()),
            ..draft("UTC")
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert_eq!(
            message,
            "cron: `25` is out of range for the hour field (0-23)"
        );
    }

    #[test]
    fn windows_are_stored_as_people_wrote_them() {
        for window in [weekend(), year_end()] {
            let json = serde_json::to_string(&window).unwrap();
            assert_eq!(
                serde_json::from_str::<FreezeWindow>(&json).unwrap(),
                window,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_value(weekend()).unwrap(),
            serde_json::json!({"name": "freeze", "time_zone": "America/New_York", "cron": "0 18 * * FRI", "lasts": "63h"})
        );
        let err = serde_json::from_str::<FreezeWindow>(
            r#"{"name": "x", "time_zone": "UTC", "cron": "0 18 * * FRI"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("lasts: is required"), "{err}");
    }
}
