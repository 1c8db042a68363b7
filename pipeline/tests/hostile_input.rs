//! Bad input, by the thousand: property tests for what people write into a pipeline
//! definition (a JSON body or a TOML table): the draft and its `validate()`, durations
//! ([`Span`]), freeze windows (cron, date ranges, time zones) and the approval policy.
//!
//! Table tests show the mistakes someone thought of; these generate thousands nobody did:
//! real drafts mutated field by field, strings replaced by random unicode, wrong types,
//! absurd numbers. Each property says what must hold for *every* input: no panic, and
//! either a valid result whose facts are right or errors that name the field to fix.
//!
//! The runs are deterministic (a fixed seed, printed with each property's tally), so a
//! failure seen once is seen again anywhere. `PROPTEST_CASES=N` runs N cases per property
//! instead of each one's own number; `PROPTEST_RNG_SEED=S` explores other inputs. Run with
//! `--nocapture` to read the tallies.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use shipgate_pipeline::freeze::{Cron, FreezeDraft, FreezeWhen, FreezeWindow, MAX_LASTS};
use shipgate_pipeline::notice::Happening;
use shipgate_pipeline::{PipelineDraft, PipelineSpec, Span};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// The harness: a fixed seed, a bounded number of cases, and a tally of what became of them.
// ---------------------------------------------------------------------------------------

/// Issue 12, item 5. Fixed so that every machine tries the same inputs.
const SEED: u64 = 12_0005;

/// What one input showed: a label to count it under, or why the property does not hold.
type Verdict = Result<&'static str, String>;

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `property` on `default_cases` inputs from `strategy` (or `PROPTEST_CASES`), counts
/// each input it was given and what it said, prints the tally, and fails on the first input
/// (shrunk to a small one) for which it does not hold, or panics.
fn check<S>(name: &str, default_cases: u32, strategy: S, property: impl Fn(S::Value) -> Verdict)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let cases = env_number("PROPTEST_CASES").unwrap_or(default_cases);
    let seed = env_number("PROPTEST_RNG_SEED").unwrap_or(SEED);
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let inputs = AtomicUsize::new(0);
    let panics = AtomicUsize::new(0);
    let outcomes: Mutex<BTreeMap<&'static str, usize>> = Mutex::new(BTreeMap::new());
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        inputs.fetch_add(1, Relaxed);
        match catch_unwind(AssertUnwindSafe(|| property(value))) {
            Ok(Ok(label)) => {
                *outcomes.lock().unwrap().entry(label).or_default() += 1;
                Ok(())
            }
            Ok(Err(why)) => Err(TestCaseError::fail(why)),
            Err(panic) => {
                panics.fetch_add(1, Relaxed);
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
                Err(TestCaseError::fail(format!(
                    "panicked: {}",
                    message.unwrap_or_default()
                )))
            }
        }
    });
    let tried = inputs.load(Relaxed);
    let tally: Vec<String> = outcomes
        .into_inner()
        .unwrap()
        .iter()
        .map(|(label, n)| format!("{n} {label}"))
        .collect();
    println!(
        "hostile_input: {name}: {tried} inputs, {} panics, {} ({:.1}s, seed {seed})",
        panics.load(Relaxed),
        tally.join(", "),
        started.elapsed().as_secs_f64()
    );
    if let Err(failure) = result {
        panic!(
            "{name}: {failure}\n(reproduce with PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases})"
        );
    }
    assert_eq!(
        tried, cases as usize,
        "{name}: every configured case must have been tried"
    );
}

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

// ---------------------------------------------------------------------------------------
// Mutating JSON: remove a field, give it another type, random unicode, very long strings,
// nested nulls.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    Text(String),
    Long(char, usize),
}

/// Every node below the root, as a path.
fn paths(value: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    at.push(Seg::Key(k.clone()));
                    out.push(at.clone());
                    walk(child, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    out.push(at.clone());
                    walk(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// Applies `mutation` at the `pick`-th path of `value`; returns the path, if there was one.
fn mutate(value: &mut Value, pick: prop::sample::Index, mutation: &Mutation) -> Option<Vec<Seg>> {
    let all = paths(value);
    if all.is_empty() {
        return None;
    }
    let path = all[pick.index(all.len())].clone();
    let (last, parent_path) = path.split_last().expect("paths are below the root");
    let mut parent = &mut *value;
    for seg in parent_path {
        parent = match seg {
            Seg::Key(k) => parent.get_mut(k.as_str()).expect("path exists"),
            Seg::Index(i) => parent.get_mut(*i).expect("path exists"),
        };
    }
    let new = match mutation {
        Mutation::Remove => {
            match (parent, last) {
                (Value::Object(map), Seg::Key(k)) => {
                    map.remove(k);
                }
                (Value::Array(items), Seg::Index(i)) => {
                    items.remove(*i);
                }
                _ => unreachable!("paths follow the value's shape"),
            }
            return Some(path);
        }
        Mutation::Replace(v) => v.clone(),
        Mutation::Text(s) => Value::String(s.clone()),
        Mutation::Long(c, n) => Value::String(std::iter::repeat_n(*c, *n).collect()),
    };
    let slot = match last {
        Seg::Key(k) => parent.get_mut(k.as_str()),
        Seg::Index(i) => parent.get_mut(*i),
    };
    *slot.expect("path exists") = new;
    Some(path)
}

fn nested_nulls(depth: usize, in_objects: bool) -> Value {
    (0..depth).fold(Value::Null, |inner, i| {
        if in_objects {
            json!({ format!("n{i}"): inner })
        } else {
            json!([inner, null])
        }
    })
}

/// A value of any type: what a mutation puts where a field of another type was.
fn other_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
        Just(json!(256)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!([])),
        Just(json!({})),
        Just(json!([null])),
        Just(json!({"": null})),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::Remove),
        2 => Just(Mutation::Replace(Value::Null)),
        2 => other_value().prop_map(Mutation::Replace),
        4 => any::<String>().prop_map(Mutation::Text),
        1 => prop_oneof![Just(String::new()), Just(" ".to_string()), Just("\u{0}".to_string()), Just("\u{202e}evil".to_string())].prop_map(Mutation::Text),
        1 => (any::<char>(), 1_000..40_000usize).prop_map(|(c, n)| Mutation::Long(c, n)),
        1 => (1..40usize, any::<bool>()).prop_map(|(d, o)| Mutation::Replace(nested_nulls(d, o))),
    ]
}

/// A path as the validator names fields: `environments[1].freeze[0].cron`.
fn field_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Field paths: what an error must name.
// ---------------------------------------------------------------------------------------

