//! Pipeline definitions. A [`PipelineDraft`] is what arrives (JSON body or TOML table);
//! [`PipelineSpec`] is the only form the rest of Shipgate accepts, and the only way to get
//! one is [`PipelineDraft::validate`], so every pipeline in the store was checked once,
//! with every problem named by its field path.

use crate::field::check_slug;
use crate::freeze::FreezeDraft;
use crate::gate::{ApprovalPolicy, MAX_REQUIRED_APPROVALS, PendingRuns};
use crate::notice::{NotifierDraft, validate_notifiers};
use crate::settings::{BuildSettings, DeploySettings, DeployStrategy, Severity, check_image_tag};
use crate::time::Span;
use serde::{Deserialize, Serialize};

pub use crate::field::{FieldError, InvalidSpec};
pub use crate::status::Promotion;

/// A validated pipeline: one GitHub branch shipped to an ordered list of ECS environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSpec {
    pub name: String,
    /// `owner/name`, as GitHub spells it.
    pub repository: String,
    pub branch: String,
    pub ecr_repository: String,
    pub environments: Vec<EnvironmentSpec>,
    #[serde(flatten)]
    pub build: BuildSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentSpec {
    pub name: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub region: String,
    pub promotion: Promotion,
    #[serde(flatten)]
    pub deploy: DeploySettings,
}

/// A pipeline as submitted. Every field is optional here so that a missing one is reported
/// by name alongside every other problem, instead of stopping at the first.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDraft {
    pub name: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub ecr_repository: Option<String>,
    #[serde(alias = "environment")]
    pub environments: Option<Vec<EnvironmentDraft>>,
    pub image_tag: Option<String>,
    pub ci_workflow: Option<String>,
    pub build_timeout: Option<String>,
    pub ecr_region: Option<String>,
    pub scan_gate: Option<String>,
    pub scan_timeout: Option<String>,
    /// `supersede` (default) or `queue`.
    pub pending_runs: Option<String>,
    pub notify: Option<Vec<NotifierDraft>>,
    /// The repository webhook's id (GitHub shows it in the hook's URL), for reading back
    /// deliveries that never arrived; learned from deliveries that did when unset.
    pub github_hook_id: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDraft {
    pub name: Option<String>,
    pub cluster: Option<String>,
    pub service: Option<String>,
    pub container: Option<String>,
    pub region: Option<String>,
    pub promotion: Option<String>,
    pub deploy_timeout: Option<String>,
    pub minimum_healthy_percent: Option<u16>,
    pub maximum_percent: Option<u16>,
    pub circuit_breaker: Option<bool>,
    pub strategy: Option<String>,
    pub bake_time_minutes: Option<u16>,
    pub role_arn: Option<String>,
    pub required_approvals: Option<u8>,
    pub allow_self_approval: Option<bool>,
    pub approvers: Option<Vec<String>>,
    pub approval_expiry: Option<String>,
    pub freeze: Option<Vec<FreezeDraft>>,
    pub auto_rollback: Option<bool>,
}

/// The most environments one pipeline may have; more is a configuration mistake.
pub const MAX_ENVIRONMENTS: usize = 16;

struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Takes a required text field, trimming nothing: stray spaces are an error, not a fix.
    fn required<'a>(&mut self, field: &str, value: &'a Option<String>) -> Option<&'a str> {
        match value.as_deref() {
            None => {
                self.fail(field, "is required");
                None
            }
            Some("") => {
                self.fail(field, "must not be empty");
                None
            }
            Some(v) => Some(v),
        }
    }

    fn check(
        &mut self,
        field: &str,
        value: &Option<String>,
        rule: fn(&str) -> Result<(), String>,
    ) -> String {
        if let Some(v) = self.required(field, value) {
            if let Err(message) = rule(v) {
                self.fail(field, message);
            }
            v.to_owned()
        } else {
            String::new()
        }
    }
}

