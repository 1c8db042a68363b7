//! Verify, in the engine: reads what AWS and GitHub say about a pipeline's wiring, under
//! a time limit, and stores the checks. It only reads; write permissions are asked of
//! IAM's simulator, never tried.

use super::{Engine, EngineError};
use crate::aws::{CloudError, ServiceFacts, ServiceTarget};
use crate::outbound::SendError;
use crate::store::checks::VerifyClaim;
use shipgate_pipeline::PipelineSpec;
use shipgate_pipeline::cloud::CloudProblem;
use shipgate_pipeline::permissions::{Access, ENGINE_PERMISSIONS, PermissionScope};
use shipgate_pipeline::setup_kit::{EnvironmentFacts, KitFacts, partition_of};
use shipgate_pipeline::time::utc_text;
use shipgate_pipeline::verify::{
    Check, Decision, VERIFY_LIMIT_SECS, VerifyReport, account_of, circuit_breaker_check,
    container_check, controller_check, policy_source_arn, webhook_checks, write_action_check,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, info, info_span, warn};

/// The last path segment of a name-or-ARN (`arn:aws:ecs:…:cluster/prod` → `prod`).
fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// One Verify in progress.
struct Pass<'a> {
    engine: &'a Engine,
    deadline: Instant,
    checks: Vec<Check>,
    /// Each read action's calls: authorised (whatever the answer) or refused.
    reads: BTreeMap<&'static str, Vec<Result<(), CloudError>>>,
    facts: KitFacts,
    incomplete: Option<String>,
}

impl Pass<'_> {
    /// Runs `call` in the time that is left; `None` when the time ran out first.
    async fn within<T>(&mut self, call: impl Future<Output = T>) -> Option<T> {
        match tokio::time::timeout_at(self.deadline, call).await {
            Ok(out) => Some(out),
            Err(_) => {
                self.incomplete.get_or_insert_with(|| {
                    format!("Verify stopped at its {VERIFY_LIMIT_SECS}-second limit; the checks it did not reach are not_checked")
                });
                None
            }
        }
    }

    fn out_of_time(&mut self, id: impl Into<String>, subject: impl Into<String>) {
        self.checks.push(Check::not_checked(
            id,
            subject,
            format!("Verify ran out of time ({VERIFY_LIMIT_SECS} s) before AWS answered this."),
            "Run Verify again; if it keeps stopping here, check that AWS answers (network, proxy, AWS_ENDPOINT_URL).",
        ));
    }

    /// Notes what a read action's call showed about the permission: a refusal, or an
    /// answer (even "not found" means AWS let the call through).
    fn read<T>(&mut self, action: &'static str, result: &Result<T, CloudError>) {
        let seen = match result {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        };
        self.reads.entry(action).or_default().push(seen);
    }
}

impl Engine {
    /// Runs every Verify that was asked for and that no other engine holds.
    pub async fn verify_tick(&self) -> Result<usize, EngineError> {
        let mut done = 0;
        loop {
            let now = self.store.now_ms();
            let stale = now - (VERIFY_LIMIT_SECS as i64 + 30) * 1000;
            let Some(claim) = self
                .store
                .claim_verification(&self.settings.owner, now, stale)
                .await?
            else {
                return Ok(done);
            };
            let span = info_span!("verify", pipeline = %claim.pipeline);
            self.verify_claimed(&claim).instrument(span).await?;
            done += 1;
        }
    }

    async fn verify_claimed(&self, claim: &VerifyClaim) -> Result<(), EngineError> {
        let Some(record) = self.store.get_pipeline(&claim.pipeline).await? else {
            // Deleted since it was asked for: answer the request with what is left to say.
            let at = self.store.now_ms();
            let report = VerifyReport {
                checks: vec![Check::problem(
                    "pipeline",
                    claim.pipeline.clone(),
                    "The pipeline was deleted before Verify ran.",
                    "",
                )],
                started_at: at,
                finished_at: at,
                incomplete: None,
                facts: KitFacts::default(),
            };
            return Ok(self.store.finish_verification(claim, &report).await?);
        };
        let report = self.verify(&record.spec).await?;
        info!(
            problems = report.problems(),
            checks = report.checks.len(),
            incomplete = report.incomplete.is_some(),
            "verify finished"
        );
        self.store.finish_verification(claim, &report).await?;
        Ok(())
    }

