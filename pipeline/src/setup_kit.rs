//! The setup kit: everything a pipeline needs outside Shipgate, written from the
//! pipeline's own definition. A GitHub Actions workflow that pushes the image the Build
//! stage looks for, the CI role's OIDC trust and push policy, Shipgate's own policy
//! (from [`ENGINE_PERMISSIONS`], nothing else), the recommended ECR settings, and the
//! webhook. What Shipgate cannot know before Verify has read AWS (the account, the task
//! roles) is a visible CAPITALS placeholder, listed with how to fill it.

use crate::permissions::{Access, ENGINE_PERMISSIONS, Permission, PermissionScope};
use crate::spec::{EnvironmentSpec, PipelineSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// What Verify learnt from AWS and GitHub that the kit needs. Everything is optional:
/// a new pipeline has none of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitFacts {
    /// The account of Shipgate's own identity (and, unless an environment says otherwise,
    /// of the repository and the services).
    pub account_id: Option<String>,
    /// The IAM user or role Shipgate runs as.
    #[serde(default)]
    pub shipgate_principal_arn: Option<String>,
    pub github_owner_id: Option<u64>,
    pub github_repository_id: Option<u64>,
    /// By environment name.
    pub environments: Vec<EnvironmentFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentFacts {
    pub name: String,
    /// The account the service lives in, from its ARN.
    #[serde(default)]
    pub account_id: Option<String>,
    pub task_family: Option<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
}

/// This server's settings that the kit mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KitSettings {
    /// Where GitHub reaches Shipgate (`public_url`).
    pub public_url: Option<String>,
    pub webhook_secret_configured: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupKit {
    pub files: Vec<KitFile>,
    pub ecr_settings: Vec<KitCommand>,
    pub webhook: WebhookSettings,
    pub placeholders: Vec<Placeholder>,
}

/// One file to put in the repository or give to AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitFile {
    /// Stable: `workflow`, `oidc_provider`, `ci_trust_policy`, `ci_trust_policy_immutable`,
    /// `ci_push_policy`, `shipgate_policy`, and `role_policy_<environments>` for each
    /// `role_arn` the pipeline's environments use.
    pub id: String,
    /// Where it goes (the workflow) or a file name to save it as.
    pub path: String,
    pub title: String,
    pub about: String,
    pub media_type: String,
    pub content: String,
}

/// A command to run once, such as an ECR setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitCommand {
    pub id: String,
    pub title: String,
    pub command: String,
    pub recommended: bool,
    pub about: String,
}

/// What to enter in the repository's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSettings {
    pub payload_url: String,
    pub content_type: String,
    /// Which setting holds the secret: never its value.
    pub secret: String,
    pub events: Vec<String>,
    pub settings_url: String,
}

/// A value in CAPITALS in the kit, and how to get the real one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placeholder {
    pub name: String,
    pub how: String,
}

/// The action majors the workflow pins, as its comment says: the newest of each in
/// December 2026 (checkout v7.0.1, configure-aws-credentials v6.3.0, amazon-ecr-login
/// v2.1.7). A major tag takes fixes but never a breaking change.
pub const CHECKOUT: &str = "actions/checkout@v7";
pub const CONFIGURE_AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@v6";
pub const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login@v2";
/// The runner image, by version rather than `ubuntu-latest`, for the same reason: the
/// newest GitHub-hosted Ubuntu in December 2026.
pub const RUNNER: &str = "ubuntu-26.04";

/// The OIDC provider GitHub Actions tokens come from, and the audience AWS expects.
pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// The last path segment of a name-or-ARN.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The parts of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`) the kit reuses.
/// IAM ARNs have no region; the account is kept only when it is 12 digits.
struct ArnParts<'a> {
    partition: &'a str,
    region: Option<&'a str>,
    account: Option<&'a str>,
}

fn arn_parts(arn: &str) -> Option<ArnParts<'_>> {
    let mut parts = arn.strip_prefix("arn:")?.splitn(5, ':');
    let partition = parts.next().filter(|p| p.starts_with("aws"))?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    parts.next()?;
    Some(ArnParts {
        partition,
        region: (!region.is_empty()).then_some(region),
        account: (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
            .then_some(account),
    })
}

/// The ARN partition of a region: China and GovCloud have their own, so their ARNs
/// do not start with `arn:aws:`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A string as a YAML scalar that means exactly it, whatever `:`, `#` or quotes it holds:
/// JSON's double-quoted form is YAML too.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// Collects the placeholders the kit uses, once each, in order.
#[derive(Default)]
struct Holes(Vec<Placeholder>);

impl Holes {
    fn or(&mut self, known: Option<&str>, name: &str, how: &str) -> String {
        match known {
            Some(v) => v.to_owned(),
            None => {
                if !self.0.iter().any(|p| p.name == name) {
                    self.0.push(Placeholder {
                        name: name.to_owned(),
                        how: how.to_owned(),
                    });
                }
                name.to_owned()
            }
        }
    }
}

const RUN_VERIFY: &str = "run Verify: Shipgate reads it from AWS";

/// The workflow file's name: `ci_workflow` in lower case with each run of anything but
/// letters and digits as one `-`, or `build`.
fn workflow_slug(ci_workflow: Option<&str>) -> String {
    let Some(name) = ci_workflow else {
        return "build".into();
    };
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let slug = slug
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        "build".into()
    } else {
        slug
    }
}

/// The branch as a literal `on.push.branches` filter. GitHub reads `*`, `?`, `+`, `[`, `]`
/// and a leading `!` as pattern characters, so a branch such as `fix+1` would otherwise
/// never match itself; `\` makes each literal. (git forbids `*`, `?` and `[` anyway.)
fn branch_filter(branch: &str) -> String {
    let mut filter = String::with_capacity(branch.len());
    for (i, c) in branch.chars().enumerate() {
        if matches!(c, '*' | '?' | '+' | '[' | ']') || (i == 0 && c == '!') {
            filter.push('\\');
        }
        filter.push(c);
    }
    filter
}

/// The CI role's name in the kit: Shipgate does not create it, it only names it
/// consistently in the workflow and the trust policy's instructions. IAM role names are
/// at most 64 characters, so a long pipeline name is cut and keeps a hash of the whole,
/// and two long names never share a role.
pub fn ci_role_name(pipeline: &str) -> String {
    const PREFIX: &str = "shipgate-ci-";
    let name = format!("{PREFIX}{pipeline}");
    if name.len() <= 64 {
        return name;
    }
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let hash = pipeline.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // Pipeline names are ASCII (lowercase, digits, `-`, `_`), so byte slicing is safe.
    let keep = 64 - PREFIX.len() - 9;
    format!(
        "{PREFIX}{}-{hash:08x}",
        &pipeline[..keep.min(pipeline.len())]
    )
}