impl Checker {
    /// An optional duration; the default when absent.
    fn span(
        &mut self,
        field: &str,
        value: &Option<String>,
        default: Span,
        range: (Span, Span),
    ) -> Span {
        let Some(text) = value else { return default };
        match text.parse::<Span>() {
            Ok(span) if span >= range.0 && span <= range.1 => span,
            Ok(_) => {
                self.fail(
                    field,
                    format!("`{text}` must be between {} and {}", range.0, range.1),
                );
                default
            }
            Err(message) => {
                self.fail(field, message);
                default
            }
        }
    }
}

/// Names a pipeline cannot take, because the dashboard's own pages sit at them
/// (`/pipelines/new` is the New pipeline form).
pub const RESERVED_PIPELINE_NAMES: [&str; 1] = ["new"];

fn check_pipeline_name(s: &str) -> Result<(), String> {
    check_slug(s)?;
    if RESERVED_PIPELINE_NAMES.contains(&s) {
        return Err(format!(
            "`{s}` is taken by the dashboard (/pipelines/{s} is the New pipeline page); choose another name"
        ));
    }
    Ok(())
}

impl PipelineDraft {
    pub fn validate(&self) -> Result<PipelineSpec, InvalidSpec> {
        let mut c = Checker { errors: Vec::new() };
        let name = c.check("name", &self.name, check_pipeline_name);
        let repository = c.check("repository", &self.repository, check_repository);
        let branch = c.check("branch", &self.branch, check_branch);
        let ecr_repository = c.check("ecr_repository", &self.ecr_repository, check_ecr_repository);
        let mut environments = Vec::new();
        match &self.environments {
            None => c.fail("environments", "is required: list at least one environment"),
            Some(list) if list.is_empty() => {
                c.fail("environments", "must list at least one environment")
            }
            Some(list) if list.len() > MAX_ENVIRONMENTS => c.fail(
                "environments",
                format!(
                    "lists {} environments; at most {MAX_ENVIRONMENTS} are allowed",
                    list.len()
                ),
            ),
            Some(list) => {
                for (i, env) in list.iter().enumerate() {
                    let at = |f: &str| format!("environments[{i}].{f}");
                    let env_name = c.check(&at("name"), &env.name, check_slug);
                    if !env_name.is_empty()
                        && environments
                            .iter()
                            .any(|e: &EnvironmentSpec| e.name.eq_ignore_ascii_case(&env_name))
                    {
                        c.fail(
                            &at("name"),
                            format!("duplicates environment `{env_name}`; names must be unique"),
                        );
                    }
                    let cluster = c.check(&at("cluster"), &env.cluster, check_ecs_name_or_arn);
                    let service = c.check(&at("service"), &env.service, check_ecs_name_or_arn);
                    let container = c.check(&at("container"), &env.container, check_ecs_name);
                    let region = c.check(&at("region"), &env.region, check_region);
                    let promotion = match c.required(&at("promotion"), &env.promotion) {
                        Some(p) => Promotion::parse(p).unwrap_or_else(|| {
                            c.fail(
                                &at("promotion"),
                                format!(
                                    "unknown promotion mode `{p}`; expected `auto` or `manual`"
                                ),
                            );
                            Promotion::Manual
                        }),
                        None => Promotion::Manual,
                    };
                    let defaults = DeploySettings::default();
                    let deploy_timeout = c.span(
                        &at("deploy_timeout"),
                        &env.deploy_timeout,
                        defaults.deploy_timeout,
                        (Span::seconds(1), Span::minutes(24 * 60)),
                    );
                    if let Some(p) = env.minimum_healthy_percent.filter(|p| *p > 100) {
                        c.fail(
                            &at("minimum_healthy_percent"),
                            format!("{p} must be between 0 and 100"),
                        );
                    }
                    if let Some(p) = env.maximum_percent.filter(|p| !(100..=200).contains(p)) {
                        c.fail(
                            &at("maximum_percent"),
                            format!("{p} must be between 100 and 200"),
                        );
                    }
                    let strategy = match env.strategy.as_deref() {
                        None => DeployStrategy::Rolling,
                        Some(s) => DeployStrategy::parse(s).unwrap_or_else(|| {
                            c.fail(&at("strategy"), format!("unknown strategy `{s}`; expected `rolling`, `blue_green`, `linear` or `canary`"));
                            DeployStrategy::Rolling
                        }),
                    };
                    if let Some(Err(why)) = env.role_arn.as_deref().map(check_role_arn) {
                        c.fail(&at("role_arn"), why);
                    }
                    let approval_defaults = ApprovalPolicy::default();
                    let required_approvals = match env.required_approvals {
                        Some(n) if !(1..=MAX_REQUIRED_APPROVALS).contains(&n) => {
                            c.fail(
                                &at("required_approvals"),
                                format!("{n} must be between 1 and {MAX_REQUIRED_APPROVALS}"),
                            );
                            1
                        }
                        Some(n) => n,
                        None => approval_defaults.required_approvals,
                    };
                    let approvers: Vec<String> = env
                        .approvers
                        .clone()
                        .unwrap_or_default()
                        .iter()
                        .map(|a| a.trim().to_lowercase())
                        .collect();
                    for (j, a) in approvers.iter().enumerate() {
                        if !a.contains('@') || a.contains(char::is_whitespace) {
                            c.fail(
                                &at(&format!("approvers[{j}]")),
                                format!("`{a}` is not an email address"),
                            );
                        }
                    }
                    if !approvers.is_empty() && approvers.len() < usize::from(required_approvals) {
                        c.fail(&at("approvers"), format!("lists {} people, fewer than the {required_approvals} approvals required", approvers.len()));
                    }
                    let expires_after = c.span(
                        &at("approval_expiry"),
                        &env.approval_expiry,
                        approval_defaults.expires_after,
                        (Span::minutes(1), Span::days(90)),
                    );
                    let approval = ApprovalPolicy {
                        required_approvals,
                        allow_self_approval: env.allow_self_approval.unwrap_or(false),
                        approvers,
                        expires_after,
                    };
                    let mut freeze = Vec::new();
                    for (j, draft) in env.freeze.iter().flatten().enumerate() {
                        match draft.validate() {
                            Ok(window) => freeze.push(window),
                            Err(errors) => {
                                for (field, message) in errors.0 {
                                    c.fail(&at(&format!("freeze[{j}].{field}")), message);
                                }
                            }
                        }
                    }
                    let deploy = DeploySettings {
                        approval,
                        freeze,
                        deploy_timeout,
                        minimum_healthy_percent: env.minimum_healthy_percent,
                        maximum_percent: env.maximum_percent,
                        circuit_breaker: env.circuit_breaker.unwrap_or(defaults.circuit_breaker),
                        strategy,
                        bake_time_minutes: env.bake_time_minutes,
                        role_arn: env.role_arn.clone(),
                        auto_rollback: env.auto_rollback.unwrap_or(false),
                    };
                    environments.push(EnvironmentSpec {
                        name: env_name,
                        cluster,
                        service,
                        container,
                        region,
                        promotion,
                        deploy,
                    });
                }
            }
        }
        let defaults = BuildSettings::default();
        let image_tag = match &self.image_tag {
            None => defaults.image_tag.clone(),
            Some(t) => {
                if let Err(message) = check_image_tag(t) {
                    c.fail("image_tag", message);
                }
                t.clone()
            }
        };
        if let Some(w) = self
            .ci_workflow
            .as_deref()
            .filter(|w| w.is_empty() || w.len() > 255)
        {
            c.fail("ci_workflow", format!("`{w}` must be 1-255 characters"));
        }
        if let Some(region) = &self.ecr_region
            && let Err(message) = check_region(region)
        {
            c.fail("ecr_region", message);
        }
        let build_timeout = c.span(
            "build_timeout",
            &self.build_timeout,
            defaults.build_timeout,
            (Span::seconds(1), Span::minutes(24 * 60)),
        );
        let scan_timeout = c.span(
            "scan_timeout",
            &self.scan_timeout,
            defaults.scan_timeout,
            (Span::seconds(1), Span::minutes(24 * 60)),
        );
        let scan_gate = self.scan_gate.as_deref().and_then(|s| {
            Severity::parse(s).or_else(|| {
                c.fail(
                    "scan_gate",
                    format!("unknown severity `{s}`; expected `critical`, `high` or `medium`"),
                );
                None
            })
        });
        let pending_runs = match self.pending_runs.as_deref() {
            None => PendingRuns::default(),
            Some(p) => PendingRuns::parse(p).unwrap_or_else(|| {
                c.fail(
                    "pending_runs",
                    format!("unknown mode `{p}`; expected `supersede` or `queue`"),
                );
                PendingRuns::default()
            }),
        };
        let notify = match validate_notifiers(self.notify.as_deref().unwrap_or_default()) {
            Ok(notify) => notify,
            Err(errors) => {
                for (field, message) in errors {
                    c.fail(&field, message);
                }
                Vec::new()
            }
        };
        let build = BuildSettings {
            image_tag,
            ci_workflow: self.ci_workflow.clone(),
            build_timeout,
            ecr_region: self.ecr_region.clone(),
            scan_gate,
            scan_timeout,
            pending_runs,
            notify,
            github_hook_id: self.github_hook_id,
        };
        if c.errors.is_empty() {
            Ok(PipelineSpec {
                name,
                repository,
                branch,
                ecr_repository,
                environments,
                build,
            })
        } else {
            Err(InvalidSpec { errors: c.errors })
        }
    }
}