    /// Every check of one pipeline, in the order a person fixes them: who Shipgate is,
    /// each environment, the repository, the permissions, then GitHub.
    pub async fn verify(&self, spec: &PipelineSpec) -> Result<VerifyReport, EngineError> {
        let started_at = self.store.now_ms();
        let mut pass = Pass {
            engine: self,
            deadline: Instant::now() + Duration::from_secs(VERIFY_LIMIT_SECS),
            checks: Vec::new(),
            reads: BTreeMap::new(),
            facts: KitFacts::default(),
            incomplete: None,
        };
        let ecr_region = spec
            .build
            .ecr_region
            .clone()
            .or_else(|| spec.environments.first().map(|e| e.region.clone()))
            .unwrap_or_default();

        let identity = match pass
            .within(self.cloud.caller_identity(&ecr_region, None))
            .await
        {
            None => {
                pass.out_of_time("aws.identity", "sts:GetCallerIdentity");
                None
            }
            Some(Ok(identity)) => {
                pass.checks.push(Check::ok(
                    "aws.identity",
                    identity.arn.clone(),
                    format!(
                        "Shipgate calls AWS as {} (account {}).",
                        identity.arn, identity.account
                    ),
                ));
                pass.facts.account_id = Some(identity.account.clone());
                pass.facts.shipgate_principal_arn = policy_source_arn(&identity.arn).ok();
                Some(identity)
            }
            Some(Err(e)) => {
                pass.checks.push(Check::failed_call(
                    "aws.identity",
                    "sts:GetCallerIdentity",
                    &e.to_string(),
                ));
                None
            }
        };

        for env in &spec.environments {
            verify_environment(&mut pass, env).await;
        }
        verify_repository(&mut pass, spec, &ecr_region).await?;
        read_permission_checks(&mut pass);
        write_permission_checks(
            &mut pass,
            spec,
            identity.as_ref().map(|i| i.arn.as_str()),
            &ecr_region,
        )
        .await;

        let seen = self.store.webhook_seen(&spec.repository).await?;
        pass.checks.extend(webhook_checks(
            &spec.repository,
            &self.settings.poll.to_string(),
            &seen,
            |ms| format!("at {}", utc_text(ms)),
        ));
        verify_github(&mut pass, spec).await;

        let Pass {
            checks,
            facts,
            incomplete,
            ..
        } = pass;
        Ok(VerifyReport {
            checks,
            started_at,
            finished_at: self.store.now_ms(),
            incomplete,
            facts,
        })
    }
}