pub fn setup_kit(spec: &PipelineSpec, facts: &KitFacts, settings: &KitSettings) -> SetupKit {
    let mut holes = Holes::default();
    let account = holes.or(
        facts.account_id.as_deref(),
        "ACCOUNT_ID",
        &format!(
            "the 12-digit AWS account of Shipgate's identity and the ECR repository; {RUN_VERIFY}"
        ),
    );
    let ecr_region = holes.or(
        spec.build
            .ecr_region
            .as_deref()
            .or_else(|| spec.environments.first().map(|e| e.region.as_str())),
        "REGION",
        "the ECR repository's region: set the pipeline's ecr_region",
    );
    let partition = partition_of(&ecr_region);
    let repository_arn = format!(
        "arn:{partition}:ecr:{ecr_region}:{account}:repository/{}",
        spec.ecr_repository
    );
    let (owner, repo) = spec
        .repository
        .split_once('/')
        .unwrap_or((&spec.repository, ""));
    let ci_role_arn = format!(
        "arn:{partition}:iam::{account}:role/{}",
        ci_role_name(&spec.name)
    );
    let oidc_provider_arn =
        format!("arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}");
    let ids = (
        holes.or(
            facts.github_owner_id.map(|i| i.to_string()).as_deref(),
            "OWNER_ID",
            &format!(
                "the numeric id of {owner}: `gh api /repos/{} --jq .owner.id`, or set github_token and run Verify",
                spec.repository
            ),
        ),
        holes.or(
            facts.github_repository_id.map(|i| i.to_string()).as_deref(),
            "REPOSITORY_ID",
            &format!(
                "the numeric id of {}: `gh api /repos/{} --jq .id`, or set github_token and run Verify",
                spec.repository, spec.repository
            ),
        ),
    );

    let mut files = vec![
        workflow_file(spec, &ci_role_arn, &ecr_region),
        oidc_provider_file(),
        ci_trust_file(spec, &oidc_provider_arn, &ci_role_arn, None),
        ci_trust_file(spec, &oidc_provider_arn, &ci_role_arn, Some(ids)),
        ci_push_file(&repository_arn),
    ];
    files.extend(shipgate_policy_files(
        spec,
        facts,
        &account,
        &repository_arn,
        &mut holes,
    ));

    let ecr_settings = vec![
        KitCommand {
            id: "ecr_immutable_tags".into(),
            title: "Immutable tags".into(),
            command: format!(
                "aws ecr put-image-tag-mutability --repository-name {} --image-tag-mutability IMMUTABLE --region {ecr_region}",
                spec.ecr_repository
            ),
            recommended: true,
            about: "A tag then always names the image Shipgate checked: CI cannot push another image under a tag a run already found.".into(),
        },
        KitCommand {
            id: "ecr_scan_on_push".into(),
            title: "Scan on push".into(),
            command: format!(
                "aws ecr put-image-scanning-configuration --repository-name {} --image-scanning-configuration scanOnPush=true --region {ecr_region}",
                spec.ecr_repository
            ),
            recommended: true,
            about: "Each image is scanned as it arrives, so the run page shows its findings and a scan gate has something to block on.".into(),
        },
    ];

    let public_url = holes.or(
        settings
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/')),
        "PUBLIC_URL",
        "the https address GitHub reaches Shipgate at: set public_url (SHIPGATE_PUBLIC_URL)",
    );
    let webhook = WebhookSettings {
        payload_url: format!("{public_url}/webhooks/github"),
        content_type: "application/json".into(),
        secret: if settings.webhook_secret_configured {
            "the value of github_webhook_secret (GITHUB_WEBHOOK_SECRET) this Shipgate runs with"
                .into()
        } else {
            "none is configured yet: choose a long random value, and set it both here and as github_webhook_secret (GITHUB_WEBHOOK_SECRET)".into()
        },
        events: vec!["push".into(), "workflow_run".into()],
        settings_url: format!("https://github.com/{owner}/{repo}/settings/hooks/new"),
    };

    SetupKit {
        files,
        ecr_settings,
        webhook,
        placeholders: holes.0,
    }
}