impl From<&PipelineSpec> for PipelineDraft {
    fn from(spec: &PipelineSpec) -> Self {
        PipelineDraft {
            name: Some(spec.name.clone()),
            repository: Some(spec.repository.clone()),
            branch: Some(spec.branch.clone()),
            ecr_repository: Some(spec.ecr_repository.clone()),
            environments: Some(
                spec.environments
                    .iter()
                    .map(|e| EnvironmentDraft {
                        name: Some(e.name.clone()),
                        cluster: Some(e.cluster.clone()),
                        service: Some(e.service.clone()),
                        container: Some(e.container.clone()),
                        region: Some(e.region.clone()),
                        promotion: Some(e.promotion.as_str().to_owned()),
                        deploy_timeout: Some(e.deploy.deploy_timeout.to_string()),
                        minimum_healthy_percent: e.deploy.minimum_healthy_percent,
                        maximum_percent: e.deploy.maximum_percent,
                        circuit_breaker: Some(e.deploy.circuit_breaker),
                        strategy: Some(e.deploy.strategy.as_str().to_owned()),
                        bake_time_minutes: e.deploy.bake_time_minutes,
                        role_arn: e.deploy.role_arn.clone(),
                        required_approvals: Some(e.deploy.approval.required_approvals),
                        allow_self_approval: Some(e.deploy.approval.allow_self_approval),
                        approvers: Some(e.deploy.approval.approvers.clone()),
                        approval_expiry: Some(e.deploy.approval.expires_after.to_string()),
                        freeze: Some(
                            e.deploy
                                .freeze
                                .iter()
                                .cloned()
                                .map(FreezeDraft::from)
                                .collect(),
                        ),
                        auto_rollback: Some(e.deploy.auto_rollback),
                    })
                    .collect(),
            ),
            image_tag: Some(spec.build.image_tag.clone()),
            ci_workflow: spec.build.ci_workflow.clone(),
            build_timeout: Some(spec.build.build_timeout.to_string()),
            ecr_region: spec.build.ecr_region.clone(),
            scan_gate: spec.build.scan_gate.map(|s| s.as_str().to_owned()),
            scan_timeout: Some(spec.build.scan_timeout.to_string()),
            pending_runs: Some(spec.build.pending_runs.as_str().to_owned()),
            notify: (!spec.build.notify.is_empty())
                .then(|| spec.build.notify.iter().map(NotifierDraft::from).collect()),
            github_hook_id: spec.build.github_hook_id,
        }
    }
}