const TOP_FIELDS: &[&str] = &[
    "name",
    "repository",
    "branch",
    "ecr_repository",
    "environments",
    "image_tag",
    "ci_workflow",
    "build_timeout",
    "ecr_region",
    "scan_gate",
    "scan_timeout",
    "pending_runs",
    "notify",
];
const ENV_FIELDS: &[&str] = &[
    "name",
    "cluster",
    "service",
    "container",
    "region",
    "promotion",
    "deploy_timeout",
    "minimum_healthy_percent",
    "maximum_percent",
    "circuit_breaker",
    "strategy",
    "bake_time_minutes",
    "role_arn",
    "required_approvals",
    "allow_self_approval",
    "approvers",
    "approval_expiry",
    "freeze",
    "auto_rollback",
];
const FREEZE_FIELDS: &[&str] = &["name", "time_zone", "from", "until", "cron", "lasts"];
const NOTIFY_FIELDS: &[&str] = &["name", "kind", "url", "events"];

/// `name` or `name[3]`, split.
fn segment(s: &str) -> Option<(&str, Option<usize>)> {
    match s.split_once('[') {
        None => Some((s, None)),
        Some((name, rest)) => Some((name, Some(rest.strip_suffix(']')?.parse().ok()?))),
    }
}

/// Whether `path` is the path of a field a pipeline draft has.
fn names_a_field(path: &str) -> bool {
    let Some(segs) = path.split('.').map(segment).collect::<Option<Vec<_>>>() else {
        return false;
    };
    match segs.as_slice() {
        [(f, None)] => TOP_FIELDS.contains(f),
        [("environments", Some(_)), (f, None)] => ENV_FIELDS.contains(f),
        [("environments", Some(_)), ("approvers", Some(_))] => true,
        [("environments", Some(_)), ("freeze", Some(_)), (f, None)] => FREEZE_FIELDS.contains(f),
        [("notify", Some(_)), (f, None)] => NOTIFY_FIELDS.contains(f),
        [("notify", Some(_)), ("events", Some(_))] => true,
        _ => false,
    }
}

fn parent_of(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    &path[..cut]
}

fn last_name(path: &str) -> &str {
    let tail = path.rsplit('.').next().unwrap_or(path);
    tail.split('[').next().unwrap_or(tail)
}

/// Whether an error at `error` can be a consequence of changing `changed`: the field itself,
/// one inside or around it, a sibling (`until` after `from` moved; `approvers` after
/// `required_approvals` grew), or another field of the same name (a duplicate).
fn related(error: &str, changed: &str) -> bool {
    let within = |a: &str, b: &str| {
        a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["))
    };
    within(error, changed)
        || within(changed, error)
        || parent_of(error) == parent_of(changed)
        || last_name(error) == last_name(changed)
}

// ---------------------------------------------------------------------------------------
// Generated valid drafts.
// ---------------------------------------------------------------------------------------

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// A duration between `lo` and `hi`, written in any unit that can say it.
fn span_within(lo: Span, hi: Span) -> impl Strategy<Value = String> {
    let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
    prop::sample::select(UNITS.to_vec())
        .prop_filter("the unit can say a value in range", move |(_, f)| {
            lo.div_ceil(*f) <= hi / f
        })
        .prop_flat_map(move |(unit, f)| {
            (lo.div_ceil(f)..=hi / f).prop_map(move |n| format!("{n}{unit}"))
        })
}

fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_-]{0,20}"
}

fn repository() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,10}(-[A-Za-z0-9]{1,5}){0,2}/[A-Za-z0-9._-]{1,20}"
        .prop_filter("not . or ..", |r| !r.ends_with("/.") && !r.ends_with("/.."))
}

fn branch() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_-]{0,9}(/[a-z0-9][a-z0-9_.-]{0,8}[a-z0-9]){0,2}"
        .prop_filter("git allows it", |b| {
            !b.contains("..") && !b.ends_with(".lock") && !b.starts_with("refs/")
        })
}

fn ecr_repository() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?(/[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?){0,2}"
        .prop_filter("2-256 characters", |r| r.len() >= 2)
}

fn region() -> impl Strategy<Value = String> {
    "(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|gov-west)-[1-9]"
}

fn ecs_name_or_arn() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[A-Za-z0-9_-]{1,30}", 1 => "arn:aws:ecs:us-east-1:[0-9]{12}:(cluster|service)/[a-z0-9-]{1,20}"]
}

fn email() -> impl Strategy<Value = String> {
    " {0,2}[A-Za-z0-9._]{1,10}@[A-Za-z]{1,10}\\.(com|org|io) {0,2}"
}

fn time_zone() -> impl Strategy<Value = String> {
    prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec()).prop_map(|tz| tz.name().to_owned())
}

fn object(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect(),
    )
}

/// One item of a cron field: `*`, a value, a range, any of them with a step; values
/// are numbers, or (where the field has them) names in any case.
#[derive(Debug, Clone)]
enum CronItem {
    Star,
    One(u32, bool),
    Range(u32, u32),
    Step(Box<CronItem>, u32),
}

#[derive(Debug, Clone, Copy)]
struct CronField {
    what: &'static str,
    low: u32,
    high: u32,
    names: &'static [&'static str],
    names_from: u32,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const CRON_FIELDS: [CronField; 5] = [
    CronField {
        what: "minute",
        low: 0,
        high: 59,
        names: &[],
        names_from: 0,
    },
    CronField {
        what: "hour",
        low: 0,
        high: 23,
        names: &[],
        names_from: 0,
    },
    CronField {
        what: "day-of-month",
        low: 1,
        high: 31,
        names: &[],
        names_from: 0,
    },
    CronField {
        what: "month",
        low: 1,
        high: 12,
        names: &MONTHS,
        names_from: 1,
    },
    CronField {
        what: "day-of-week",
        low: 0,
        high: 7,
        names: &WEEKDAYS,
        names_from: 0,
    },
];

impl CronField {
    /// One item; `stars` weighs `*` against the three other kinds of item.
    fn item(self, stars: u32) -> impl Strategy<Value = CronItem> {
        let (lo, hi) = (self.low, self.high);
        let base = prop_oneof![
            stars => Just(CronItem::Star),
            3 => (lo..=hi, any::<bool>()).prop_map(|(v, name)| CronItem::One(v, name)),
            2 => (lo..=hi, lo..=hi).prop_map(|(a, b)| CronItem::Range(a.min(b), a.max(b))),
        ];
        prop_oneof![3 => base.clone(), 1 => (base, 1..=hi + 1).prop_map(|(b, s)| CronItem::Step(Box::new(b), s))]
    }

    fn value_text(self, v: u32, as_name: bool) -> String {
        match self.names.get(v.wrapping_sub(self.names_from) as usize) {
            Some(name) if as_name => {
                if v.is_multiple_of(2) {
                    name.to_lowercase()
                } else {
                    name.to_string()
                }
            }
            _ => v.to_string(),
        }
    }

    fn text(self, item: &CronItem) -> String {
        match item {
            CronItem::Star => "*".into(),
            CronItem::One(v, name) => self.value_text(*v, *name),
            CronItem::Range(a, b) => format!(
                "{}-{}",
                self.value_text(*a, true),
                self.value_text(*b, false)
            ),
            CronItem::Step(base, s) => format!("{}/{s}", self.text(base)),
        }
    }

