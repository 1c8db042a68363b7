//! The setup kit: everything a pipeline needs outside Shipgate, written from the
//! pipeline's own definition. A GitHub Actions workflow that pushes the image the Build
//! stage looks for, the CI role's OIDC trust and push policy, Shipgate's own policy
//! (from [`ENGINE_PERMISSIONS`], nothing else), the recommended ECR settings, and the
//! webhook. What Shipgate cannot know before Verify has read AWS (the account, the task
//! roles) is a visible CAPITALS placeholder, listed with how to fill it.

use crate::permissions::{Access, ENGINE_PERMISSIONS, Permission, PermissionScope};
use crate::spec::PipelineSpec;
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
    /// `ci_push_policy`, `shipgate_policy`, `role_policy_<environment>`.
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

/// The action majors the workflow pins, as its comment says.
pub const CHECKOUT: &str = "actions/checkout@v6";
pub const CONFIGURE_AWS_CREDENTIALS: &str = "aws-actions/configure-aws-credentials@v6";
pub const ECR_LOGIN: &str = "aws-actions/amazon-ecr-login@v2";

/// The OIDC provider GitHub Actions tokens come from, and the audience AWS expects.
pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// The last path segment of a name-or-ARN.
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The account in an ECS or IAM ARN.
fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())).then_some(account)
}

/// A string as a YAML scalar that means exactly it: JSON's double-quoted form is YAML too.
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

/// The workflow file's name: `ci_workflow` in lower case with anything but letters and
/// digits as `-`, or `build`.
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

/// The CI role's name in the kit: Shipgate does not create it, it only names it
/// consistently in the workflow and the trust policy's instructions.
pub fn ci_role_name(pipeline: &str) -> String {
    format!("shipgate-ci-{pipeline}")
}

