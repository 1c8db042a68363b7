//! The optional parts of a pipeline definition: how a build is recognised and gated, and
//! how each environment is deployed. Every field has a default, so the minimal JSON shape
//! from the foundation stays valid and means what it meant.

use crate::freeze::FreezeWindow;
use crate::gate::{ApprovalPolicy, PendingRuns};
use crate::notice::Notifier;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

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
        Span { millis: seconds * 1000 }
    }

    pub const fn minutes(minutes: u64) -> Self {
        Span { millis: minutes * 60_000 }
    }

    pub const fn hours(hours: u64) -> Self {
        Span { millis: hours * 3_600_000 }
    }

    pub const fn days(days: u64) -> Self {
        Span { millis: days * 86_400_000 }
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
        } else if ms % 86_400_000 == 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms % 3_600_000 == 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms % 60_000 == 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{text}` is not a duration such as `500ms`, `90s`, `30m`, `2h` or `7d`");
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
        Ok(Span { millis: n.checked_mul(factor).ok_or_else(bad)? })
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

/// ECR's finding severities that a scan gate can block on, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::High, Severity::Medium];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How ECS replaces the old tasks. Blue/green, linear and canary are ECS-native
/// strategies; the service's load balancer must already be set up for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStrategy {
    #[default]
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

impl DeployStrategy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rolling" => Some(DeployStrategy::Rolling),
            "blue_green" => Some(DeployStrategy::BlueGreen),
            "linear" => Some(DeployStrategy::Linear),
            "canary" => Some(DeployStrategy::Canary),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeployStrategy::Rolling => "rolling",
            DeployStrategy::BlueGreen => "blue_green",
            DeployStrategy::Linear => "linear",
            DeployStrategy::Canary => "canary",
        }
    }
}

/// What ends a run's Build stage, and what may block it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildSettings {
    /// The image tag CI pushes, with `{sha}` (full commit SHA), `{short_sha}` (7
    /// characters) and `{branch}` filled in.
    pub image_tag: String,
    /// Only this CI workflow (by name) counts; any workflow or check suite when unset.
    pub ci_workflow: Option<String>,
    pub build_timeout: Span,
    /// The region of the ECR repository; the first environment's when unset.
    pub ecr_region: Option<String>,
    /// Block promotion when the scan finds anything at or above this severity.
    pub scan_gate: Option<Severity>,
    pub scan_timeout: Span,
    /// What a newer run reaching a gate does to older runs waiting there. (Kept with the
    /// pipeline-wide settings, which this struct holds.)
    pub pending_runs: PendingRuns,
    /// Chat and webhook receivers told about this pipeline's runs.
    pub notify: Vec<Notifier>,
}

impl Default for BuildSettings {
    fn default() -> Self {
        BuildSettings {
            image_tag: "{sha}".into(),
            ci_workflow: None,
            build_timeout: Span::minutes(60),
            ecr_region: None,
            scan_gate: None,
            scan_timeout: Span::minutes(30),
            pending_runs: PendingRuns::default(),
            notify: Vec::new(),
        }
    }
}

impl BuildSettings {
    /// The tag this commit's image is pushed under.
    pub fn tag_for(&self, sha: &str, branch: &str) -> String {
        let short = sha.get(..7).unwrap_or(sha);
        let branch: String = branch.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' }).collect();
        self.image_tag.replace("{sha}", sha).replace("{short_sha}", short).replace("{branch}", &branch)
    }
}

/// How one environment is released: who approves it (manual promotion), when it is frozen,
/// and how its ECS service is updated and followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploySettings {
    /// Used when the environment's promotion is manual.
    pub approval: ApprovalPolicy,
    pub freeze: Vec<FreezeWindow>,
    pub deploy_timeout: Span,
    /// Rolling-update bounds; the service keeps its own when unset.
    pub minimum_healthy_percent: Option<u16>,
    pub maximum_percent: Option<u16>,
    /// The ECS deployment circuit breaker, with rollback.
    pub circuit_breaker: bool,
    pub strategy: DeployStrategy,
    pub bake_time_minutes: Option<u16>,
    /// A role to assume for a service in another account.
    pub role_arn: Option<String>,
    /// After a failed deploy that ECS did not already roll back, redeploy the revision that
    /// was live before it (as a run of kind `rollback`).
    pub auto_rollback: bool,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            approval: ApprovalPolicy::default(),
            freeze: Vec::new(),
            deploy_timeout: Span::minutes(30),
            minimum_healthy_percent: None,
            maximum_percent: None,
            circuit_breaker: true,
            strategy: DeployStrategy::Rolling,
            bake_time_minutes: None,
            role_arn: None,
            auto_rollback: false,
        }
    }
}

/// Checks an image tag template: only known placeholders, and what it renders to is a valid tag.
pub(crate) fn check_image_tag(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or_else(|| format!("`{s}` has an unclosed `{{`"))?;
        let name = &rest[open + 1..open + close];
        if !matches!(name, "sha" | "short_sha" | "branch") {
            return Err(format!("`{{{name}}}` is not a placeholder; use `{{sha}}`, `{{short_sha}}` or `{{branch}}`"));
        }
        rest = &rest[open + close + 1..];
    }
    let sample = BuildSettings { image_tag: s.to_owned(), ..Default::default() }.tag_for(&"a".repeat(40), "main");
    let ok = (1..=128).contains(&sample.len())
        && sample.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && sample.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(format!("`{s}` does not render to a valid image tag (letters, digits, `.`, `_`, `-`; at most 128)")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_in_the_largest_whole_unit() {
        for (text, ms, shown) in [("90s", 90_000, "90s"), ("30m", 1_800_000, "30m"), ("2h", 7_200_000, "2h"), ("120m", 7_200_000, "2h"), ("0s", 0, "0s"), ("1500ms", 1500, "1500ms"), ("7d", 604_800_000, "7d"), ("48h", 172_800_000, "2d"), ("36h", 129_600_000, "36h")] {
            let span: Span = text.parse().unwrap();
            assert_eq!(span.as_millis(), ms, "{text}");
            assert_eq!(span.to_string(), shown);
        }
        for bad in ["", "m", "10", "10w", "1.5h", "-1m", "99999999999999999999h"] {
            assert!(bad.parse::<Span>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn image_tags_fill_their_placeholders() {
        let sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
        let settings = |t: &str| BuildSettings { image_tag: t.into(), ..Default::default() };
        assert_eq!(settings("{sha}").tag_for(sha, "main"), sha);
        assert_eq!(settings("{branch}-{short_sha}").tag_for(sha, "feature/x"), "feature-x-0d1a26e");
    }

    #[test]
    fn image_tag_templates_are_checked() {
        assert!(check_image_tag("{sha}").is_ok());
        assert!(check_image_tag("release-{short_sha}").is_ok());
        assert!(check_image_tag("{commit}").unwrap_err().contains("{commit}"));
        assert!(check_image_tag("{sha").is_err());
        assert!(check_image_tag("a b").is_err());
    }
}