    /// The values an item stands for, as cron reads it.
    fn values(self, item: &CronItem) -> Vec<u32> {
        let (start, end, step) = match item {
            CronItem::Star => (self.low, self.high, 1),
            CronItem::One(v, _) => (*v, *v, 1),
            CronItem::Range(a, b) => (*a, *b, 1),
            CronItem::Step(base, s) => match **base {
                CronItem::Star => (self.low, self.high, *s),
                CronItem::One(v, _) => (v, self.high, *s),
                CronItem::Range(a, b) => (a, b, *s),
                CronItem::Step(..) => unreachable!("steps are not nested"),
            },
        };
        (start..=end).step_by(step as usize).collect()
    }
}

/// A valid cron expression with what it means: per field, its text and the values it allows.
#[derive(Debug, Clone)]
struct CronCase {
    text: String,
    fields: Vec<(String, Vec<bool>)>,
}

impl CronCase {
    fn allows(&self, field: usize, v: u32) -> bool {
        self.fields[field].1[v as usize]
    }

    /// Whether the cron starts a window at local time `t`, from the generated fields alone.
    fn matches(&self, t: &NaiveDateTime) -> bool {
        let weekday = t.weekday().num_days_from_sunday();
        let day = self.allows(2, t.day());
        let dow = self.allows(4, weekday) || (weekday == 0 && self.allows(4, 7));
        let day_ok = match (self.fields[2].0 == "*", self.fields[4].0 == "*") {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => day,
            (false, false) => day || dow,
        };
        self.allows(0, t.minute())
            && self.allows(1, t.hour())
            && self.allows(3, t.month())
            && day_ok
    }
}

fn cron_case() -> impl Strategy<Value = CronCase> {
    // Mostly every day of the month and every month, so that most crons start often enough
    // to be seen starting.
    let field = |f: CronField| {
        let stars = if matches!(f.what, "day-of-month" | "month") {
            12
        } else {
            1
        };
        prop::collection::vec(f.item(stars), 1..=3).prop_map(move |items| (f, items))
    };
    (
        field(CRON_FIELDS[0]),
        field(CRON_FIELDS[1]),
        field(CRON_FIELDS[2]),
        field(CRON_FIELDS[3]),
        field(CRON_FIELDS[4]),
        0..3usize,
    )
        .prop_map(|(a, b, c, d, e, spacing)| {
            let fields: Vec<(String, Vec<bool>)> = [a, b, c, d, e]
                .into_iter()
                .map(|(f, items)| {
                    let mut allowed = vec![false; 64];
                    for item in &items {
                        for v in f.values(item) {
                            allowed[v as usize] = true;
                        }
                    }
                    (
                        items
                            .iter()
                            .map(|i| f.text(i))
                            .collect::<Vec<_>>()
                            .join(","),
                        allowed,
                    )
                })
                .collect();
            let sep = [" ", "  ", "\t"][spacing];
            CronCase {
                text: fields
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(sep),
                fields,
            }
        })
}

/// A local date and time between 1970 and 2100, to the second.
fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    (1970..2100i32, 1..=365u32, 0..24u32, 0..60u32, 0..60u32).prop_map(|(y, d, h, m, s)| {
        NaiveDate::from_yo_opt(y, d)
            .unwrap()
            .and_hms_opt(h, m, s)
            .unwrap()
    })
}

/// A freeze window people could write: recurring, or a date range (sometimes to the second).
fn valid_freeze() -> impl Strategy<Value = Value> {
    let name = "[A-Za-z][A-Za-z0-9 ]{0,20}";
    let recurring = (name, time_zone(), cron_case(), span_within(Span::minutes(1), MAX_LASTS))
        .prop_map(|(name, tz, cron, lasts)| json!({"name": name, "time_zone": tz, "cron": cron.text, "lasts": lasts}));
    let dates = (name, time_zone(), local_time(), 1..600_000i64, 0..4usize).prop_map(|(name, tz, from, minutes, style)| {
        let until = from + chrono::Duration::minutes(minutes);
        let format = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"][style];
        let (from, until) = if style == 3 { (from.date().and_hms_opt(0, 0, 0).unwrap(), until.date().and_hms_opt(0, 0, 0).unwrap()) } else { (from, until) };
        let until = if until <= from { from + chrono::Duration::days(1) } else { until };
        json!({"name": name, "time_zone": tz, "from": from.format(format).to_string(), "until": until.format(format).to_string()})
    });
    prop_oneof![recurring, dates]
}

fn valid_environment(name: String) -> impl Strategy<Value = Value> {
    let placement = (
        ecs_name_or_arn(),
        ecs_name_or_arn(),
        "[A-Za-z0-9_-]{1,30}",
        region(),
        prop::sample::select(vec!["auto", "manual"]),
    );
    let deploy = (
        prop::option::of(span_within(Span::seconds(1), Span::hours(24))),
        prop::option::of(0..=100u16),
        prop::option::of(100..=200u16),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(vec![
            "rolling",
            "blue_green",
            "linear",
            "canary",
        ])),
        prop::option::of(any::<u16>()),
        prop::option::of("arn:aws:iam::[0-9]{12}:role/[a-z-]{1,20}"),
        prop::option::of(any::<bool>()),
    );
    let approval = (1..=10u8).prop_flat_map(|n| {
        (
            prop::option::of(Just(n)),
            prop::option::of(prop::collection::vec(email(), n as usize..=n as usize + 2)),
            prop::option::of(span_within(Span::minutes(1), Span::days(90))),
            prop::option::of(any::<bool>()),
        )
    });
    let freeze = prop::option::of(prop::collection::vec(valid_freeze(), 0..3));
    (placement, deploy, approval, freeze).prop_map(move |(p, d, a, freeze)| {
        // Without a set count, one approval is required: an approver list must not be shorter.
        let approvers = if a.0.is_none() {
            a.1.map(|list| list.into_iter().take(1).collect::<Vec<_>>())
        } else {
            a.1
        };
        object(vec![
            ("name", Some(json!(name))),
            ("cluster", Some(json!(p.0))),
            ("service", Some(json!(p.1))),
            ("container", Some(json!(p.2))),
            ("region", Some(json!(p.3))),
            ("promotion", Some(json!(p.4))),
            ("deploy_timeout", d.0.map(Value::from)),
            ("minimum_healthy_percent", d.1.map(Value::from)),
            ("maximum_percent", d.2.map(Value::from)),
            ("circuit_breaker", d.3.map(Value::from)),
            ("strategy", d.4.map(Value::from)),
            ("bake_time_minutes", d.5.map(Value::from)),
            ("role_arn", d.6.map(Value::from)),
            ("auto_rollback", d.7.map(Value::from)),
            ("required_approvals", a.0.map(Value::from)),
            ("approvers", approvers.map(Value::from)),
            ("approval_expiry", a.2.map(Value::from)),
            ("allow_self_approval", a.3.map(Value::from)),
            ("freeze", freeze.map(Value::from)),
        ])
    })
}