pub fn setup_kit(spec: &PipelineSpec, facts: &KitFacts, settings: &KitSettings) -> SetupKit {
    let mut holes = Holes::default();
    let account = holes.or(
        facts.account_id.as_deref(),
        "ACCOUNT_ID",
        &format!("the 12-digit AWS account of the ECR repository; {RUN_VERIFY}"),
    );
    let ecr_region = spec
        .build
        .ecr_region
        .clone()
        .or_else(|| spec.environments.first().map(|e| e.region.clone()))
        .unwrap_or_else(|| "us-east-1".into());
    let repository_arn = format!(
        "arn:aws:ecr:{ecr_region}:{account}:repository/{}",
        spec.ecr_repository
    );
    let (owner, repo) = spec
        .repository
        .split_once('/')
        .unwrap_or((&spec.repository, ""));
    let workflow_name = spec.build.ci_workflow.as_deref().unwrap_or("build");
    let ci_role_arn = format!("arn:aws:iam::{account}:role/{}", ci_role_name(&spec.name));

    let files = vec![
        workflow_file(spec, workflow_name, &ci_role_arn, &ecr_region),
        oidc_provider_file(),
        ci_trust_file(spec, &account, &ci_role_arn, None),
        ci_trust_file(
            spec,
            &account,
            &ci_role_arn,
            Some((
                holes.or(
                    facts.github_owner_id.map(|i| i.to_string()).as_deref(),
                    "OWNER_ID",
                    &format!("the numeric id of {owner}: `gh api /repos/{} --jq .owner.id`, or set github_token and run Verify", spec.repository),
                ),
                holes.or(
                    facts.github_repository_id.map(|i| i.to_string()).as_deref(),
                    "REPOSITORY_ID",
                    &format!("the numeric id of {}: `gh api /repos/{} --jq .id`, or set github_token and run Verify", spec.repository, spec.repository),
                ),
            )),
        ),
        ci_push_file(&repository_arn),
    ];
    let mut files = files;
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

fn workflow_file(
    spec: &PipelineSpec,
    workflow_name: &str,
    ci_role_arn: &str,
    ecr_region: &str,
) -> KitFile {
    let template = &spec.build.image_tag;
    let mut tag_lines = Vec::new();
    if template.contains("{short_sha}") {
        tag_lines.push(r#"short_sha="${GITHUB_SHA::7}""#.to_owned());
    }
    if template.contains("{branch}") {
        tag_lines.push(
            r#"branch="$(printf '%s' "$GITHUB_REF_NAME" | tr -c 'A-Za-z0-9._-' '-')""#.to_owned(),
        );
    }
    let shell_tag = template
        .replace("{sha}", "${GITHUB_SHA}")
        .replace("{short_sha}", "${short_sha}")
        .replace("{branch}", "${branch}");
    tag_lines.push(format!(r#"echo "tag={shell_tag}" >> "$GITHUB_OUTPUT""#));
    let tag_script = tag_lines
        .iter()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let content = format!(
        r#"# Written by Shipgate for the pipeline {pipeline}: every push to {branch} builds the image
# and pushes it to ECR as {repository}:{template}, the tag Shipgate's Build stage waits for.
# Never tagged `latest`, so a tag always says which commit runs.
# Actions pinned to their major versions, current in December 2026:
# {checkout}, {credentials}, {login}.
name: {name}
on:
  push:
    branches: [{branch_yaml}]
permissions:
  id-token: write
  contents: read
jobs:
  build:
    name: {name}
    runs-on: ubuntu-latest
    steps:
      - uses: {checkout}
      - uses: {credentials}
        with:
          role-to-assume: {role}
          aws-region: {region}
      - id: ecr
        uses: {login}
      - id: tag
        name: Image tag (the pipeline's image_tag, {template})
        run: |
{tag_script}
      - name: Build and push
        env:
          IMAGE: ${{{{ steps.ecr.outputs.registry }}}}/{repository}:${{{{ steps.tag.outputs.tag }}}}
        run: |
          docker build --tag "$IMAGE" .
          docker push "$IMAGE"
"#,
        pipeline = spec.name,
        branch = spec.branch,
        repository = spec.ecr_repository,
        template = template,
        checkout = CHECKOUT,
        credentials = CONFIGURE_AWS_CREDENTIALS,
        login = ECR_LOGIN,
        name = yaml(workflow_name),
        branch_yaml = yaml(&spec.branch),
        role = yaml(ci_role_arn),
        region = yaml(ecr_region),
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
            "Lets GitHub Actions sign in to AWS with short-lived tokens. Create it once per account: aws iam create-open-id-connect-provider --cli-input-json file://github-oidc-provider.json (AWS fetches the provider's certificate itself). Skip it if https://{GITHUB_OIDC_HOST} is already listed under IAM identity providers."
        ),
        media_type: "application/json".into(),
        content,
    }
}

/// The CI role's trust policy; `immutable` carries the owner's and repository's ids for
/// GitHub's newer subject form.
fn ci_trust_file(
    spec: &PipelineSpec,
    account: &str,
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
            "Principal": {"Federated": format!("arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}")},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{GITHUB_OIDC_HOST}:aud"): STS_AUDIENCE,
                format!("{GITHUB_OIDC_HOST}:sub"): subject,
            }}
        }]
    }));
    let role = short(ci_role_arn);
    match immutable {
        None => KitFile {
            id: "ci_trust_policy".into(),
            path: format!("{role}-trust.json"),
            title: "CI role: trust policy (repository and branch by name)".into(),
            about: format!(
                "Only workflows on {} in {} may assume the role. This is the subject GitHub sends for repositories with the classic subject claim: aws iam create-role --role-name {role} --assume-role-policy-document file://{role}-trust.json. If the repository uses immutable subject claims, use the next policy instead; a run's token shows which (its sub claim).",
                spec.branch, spec.repository
            ),
            media_type: "application/json".into(),
            content,
        },
        Some(_) => KitFile {
            id: "ci_trust_policy_immutable".into(),
            path: format!("{role}-trust-immutable.json"),
            title: "CI role: trust policy (immutable ids)".into(),
            about: "For repositories that use GitHub's immutable subject claims, whose sub carries the owner's and the repository's numeric ids after an @. A name can be renamed or taken over by another account; the ids never change and are never reused, so this form cannot be matched by a namesake.".into(),
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
        about: "Attach it to the CI role (aws iam put-role-policy … --policy-document file://ci-push-policy.json). Sign-in on *, which ECR requires; layer upload and PutImage on exactly this repository. Without them docker push fails with InitiateLayerUpload denied or a bare EOF. BatchGetImage and GetDownloadUrlForLayer are for builds that read a layer cache from the repository; drop them if yours does not.".into(),
        media_type: "application/json".into(),
        content,
    }
}