async fn verify_environment(pass: &mut Pass<'_>, env: &shipgate_pipeline::EnvironmentSpec) {
    let engine = pass.engine;
    let at = |check: &str| format!("env.{}.{check}", env.name);
    let target = ServiceTarget {
        region: env.region.clone(),
        role_arn: env.deploy.role_arn.clone(),
        cluster: env.cluster.clone(),
        service: env.service.clone(),
    };
    let subject = format!(
        "{}/{} ({})",
        short(&env.cluster),
        short(&env.service),
        env.region
    );
    let mut facts = EnvironmentFacts {
        name: env.name.clone(),
        ..Default::default()
    };

    if let Some(role) = &env.deploy.role_arn {
        match pass
            .within(engine.cloud.caller_identity(&env.region, Some(role)))
            .await
        {
            None => pass.out_of_time(at("assume_role"), role.clone()),
            Some(Ok(assumed)) => pass.checks.push(Check::ok(
                at("assume_role"),
                role.clone(),
                format!("Shipgate assumes {role} (as {}).", assumed.arn),
            )),
            Some(Err(e)) => pass.checks.push(Check::failed_call(
                at("assume_role"),
                role.clone(),
                &e.to_string(),
            )),
        }
    }

    match pass.within(engine.cloud.cluster_status(&target)).await {
        None => pass.out_of_time(at("cluster"), short(&env.cluster).to_owned()),
        Some(result) => {
            pass.read("ecs:DescribeClusters", &result);
            pass.checks.push(match result {
                Ok(Some(status)) if status == "ACTIVE" => Check::ok(
                    at("cluster"),
                    short(&env.cluster),
                    format!(
                        "The cluster {} is ACTIVE in {}.",
                        short(&env.cluster),
                        env.region
                    ),
                ),
                Ok(Some(status)) => Check::problem(
                    at("cluster"),
                    short(&env.cluster),
                    format!(
                        "The cluster {} is {status}, not ACTIVE.",
                        short(&env.cluster)
                    ),
                    "Deploy to an active cluster: check the environment's cluster.",
                ),
                Ok(None) => Check::problem(
                    at("cluster"),
                    short(&env.cluster),
                    format!(
                        "ECS has no cluster {} in {}{}.",
                        short(&env.cluster),
                        env.region,
                        env.deploy
                            .role_arn
                            .as_deref()
                            .map(|r| format!(" (as {r})"))
                            .unwrap_or_default()
                    ),
                    "Check the environment's cluster and region (Edit on the Pipelines page).",
                ),
                Err(e) => Check::failed_call(at("cluster"), short(&env.cluster), &e.to_string()),
            });
        }
    }

    let service: Option<ServiceFacts> = match pass.within(engine.cloud.service_facts(&target)).await
    {
        None => {
            pass.out_of_time(at("service"), subject.clone());
            None
        }
        Some(result) => {
            pass.read("ecs:DescribeServices", &result);
            match result {
                Ok(Some(service)) if service.status == "ACTIVE" => {
                    pass.checks.push(Check::ok(
                        at("service"),
                        subject.clone(),
                        format!(
                            "The service {} is ACTIVE, running {}.",
                            short(&env.service),
                            short(&service.task_definition)
                        ),
                    ));
                    Some(service)
                }
                Ok(Some(service)) => {
                    pass.checks.push(Check::problem(
                        at("service"),
                        subject.clone(),
                        format!(
                            "The service {} is {}, not ACTIVE.",
                            short(&env.service),
                            service.status
                        ),
                        "Recreate the service, or point the environment at an active one.",
                    ));
                    None
                }
                Ok(None) => {
                    pass.checks.push(Check::problem(
                        at("service"),
                        subject.clone(),
                        format!(
                            "The cluster {} has no service {} in {}.",
                            short(&env.cluster),
                            short(&env.service),
                            env.region
                        ),
                        "Create the service first (Shipgate updates services; it does not create them), or fix the environment's service name.",
                    ));
                    None
                }
                Err(e) => {
                    pass.checks.push(Check::failed_call(
                        at("service"),
                        subject.clone(),
                        &e.to_string(),
                    ));
                    None
                }
            }
        }
    };

    if let Some(service) = &service {
        if let Some(account) = account_of(&service.arn) {
            facts.account_id = Some(account.to_owned());
        }
        pass.checks.push(controller_check(
            &at("deployment_controller"),
            &subject,
            service.controller.as_deref(),
        ));
        pass.read("ecs:DescribeTaskDefinition", &service.task);
        match &service.task {
            Ok(task) => {
                pass.checks.push(container_check(
                    &at("container"),
                    &subject,
                    &env.container,
                    &task.containers,
                ));
                facts.task_family = task.family.clone();
                facts.task_role_arn = task.task_role_arn.clone();
                facts.execution_role_arn = task.execution_role_arn.clone();
            }
            Err(e) => pass.checks.push(Check::failed_call(
                at("container"),
                short(&service.task_definition),
                &e.to_string(),
            )),
        }
        pass.checks.push(circuit_breaker_check(
            &at("circuit_breaker"),
            &subject,
            env.deploy.circuit_breaker,
            service.circuit_breaker,
        ));
        for (check, role, what) in [
            ("task_role", facts.task_role_arn.clone(), "task role"),
            (
                "execution_role",
                facts.execution_role_arn.clone(),
                "execution role",
            ),
        ] {
            let Some(role) = role else {
                pass.checks.push(Check::ok(
                    at(check),
                    subject.clone(),
                    format!("The live task definition names no {what}."),
                ));
                continue;
            };
            match pass
                .within(engine.cloud.role_exists(&env.region, env.deploy.role_arn.as_deref(), &role))
                .await
            {
                None => pass.out_of_time(at(check), role.clone()),
                Some(Ok(true)) => pass.checks.push(Check::ok(at(check), role.clone(), format!("The {what} exists."))),
                Some(Ok(false)) => pass.checks.push(Check::problem(
                    at(check),
                    role.clone(),
                    format!("The {what} {role} does not exist: tasks from this task definition cannot start."),
                    format!("Create the role, or register a task definition that names an existing {what}."),
                )),
                Some(Err(e)) if e.problem == CloudProblem::AccessDenied => pass.checks.push(Check::not_checked(
                    at(check),
                    role.clone(),
                    format!("Shipgate may not read IAM roles, so it could not tell whether the {what} exists (iam:GetRole was refused)."),
                    "Allow iam:GetRole on the role so Verify can check it; Shipgate works without it.",
                )),
                Some(Err(e)) => pass.checks.push(Check::failed_call(at(check), role.clone(), &e.to_string())),
            }
        }
        if let Some(family) = facts.task_family.clone()
            && let Some(result) = pass
                .within(engine.cloud.try_list_task_definitions(&target, &family))
                .await
        {
            pass.read("ecs:ListTaskDefinitions", &result);
        }
    }
    if let Some(lists) = pass.within(engine.cloud.try_discovery_lists(&target)).await {
        for (action, result) in lists {
            pass.read(action, &result);
        }
    }
    if facts.account_id.is_none() {
        facts.account_id = env
            .deploy
            .role_arn
            .as_deref()
            .and_then(account_of)
            .map(str::to_owned);
    }
    pass.facts.environments.push(facts);
}

