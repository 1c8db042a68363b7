//! The optional parts of a pipeline definition: how a build is recognised and gated, and
//! how each environment is deployed. Every field has a default, so the minimal JSON shape
//! from the foundation stays valid and means what it meant.

use crate::freeze::FreezeWindow;
use crate::gate::{ApprovalPolicy, PendingRuns};
use crate::notice::Notifier;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::time::Span;

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
    /// The repository webhook whose delivery log Shipgate reads back for deliveries that
    /// never arrived. Learned from `X-GitHub-Hook-ID` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_hook_id: Option<u64>,
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
            github_hook_id: None,
        }
    }
}

impl BuildSettings {
    /// The tag this commit's image is pushed under.
    pub fn tag_for(&self, sha: &str, branch: &str) -> String {
        let short = sha.get(..7).unwrap_or(sha);
        let branch: String = branch
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        self.image_tag
            .replace("{sha}", sha)
            .replace("{short_sha}", short)
            .replace("{branch}", &branch)
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
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{s}` has an unclosed `{{`"))?;
        let name = &rest[open + 1..open + close];
        if !matches!(name, "sha" | "short_sha" | "branch") {
            return Err(format!(
                "`{{{name}}}` is not a placeholder; use `{{sha}}`, `{{short_sha}}` or `{{branch}}`"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    let sample = BuildSettings {
        image_tag: s.to_owned(),
        ..Default::default()
    }
    .tag_for(&"a".repeat(40), "main");
    let ok = (1..=128).contains(&sample.len())
        && sample.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && sample
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` does not render to a valid image tag (letters, digits, `.`, `_`, `-`; at most 128)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_in_the_largest_whole_unit() {
        for (text, ms, shown) in [
            ("90s", 90_000, "90s"),
            ("30m", 1_800_000, "30m"),
            ("2h", 7_200_000, "2h"),
            ("120m", 7_200_000, "2h"),
            ("0s", 0, "0s"),
            ("1500ms", 1500, "1500ms"),
            ("7d", 604_800_000, "7d"),
            ("48h", 172_800_000, "2d"),
            ("36h", 129_600_000, "36h"),
        ] {
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
        let settings = |t: &str| BuildSettings {
            image_tag: t.into(),
            ..Default::default()
        };
        assert_eq!(settings("{sha}").tag_for(sha, "main"), sha);
        assert_eq!(
            settings("{branch}-{short_sha}").tag_for(sha, "feature/x"),
            "feature-x-0d1a26e"
        );
    }

    #[test]
    fn image_tag_templates_are_checked() {
        assert!(check_image_tag("{sha}").is_ok());
        assert!(check_image_tag("release-{short_sha}").is_ok());
        assert!(
            check_image_tag("{commit}")
                .unwrap_err()
                .contains("{commit}")
        );
        assert!(check_image_tag("{sha").is_err());
        assert!(check_image_tag("a b").is_err());
    }
}