/// The tag step's script: the pipeline's `image_tag` with `{sha}`, `{short_sha}` and
/// `{branch}` filled in exactly as [`crate::BuildSettings::tag_for`] does, so the image
/// lands under the tag the Build stage waits for. The branch is cleaned by bash per
/// character in a UTF-8 locale (the step sets `LC_ALL`), as Rust's `chars()` does; a
/// byte-wise `tr` would turn `é` into two dashes and the tags would differ. The template
/// itself is tag characters only (the spec checks it), so it is safe in double quotes.
fn tag_script(template: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if template.contains("{short_sha}") {
        lines.push(r#"short_sha="${GITHUB_SHA::7}""#.to_owned());
    }
    if template.contains("{branch}") {
        lines.push(r#"branch="${GITHUB_REF_NAME//[^A-Za-z0-9._-]/-}""#.to_owned());
    }
    let shell_tag = template
        .replace("{sha}", "${GITHUB_SHA}")
        .replace("{short_sha}", "${short_sha}")
        .replace("{branch}", "${branch}");
    lines.push(format!(r#"echo "tag={shell_tag}" >> "$GITHUB_OUTPUT""#));
    lines
}

fn workflow_file(spec: &PipelineSpec, ci_role_arn: &str, ecr_region: &str) -> KitFile {
    let template = &spec.build.image_tag;
    let workflow_name = spec.build.ci_workflow.as_deref().unwrap_or("build");
    let tag_script = tag_script(template)
        .iter()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    // Every value that comes from the pipeline is written with `yaml()`; comments run to
    // the end of their line, and no pipeline field can hold a line break.
    let content = format!(
        r#"# Written by Shipgate for the pipeline {pipeline}: each push to {branch} builds the image
# and pushes it to ECR as {repository}:{template}, the tag Shipgate's Build stage waits for.
# No floating tag: every image's tag names its commit.
# Pinned to the action majors current in December 2026: {checkout},
# {credentials}, {login}.
# The runner is {runner}, GitHub's newest Ubuntu then.
name: {name}
on:
  push:
    branches: [{branch_filter}]
permissions:
  id-token: write
  contents: read
jobs:
  build:
    name: {name}
    runs-on: {runner}
    steps:
      - uses: {checkout}
      - uses: {credentials}
        with:
          role-to-assume: {role}
          aws-region: {region}
      - id: ecr
        uses: {login}
      - id: tag
        name: {tag_step}
        shell: bash
        env:
          LC_ALL: C.UTF-8
        run: |
{tag_script}
      - name: Build and push
        env:
          IMAGE: {image}
        run: |
          docker build --tag "$IMAGE" .
          docker push "$IMAGE"
"#,
        pipeline = spec.name,
        branch = spec.branch,
        repository = spec.ecr_repository,
        checkout = CHECKOUT,
        credentials = CONFIGURE_AWS_CREDENTIALS,
        login = ECR_LOGIN,
        runner = RUNNER,
        name = yaml(workflow_name),
        branch_filter = yaml(&branch_filter(&spec.branch)),
        role = yaml(ci_role_arn),
        region = yaml(ecr_region),
        tag_step = yaml(&format!("Image tag (the pipeline's image_tag, {template})")),
        image = yaml(&format!(
            "${{{{ steps.ecr.outputs.registry }}}}/{}:${{{{ steps.tag.outputs.tag }}}}",
            spec.ecr_repository
        )),
    );
    KitFile {
        id: "workflow".into(),
        path: format!(
            ".github/workflows/{}.yml",
            workflow_slug(spec.build.ci_workflow.as_deref())
        ),
        title: "GitHub Actions workflow".into(),
        about: format!(
            "Commit it to {} on {}. Its name is {workflow_name}{}, so Shipgate's Build stage recognises its workflow_run events; it signs in to AWS through GitHub's OIDC (no stored keys), builds the repository's Dockerfile and pushes the image under the pipeline's tag.",
            spec.repository,
            spec.branch,
            if spec.build.ci_workflow.is_some() {
                " (the pipeline's ci_workflow)"
            } else {
                " (set ci_workflow = \"build\" so only this workflow counts)"
            }
        ),
        media_type: "application/yaml".into(),
        content,
    }
}

/// The provider as `--cli-input-json` for `aws iam create-open-id-connect-provider`: a
/// file the admin can read, with the command in `about`. No thumbprint: AWS verifies
/// GitHub's certificate itself, and the CLI no longer requires one.
fn oidc_provider_file() -> KitFile {
    let content = pretty(&json!({
        "Url": format!("https://{GITHUB_OIDC_HOST}"),
        "ClientIDList": [STS_AUDIENCE],
    }));
    KitFile {
        id: "oidc_provider".into(),
        path: "github-oidc-provider.json".into(),
        title: "GitHub's OIDC identity provider (once per AWS account)".into(),
        about: format!(
            "Lets GitHub Actions sign in to AWS with short-lived tokens (audience {STS_AUDIENCE}). Create it once per account: aws iam create-open-id-connect-provider --cli-input-json file://github-oidc-provider.json (AWS fetches the provider's certificate itself). Skip it if https://{GITHUB_OIDC_HOST} is already listed under IAM identity providers."
        ),
        media_type: "application/json".into(),
        content,
    }
}

/// The CI role's trust policy; `immutable` carries the owner's and repository's ids for
/// GitHub's newer subject form.
fn ci_trust_file(
    spec: &PipelineSpec,
    oidc_provider_arn: &str,
    ci_role_arn: &str,
    immutable: Option<(String, String)>,
) -> KitFile {
    let (owner, repo) = spec
        .repository
        .split_once('/')
        .unwrap_or((&spec.repository, ""));
    let subject = match &immutable {
        None => format!("repo:{}:ref:refs/heads/{}", spec.repository, spec.branch),
        Some((owner_id, repo_id)) => format!(
            "repo:{owner}@{owner_id}/{repo}@{repo_id}:ref:refs/heads/{}",
            spec.branch
        ),
    };
    let content = pretty(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsOnThisBranch",
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{GITHUB_OIDC_HOST}:aud"): STS_AUDIENCE,
                format!("{GITHUB_OIDC_HOST}:sub"): subject,
            }}
        }]
    }));
    let role = short(ci_role_arn);
    let which = "Which one applies: the name form for repositories that still send GitHub's classic subject claim; the immutable form for repositories that use immutable subject claims (GitHub's default for repositories created or renamed since 15 July 2026, and one switch away for older ones). If unsure, look at the sub of a run's token, for instance in the role's AssumeRoleWithWebIdentity event in CloudTrail.";
    match immutable {
        None => KitFile {
            id: "ci_trust_policy".into(),
            path: format!("{role}-trust.json"),
            title: "CI role: trust policy (repository and branch by name)".into(),
            about: format!(
                "Only workflows on {} in {} may assume the role: aws iam create-role --role-name {role} --assume-role-policy-document file://{role}-trust.json. {which}",
                spec.branch, spec.repository
            ),
            media_type: "application/json".into(),
            content,
        },
        Some(_) => KitFile {
            id: "ci_trust_policy_immutable".into(),
            path: format!("{role}-trust-immutable.json"),
            title: "CI role: trust policy (immutable ids)".into(),
            about: format!(
                "The same trust, for GitHub's immutable subject claims: the sub carries the owner's and the repository's numeric ids after an @. A name can be renamed, or registered again by someone else once freed; the ids never change and are never reused, so a namesake cannot match. {which}"
            ),
            media_type: "application/json".into(),
            content,
        },
    }
}

fn ci_push_file(repository_arn: &str) -> KitFile {
    let content = pretty(&json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SignInToEcr", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "PushThisRepository", "Effect": "Allow",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                        "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
             "Resource": repository_arn}
        ]
    }));
    KitFile {
        id: "ci_push_policy".into(),
        path: "ci-push-policy.json".into(),
        title: "CI role: push policy".into(),
        about: "Attach it to the CI role (aws iam put-role-policy … --policy-document file://ci-push-policy.json). Sign-in on *, which is the only resource ECR accepts for it; layer upload and PutImage on exactly this repository. Without them docker push fails with InitiateLayerUpload denied or a bare EOF. BatchGetImage and GetDownloadUrlForLayer are the pull actions, for builds that read a layer cache from the repository; drop them if yours does not.".into(),
        media_type: "application/json".into(),
        content,
    }
}

/// Who makes an environment's ECS calls: Shipgate itself, or the environment's role.
fn caller_of(env: &EnvironmentSpec) -> Option<&str> {
    env.deploy.role_arn.as_deref()
}

/// Whether an environment's role (rather than Shipgate itself) makes this call for the
/// environment: its ECS calls, the `iam:PassRole` RegisterTaskDefinition carries, and
/// Verify's IAM reads, which it makes through the role in the role's account. ECR and STS
/// are always Shipgate's own.
fn made_by_the_role(p: &Permission) -> bool {
    p.action.starts_with("ecs:")
        || matches!(
            p.action,
            "iam:PassRole" | "iam:GetRole" | "iam:SimulatePrincipalPolicy"
        )
}