async fn verify_repository(
    pass: &mut Pass<'_>,
    spec: &PipelineSpec,
    region: &str,
) -> Result<(), EngineError> {
    let engine = pass.engine;
    let name = spec.ecr_repository.as_str();
    let repository = match pass
        .within(engine.cloud.repository_facts(region, name))
        .await
    {
        None => {
            pass.out_of_time("ecr.repository", name);
            return Ok(());
        }
        Some(result) => {
            pass.read("ecr:DescribeRepositories", &result);
            match result {
                Ok(Some(repository)) => {
                    pass.checks.push(Check::ok(
                        "ecr.repository",
                        name,
                        format!("The repository {} exists in {region}.", repository.uri),
                    ));
                    repository
                }
                Ok(None) => {
                    pass.checks.push(Check::problem(
                        "ecr.repository",
                        name,
                        format!("ECR has no repository {name} in {region}: CI has nowhere to push."),
                        format!("Create it: aws ecr create-repository --repository-name {name} --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true --region {region}"),
                    ));
                    for id in [
                        "ecr.tag_immutability",
                        "ecr.scan_on_push",
                        "ecr.latest_image",
                    ] {
                        pass.checks.push(Check::not_checked(
                            id,
                            name,
                            "The repository does not exist.",
                            "",
                        ));
                    }
                    return Ok(());
                }
                Err(e) => {
                    pass.checks
                        .push(Check::failed_call("ecr.repository", name, &e.to_string()));
                    return Ok(());
                }
            }
        }
    };
    pass.checks.push(if repository.immutable_tags {
        Check::ok("ecr.tag_immutability", name, "Tags are immutable: a tag always means the same image.")
    } else {
        Check::problem(
            "ecr.tag_immutability",
            name,
            "Tags are mutable: CI could push a different image under a tag a run already checked (recommended: immutable).",
            format!("aws ecr put-image-tag-mutability --repository-name {name} --image-tag-mutability IMMUTABLE --region {region}"),
        )
    });
    pass.checks.push(if repository.scan_on_push {
        Check::ok("ecr.scan_on_push", name, "Images are scanned on push.")
    } else {
        Check::problem(
            "ecr.scan_on_push",
            name,
            "Images are not scanned on push, so a scan gate has no findings to read (recommended: on).",
            format!("aws ecr put-image-scanning-configuration --repository-name {name} --image-scanning-configuration scanOnPush=true --region {region}"),
        )
    });
    let Some((run, sha, branch)) = engine.store.newest_run_commit(&spec.name).await? else {
        pass.checks.push(Check::not_checked(
            "ecr.latest_image",
            name,
            "No run yet, so there is no image to look for.",
            "Push to the branch; the run's Build stage then waits for the image.",
        ));
        pass.checks.push(Check::not_checked(
            "permissions.ecr:DescribeImageScanFindings",
            "ecr:DescribeImageScanFindings",
            "Not tried: there is no image to read a scan of yet.",
            "",
        ));
        return Ok(());
    };
    let tag = spec.build.tag_for(&sha, &branch);
    match pass
        .within(engine.cloud.find_image(region, name, &tag))
        .await
    {
        None => pass.out_of_time("ecr.latest_image", format!("{name}:{tag}")),
        Some(result) => {
            pass.read("ecr:DescribeImages", &result);
            match result {
                Ok(Some(image)) => {
                    pass.checks.push(Check::ok(
                        "ecr.latest_image",
                        format!("{name}:{tag}"),
                        format!("Run #{run}'s image is there ({}).", image.digest),
                    ));
                    if let Some(scan) = pass
                        .within(engine.cloud.scan_result(region, name, &image.digest))
                        .await
                    {
                        pass.read("ecr:DescribeImageScanFindings", &scan);
                    }
                }
                Ok(None) => pass.checks.push(Check::problem(
                    "ecr.latest_image",
                    format!("{name}:{tag}"),
                    format!("No image is tagged {tag}: CI has not pushed run #{run}'s image."),
                    "Check the workflow's run in GitHub Actions; the Set up page's workflow pushes exactly this tag.",
                )),
                Err(e) => pass.checks.push(Check::failed_call(
                    "ecr.latest_image",
                    format!("{name}:{tag}"),
                    &e.to_string(),
                )),
            }
        }
    }
    Ok(())
}