fn valid_notifier(name: String) -> impl Strategy<Value = Value> {
    let events = prop::collection::vec(
        prop::sample::select(Happening::ALL.map(Happening::as_str).to_vec()),
        0..4,
    );
    (
        prop::sample::select(vec!["slack", "json"]),
        "https?://[a-z]{1,10}(\\.[a-z]{1,8}){0,2}(/[A-Za-z0-9_-]{1,10}){0,3}",
        prop::option::of(events),
    )
        .prop_map(move |(kind, url, events)| {
            object(vec![
                ("name", Some(json!(name))),
                ("kind", Some(json!(kind))),
                ("url", Some(json!(url))),
                ("events", events.map(Value::from)),
            ])
        })
}

/// A pipeline draft that is valid, in JSON, with any of its optional settings.
fn valid_draft() -> impl Strategy<Value = Value> {
    let environments = prop::collection::btree_set(slug(), 1..=4)
        .prop_flat_map(|names| names.into_iter().map(valid_environment).collect::<Vec<_>>())
        .prop_shuffle();
    let notify = prop::option::of(
        prop::collection::btree_set(slug(), 0..=3)
            .prop_flat_map(|names| names.into_iter().map(valid_notifier).collect::<Vec<_>>()),
    );
    let build = (
        prop::option::of(prop_oneof![
            Just("{sha}".to_string()),
            Just("v-{short_sha}".to_string()),
            Just("{branch}-{short_sha}".to_string()),
            "release_[a-z0-9.-]{0,10}"
        ]),
        prop::option::of("\\PC{1,40}"),
        prop::option::of(span_within(Span::seconds(1), Span::hours(24))),
        prop::option::of(region()),
        prop::option::of(prop::sample::select(vec!["medium", "high", "critical"])),
        prop::option::of(span_within(Span::seconds(1), Span::hours(24))),
        prop::option::of(prop::sample::select(vec!["supersede", "queue"])),
    );
    (
        (slug(), repository(), branch(), ecr_repository()),
        environments,
        build,
        notify,
    )
        .prop_map(|(id, environments, b, notify)| {
            object(vec![
                ("name", Some(json!(id.0))),
                ("repository", Some(json!(id.1))),
                ("branch", Some(json!(id.2))),
                ("ecr_repository", Some(json!(id.3))),
                ("environments", Some(Value::from(environments))),
                ("image_tag", b.0.map(Value::from)),
                ("ci_workflow", b.1.map(Value::from)),
                ("build_timeout", b.2.map(Value::from)),
                ("ecr_region", b.3.map(Value::from)),
                ("scan_gate", b.4.map(Value::from)),
                ("scan_timeout", b.5.map(Value::from)),
                ("pending_runs", b.6.map(Value::from)),
                ("notify", notify.map(Value::from)),
            ])
        })
}

/// Arbitrary JSON, with the draft's own field names as keys more often than chance would.
fn json_value() -> impl Strategy<Value = Value> {
    let known: Vec<&str> = TOP_FIELDS
        .iter()
        .chain(ENV_FIELDS)
        .chain(FREEZE_FIELDS)
        .chain(NOTIFY_FIELDS)
        .copied()
        .collect();
    let key =
        prop_oneof![3 => prop::sample::select(known).prop_map(String::from), 1 => any::<String>()];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec![
            "auto",
            "manual",
            "us-east-1",
            "30m",
            "0 18 * * FRI",
            "UTC",
            "a@b.c",
            "octo/api",
            "main"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Durations.
// ---------------------------------------------------------------------------------------

/// What a duration text means, worked out independently: digits then a unit, within u64 ms.
fn span_meaning(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let factor = UNITS.iter().find(|(u, _)| *u == unit)?.1 as u128;
    let significant = digits.trim_start_matches('0');
    if digits.is_empty() || significant.len() > 20 {
        return None;
    }
    let n: u128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    u64::try_from(n.checked_mul(factor)?)
        .ok()
        .filter(|_| n <= u64::MAX as u128)
}

fn span_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,24}(ms|s|m|h|d|w|us|µs|S|M| s|s |)",
        "[-+ ]?[0-9]{1,6}[.,]?[0-9]{0,3}(ms|s|m|h|d)",
        "(0{0,30})[0-9]{1,3}(ms|s|m|h|d)",
    ]
}

/// Any text given as a duration either means exactly what it says or is refused by quoting it.
#[test]
fn any_text_as_a_duration_parses_exactly_or_is_refused_by_name() {
    check(
        "Span::from_str(arbitrary text)",
        10_000,
        span_text(),
        |text| match (text.parse::<Span>(), span_meaning(&text)) {
            (Ok(span), Some(ms)) => {
                ensure!(
                    span == Span::millis(ms),
                    "`{text}` parsed to {span:?}, but it means {ms}ms"
                );
                Ok("ok")
            }
            (Err(message), None) => {
                ensure!(
                    message.contains(&format!("`{text}`")) && message.contains("is not a duration"),
                    "`{text}`: unclear refusal: {message}"
                );
                Ok("named errors")
            }
            (Ok(span), None) => Err(format!(
                "`{text}` is not a duration, yet it parsed to {span:?}"
            )),
            (Err(message), Some(ms)) => Err(format!(
                "`{text}` means {ms}ms, yet it was refused: {message}"
            )),
        },
    );
}

/// `N unit` is exactly N times the unit, whatever N, or refused when that overflows.
#[test]
fn a_number_and_a_unit_parse_to_the_exact_milliseconds() {
    let n = prop_oneof![0..1000u64, any::<u64>(), (0..64u32).prop_map(|b| 1u64 << b)];
    check(
        "Span: N unit is N x unit ms",
        10_000,
        (n, prop::sample::select(UNITS.to_vec())),
        |(n, (unit, factor))| {
            let text = format!("{n}{unit}");
            match (text.parse::<Span>(), n.checked_mul(factor)) {
                (Ok(span), Some(ms)) if span == Span::millis(ms) => Ok("ok"),
                (Err(_), None) => Ok("named errors (overflow)"),
                (got, want) => Err(format!("`{text}`: got {got:?}, want {want:?} ms")),
            }
        },
    );
}

/// What Shipgate shows for a duration is what it reads back.
#[test]
fn a_duration_shown_reads_back_as_the_same_duration() {
    let ms = prop_oneof![
        any::<u64>(),
        0..100_000u64,
        (0..200_000u64, prop::sample::select(UNITS.to_vec())).prop_map(|(n, (_, f))| n * f)
    ];
    check("Span: Display then parse", 10_000, ms, |ms| {
        let span = Span::millis(ms);
        let shown = span.to_string();
        ensure!(
            shown.parse::<Span>() == Ok(span),
            "{ms}ms is shown as `{shown}`, which reads back as {:?}",
            shown.parse::<Span>()
        );
        let json = serde_json::to_string(&span).unwrap();
        ensure!(
            serde_json::from_str::<Span>(&json).ok() == Some(span),
            "{ms}ms does not survive JSON as {json}"
        );
        Ok("ok")
    });
}

// ---------------------------------------------------------------------------------------
// Cron.
// ---------------------------------------------------------------------------------------