impl PipelineSpec {
    /// The definition as people other than admins see it: notifier URLs (credentials: anyone
    /// holding one can post to the channel) shortened to their host.
    pub fn redacted(mut self) -> PipelineSpec {
        for notifier in &mut self.build.notify {
            notifier.url = notifier.shown_url();
        }
        self
    }

    /// The region of the ECR repository the build is looked for in.
    pub fn ecr_region(&self) -> &str {
        self.build
            .ecr_region
            .as_deref()
            .or_else(|| self.environments.first().map(|e| e.region.as_str()))
            .unwrap_or("us-east-1")
    }

    /// Whether a push to `repository`/`branch` belongs to this pipeline. GitHub treats
    /// owner and repository names case-insensitively; branch names are case-sensitive.
    pub fn tracks(&self, repository: &str, branch: &str) -> bool {
        self.repository.eq_ignore_ascii_case(repository) && self.branch == branch
    }
}

/// GitHub's rules: an owner is 1-39 letters, digits or single hyphens; a repository name
/// is 1-100 letters, digits, `.`, `-` or `_`, and never `.` or `..`.
fn check_repository(s: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "`{s}` is not a GitHub repository in the form `owner/name`"
        ))
    };
    let Some((owner, name)) = s.split_once('/') else {
        return bad();
    };
    let owner_ok = (1..=39).contains(&owner.len())
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--")
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if owner_ok && name_ok { Ok(()) } else { bad() }
}