/// One check per read action the engine needs, from the calls this Verify made.
fn read_permission_checks(pass: &mut Pass<'_>) {
    for permission in ENGINE_PERMISSIONS
        .iter()
        .filter(|p| p.access == Access::Read && !p.optional)
    {
        let id = format!("permissions.{}", permission.action);
        if pass.checks.iter().any(|c| c.id == id) {
            continue;
        }
        let calls = pass
            .reads
            .get(permission.action)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let refused = calls.iter().find_map(|c| {
            c.as_ref()
                .err()
                .filter(|e| e.problem == CloudProblem::AccessDenied)
        });
        let unanswered = calls.iter().find_map(|c| {
            c.as_ref().err().filter(|e| {
                matches!(
                    e.problem,
                    CloudProblem::NoCredentials | CloudProblem::Unreachable | CloudProblem::Busy
                )
            })
        });
        pass.checks
            .push(match (refused, unanswered, calls.is_empty()) {
                (Some(e), _, _) => Check::failed_call(id, permission.action, &e.to_string()),
                (None, _, true) => Check::not_checked(
                    id,
                    permission.action,
                    "Not tried: an earlier check stopped before this call.",
                    "Fix the problems above, then run Verify again.",
                ),
                (None, Some(e), false) => Check::not_checked(
                    id,
                    permission.action,
                    format!("AWS did not answer, so the permission is unknown ({e})."),
                    "Fix the problems above, then run Verify again.",
                ),
                (None, None, false) => Check::ok(
                    id,
                    permission.action,
                    format!(
                        "AWS let Shipgate call {} ({} calls).",
                        permission.action,
                        calls.len()
                    ),
                ),
            });
    }
}

/// Who makes a write call, and on what: Shipgate itself, or an environment's role.
struct WriteGroup {
    via_role: Option<String>,
    region: String,
    resources: Vec<String>,
}