/// Who makes an environment's ECS calls: Shipgate itself, or the environment's role.
fn caller_of(env: &crate::spec::EnvironmentSpec) -> Option<&str> {
    env.deploy.role_arn.as_deref()
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
        PermissionScope::OwnPrincipal => {
            if caller.is_none() {
                out.insert(holes.or(
                    facts.shipgate_principal_arn.as_deref(),
                    "SHIPGATE_PRINCIPAL_ARN",
                    &format!("the IAM user or role Shipgate runs as; {RUN_VERIFY}"),
                ));
            }
        }
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
                let env_account = arn_account(&env.service)
                    .or_else(|| arn_account(&env.cluster))
                    .or_else(|| known.and_then(|k| k.account_id.as_deref()))
                    .or_else(|| env.deploy.role_arn.as_deref().and_then(arn_account))
                    .unwrap_or(account)
                    .to_owned();
                let region = &env.region;
                match scope {
                    PermissionScope::Cluster => {
                        out.insert(format!(
                            "arn:aws:ecs:{region}:{env_account}:cluster/{}",
                            short(&env.cluster)
                        ));
                    }
                    PermissionScope::Service => {
                        out.insert(format!(
                            "arn:aws:ecs:{region}:{env_account}:service/{}/{}",
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
                        out.insert(format!(
                            "arn:aws:ecs:{region}:{env_account}:task-definition/{family}:*"
                        ));
                    }
                    _ => match known {
                        Some(k) if k.task_role_arn.is_some() || k.execution_role_arn.is_some() => {
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

/// The statements for the calls `caller` (Shipgate itself, or an environment's role) makes.
fn statements(
    spec: &PipelineSpec,
    facts: &KitFacts,
    caller: Option<&str>,
    account: &str,
    repository_arn: &str,
    holes: &mut Holes,
) -> Vec<Value> {
    // One statement per scope (and condition), in ENGINE_PERMISSIONS order.
    let mut grouped: Vec<Statement> = Vec::new();
    for p in ENGINE_PERMISSIONS {
        // An environment's role makes only that environment's ECS and PassRole calls;
        // ECR, STS and Verify's IAM calls are Shipgate's own.
        let roles_call = p.action.starts_with("ecs:") || p.action == "iam:PassRole";
        if caller.is_some() && !roles_call {
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

/// A policy statement being gathered: its scope (and whether it carries a condition),
/// actions, resources and condition.
struct Statement {
    key: (PermissionScope, bool),
    actions: Vec<&'static str>,
    resources: BTreeSet<String>,
    condition: Option<Value>,
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
    let mut files = vec![KitFile {
        id: "shipgate_policy".into(),
        path: format!("shipgate-{}-policy.json", spec.name),
        title: "Shipgate's own permissions".into(),
        about: format!(
            "Attach it to the IAM role or user Shipgate runs as. Exactly what the engine calls for this pipeline, scoped to its clusters, services, task-definition families and repository; its writes are {}. iam:PassRole only on the live task and execution roles, and only to ECS tasks. iam:GetRole and iam:SimulatePrincipalPolicy are optional: they let Verify check roles and write permissions.",
            writes.join(", ")
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
                "Shipgate makes {}'s ECS calls as this role, in its own account: attach this policy to it, and let Shipgate's identity assume it (its trust policy names Shipgate's role or user).",
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
    use crate::spec::PipelineDraft;

    const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
    const OTHER_ROLE: &str = "arn:aws:iam::222222222222:role/deployer";

    /// Two regions, a custom tag and workflow, and production in another account.
    fn spec(branch: &str, workflow: &str) -> PipelineSpec {
        serde_json::from_value::<PipelineDraft>(json!({
            "name": "payments", "repository": "acme/payments", "branch": branch, "ecr_repository": "payments",
            "image_tag": "release-{short_sha}", "ci_workflow": workflow,
            "environments": [
                {"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": "us-east-1", "promotion": "auto"},
                {"name": "production", "cluster": "prod", "service": "api", "container": "app", "region": "eu-west-1", "promotion": "manual", "role_arn": OTHER_ROLE}
            ]
        }))
        .unwrap()
        .validate()
        .unwrap()
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

    fn resources_for(policy: &Value, action: &str) -> Vec<String> {
        statements_of(policy)
            .into_iter()
            .filter(|(a, _)| a.iter().any(|x| x == action))
            .flat_map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn the_workflow_builds_the_tag_the_build_stage_waits_for() {
        let kit = setup_kit(&spec("main", "Build and push"), &known(), &settings());
        let workflow = file(&kit, "workflow");
        assert_eq!(workflow.path, ".github/workflows/build-and-push.yml");
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&workflow.content).expect("the workflow is YAML");
        assert_eq!(yaml["name"], "Build and push");
        assert_eq!(
            yaml["jobs"]["build"]["name"], "Build and push",
            "the job's name matches ci_workflow"
        );
        assert_eq!(
            yaml["on"]["push"]["branches"],
            serde_yaml::to_value(["main"]).unwrap()
        );
        assert_eq!(yaml["permissions"]["id-token"], "write");
        assert_eq!(yaml["permissions"]["contents"], "read");
        let steps = yaml["jobs"]["build"]["steps"].as_sequence().unwrap();
        for step in steps {
            if let Some(uses) = step["uses"].as_str() {
                let (_, version) = uses.split_once('@').unwrap();
                assert!(
                    version.starts_with('v') && version[1..].parse::<u32>().is_ok(),
                    "{uses} is pinned to a major"
                );
                assert!(
                    workflow.content.lines().take(5).any(|l| l.contains(uses)),
                    "the comment names {uses}"
                );
            }
        }
        let credentials = steps
            .iter()
            .find(|s| s["uses"] == CONFIGURE_AWS_CREDENTIALS)
            .unwrap();
        assert_eq!(
            credentials["with"]["aws-region"], "us-east-1",
            "the ECR region: the first environment's"
        );
        assert_eq!(
            credentials["with"]["role-to-assume"],
            "arn:aws:iam::111111111111:role/shipgate-ci-payments"
        );
        assert!(
            steps
                .iter()
                .any(|s| s["uses"] == ECR_LOGIN && s["id"] == "ecr")
        );
        let tag = steps.iter().find(|s| s["id"] == "tag").unwrap()["run"]
            .as_str()
            .unwrap();
        // The tag step, run as the runner would, makes the tag Shipgate computes.
        let rendered = tag
            .replace("${GITHUB_SHA::7}", &SHA[..7])
            .replace("${short_sha}", &SHA[..7]);
        assert!(
            rendered.contains(&format!(
                "tag={}",
                spec("main", "x").build.tag_for(SHA, "main")
            )),
            "{rendered}"
        );
        let push = steps
            .iter()
            .find(|s| s["name"] == "Build and push")
            .unwrap();
        assert_eq!(
            push["env"]["IMAGE"],
            "${{ steps.ecr.outputs.registry }}/payments:${{ steps.tag.outputs.tag }}"
        );
        assert!(
            !workflow.content.contains(":latest") && !tag.contains("tag=latest"),
            "never `latest`"
        );
    }

    #[test]
    fn a_branch_or_workflow_name_yaml_would_misread_stays_itself() {
        let hostile = r#"release: "x" #1"#;
        let kit = setup_kit(
            &spec("release/2026-12", hostile),
            &KitFacts::default(),
            &settings(),
        );
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&file(&kit, "workflow").content).unwrap();
        assert_eq!(yaml["name"], hostile);
        assert_eq!(yaml["jobs"]["build"]["name"], hostile);
        assert_eq!(yaml["on"]["push"]["branches"][0], "release/2026-12");
        assert_eq!(
            file(&kit, "workflow").path,
            ".github/workflows/release-x-1.yml"
        );
    }

    #[test]
    fn a_branch_tag_template_computes_the_branch_as_shipgate_does() {
        let mut s = spec("feature/x", "ci");
        s.build.image_tag = "{branch}-{sha}".into();
        let kit = setup_kit(&s, &known(), &settings());
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&file(&kit, "workflow").content).unwrap();
        let steps = yaml["jobs"]["build"]["steps"].as_sequence().unwrap();
        let tag = steps.iter().find(|s| s["id"] == "tag").unwrap()["run"]
            .as_str()
            .unwrap();
        assert!(tag.contains("tr -c 'A-Za-z0-9._-' '-'"), "{tag}");
        assert!(
            tag.contains(r#"echo "tag=${branch}-${GITHUB_SHA}""#),
            "{tag}"
        );
        assert!(
            !tag.contains("short_sha"),
            "only the placeholders used are computed"
        );
    }

    #[test]
    fn the_trust_policies_bind_the_role_to_this_repository_and_branch() {
        let kit = setup_kit(&spec("main", "ci"), &known(), &settings());
        let named = json_of(&kit, "ci_trust_policy");
        let statement = &named["Statement"][0];
        assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
        assert_eq!(
            statement["Principal"]["Federated"],
            "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
        );
        let equals = &statement["Condition"]["StringEquals"];
        assert_eq!(
            equals["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(
            equals["token.actions.githubusercontent.com:sub"],
            "repo:acme/payments:ref:refs/heads/main"
        );
        let immutable = json_of(&kit, "ci_trust_policy_immutable");
        assert_eq!(
            immutable["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"],
            "repo:acme@42/payments@4242:ref:refs/heads/main"
        );
        assert!(
            file(&kit, "ci_trust_policy_immutable")
                .about
                .contains("renamed"),
            "says when each form applies"
        );

        let unknown = setup_kit(&spec("main", "ci"), &KitFacts::default(), &settings());
        let sub = json_of(&unknown, "ci_trust_policy_immutable")["Statement"][0]["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"].clone();
        assert_eq!(
            sub,
            "repo:acme@OWNER_ID/payments@REPOSITORY_ID:ref:refs/heads/main"
        );
        let oidc = json_of(&unknown, "oidc_provider");
        assert_eq!(oidc["Url"], "https://token.actions.githubusercontent.com");
        assert_eq!(oidc["ClientIDList"], json!(["sts.amazonaws.com"]));
    }

    #[test]
    fn the_push_policy_covers_exactly_this_repository() {
        let kit = setup_kit(&spec("main", "ci"), &known(), &settings());
        let policy = json_of(&kit, "ci_push_policy");
        assert_eq!(resources_for(&policy, "ecr:GetAuthorizationToken"), ["*"]);
        for action in [
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
            "ecr:BatchGetImage",
        ] {
            assert_eq!(
                resources_for(&policy, action),
                ["arn:aws:ecr:us-east-1:111111111111:repository/payments"],
                "{action}"
            );
        }
    }

    #[test]
    fn shipgates_policy_is_every_engine_permission_and_no_more() {
        let kit = setup_kit(&spec("main", "ci"), &known(), &settings());
        let own = json_of(&kit, "shipgate_policy");
        let role = json_of(&kit, "role_policy_production");
        let mut granted: BTreeSet<String> = BTreeSet::new();
        for policy in [&own, &role] {
            for (actions, _) in statements_of(policy) {
                granted.extend(actions);
            }
        }
        let listed: BTreeSet<String> = ENGINE_PERMISSIONS
            .iter()
            .map(|p| p.action.to_owned())
            .collect();
        assert_eq!(granted, listed, "exactly the actions of ENGINE_PERMISSIONS");

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
            resources_for(&own, "ecs:TagResource"),
            ["arn:aws:ecs:us-east-1:111111111111:task-definition/api-stg:*"]
        );
        assert_eq!(
            resources_for(&role, "ecs:TagResource"),
            ["arn:aws:ecs:eu-west-1:222222222222:task-definition/api-prod:*"]
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
        assert_eq!(
            resources_for(&own, "ecr:DescribeImages"),
            ["arn:aws:ecr:us-east-1:111111111111:repository/payments"]
        );
        assert!(
            resources_for(&role, "ecr:DescribeImages").is_empty(),
            "ECR is read as Shipgate itself"
        );
        assert_eq!(resources_for(&own, "ecs:RegisterTaskDefinition"), ["*"]);
        let pass = own["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "PassTaskRolesToEcs")
            .unwrap();
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

    #[test]
    fn without_a_role_arn_there_is_no_assume_role_and_no_role_policy() {
        let mut s = spec("main", "ci");
        s.environments[1].deploy.role_arn = None;
        let kit = setup_kit(&s, &KitFacts::default(), &settings());
        assert!(kit.files.iter().all(|f| !f.id.starts_with("role_policy")));
        let own = json_of(&kit, "shipgate_policy");
        assert!(resources_for(&own, "sts:AssumeRole").is_empty());
        assert_eq!(
            resources_for(&own, "ecs:UpdateService"),
            [
                "arn:aws:ecs:eu-west-1:ACCOUNT_ID:service/prod/api",
                "arn:aws:ecs:us-east-1:ACCOUNT_ID:service/stg/api"
            ],
            "both regions"
        );
    }

    #[test]
    fn placeholders_are_listed_exactly_when_facts_are_missing() {
        fn names(kit: &SetupKit) -> Vec<&str> {
            kit.placeholders.iter().map(|p| p.name.as_str()).collect()
        }
        let kit = setup_kit(
            &spec("main", "ci"),
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
        let full = setup_kit(&spec("main", "ci"), &known(), &settings());
        assert_eq!(names(&full), Vec::<&str>::new());
        assert!(full.files.iter().all(|f| !f.content.contains("ACCOUNT_ID")));
    }

    #[test]
    fn the_webhook_names_its_secret_never_its_value() {
        let kit = setup_kit(&spec("main", "ci"), &known(), &settings());
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
        let unset = setup_kit(&spec("main", "ci"), &known(), &KitSettings::default());
        assert_eq!(unset.webhook.payload_url, "PUBLIC_URL/webhooks/github");
        assert!(unset.webhook.secret.contains("none is configured"));
    }

    #[test]
    fn ecr_settings_are_recommended_commands_for_this_repository() {
        let kit = setup_kit(&spec("main", "ci"), &known(), &settings());
        let ids: Vec<&str> = kit.ecr_settings.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["ecr_immutable_tags", "ecr_scan_on_push"]);
        assert!(kit.ecr_settings.iter().all(|c| c.recommended
            && c.command.contains("--repository-name payments --")
            && c.command.ends_with("--region us-east-1")));
    }
}