/// A branch name as git allows it (the subset that matters for matching `refs/heads/…`).
fn check_branch(s: &str) -> Result<(), String> {
    if s.starts_with("refs/") {
        return Err(format!(
            "`{s}` must be a branch name such as `main`, not a full ref"
        ));
    }
    let bad_char = s.chars().any(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    });
    if bad_char
        || s.len() > 255
        || s.starts_with('/')
        || s.ends_with('/')
        || s.ends_with(".lock")
        || s.ends_with('.')
        || s.contains("..")
        || s.contains("//")
        || s.contains("@{")
        || s.starts_with('-')
    {
        return Err(format!("`{s}` is not a valid git branch name"));
    }
    Ok(())
}

/// ECR's repository name pattern: lowercase path segments of alphanumerics joined by `.`, `_` or `-`.
fn check_ecr_repository(s: &str) -> Result<(), String> {
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && seg.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && seg.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
    };
    if (2..=256).contains(&s.len()) && s.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a valid ECR repository name (lowercase letters, digits, `.`, `_`, `-`, `/`)"
        ))
    }
}

fn check_ecs_name(s: &str) -> Result<(), String> {
    if s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(format!(
            "`{s}` must be up to 255 letters, digits, `-` or `_`"
        ))
    }
}

fn check_ecs_name_or_arn(s: &str) -> Result<(), String> {
    if s.starts_with("arn:aws") && s.len() <= 2048 && !s.contains(char::is_whitespace) {
        return Ok(());
    }
    check_ecs_name(s).map_err(|e| format!("{e}, or be an ARN"))
}

/// An IAM role ARN, as an environment's `role_arn` (the role deploys to it assume).
pub(crate) fn check_role_arn(s: &str) -> Result<(), String> {
    if s.starts_with("arn:aws") && s.contains(":role/") {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an IAM role ARN such as `arn:aws:iam::123456789012:role/deployer`"
        ))
    }
}