/// The condition a call carries that its statement should require.
fn condition(p: &Permission) -> Option<Value> {
    match p.action {
        "iam:PassRole" => {
            Some(json!({"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}))
        }
        "ecs:TagResource" => {
            Some(json!({"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}))
        }
        _ => None,
    }
}

/// A stable statement id for a scope (and whether it carries a condition).
fn sid(scope: PermissionScope, conditioned: bool) -> &'static str {
    match (scope, conditioned) {
        (PermissionScope::Cluster, _) => "Clusters",
        (PermissionScope::Service, _) => "Services",
        (PermissionScope::TaskDefinitionFamily, _) => "TagNewRevisions",
        (PermissionScope::Repository, _) => "Repository",
        (PermissionScope::PassedRoles, true) => "PassTaskRolesToEcs",
        (PermissionScope::PassedRoles, false) => "ReadTaskRoles",
        (PermissionScope::AssumedRoles, _) => "AssumeEnvironmentRoles",
        (PermissionScope::OwnPrincipal, _) => "SimulateOwnPolicy",
        (PermissionScope::Any, _) => "NoResourceLevel",
    }
}

/// Where an environment's ECS resources are. A cluster or service given as an ARN says
/// it; otherwise Verify's facts, then the account of the environment's `role_arn` (the
/// role lives where it deploys), then Shipgate's own account.
struct Place {
    partition: String,
    region: String,
    account: String,
}

fn place_of(env: &EnvironmentSpec, known: Option<&EnvironmentFacts>, account: &str) -> Place {
    let service = arn_parts(&env.service);
    let cluster = arn_parts(&env.cluster);
    let role = env.deploy.role_arn.as_deref().and_then(arn_parts);
    let from_arns = [&service, &cluster];
    let region = from_arns
        .iter()
        .find_map(|a| a.as_ref().and_then(|a| a.region))
        .unwrap_or(&env.region)
        .to_owned();
    let account = from_arns
        .iter()
        .find_map(|a| a.as_ref().and_then(|a| a.account))
        .or_else(|| known.and_then(|k| k.account_id.as_deref()))
        .or_else(|| role.as_ref().and_then(|r| r.account))
        .unwrap_or(account)
        .to_owned();
    let partition = [&service, &cluster, &role]
        .iter()
        .find_map(|a| a.as_ref().map(|a| a.partition.to_owned()))
        .unwrap_or_else(|| partition_of(&region).to_owned());
    Place {
        partition,
        region,
        account,
    }
}

/// The resources of one scope, for the environments whose calls `caller` makes.
fn resources(
    scope: PermissionScope,
    spec: &PipelineSpec,
    facts: &KitFacts,
    caller: Option<&str>,
    account: &str,
    repository_arn: &str,
    holes: &mut Holes,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let envs = spec.environments.iter().filter(|e| caller_of(e) == caller);
    match scope {
        PermissionScope::Any => {
            out.insert("*".to_owned());
        }
        PermissionScope::Repository => {
            if caller.is_none() {
                out.insert(repository_arn.to_owned());
            }
        }
        // Verify asks the simulator about the principal whose policies it checks: Shipgate's
        // own, or the environment's role (asked through the role itself).
        PermissionScope::OwnPrincipal => match caller {
            Some(role) => {
                out.insert(role.to_owned());
            }
            None => {
                out.insert(holes.or(
                    facts.shipgate_principal_arn.as_deref(),
                    "SHIPGATE_PRINCIPAL_ARN",
                    &format!("the IAM user or role Shipgate runs as; {RUN_VERIFY}"),
                ));
            }
        },
        PermissionScope::AssumedRoles => {
            if caller.is_none() {
                out.extend(
                    spec.environments
                        .iter()
                        .filter_map(|e| e.deploy.role_arn.clone()),
                );
            }
        }
        PermissionScope::Cluster
        | PermissionScope::Service
        | PermissionScope::TaskDefinitionFamily
        | PermissionScope::PassedRoles => {
            for env in envs {
                let known = facts.environments.iter().find(|f| f.name == env.name);
                let Place {
                    partition,
                    region,
                    account,
                } = place_of(env, known, account);
                let ecs = format!("arn:{partition}:ecs:{region}:{account}");
                match scope {
                    PermissionScope::Cluster => {
                        out.insert(format!("{ecs}:cluster/{}", short(&env.cluster)));
                    }
                    PermissionScope::Service => {
                        out.insert(format!(
                            "{ecs}:service/{}/{}",
                            short(&env.cluster),
                            short(&env.service)
                        ));
                    }
                    PermissionScope::TaskDefinitionFamily => {
                        let family = holes.or(
                            known.and_then(|k| k.task_family.as_deref()),
                            "TASK_FAMILY",
                            &format!("the family of each service's task definition; {RUN_VERIFY}"),
                        );
                        out.insert(format!("{ecs}:task-definition/{family}:*"));
                    }
                    _ => match known {
                        // Verify read the live task definition (its family, its roles): a
                        // role it does not name is one the definition does not have.
                        Some(k)
                            if k.task_family.is_some()
                                || k.task_role_arn.is_some()
                                || k.execution_role_arn.is_some() =>
                        {
                            out.extend(
                                k.task_role_arn.iter().chain(&k.execution_role_arn).cloned(),
                            );
                        }
                        _ => {
                            out.insert(holes.or(
                                None,
                                "TASK_ROLE_ARNS",
                                &format!("the task and execution role ARNs of each service's live task definition; {RUN_VERIFY}"),
                            ));
                        }
                    },
                }
            }
        }
    }
    out
}

/// A policy statement being gathered: its scope (and whether it carries a condition),
/// actions, resources and condition.
struct Statement {
    key: (PermissionScope, bool),
    actions: Vec<&'static str>,
    resources: BTreeSet<String>,
    condition: Option<Value>,
}

/// The statements for the calls `caller` (Shipgate itself, or an environment's role)
/// makes, one per scope (and condition), so actions granted on the same resources share
/// a statement, in ENGINE_PERMISSIONS order.
fn statements(
    spec: &PipelineSpec,
    facts: &KitFacts,
    caller: Option<&str>,
    account: &str,
    repository_arn: &str,
    holes: &mut Holes,
) -> Vec<Value> {
    let mut grouped: Vec<Statement> = Vec::new();
    for p in ENGINE_PERMISSIONS {
        if caller.is_some() && !made_by_the_role(p) {
            continue;
        }
        let found = resources(p.scope, spec, facts, caller, account, repository_arn, holes);
        if found.is_empty() {
            continue;
        }
        let when = condition(p);
        let key = (p.scope, when.is_some());
        match grouped.iter_mut().find(|s| s.key == key) {
            Some(statement) => {
                statement.actions.push(p.action);
                statement.resources.extend(found);
            }
            None => grouped.push(Statement {
                key,
                actions: vec![p.action],
                resources: found,
                condition: when,
            }),
        }
    }
    grouped
        .into_iter()
        .map(|s| {
            let mut statement = json!({
                "Sid": sid(s.key.0, s.key.1),
                "Effect": "Allow",
                "Action": s.actions,
                "Resource": s.resources.into_iter().collect::<Vec<_>>(),
            });
            if let Some(when) = s.condition {
                statement["Condition"] = when;
            }
            statement
        })
        .collect()
}

fn shipgate_policy_files(
    spec: &PipelineSpec,
    facts: &KitFacts,
    account: &str,
    repository_arn: &str,
    holes: &mut Holes,
) -> Vec<KitFile> {
    let own = statements(spec, facts, None, account, repository_arn, holes);
    let writes: Vec<&str> = ENGINE_PERMISSIONS
        .iter()
        .filter(|p| p.access == Access::Write)
        .map(|p| p.action)
        .collect();
    let optional: Vec<&str> = ENGINE_PERMISSIONS
        .iter()
        .filter(|p| p.optional)
        .map(|p| p.action)
        .collect();
    let mut files = vec![KitFile {
        id: "shipgate_policy".into(),
        path: format!("shipgate-{}-policy.json", spec.name),
        title: "Shipgate's own permissions".into(),
        about: format!(
            "Attach it to the IAM role or user Shipgate runs as. Exactly what the engine calls for this pipeline, scoped to its clusters, services, task-definition families and repository; its writes are {}. iam:PassRole only on the live task and execution roles, and only to ECS tasks. {} are optional: only Verify calls them, to check roles and write permissions.",
            writes.join(", "),
            optional.join(" and ")
        ),
        media_type: "application/json".into(),
        content: pretty(&json!({"Version": "2012-10-17", "Statement": own})),
    }];
    let roles: BTreeSet<&str> = spec.environments.iter().filter_map(caller_of).collect();
    for role in roles {
        let names: Vec<&str> = spec
            .environments
            .iter()
            .filter(|e| caller_of(e) == Some(role))
            .map(|e| e.name.as_str())
            .collect();
        let statements = statements(spec, facts, Some(role), account, repository_arn, holes);
        files.push(KitFile {
            id: format!("role_policy_{}", names.join("_")),
            path: format!("{}-policy.json", short(role)),
            title: format!("Permissions of {role} ({})", names.join(", ")),
            about: format!(
                "Shipgate makes {}'s ECS calls as this role, in its own account: attach this policy to it, and let Shipgate's identity assume it (its trust policy names Shipgate's role or user). iam:GetRole and iam:SimulatePrincipalPolicy are optional, for Verify.",
                names.join(" and ")
            ),
            media_type: "application/json".into(),
            content: pretty(&json!({"Version": "2012-10-17", "Statement": statements})),
        });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{EnvironmentDraft, PipelineDraft};

    const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
    const WORKFLOW: &str = "Build and push: api";
    const OTHER_ROLE: &str = "arn:aws:iam::222222222222:role/deployer";
    const REPOSITORY_ARN: &str = "arn:aws:ecr:us-east-1:111111111111:repository/payments";

    fn environment(
        name: &str,
        cluster: &str,
        region: &str,
        role_arn: Option<&str>,
    ) -> EnvironmentDraft {
        EnvironmentDraft {
            name: Some(name.into()),
            cluster: Some(cluster.into()),
            service: Some("api".into()),
            container: Some("app".into()),
            region: Some(region.into()),
            promotion: Some(if role_arn.is_some() { "manual" } else { "auto" }.into()),
            role_arn: role_arn.map(Into::into),
            ..Default::default()
        }
    }

    fn draft(branch: &str, workflow: &str) -> PipelineDraft {
        PipelineDraft {
            name: Some("payments".into()),
            repository: Some("acme/payments".into()),
            branch: Some(branch.into()),
            ecr_repository: Some("payments".into()),
            image_tag: Some("release-{short_sha}".into()),
            ci_workflow: Some(workflow.into()),
            environments: Some(vec![
                environment("staging", "stg", "us-east-1", None),
                environment("production", "prod", "eu-west-1", Some(OTHER_ROLE)),
            ]),
            ..Default::default()
        }
    }

    /// Two regions, a custom tag and workflow, and production in another account, deployed
    /// as its role.
    fn spec(branch: &str, workflow: &str) -> PipelineSpec {
        draft(branch, workflow)
            .validate()
            .expect("the test pipeline is valid")
    }

    fn known() -> KitFacts {
        KitFacts {
            account_id: Some("111111111111".into()),
            shipgate_principal_arn: Some("arn:aws:iam::111111111111:role/shipgate".into()),
            github_owner_id: Some(42),
            github_repository_id: Some(4242),
            environments: vec![
                EnvironmentFacts {
                    name: "staging".into(),
                    account_id: Some("111111111111".into()),
                    task_family: Some("api-stg".into()),
                    task_role_arn: Some("arn:aws:iam::111111111111:role/api-task".into()),
                    execution_role_arn: Some(
                        "arn:aws:iam::111111111111:role/ecsTaskExecutionRole".into(),
                    ),
                },
                EnvironmentFacts {
                    name: "production".into(),
                    account_id: Some("222222222222".into()),
                    task_family: Some("api-prod".into()),
                    task_role_arn: None,
                    execution_role_arn: Some(
                        "arn:aws:iam::222222222222:role/ecsTaskExecutionRole".into(),
                    ),
                },
            ],
        }
    }

    fn settings() -> KitSettings {
        KitSettings {
            public_url: Some("https://shipgate.example.com/".into()),
            webhook_secret_configured: true,
        }
    }

    fn file<'a>(kit: &'a SetupKit, id: &str) -> &'a KitFile {
        kit.files
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no file {id}"))
    }

    fn json_of(kit: &SetupKit, id: &str) -> Value {
        serde_json::from_str(&file(kit, id).content)
            .unwrap_or_else(|e| panic!("{id} is not JSON: {e}"))
    }

    fn yaml_of(kit: &SetupKit) -> serde_yaml::Value {
        serde_yaml::from_str(&file(kit, "workflow").content).expect("the workflow is YAML")
    }

    fn steps(workflow: &serde_yaml::Value) -> &[serde_yaml::Value] {
        workflow["jobs"]["build"]["steps"]
            .as_sequence()
            .expect("the job has steps")
    }

    fn step<'a>(workflow: &'a serde_yaml::Value, key: &str, value: &str) -> &'a serde_yaml::Value {
        steps(workflow)
            .iter()
            .find(|s| s[key] == value)
            .unwrap_or_else(|| panic!("no step with {key} {value}"))
    }

    /// Every statement of a policy as (actions, resources).
    fn statements_of(policy: &Value) -> Vec<(Vec<String>, Vec<String>)> {
        let list = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
                _ => panic!("{v}"),
            }
        };
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (list(&s["Action"]), list(&s["Resource"])))
            .collect()
    }

    fn actions_of(policy: &Value) -> BTreeSet<String> {
        statements_of(policy)
            .into_iter()
            .flat_map(|(a, _)| a)
            .collect()
    }

    fn resources_for(policy: &Value, action: &str) -> Vec<String> {
        statements_of(policy)
            .into_iter()
            .filter(|(a, _)| a.iter().any(|x| x == action))
            .flat_map(|(_, r)| r)
            .collect()
    }

    fn statement_with_sid<'a>(policy: &'a Value, sid: &str) -> &'a Value {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    }

    fn sub_of(policy: &Value) -> &Value {
        &policy["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    }

    fn engine_actions() -> BTreeSet<String> {
        ENGINE_PERMISSIONS
            .iter()
            .map(|p| p.action.to_owned())
            .collect()
    }

    /// Runs the workflow's tag step as the runner would (bash, the step's environment and
    /// GitHub's variables) and returns the tag it wrote to `$GITHUB_OUTPUT`.
    fn run_tag_step(kit: &SetupKit, branch: &str) -> String {
        let workflow = yaml_of(kit);
        let tag = step(&workflow, "id", "tag");
        assert_eq!(tag["shell"], "bash");
        // Unique per call: tests run in parallel in one process.
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let output =
            std::env::temp_dir().join(format!("shipgate-kit-tag-{}-{run}", std::process::id()));
        let mut command = std::process::Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(tag["run"].as_str().unwrap())
            .env("GITHUB_SHA", SHA)
            .env("GITHUB_REF_NAME", branch)
            .env("GITHUB_OUTPUT", &output);
        for (key, value) in tag["env"].as_mapping().unwrap() {
            command.env(key.as_str().unwrap(), value.as_str().unwrap());
        }
        let status = command.status().expect("bash runs the tag step");
        assert!(status.success(), "the tag step succeeds");
        let written = std::fs::read_to_string(&output).unwrap();
        std::fs::remove_file(&output).ok();
        written
            .trim_end()
            .strip_prefix("tag=")
            .unwrap_or_else(|| panic!("the step writes tag=…: {written}"))
            .to_owned()
    }

    #[test]
    fn the_workflow_builds_the_tag_the_build_stage_waits_for() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        let workflow_file = file(&kit, "workflow");
        assert_eq!(
            workflow_file.path,
            ".github/workflows/build-and-push-api.yml"
        );
        let workflow = yaml_of(&kit);
        assert_eq!(workflow["name"], WORKFLOW);
        assert_eq!(
            workflow["jobs"]["build"]["name"], WORKFLOW,
            "the job's (check run's) name matches ci_workflow too"
        );
        assert_eq!(
            workflow["on"]["push"]["branches"],
            serde_yaml::to_value(["main"]).unwrap()
        );
        assert_eq!(workflow["permissions"]["id-token"], "write");
        assert_eq!(workflow["permissions"]["contents"], "read");
        assert_eq!(workflow["jobs"]["build"]["runs-on"], RUNNER);

        let uses: Vec<&str> = steps(&workflow)
            .iter()
            .filter_map(|s| s["uses"].as_str())
            .collect();
        assert_eq!(uses, [CHECKOUT, CONFIGURE_AWS_CREDENTIALS, ECR_LOGIN]);
        for action in uses {
            let (_, version) = action.split_once('@').unwrap();
            assert!(
                version.starts_with('v') && version[1..].parse::<u32>().is_ok(),
                "{action} is pinned to a major"
            );
            let header: Vec<&str> = workflow_file
                .content
                .lines()
                .take_while(|l| l.starts_with('#'))
                .collect();
            assert!(
                header.iter().any(|l| l.contains(action)),
                "the comment names {action}"
            );
            assert!(header.iter().any(|l| l.contains("December 2026")));
        }

        let credentials = step(&workflow, "uses", CONFIGURE_AWS_CREDENTIALS);
        assert_eq!(
            credentials["with"]["aws-region"], "us-east-1",
            "the ECR region: the first environment's"
        );
        assert_eq!(
            credentials["with"]["role-to-assume"],
            "arn:aws:iam::111111111111:role/shipgate-ci-payments"
        );
        assert_eq!(step(&workflow, "uses", ECR_LOGIN)["id"], "ecr");

        assert_eq!(
            run_tag_step(&kit, "main"),
            format!("release-{}", &SHA[..7]),
            "the tag step computes the pipeline's image_tag"
        );
        assert_eq!(
            step(&workflow, "name", "Build and push")["env"]["IMAGE"],
            "${{ steps.ecr.outputs.registry }}/payments:${{ steps.tag.outputs.tag }}"
        );
        assert!(
            !workflow_file.content.contains("latest"),
            "no floating tag anywhere, not even the runner's"
        );
    }

    #[test]
    fn the_tag_step_makes_exactly_the_tag_shipgate_computes() {
        for (template, branch) in [
            ("{sha}", "main"),
            ("release-{short_sha}", "main"),
            ("{branch}-{short_sha}", "feature/x"),
            ("{branch}.{sha}", "fix/é-ü+x\"#1"),
            ("v1-{branch}", "release/2026.12_rc-1"),
        ] {
            let mut s = spec(branch, WORKFLOW);
            s.build.image_tag = template.into();
            let kit = setup_kit(&s, &known(), &settings());
            assert_eq!(
                run_tag_step(&kit, branch),
                s.build.tag_for(SHA, branch),
                "{template} on {branch}"
            );
            let script = step(&yaml_of(&kit), "id", "tag")["run"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_eq!(
                script.contains("short_sha="),
                template.contains("{short_sha}"),
                "only what the template uses is computed: {script}"
            );
            assert_eq!(script.contains("branch="), template.contains("{branch}"));
        }
    }

    #[test]
    fn a_branch_or_workflow_name_yaml_would_misread_stays_itself() {
        let hostile = r#"release: "x" #1"#;
        // git allows quotes, `#` and `+` in a branch (not `:`); `+` is a filter pattern
        // character, so the filter escapes it to match the branch literally.
        let branch = r##"fix/"x"#1+y"##;
        let kit = setup_kit(&spec(branch, hostile), &KitFacts::default(), &settings());
        let workflow = yaml_of(&kit);
        assert_eq!(workflow["name"], hostile);
        assert_eq!(workflow["jobs"]["build"]["name"], hostile);
        assert_eq!(
            workflow["on"]["push"]["branches"],
            serde_yaml::to_value([r##"fix/"x"#1\+y"##]).unwrap()
        );
        assert_eq!(
            workflow["on"]["push"]["branches"]
                .as_sequence()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            file(&kit, "workflow").path,
            ".github/workflows/release-x-1.yml"
        );
        assert_eq!(
            sub_of(&json_of(&kit, "ci_trust_policy")),
            &json!(format!("repo:acme/payments:ref:refs/heads/{branch}")),
            "the token's sub carries the branch as it is"
        );

        let plain = setup_kit(&spec("!x", WORKFLOW), &KitFacts::default(), &settings());
        assert_eq!(
            yaml_of(&plain)["on"]["push"]["branches"][0],
            r"\!x",
            "a leading ! would negate the filter"
        );
    }

    #[test]
    fn the_trust_policies_bind_the_role_to_this_repository_and_branch() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        let named = json_of(&kit, "ci_trust_policy");
        let statement = &named["Statement"][0];
        assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            statement["Principal"]["Federated"],
            "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(sub_of(&named), "repo:acme/payments:ref:refs/heads/main");
        let immutable = json_of(&kit, "ci_trust_policy_immutable");
        assert_eq!(
            sub_of(&immutable),
            "repo:acme@42/payments@4242:ref:refs/heads/main"
        );
        for id in ["ci_trust_policy", "ci_trust_policy_immutable"] {
            let about = &file(&kit, id).about;
            for says in [
                "classic subject",
                "immutable subject claims",
                "sub of a run's token",
            ] {
                assert!(
                    about.contains(says),
                    "{id} says when each form applies: {about}"
                );
            }
        }
        assert!(
            file(&kit, "ci_trust_policy_immutable")
                .about
                .contains("renamed")
        );

        let unknown = setup_kit(&spec("main", WORKFLOW), &KitFacts::default(), &settings());
        assert_eq!(
            sub_of(&json_of(&unknown, "ci_trust_policy_immutable")),
            "repo:acme@OWNER_ID/payments@REPOSITORY_ID:ref:refs/heads/main"
        );
        assert_eq!(
            json_of(&unknown, "ci_trust_policy")["Statement"][0]["Principal"]["Federated"],
            "arn:aws:iam::ACCOUNT_ID:oidc-provider/token.actions.githubusercontent.com"
        );
        let oidc = json_of(&unknown, "oidc_provider");
        assert_eq!(oidc["Url"], "https://token.actions.githubusercontent.com");
        assert_eq!(oidc["ClientIDList"], json!(["sts.amazonaws.com"]));
        assert!(
            file(&unknown, "oidc_provider")
                .about
                .contains("aws iam create-open-id-connect-provider --cli-input-json")
        );
    }

    #[test]
    fn the_push_policy_covers_exactly_this_repository() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        let policy = json_of(&kit, "ci_push_policy");
        assert_eq!(
            statements_of(&policy),
            [
                (
                    vec!["ecr:GetAuthorizationToken".to_owned()],
                    vec!["*".to_owned()]
                ),
                (
                    [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:InitiateLayerUpload",
                        "ecr:UploadLayerPart",
                        "ecr:CompleteLayerUpload",
                        "ecr:PutImage",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ]
                    .map(String::from)
                    .to_vec(),
                    vec![REPOSITORY_ARN.to_owned()],
                ),
            ]
        );
        assert!(file(&kit, "ci_push_policy").about.contains("layer cache"));
    }

    #[test]
    fn shipgates_policies_are_every_engine_permission_and_no_more() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        let own = json_of(&kit, "shipgate_policy");
        let role = json_of(&kit, "role_policy_production");
        let granted: BTreeSet<String> = actions_of(&own)
            .union(&actions_of(&role))
            .cloned()
            .collect();
        assert_eq!(
            granted,
            engine_actions(),
            "exactly the actions of ENGINE_PERMISSIONS"
        );

        // Staging is Shipgate's own; production is the deployer role's, in its account and region.
        assert_eq!(
            resources_for(&own, "ecs:UpdateService"),
            ["arn:aws:ecs:us-east-1:111111111111:service/stg/api"]
        );
        assert_eq!(
            resources_for(&role, "ecs:UpdateService"),
            ["arn:aws:ecs:eu-west-1:222222222222:service/prod/api"]
        );
        assert_eq!(
            resources_for(&role, "ecs:DescribeClusters"),
            ["arn:aws:ecs:eu-west-1:222222222222:cluster/prod"]
        );
        assert_eq!(
            resources_for(&own, "ecs:TagResource"),
            ["arn:aws:ecs:us-east-1:111111111111:task-definition/api-stg:*"]
        );
        assert_eq!(
            resources_for(&role, "ecs:TagResource"),
            ["arn:aws:ecs:eu-west-1:222222222222:task-definition/api-prod:*"]
        );
        assert_eq!(
            statement_with_sid(&own, "TagNewRevisions")["Condition"]["StringEquals"]["ecs:CreateAction"],
            "RegisterTaskDefinition"
        );
        assert_eq!(
            resources_for(&own, "iam:PassRole"),
            [
                "arn:aws:iam::111111111111:role/api-task",
                "arn:aws:iam::111111111111:role/ecsTaskExecutionRole"
            ]
        );
        assert_eq!(
            resources_for(&role, "iam:PassRole"),
            ["arn:aws:iam::222222222222:role/ecsTaskExecutionRole"]
        );
        assert_eq!(resources_for(&own, "sts:AssumeRole"), [OTHER_ROLE]);
        assert!(resources_for(&role, "sts:AssumeRole").is_empty());
        assert_eq!(resources_for(&own, "ecr:DescribeImages"), [REPOSITORY_ARN]);
        assert!(
            resources_for(&role, "ecr:DescribeImages").is_empty(),
            "ECR is read as Shipgate itself"
        );
        assert_eq!(resources_for(&own, "ecs:RegisterTaskDefinition"), ["*"]);
        // Verify reads IAM through the role for its environment, about the role itself.
        assert_eq!(
            resources_for(&role, "iam:GetRole"),
            ["arn:aws:iam::222222222222:role/ecsTaskExecutionRole"]
        );
        assert_eq!(
            resources_for(&role, "iam:SimulatePrincipalPolicy"),
            [OTHER_ROLE]
        );
        assert_eq!(
            resources_for(&own, "iam:SimulatePrincipalPolicy"),
            ["arn:aws:iam::111111111111:role/shipgate"]
        );
        for policy in [&own, &role] {
            let pass = statement_with_sid(policy, "PassTaskRolesToEcs");
            assert_eq!(
                pass["Condition"]["StringEquals"]["iam:PassedToService"],
                "ecs-tasks.amazonaws.com"
            );
            assert_eq!(
                pass["Action"],
                json!(["iam:PassRole"]),
                "GetRole does not carry PassRole's condition"
            );
        }
    }

    #[test]
    fn without_a_role_arn_shipgates_own_policy_is_the_whole_list_in_both_regions() {
        let mut d = draft("main", WORKFLOW);
        if let Some(envs) = d.environments.as_mut() {
            envs[1].role_arn = None;
        }
        let kit = setup_kit(&d.validate().unwrap(), &KitFacts::default(), &settings());
        assert!(kit.files.iter().all(|f| !f.id.starts_with("role_policy")));
        let own = json_of(&kit, "shipgate_policy");
        let mut expected = engine_actions();
        expected.remove("sts:AssumeRole");
        assert_eq!(
            actions_of(&own),
            expected,
            "every ENGINE_PERMISSIONS action but AssumeRole, which has no role to act on"
        );
        assert_eq!(
            resources_for(&own, "ecs:UpdateService"),
            [
                "arn:aws:ecs:eu-west-1:ACCOUNT_ID:service/prod/api",
                "arn:aws:ecs:us-east-1:ACCOUNT_ID:service/stg/api"
            ],
            "both regions"
        );
        assert_eq!(
            resources_for(&own, "iam:PassRole"),
            ["TASK_ROLE_ARNS"],
            "PassRole only on the roles Verify finds"
        );
    }

    #[test]
    fn a_cluster_or_service_given_as_an_arn_is_named_and_placed_by_it() {
        let mut d = draft("main", WORKFLOW);
        if let Some(envs) = d.environments.as_mut() {
            envs[0].cluster = Some("arn:aws:ecs:ap-south-1:333333333333:cluster/stg".into());
            envs[0].service = Some("arn:aws:ecs:ap-south-1:333333333333:service/stg/api".into());
        }
        let kit = setup_kit(&d.validate().unwrap(), &known(), &settings());
        let own = json_of(&kit, "shipgate_policy");
        assert_eq!(
            resources_for(&own, "ecs:UpdateService"),
            ["arn:aws:ecs:ap-south-1:333333333333:service/stg/api"]
        );
        assert_eq!(
            resources_for(&own, "ecs:DescribeClusters"),
            ["arn:aws:ecs:ap-south-1:333333333333:cluster/stg"]
        );
    }

    #[test]
    fn govcloud_and_china_arns_use_their_partition() {
        for (region, partition) in [("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")] {
            let mut d = draft("main", WORKFLOW);
            if let Some(envs) = d.environments.as_mut() {
                envs.truncate(1);
                envs[0].region = Some(region.into());
            }
            let kit = setup_kit(&d.validate().unwrap(), &known(), &settings());
            let own = json_of(&kit, "shipgate_policy");
            assert_eq!(
                resources_for(&own, "ecr:DescribeImages"),
                [format!(
                    "arn:{partition}:ecr:{region}:111111111111:repository/payments"
                )]
            );
            assert_eq!(
                resources_for(&own, "ecs:UpdateService"),
                [format!(
                    "arn:{partition}:ecs:{region}:111111111111:service/stg/api"
                )]
            );
            assert!(
                json_of(&kit, "ci_trust_policy")["Statement"][0]["Principal"]["Federated"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("arn:{partition}:iam::"))
            );
        }
    }

    #[test]
    fn a_task_definition_without_roles_needs_no_pass_role() {
        let mut facts = known();
        for env in &mut facts.environments {
            env.task_role_arn = None;
            env.execution_role_arn = None;
        }
        let kit = setup_kit(&spec("main", WORKFLOW), &facts, &settings());
        for id in ["shipgate_policy", "role_policy_production"] {
            let policy = json_of(&kit, id);
            assert!(resources_for(&policy, "iam:PassRole").is_empty(), "{id}");
            assert!(resources_for(&policy, "iam:GetRole").is_empty(), "{id}");
        }
        assert!(kit.placeholders.is_empty());
    }

    #[test]
    fn placeholders_are_listed_exactly_when_facts_are_missing() {
        fn names(kit: &SetupKit) -> Vec<&str> {
            kit.placeholders.iter().map(|p| p.name.as_str()).collect()
        }
        let kit = setup_kit(
            &spec("main", WORKFLOW),
            &KitFacts::default(),
            &KitSettings::default(),
        );
        assert_eq!(
            names(&kit),
            [
                "ACCOUNT_ID",
                "OWNER_ID",
                "REPOSITORY_ID",
                "TASK_FAMILY",
                "TASK_ROLE_ARNS",
                "SHIPGATE_PRINCIPAL_ARN",
                "PUBLIC_URL"
            ]
        );
        for p in &kit.placeholders {
            assert!(!p.how.is_empty(), "{} says how to fill it", p.name);
            assert!(
                kit.files.iter().any(|f| f.content.contains(&p.name))
                    || kit.webhook.payload_url.contains(&p.name),
                "{} is used",
                p.name
            );
        }
        assert!(kit.placeholders[0].how.contains("run Verify"));

        let partly = setup_kit(
            &spec("main", WORKFLOW),
            &KitFacts {
                account_id: Some("111111111111".into()),
                github_owner_id: Some(42),
                github_repository_id: Some(4242),
                ..Default::default()
            },
            &settings(),
        );
        assert_eq!(
            names(&partly),
            ["TASK_FAMILY", "TASK_ROLE_ARNS", "SHIPGATE_PRINCIPAL_ARN"]
        );

        let full = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        assert_eq!(names(&full), Vec::<&str>::new());
        for name in names(&kit) {
            assert!(
                full.files.iter().all(|f| !f.content.contains(name))
                    && !full.webhook.payload_url.contains(name),
                "{name} is filled in"
            );
        }
    }

    #[test]
    fn the_webhook_names_its_secret_never_its_value() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        assert_eq!(
            kit.webhook.payload_url,
            "https://shipgate.example.com/webhooks/github"
        );
        assert_eq!(kit.webhook.content_type, "application/json");
        assert!(kit.webhook.secret.contains("github_webhook_secret"));
        assert_eq!(kit.webhook.events, ["push", "workflow_run"]);
        assert_eq!(
            kit.webhook.settings_url,
            "https://github.com/acme/payments/settings/hooks/new"
        );
        let unset = setup_kit(&spec("main", WORKFLOW), &known(), &KitSettings::default());
        assert_eq!(unset.webhook.payload_url, "PUBLIC_URL/webhooks/github");
        assert!(unset.webhook.secret.contains("none is configured"));
        assert!(unset.webhook.secret.contains("github_webhook_secret"));
    }

    #[test]
    fn ecr_settings_are_recommended_commands_for_this_repository() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        assert_eq!(
            kit.ecr_settings
                .iter()
                .map(|c| c.command.as_str())
                .collect::<Vec<_>>(),
            [
                "aws ecr put-image-tag-mutability --repository-name payments --image-tag-mutability IMMUTABLE --region us-east-1",
                "aws ecr put-image-scanning-configuration --repository-name payments --image-scanning-configuration scanOnPush=true --region us-east-1",
            ]
        );
        let ids: Vec<&str> = kit.ecr_settings.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ecr_immutable_tags", "ecr_scan_on_push"]);
        assert!(
            kit.ecr_settings
                .iter()
                .all(|c| c.recommended && !c.about.is_empty())
        );
    }

    #[test]
    fn a_long_pipeline_name_still_makes_a_valid_distinct_role_name() {
        assert_eq!(ci_role_name("payments"), "shipgate-ci-payments");
        let long_a = "a".repeat(60) + "-one";
        let long_b = "a".repeat(60) + "-two";
        for name in [&long_a, &long_b] {
            let role = ci_role_name(name);
            assert!(role.len() <= 64, "{role}");
            assert!(role.starts_with("shipgate-ci-aaaa"));
        }
        assert_ne!(ci_role_name(&long_a), ci_role_name(&long_b));
        assert_eq!(ci_role_name(&long_a), ci_role_name(&long_a), "stable");
    }

    #[test]
    fn the_kit_serves_as_json_and_reads_back() {
        let kit = setup_kit(&spec("main", WORKFLOW), &known(), &settings());
        let served = serde_json::to_value(&kit).unwrap();
        for key in ["files", "ecr_settings", "webhook", "placeholders"] {
            assert!(served.get(key).is_some(), "{key}");
        }
        assert_eq!(serde_json::from_value::<SetupKit>(served).unwrap(), kit);
    }
}