/// A number as a cron field might hold one: mostly near the field's range, sometimes far
/// out of it (the largest steps included), or not a number at all.
fn cron_number(high: u32) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        30 => (0..=high).prop_map(|n| n.to_string()),
        2 => (high + 1..=high + 3).prop_map(|n| n.to_string()),
        1 => any::<u32>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["4294967295", "4294967290", "4294967236", "18446744073709551616", "00007", "+5", "-1", "0x1F"]).prop_map(String::from),
        1 => "[0-9]{10,25}",
        2 => prop::sample::select(vec!["MON", "sun", "Jan", "dec", "FOO", "L", "W", "#", "?", "", "5L", "1#2"]).prop_map(String::from),
        1 => "\\S{0,6}",
    ]
}

fn cron_item_text(high: u32) -> impl Strategy<Value = String> {
    let n = cron_number(high);
    let base = prop_oneof![
        3 => Just("*".to_string()),
        3 => n.clone(),
        2 => (n.clone(), n.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
    ];
    prop_oneof![3 => base.clone(), 1 => (base, n).prop_map(|(b, step)| format!("{b}/{step}"))]
}

/// Five (sometimes four or six) cron-looking fields: lists, ranges and steps of numbers in and
/// out of range, the largest steps, names, stray separators and random unicode.
fn cron_text() -> impl Strategy<Value = String> {
    let field = |high: u32| {
        prop_oneof![
            16 => prop::collection::vec(cron_item_text(high), 1..=3).prop_map(|items| items.join(",")),
            1 => prop::sample::select(vec!["", ",", "1,", ",1", "1--2", "1-2-3", "*/", "/5", "**", "1//2"]).prop_map(String::from),
            1 => "\\S{1,8}",
        ]
    };
    let fields = (field(59), field(23), field(31), field(12), field(7));
    let extra = prop::option::of(field(59));
    (
        fields,
        extra,
        0..12usize,
        prop::sample::select(vec![" ", "  ", "\t", " \n "]),
    )
        .prop_map(|((a, b, c, d, e), extra, drop, sep)| {
            let mut fields = vec![a, b, c, d, e];
            match (drop, extra) {
                (0, _) => {
                    fields.pop();
                }
                (1, Some(x)) => fields.push(x),
                _ => {}
            }
            fields.join(sep)
        })
}

/// A cron with one field set and the others `*`: to tell which field a message blames.
fn cron_with(field: usize, text: &str) -> String {
    let mut fields = ["*"; 5];
    fields[field] = text;
    fields.join(" ")
}

/// Any five fields either make a cron (that reads back as itself) or are refused by naming
/// the field that is wrong, which is indeed wrong on its own.
#[test]
fn any_five_cron_fields_parse_or_name_the_wrong_field() {
    check(
        "Cron::from_str(arbitrary fields)",
        10_000,
        cron_text(),
        |text| {
            let fields: Vec<&str> = text.split_whitespace().collect();
            match text.parse::<Cron>() {
                Ok(cron) => {
                    ensure!(
                        fields.len() == 5,
                        "`{text}` has {} fields, yet it parsed",
                        fields.len()
                    );
                    ensure!(
                        cron.to_string() == fields.join(" "),
                        "`{text}` is shown as `{cron}`"
                    );
                    ensure!(
                        cron.to_string().parse::<Cron>().as_ref() == Ok(&cron),
                        "`{cron}` does not read back as itself"
                    );
                    Ok("ok")
                }
                Err(message) if fields.len() != 5 => {
                    ensure!(
                        message.contains(&format!("has {} fields", fields.len())),
                        "`{text}`: {message}"
                    );
                    Ok("named errors (field count)")
                }
                Err(message) => {
                    let blamed = CRON_FIELDS
                        .iter()
                        .position(|f| message.contains(&format!("the {} field", f.what)));
                    let Some(blamed) = blamed else {
                        return Err(format!("`{text}`: the message names no field: {message}"));
                    };
                    let alone = cron_with(blamed, fields[blamed]);
                    ensure!(
                        alone.parse::<Cron>().is_err(),
                        "`{text}`: blames the {} field, but `{alone}` parses",
                        CRON_FIELDS[blamed].what
                    );
                    Ok("named errors")
                }
            }
        },
    );
}

/// A cron built from known fields matches exactly the local times those fields allow.
#[test]
fn a_generated_cron_matches_exactly_the_times_its_fields_allow() {
    check(
        "Cron::matches(generated crons)",
        4_000,
        (cron_case(), prop::collection::vec(local_time(), 8)),
        |(case, times)| {
            let cron: Cron = case
                .text
                .parse()
                .map_err(|e| format!("`{}` is valid, yet: {e}", case.text))?;
            ensure!(
                cron.to_string().parse::<Cron>().as_ref() == Ok(&cron),
                "`{cron}` does not read back as itself"
            );
            // The random times rarely match a narrow cron: also try the first matching minute of
            // some day, if the fields allow one.
            let mut times = times;
            let minute = (0..60).find(|m| case.allows(0, *m));
            let hour = (0..24).find(|h| case.allows(1, *h));
            if let (Some(minute), Some(hour)) = (minute, hour) {
                let start = times[0].date();
                if let Some(day) = (0..1500)
                    .map(|d| start + chrono::Duration::days(d))
                    .find(|d| case.matches(&d.and_hms_opt(hour, minute, 0).unwrap()))
                {
                    times.push(day.and_hms_opt(hour, minute, 0).unwrap());
                }
            }
            let mut matched = false;
            for t in &times {
                let want = case.matches(t);
                ensure!(
                    cron.matches(t) == want,
                    "`{}` at {t}: matches says {}, its fields say {want}",
                    case.text,
                    !want
                );
                matched |= want;
            }
            Ok(if matched {
                "ok (a time matched)"
            } else {
                "ok (no time matched)"
            })
        },
    );
}

fn utc_minute(at: i64) -> NaiveDateTime {
    DateTime::from_timestamp_millis(at)
        .expect("in range")
        .naive_utc()
}

const MINUTE: i64 = 60_000;
/// 2000-01-01 and 2100-01-01, UTC.
const Y2000: i64 = 946_684_800_000;
const Y2100: i64 = 4_102_444_800_000;

/// The next start a recurring freeze has after now is the first minute its cron allows: the
/// window is on from then for exactly `lasts`.
#[test]
fn a_recurring_freeze_next_starts_at_the_first_minute_its_cron_allows() {
    let strategy = (
        cron_case(),
        span_within(Span::minutes(1), Span::hours(6)),
        Y2000..Y2100,
    );
    check(
        "FreezeWindow::on_until(next start, UTC)",
        1_000,
        strategy,
        |(case, lasts, now)| {
            let draft = FreezeDraft {
                name: Some("f".into()),
                time_zone: Some("UTC".into()),
                cron: Some(case.text.clone()),
                lasts: Some(lasts.clone()),
                ..Default::default()
            };
            let window = draft
                .validate()
                .map_err(|e| format!("{draft:?} is valid, yet: {e}"))?;
            let lasts = lasts.parse::<Span>().unwrap().as_millis();
            // The first whole minute at or after now that the fields allow, within two days.
            let first = now + (MINUTE - now.rem_euclid(MINUTE)) % MINUTE;
            let Some(next) = (0..2 * 24 * 60)
                .map(|i| first + i * MINUTE)
                .find(|t| case.matches(&utc_minute(*t)))
            else {
                return Ok("ok (no start within two days)");
            };
            ensure!(next >= now, "the next start {next} is before now {now}");
            ensure!(
                window.on_until(next) == Some(next + lasts),
                "`{}`: at its start {}, on_until says {:?}, want {}",
                case.text,
                utc_minute(next),
                window.on_until(next),
                next + lasts
            );
            let last_moment = next + lasts - 1;
            ensure!(
                window
                    .on_until(last_moment)
                    .is_some_and(|end| end >= next + lasts),
                "`{}`: the window that started at {} is off before its end",
                case.text,
                utc_minute(next)
            );
            Ok("ok")
        },
    );
}

/// In any time zone, a recurring freeze is on exactly when a minute its cron allows (in that
/// zone's local time) started within `lasts` before now, and it ends `lasts` after the newest.
#[test]
fn a_recurring_freeze_is_on_exactly_when_its_cron_started_it_within_lasts() {
    let strategy = (
        cron_case(),
        time_zone(),
        span_within(Span::minutes(1), Span::hours(3)),
        Y2000..Y2100,
    );
    check(
        "FreezeWindow::on_until(any zone)",
        1_000,
        strategy,
        |(case, tz, lasts, now)| {
            let draft = FreezeDraft {
                name: Some("f".into()),
                time_zone: Some(tz.clone()),
                cron: Some(case.text.clone()),
                lasts: Some(lasts.clone()),
                ..Default::default()
            };
            let window = draft
                .validate()
                .map_err(|e| format!("{draft:?} is valid, yet: {e}"))?;
            let zone: chrono_tz::Tz = tz.parse().unwrap();
            let lasts = lasts.parse::<Span>().unwrap().as_millis();
            let local = |at: i64| {
                DateTime::from_timestamp_millis(at)
                    .unwrap()
                    .with_timezone(&zone)
                    .naive_local()
            };
            let minute = now - now.rem_euclid(MINUTE);
            let newest = (0..)
                .map(|i| minute - i * MINUTE)
                .take_while(|s| now - s < lasts)
                .find(|s| case.matches(&local(*s)));
            let got = window.on_until(now);
            ensure!(
                got == newest.map(|s| s + lasts),
                "`{}` in {tz}, lasting {lasts}ms, at {}: on_until says {got:?}, the fields say {:?}",
                case.text,
                local(now),
                newest.map(|s| s + lasts)
            );
            if let Some(end) = got {
                ensure!(
                    end > now,
                    "a freeze on at {now} ends at {end}, not after it"
                );
            }
            Ok(if got.is_some() {
                "ok (frozen)"
            } else {
                "ok (open)"
            })
        },
    );
}

// ---------------------------------------------------------------------------------------
// Time zones and date ranges.
// ---------------------------------------------------------------------------------------

fn zone_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => time_zone(),
        2 => (time_zone(), 0..6usize).prop_map(|(z, how)| match how {
            0 => z.to_lowercase(),
            1 => z.to_uppercase(),
            2 => format!("  {z}\t"),
            3 => format!("{z}/"),
            4 => z.replace('/', " / "),
            _ => format!("{z}\u{0}"),
        }),
        1 => "[A-Z][a-z]{1,10}/[A-Z][a-z_]{1,12}",
        1 => prop::sample::select(vec!["", " ", "UTC", "utc", "Z", "GMT+2", "+02:00", "Mars/Olympus", "Europe/", "/", "EST5EDT", "Local"]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Any text given as a time zone is a zone Shipgate knows (exactly, after trimming) or is
/// refused under `time_zone`.
#[test]
fn any_time_zone_text_is_a_known_zone_or_a_named_error() {
    check(
        "FreezeDraft.time_zone(arbitrary text)",
        4_000,
        zone_text(),
        |tz| {
            let draft = FreezeDraft {
                name: Some("f".into()),
                time_zone: Some(tz.clone()),
                cron: Some("0 18 * * FRI".into()),
                lasts: Some("63h".into()),
                ..Default::default()
            };
            let known = chrono_tz::TZ_VARIANTS.iter().any(|z| z.name() == tz.trim());
            match draft.validate() {
                Ok(window) => {
                    ensure!(
                        known && window.time_zone.name() == tz.trim(),
                        "`{tz}` was taken as {}",
                        window.time_zone.name()
                    );
                    Ok("ok")
                }
                Err(errors) => {
                    ensure!(!known, "`{tz}` is a known zone, yet: {errors}");
                    let fields: Vec<&str> = errors.0.iter().map(|(f, _)| *f).collect();
                    ensure!(fields == ["time_zone"], "`{tz}`: errors at {fields:?}");
                    Ok("named errors")
                }
            }
        },
    );
}

fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => (local_time(), 0..5usize).prop_map(|(t, style)| t.format(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", " %Y-%m-%d %H:%M "][style]).to_string()),
        1 => prop::sample::select(vec![
            "+262143-12-31 23:59", "-262144-01-01", "+10000-01-01", "0000-01-01", "9999-12-31 23:59:59", "2026-02-29", "2024-02-29 24:00",
            "2026-13-01", "2026-12-31 23:59:60", "2026-12-20T18:00:00Z", "20 Dec", "", "tomorrow",
        ])
        .prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// A freeze field: mostly present and plausible, sometimes random, blank or missing.
fn freeze_text(
    valid: impl Strategy<Value = String> + 'static,
) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.9,
        prop_oneof![8 => valid.boxed(), 1 => any::<String>().boxed(), 1 => Just(" ".to_string()).boxed()],
    )
}

/// Any freeze draft either gives a window that is stored and read back as the same window
/// (and answers whether it is on without panicking), or errors under the draft's own fields.
#[test]
fn any_freeze_draft_gives_a_window_that_reads_back_or_errors_by_field() {
    let strategy = (
        freeze_text("[A-Za-z ]{0,12}".boxed()),
        freeze_text(zone_text().boxed()),
        (
            prop::option::weighted(0.9, date_text()),
            prop::option::weighted(0.9, date_text()),
        ),
        (
            freeze_text(
                prop_oneof![3 => cron_case().prop_map(|c| c.text), 1 => cron_text()].boxed(),
            ),
            freeze_text(
                prop_oneof![3 => span_within(Span::minutes(1), MAX_LASTS), 1 => span_text()]
                    .boxed(),
            ),
        ),
        0..5usize,
        prop::collection::vec(any::<i64>(), 2),
    );
    check(
        "FreezeDraft::validate(arbitrary drafts)",
        4_000,
        strategy,
        |(name, time_zone, (from, until), (cron, lasts), kind, nows)| {
            // Mostly one kind of window at a time (dates, or recurring), sometimes both.
            let draft = match kind {
                0 | 1 => FreezeDraft {
                    name,
                    time_zone,
                    from,
                    until,
                    ..Default::default()
                },
                2 | 3 => FreezeDraft {
                    name,
                    time_zone,
                    cron,
                    lasts,
                    ..Default::default()
                },
                _ => FreezeDraft {
                    name,
                    time_zone,
                    from,
                    until,
                    cron,
                    lasts,
                },
            };
            match draft.validate() {
                Ok(window) => {
                    let stored = FreezeDraft::from(window.clone());
                    ensure!(
                        stored.validate().as_ref() == Ok(&window),
                        "{draft:?} is stored as {stored:?}, which reads back as {:?}",
                        stored.validate()
                    );
                    let json = serde_json::to_string(&window).unwrap();
                    ensure!(
                        serde_json::from_str::<FreezeWindow>(&json).ok().as_ref() == Some(&window),
                        "{window:?} does not survive JSON: {json}"
                    );
                    // A recurring window looks back over its whole length, minute by minute: the
                    // long ones are left to the properties about recurring windows.
                    let short = !matches!(&window.when, FreezeWhen::Recurring { lasts, .. } if *lasts > Span::hours(6));
                    for now in nows
                        .iter()
                        .map(|n| n.rem_euclid(Y2100 * 2) - Y2100 / 2)
                        .chain([Y2000, Y2100])
                        .filter(|_| short)
                    {
                        if let Some(end) = window.on_until(now) {
                            ensure!(end > now, "{window}: on at {now} until {end}");
                        }
                    }
                    Ok("ok")
                }
                Err(errors) => {
                    ensure!(!errors.0.is_empty(), "{draft:?}: an error with no field");
                    for (field, message) in &errors.0 {
                        ensure!(
                            FREEZE_FIELDS.contains(field) && !message.is_empty(),
                            "{draft:?}: `{field}: {message}`"
                        );
                    }
                    Ok("named errors")
                }
            }
        },
    );
}

// ---------------------------------------------------------------------------------------
// Whole drafts.
// ---------------------------------------------------------------------------------------

/// The draft's outcome: its checked errors must each name a field of the draft.
fn judge_draft(value: &Value) -> Result<(&'static str, Vec<String>), String> {
    let draft: PipelineDraft = match serde_json::from_value(value.clone()) {
        Ok(d) => d,
        Err(e) => {
            let message = e.to_string();
            ensure!(
                !message.is_empty() && !message.contains('\n'),
                "a refusal that is not one line: {message}"
            );
            return Ok(("refused by serde (wrong type or unknown field)", Vec::new()));
        }
    };
    match draft.validate() {
        Ok(spec) => {
            ensure!(
                PipelineDraft::from(&spec).validate().as_ref() == Ok(&spec),
                "{spec:?} does not read back as itself"
            );
            Ok(("ok", Vec::new()))
        }
        Err(invalid) => {
            ensure!(!invalid.errors.is_empty(), "invalid, with no error");
            for e in &invalid.errors {
                ensure!(
                    names_a_field(&e.field),
                    "error at `{}`, which is no field of a draft: {}",
                    e.field,
                    e.message
                );
                ensure!(
                    !e.message.trim().is_empty(),
                    "`{}` has an empty message",
                    e.field
                );
            }
            Ok((
                "named errors",
                invalid.errors.iter().map(|e| e.field.clone()).collect(),
            ))
        }
    }
}

/// Arbitrary JSON is refused (by serde, or by field) or is a draft that validates.
#[test]
fn any_json_as_a_draft_is_refused_or_named_or_valid() {
    let strategy = prop_oneof![
        json_value(),
        prop::collection::btree_map(
            prop::sample::select(TOP_FIELDS.to_vec()),
            json_value(),
            0..8
        )
        .prop_map(|m| { Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) })
    ];
    check("PipelineDraft(arbitrary JSON)", 4_000, strategy, |value| {
        judge_draft(&value).map(|(label, _)| label)
    });
}

/// Every valid draft a person could write validates to a pipeline with exactly its facts,
/// and reads back as itself from its stored form (JSON, and the draft shown for editing).
#[test]
fn a_generated_valid_draft_validates_to_its_own_facts_and_round_trips() {
    check(
        "PipelineDraft::validate(generated valid drafts)",
        1_500,
        valid_draft(),
        |value| {
            let draft: PipelineDraft =
                serde_json::from_value(value.clone()).map_err(|e| format!("{e}: {value}"))?;
            let spec = draft.validate().map_err(|e| format!("{e}\n{value:#}"))?;
            ensure!(
                spec.name == value["name"]
                    && spec.repository == value["repository"]
                    && spec.branch == value["branch"],
                "identity changed: {spec:?}"
            );
            ensure!(
                spec.environments.len() == value["environments"].as_array().unwrap().len(),
                "environments lost"
            );
            for (env, given) in spec
                .environments
                .iter()
                .zip(value["environments"].as_array().unwrap())
            {
                ensure!(
                    env.name == given["name"]
                        && env.region == given["region"]
                        && env.promotion.as_str() == given["promotion"],
                    "{env:?} is not {given}"
                );
                let approvers: Vec<String> = given["approvers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a.as_str().unwrap().trim().to_lowercase())
                    .collect();
                ensure!(
                    env.deploy.approval.approvers == approvers,
                    "approvers {:?}, given {approvers:?}",
                    env.deploy.approval.approvers
                );
                if let Some(expiry) = given["approval_expiry"].as_str() {
                    ensure!(
                        env.deploy.approval.expires_after == expiry.parse().unwrap(),
                        "expiry {} from `{expiry}`",
                        env.deploy.approval.expires_after
                    );
                }
                ensure!(
                    env.deploy.freeze.len() == given["freeze"].as_array().map_or(0, Vec::len),
                    "freezes lost"
                );
            }
            let shown = PipelineDraft::from(&spec);
            ensure!(
                shown.validate().as_ref() == Ok(&spec),
                "the draft shown for editing reads back as {:?}\nnot {spec:?}",
                shown.validate()
            );
            let stored = serde_json::to_value(&spec).unwrap();
            let read: Result<PipelineSpec, _> = serde_json::from_value(stored.clone());
            ensure!(
                read.as_ref().ok() == Some(&spec),
                "stored as {stored}, read back as {read:?}"
            );
            Ok("ok")
        },
    );
}

/// A valid draft with one to three fields removed, retyped, or replaced by random unicode,
/// very long strings or nested nulls: refused by serde, or valid, or refused with errors that
/// each name a field, and (for a single change) at least one about the field changed.
#[test]
fn a_mutated_draft_is_valid_or_names_what_the_mutation_broke() {
    let strategy = (
        valid_draft(),
        prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..=3),
    );
    check(
        "PipelineDraft::validate(mutated drafts)",
        3_000,
        strategy,
        |(mut value, mutations)| {
            let changed: Vec<String> = mutations
                .iter()
                .filter_map(|(pick, m)| mutate(&mut value, *pick, m))
                .map(|p| field_path(&p))
                .collect();
            let (label, errors) = judge_draft(&value)?;
            if let ([changed], false) = (changed.as_slice(), errors.is_empty()) {
                ensure!(
                    errors.iter().any(|e| related(e, changed)),
                    "changing `{changed}` gave errors only at {errors:?}"
                );
            }
            Ok(label)
        },
    );
}

/// The approval policy of a manual environment, with any count, approver list and expiry:
/// exactly the fields that break a rule are named, and a valid policy is taken as written.
#[test]
fn an_approval_policy_is_taken_as_written_or_each_broken_rule_is_named() {
    let approver = prop_oneof![3 => email(), 1 => "[a-z]{1,8}", 1 => "[a-z]{1,4} [a-z]{1,4}@x.io", 1 => any::<String>()];
    let expiry = prop_oneof![3 => span_within(Span::minutes(1), Span::days(90)), 2 => span_within(Span::millis(0), Span::days(400)), 1 => span_text()];
    let strategy = (
        prop::option::of(prop_oneof![1..=10u8, any::<u8>()]),
        prop::option::of(prop::collection::vec(approver, 0..6)),
        prop::option::of(expiry),
        prop::option::of(any::<bool>()),
    );
    check(
        "ApprovalPolicy(arbitrary fields)",
        4_000,
        strategy,
        |(required, approvers, expiry, self_approval)| {
            let mut value = json!({"name": "api", "repository": "octo-org/api", "branch": "main", "ecr_repository": "api",
            "environments": [{"name": "production", "cluster": "prod", "service": "api", "container": "app", "region": "us-east-1", "promotion": "manual"}]});
            let env = value["environments"][0].as_object_mut().unwrap();
            for (key, v) in [
                ("required_approvals", required.map(Value::from)),
                ("approvers", approvers.clone().map(Value::from)),
                ("approval_expiry", expiry.clone().map(Value::from)),
                ("allow_self_approval", self_approval.map(Value::from)),
            ] {
                if let Some(v) = v {
                    env.insert(key.into(), v);
                }
            }
            // The rules, as documented: 1-10 approvals; approvers are emails, at least as many as
            // the approvals required; an expiry from a minute to 90 days.
            let mut want: Vec<String> = Vec::new();
            let at = |f: &str| format!("environments[0].{f}");
            let required_ok = required.is_none_or(|n| (1..=10).contains(&n));
            if !required_ok {
                want.push(at("required_approvals"));
            }
            let count = if required_ok {
                required.unwrap_or(1)
            } else {
                1
            };
            let listed: Vec<String> = approvers
                .iter()
                .flatten()
                .map(|a| a.trim().to_lowercase())
                .collect();
            for (j, a) in listed.iter().enumerate() {
                if !a.contains('@') || a.contains(char::is_whitespace) {
                    want.push(at(&format!("approvers[{j}]")));
                }
            }
            if !listed.is_empty() && listed.len() < usize::from(count) {
                want.push(at("approvers"));
            }
            let expires = match &expiry {
                None => Some(Span::days(7)),
                Some(text) => span_meaning(text)
                    .map(Span::millis)
                    .filter(|s| *s >= Span::minutes(1) && *s <= Span::days(90)),
            };
            if expires.is_none() {
                want.push(at("approval_expiry"));
            }
            let draft: PipelineDraft = serde_json::from_value(value).unwrap();
            match draft.validate() {
                Ok(spec) => {
                    ensure!(
                        want.is_empty(),
                        "valid, but these rules are broken: {want:?}"
                    );
                    let policy = &spec.environments[0].deploy.approval;
                    ensure!(
                        policy.required_approvals == count
                            && policy.approvers == listed
                            && Some(policy.expires_after) == expires,
                        "taken as {policy:?}"
                    );
                    ensure!(
                        policy.allow_self_approval == self_approval.unwrap_or(false),
                        "self-approval taken as {}",
                        policy.allow_self_approval
                    );
                    Ok("ok")
                }
                Err(invalid) => {
                    let got: Vec<String> = invalid.errors.iter().map(|e| e.field.clone()).collect();
                    ensure!(got == want, "errors at {got:?}, want {want:?}: {invalid}");
                    Ok("named errors")
                }
            }
        },
    );
}

// ---------------------------------------------------------------------------------------
// Regular tests for what the properties found.
// ---------------------------------------------------------------------------------------

/// Found by the freeze-draft property: a date range written to the second was stored to the
/// minute, so it read back as another window: 30 seconds early, or, for a range shorter
/// than a minute, as an empty range that the store then refused to read.
#[test]
fn a_date_range_written_to_the_second_is_stored_and_read_back_to_the_second() {
    for (from, until) in [
        ("1970-01-01 00:00:01", "1970-01-01 00:01"),
        ("2026-12-20 18:00:30", "2026-12-20 18:00:45"),
        ("2026-12-20T18:00", "2026-12-21 09:00:59"),
    ] {
        let draft = FreezeDraft {
            name: Some("f".into()),
            time_zone: Some("UTC".into()),
            from: Some(from.into()),
            until: Some(until.into()),
            ..Default::default()
        };
        let window = draft.validate().unwrap();
        assert_eq!(
            FreezeDraft::from(window.clone()).validate(),
            Ok(window.clone()),
            "{from} to {until}"
        );
        let stored = serde_json::to_value(&window).unwrap();
        assert_eq!(
            serde_json::from_value::<FreezeWindow>(stored).unwrap(),
            window,
            "{from} to {until}"
        );
    }
    let to_the_minute = FreezeDraft {
        name: Some("f".into()),
        time_zone: Some("UTC".into()),
        from: Some("2026-12-20 18:00".into()),
        until: Some("2026-12-21".into()),
        ..Default::default()
    };
    assert_eq!(
        FreezeDraft::from(to_the_minute.validate().unwrap())
            .from
            .as_deref(),
        Some("2026-12-20 18:00"),
        "written as people write it"
    );
}

/// Found by the cron property: a step near `u32::MAX` overflowed the loop that fills in a
/// field's values, a panic (in debug builds; in release, an answer by wrap-around luck).
#[test]
fn the_largest_cron_steps_are_read_not_overflowed() {
    for text in [
        "1-59/4294967295 * * * *",
        "* 5/4294967290 * * *",
        "* * 2-31/4294967295 * *",
        "* * * * 1/4294967295",
    ] {
        let cron: Cron = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(cron.to_string(), text);
    }
    let first_minute_only: Cron = "1-59/4294967295 0 * * *".parse().unwrap();
    let at = |m: u32| {
        NaiveDate::from_ymd_opt(2026, 12, 20)
            .unwrap()
            .and_hms_opt(0, m, 0)
            .unwrap()
    };
    assert!(
        first_minute_only.matches(&at(1))
            && !first_minute_only.matches(&at(2))
            && !first_minute_only.matches(&at(0))
    );
    assert!(
        "*/0 * * * *"
            .parse::<Cron>()
            .unwrap_err()
            .contains("minute field"),
        "a zero step is refused, by field"
    );
}