/// An AWS region code such as `us-east-1` or `us-gov-west-1`.
pub(crate) fn check_region(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an AWS region code such as `us-east-1`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(json: &str) -> PipelineDraft {
        serde_json::from_str(json).expect("draft parses")
    }

    const GOOD: &str = r#"{"name": "api", "repository": "octo-org/api", "branch": "main", "ecr_repository": "api",
        "environments": [
          {"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": "us-east-1", "promotion": "auto"},
          {"name": "production", "cluster": "prod", "service": "api", "container": "app", "region": "us-east-1", "promotion": "manual"}]}"#;

    fn fields(json: &str) -> Vec<String> {
        draft(json)
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_documented_example_is_valid() {
        let spec = draft(GOOD).validate().unwrap();
        assert_eq!(spec.environments.len(), 2);
        assert_eq!(spec.environments[0].promotion, Promotion::Auto);
        assert_eq!(spec.environments[1].promotion, Promotion::Manual);
        assert_eq!(PipelineDraft::from(&spec).validate().unwrap(), spec);
    }

    #[test]
    fn each_invalid_field_is_named() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#""repository": "octo-org/api""#,
                r#""repository": "not a repo""#,
                "repository",
            ),
            (
                r#""repository": "octo-org/api""#,
                r#""repository": "-bad/api""#,
                "repository",
            ),
            (
                r#""repository": "octo-org/api""#,
                r#""repository": "octo/..""#,
                "repository",
            ),
            (
                r#""branch": "main""#,
                r#""branch": "refs/heads/main""#,
                "branch",
            ),
            (r#""branch": "main""#, r#""branch": "a..b""#, "branch"),
            (r#""name": "api""#, r#""name": "Bad Name""#, "name"),
            (r#""name": "api""#, r#""name": "new""#, "name"),
            (
                r#""ecr_repository": "api""#,
                r#""ecr_repository": "API""#,
                "ecr_repository",
            ),
            (
                r#""promotion": "auto""#,
                r#""promotion": "sometimes""#,
                "environments[0].promotion",
            ),
            (
                r#""region": "us-east-1", "promotion": "manual""#,
                r#""region": "mars", "promotion": "manual""#,
                "environments[1].region",
            ),
            (
                r#""name": "production""#,
                r#""name": "staging""#,
                "environments[1].name",
            ),
            (
                r#""cluster": "stg""#,
                r#""cluster": "has space""#,
                "environments[0].cluster",
            ),
            (
                r#""branch": "main""#,
                r#""branch": "main", "image_tag": "{commit}""#,
                "image_tag",
            ),
            (
                r#""branch": "main""#,
                r#""branch": "main", "build_timeout": "soon""#,
                "build_timeout",
            ),
            (
                r#""branch": "main""#,
                r#""branch": "main", "scan_gate": "low""#,
                "scan_gate",
            ),
            (
                r#""promotion": "auto""#,
                r#""promotion": "auto", "strategy": "yolo""#,
                "environments[0].strategy",
            ),
            (
                r#""promotion": "auto""#,
                r#""promotion": "auto", "maximum_percent": 300"#,
                "environments[0].maximum_percent",
            ),
            (
                r#""promotion": "auto""#,
                r#""promotion": "auto", "deploy_timeout": "0s""#,
                "environments[0].deploy_timeout",
            ),
            (
                r#""promotion": "auto""#,
                r#""promotion": "auto", "role_arn": "deployer""#,
                "environments[0].role_arn",
            ),
        ];
        for (from, to, field) in cases {
            assert!(GOOD.contains(from), "fixture lacks {from}");
            let got = fields(&GOOD.replacen(from, to, 1));
            assert_eq!(got, vec![field.to_string()], "replacing {from} with {to}");
        }
    }

    #[test]
    fn optional_settings_default_and_round_trip() {
        let spec = draft(GOOD).validate().unwrap();
        assert_eq!(spec.build, BuildSettings::default());
        assert_eq!(spec.environments[0].deploy, DeploySettings::default());
        assert!(
            spec.environments[0].deploy.circuit_breaker,
            "the circuit breaker is on unless turned off"
        );
        let tuned = GOOD.replacen(r#""branch": "main""#, r#""branch": "main", "scan_gate": "high", "build_timeout": "90s", "image_tag": "v-{short_sha}""#, 1).replacen(
            r#""promotion": "auto""#,
            r#""promotion": "auto", "strategy": "canary", "minimum_healthy_percent": 50, "circuit_breaker": false, "role_arn": "arn:aws:iam::123456789012:role/deployer""#,
            1,
        );
        let spec = draft(&tuned).validate().unwrap();
        assert_eq!(spec.build.scan_gate, Some(Severity::High));
        assert_eq!(spec.build.build_timeout, Span::seconds(90));
        assert_eq!(spec.environments[0].deploy.strategy, DeployStrategy::Canary);
        assert!(!spec.environments[0].deploy.circuit_breaker);
        assert_eq!(PipelineDraft::from(&spec).validate().unwrap(), spec);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["build_timeout"], "90s",
            "settings serialize flat, as they are written"
        );
        assert_eq!(serde_json::from_value::<PipelineSpec>(json).unwrap(), spec);
    }

    #[test]
    fn approval_policy_freezes_and_pending_runs_are_read_checked_and_round_trip() {
        let tuned = GOOD.replacen(r#""branch": "main""#, r#""branch": "main", "pending_runs": "queue""#, 1).replacen(
            r#""promotion": "manual""#,
            r#""promotion": "manual", "required_approvals": 2, "approvers": ["Alice@Example.com", "bob@example.com"], "approval_expiry": "2d",
               "freeze": [{"name": "weekends", "cron": "0 18 * * FRI", "lasts": "63h", "time_zone": "Europe/Berlin"},
                          {"name": "year end", "from": "2026-12-20", "until": "2027-01-04 09:00", "time_zone": "UTC"}]"#,
            1,
        );
        let spec = draft(&tuned).validate().unwrap();
        assert_eq!(spec.build.pending_runs, PendingRuns::Queue);
        let production = &spec.environments[1].deploy;
        assert_eq!(production.approval.required_approvals, 2);
        assert_eq!(
            production.approval.approvers,
            ["alice@example.com", "bob@example.com"]
        );
        assert_eq!(production.approval.expires_after, Span::days(2));
        assert!(
            !production.approval.allow_self_approval,
            "self-approval is off unless turned on"
        );
        assert_eq!(
            production
                .freeze
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>(),
            ["weekends", "year end"]
        );
        assert_eq!(
            spec.environments[0].deploy.approval,
            ApprovalPolicy::default()
        );
        assert_eq!(PipelineDraft::from(&spec).validate().unwrap(), spec);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["environments"][1]["freeze"][0]["cron"], "0 18 * * FRI");
        assert_eq!(serde_json::from_value::<PipelineSpec>(json).unwrap(), spec);

        let bad = GOOD.replacen(r#""branch": "main""#, r#""branch": "main", "pending_runs": "fifo""#, 1).replacen(
            r#""promotion": "manual""#,
            r#""promotion": "manual", "required_approvals": 3, "approvers": ["alice", "bob@example.com"], "approval_expiry": "100d",
               "freeze": [{"name": "x", "cron": "0 18 * * FRI", "lasts": "63h", "time_zone": "Mars/Olympus"}]"#,
            1,
        );
        assert_eq!(
            fields(&bad),
            [
                "environments[1].approvers[0]",
                "environments[1].approvers",
                "environments[1].approval_expiry",
                "environments[1].freeze[0].time_zone",
                "pending_runs"
            ]
        );
        assert_eq!(
            fields(&GOOD.replacen(
                r#""promotion": "manual""#,
                r#""promotion": "manual", "required_approvals": 0"#,
                1
            )),
            ["environments[1].required_approvals"]
        );
    }

    #[test]
    fn no_environments_is_rejected() {
        assert_eq!(
            fields(
                r#"{"name":"api","repository":"o/r","branch":"main","ecr_repository":"api","environments":[]}"#
            ),
            ["environments"]
        );
        assert_eq!(
            fields(r#"{"name":"api","repository":"o/r","branch":"main","ecr_repository":"api"}"#),
            ["environments"]
        );
    }

    #[test]
    fn every_missing_field_is_reported_at_once() {
        let got = fields(r#"{"environments":[{}]}"#);
        assert_eq!(
            got,
            [
                "name",
                "repository",
                "branch",
                "ecr_repository",
                "environments[0].name",
                "environments[0].cluster",
                "environments[0].service",
                "environments[0].container",
                "environments[0].region",
                "environments[0].promotion"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_ignored() {
        let err = serde_json::from_str::<PipelineDraft>(r#"{"name":"api","promtion":"auto"}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `promtion`"),
            "{err}"
        );
    }

    #[test]
    fn arns_are_accepted_for_cluster_and_service() {
        let json = GOOD.replacen(
            r#""cluster": "stg""#,
            r#""cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/stg""#,
            1,
        );
        assert!(draft(&json).validate().is_ok());
    }

    #[test]
    fn repository_matching_ignores_case_but_branch_does_not() {
        let spec = draft(GOOD).validate().unwrap();
        assert!(spec.tracks("Octo-Org/API", "main"));
        assert!(!spec.tracks("octo-org/api", "Main"));
        assert!(!spec.tracks("octo-org/web", "main"));
    }
}