/// One check per write action, from IAM's simulator; `not_checked` wherever it could not
/// be asked.
async fn write_permission_checks(
    pass: &mut Pass<'_>,
    spec: &PipelineSpec,
    own_arn: Option<&str>,
    ecr_region: &str,
) {
    let engine = pass.engine;
    let own_principal = own_arn.map(policy_source_arn);
    let account = pass.facts.account_id.clone();
    for permission in ENGINE_PERMISSIONS
        .iter()
        .filter(|p| p.access == Access::Write)
    {
        let mut groups: Vec<WriteGroup> = Vec::new();
        for (env, facts) in spec.environments.iter().zip(&pass.facts.environments) {
            let env_account = facts.account_id.clone().or_else(|| account.clone());
            let Some(env_account) = env_account else {
                continue;
            };
            let region = &env.region;
            let partition = partition_of(region);
            let resources: Vec<String> = match permission.scope {
                PermissionScope::Service => vec![format!(
                    "arn:{partition}:ecs:{region}:{env_account}:service/{}/{}",
                    short(&env.cluster),
                    short(&env.service)
                )],
                PermissionScope::TaskDefinitionFamily => facts
                    .task_family
                    .iter()
                    .map(|f| {
                        format!("arn:{partition}:ecs:{region}:{env_account}:task-definition/{f}:1")
                    })
                    .collect(),
                PermissionScope::PassedRoles => facts
                    .task_role_arn
                    .iter()
                    .chain(&facts.execution_role_arn)
                    .cloned()
                    .collect(),
                PermissionScope::Any => vec!["*".to_owned()],
                PermissionScope::AssumedRoles
                | PermissionScope::Cluster
                | PermissionScope::Repository
                | PermissionScope::OwnPrincipal => Vec::new(),
            };
            if !resources.is_empty() {
                groups.push(WriteGroup {
                    via_role: env.deploy.role_arn.clone(),
                    region: region.clone(),
                    resources,
                });
            }
        }
        if permission.scope == PermissionScope::AssumedRoles {
            let roles: Vec<String> = spec
                .environments
                .iter()
                .filter_map(|e| e.deploy.role_arn.clone())
                .collect();
            if roles.is_empty() {
                continue;
            }
            groups = vec![WriteGroup {
                via_role: None,
                region: ecr_region.to_owned(),
                resources: roles,
            }];
        }
        // Any-resource actions are asked once per caller, not once per environment.
        groups.dedup_by(|a, b| a.via_role == b.via_role && a.resources == b.resources);

        let mut verdicts: Vec<(String, Decision)> = Vec::new();
        let mut unavailable: Option<String> = None;
        let mut principal_named = own_arn.unwrap_or("Shipgate's identity").to_owned();
        if groups.is_empty() {
            unavailable = Some(
                "Verify could not learn the resources to ask about (see the checks above)".into(),
            );
        }
        for group in &groups {
            let principal = match &group.via_role {
                Some(role) => Ok(role.clone()),
                None => match &own_principal {
                    Some(p) => p.clone(),
                    None => Err("Shipgate's own identity is unknown (see aws.identity)".into()),
                },
            };
            let principal = match principal {
                Ok(p) => p,
                Err(why) => {
                    unavailable.get_or_insert(why);
                    continue;
                }
            };
            principal_named = principal.clone();
            match pass
                .within(engine.cloud.simulate(
                    &group.region,
                    group.via_role.as_deref(),
                    &principal,
                    permission.action,
                    &group.resources,
                ))
                .await
            {
                None => {
                    unavailable.get_or_insert("Verify ran out of time".into());
                }
                Some(Ok(found)) => verdicts.extend(found),
                Some(Err(e)) => {
                    unavailable.get_or_insert(format!(
                        "IAM's simulator could not be asked as {principal} ({e})"
                    ));
                }
            }
        }
        let simulated: Result<&[(String, Decision)], &str> = match &unavailable {
            Some(why) => Err(why.as_str()),
            None => Ok(verdicts.as_slice()),
        };
        pass.checks.push(write_action_check(
            permission.action,
            &principal_named,
            simulated,
        ));
    }
}

async fn verify_github(pass: &mut Pass<'_>, spec: &PipelineSpec) {
    let engine = pass.engine;
    if !engine.outbound.has_github() {
        pass.checks.push(Check::not_checked(
            "github.token",
            spec.repository.clone(),
            "No GitHub token is configured, so Shipgate sets no deployments or statuses on GitHub.",
            "Set github.token (GITHUB_TOKEN) to a token that may write deployments in the repository.",
        ));
        return;
    }
    match pass
        .within(engine.outbound.repository_access(&spec.repository))
        .await
    {
        None => pass.out_of_time("github.token", spec.repository.clone()),
        Some(Ok(access)) => {
            pass.facts.github_repository_id = Some(access.repository_id);
            pass.facts.github_owner_id = Some(access.owner_id);
            pass.checks.push(if access.can_write {
                Check::ok(
                    "github.token",
                    spec.repository.clone(),
                    "The GitHub token can read the repository and write its deployments and statuses.",
                )
            } else {
                Check::problem(
                    "github.token",
                    spec.repository.clone(),
                    "The GitHub token can read the repository but not write to it, so deployments and statuses will be refused.",
                    "Give the token write access (classic: repo scope; fine-grained: Deployments and Commit statuses, read and write).",
                )
            });
        }
        Some(Err(SendError::Refused(why))) => pass.checks.push(Check::problem(
            "github.token",
            spec.repository.clone(),
            format!("The GitHub token cannot read {}: {why}.", spec.repository),
            "Give the token access to the repository, or check the pipeline's repository name.",
        )),
        Some(Err(e)) => {
            warn!(error = %e, "verify: GitHub did not answer");
            pass.checks.push(Check::not_checked(
                "github.token",
                spec.repository.clone(),
                format!("GitHub did not answer: {e}."),
                "Run Verify again later.",
            ));
        }
    }
}
