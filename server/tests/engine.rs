//! The deploy engine against moto (ECS rollouts simulated by `tests/peers/moto_ecs.py`):
//! each test pushes GitHub's own example delivery, lets CI report through a real
//! `workflow_run` payload, and drives the engine's tick until the run ends.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shipgate::clock::Clock;
use shipgate::config::GitHubApi;
use shipgate::engine::{Engine, EngineHandle, EngineSettings};
use shipgate::outbound::Outbound;
use shipgate::store::Store;
use shipgate_pipeline::read::RunDetail;
use shipgate_pipeline::{PipelineDraft, PipelineSpec, RunStatus, Span, StageKind, StageStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::aws::Moto;
use support::receivers::{FakeGitHub, Receiver};
use support::{ADMIN_TOKEN, TestApp, branch_push, examples, fetch_i64, settings};

const GITHUB_TOKEN: &str = "ghp_test-token-for-the-fake";

/// The commit GitHub's branch-push example points `master` at.
fn pushed_sha() -> String {
    branch_push()["head_commit"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The hello pipeline (staging auto, production manual), with optional extra settings.
fn pipeline(extra: Value, staging_extra: Value) -> PipelineSpec {
    let mut draft = json!({
        "name": "hello", "repository": "Codertocat/Hello-World", "branch": "master", "ecr_repository": "hello-world",
        "environments": [
            {"name": "staging", "cluster": "stg", "service": "hello", "container": "app", "region": "us-east-1", "promotion": "auto"},
            {"name": "production", "cluster": "prod", "service": "hello", "container": "app", "region": "us-east-1", "promotion": "manual"}
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        draft[k] = v.clone();
    }
    for (k, v) in staging_extra.as_object().unwrap() {
        draft["environments"][0][k] = v.clone();
    }
    serde_json::from_value::<PipelineDraft>(draft)
        .unwrap()
        .validate()
        .unwrap()
}

struct World {
    moto: Moto,
    app: TestApp,
    engine: Engine,
    store: Store,
}

impl World {
    async fn new(store: Store, pipeline: PipelineSpec) -> World {
        World::with_github(store, pipeline, None).await
    }

    /// A world whose engine tells GitHub (at `github`, a fake) about deploys.
    async fn with_github(
        store: Store,
        pipeline: PipelineSpec,
        github: Option<&FakeGitHub>,
    ) -> World {
        let api = github.map(|g| GitHubApi {
            token: secrecy::SecretString::from(GITHUB_TOKEN),
            api_url: g.url.clone(),
        });
        let moto = Moto::start().await;
        let mut s = settings();
        s.pipelines = vec![pipeline];
        let app = TestApp::with_settings(store.clone(), s).await;
        let engine = Engine::new(
            store.clone(),
            Arc::new(moto.cloud()),
            Arc::new(Outbound::new(api.as_ref()).unwrap()),
            EngineSettings {
                poll: Span::millis(20),
                max_poll: Span::millis(200),
                lease: Span::seconds(10),
                inventory: Span::seconds(60),
                reconcile: Span::minutes(5),
                owner: "test-engine".into(),
                public_url: "http://shipgate.test".into(),
            },
            EngineHandle::default(),
        );
        World {
            moto,
            app,
            engine,
            store,
        }
    }

    /// The ECR repository, and both environments' services live on their first task definition.
    async fn services(&self) {
        self.moto
            .ecr
            .create_repository()
            .repository_name("hello-world")
            .send()
            .await
            .expect("create repository");
        self.moto.create_service("stg", "hello", "app").await;
        self.moto.create_service("prod", "hello", "app").await;
    }

    /// GitHub's branch push example; returns the run it started.
    async fn push(&self) -> i64 {
        let reply = self.app.deliver("push", "push-1", &branch_push()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["run_ids"][0].as_i64().expect("a run")
    }

    /// GitHub's `workflow_run` example, about the pushed commit, with this conclusion.
    async fn ci(&self, delivery: &str, status: &str, conclusion: Option<&str>) {
        self.ci_named(delivery, "build", status, conclusion).await;
    }

    async fn ci_named(
        &self,
        delivery: &str,
        workflow: &str,
        status: &str,
        conclusion: Option<&str>,
    ) {
        self.ci_about(delivery, &pushed_sha(), workflow, status, conclusion)
            .await;
    }

    /// GitHub's `workflow_run` example, about commit `sha`.
    async fn ci_about(
        &self,
        delivery: &str,
        sha: &str,
        workflow: &str,
        status: &str,
        conclusion: Option<&str>,
    ) {
        let mut payload = examples("workflow_run")
            .into_iter()
            .find(|e| e["workflow_run"]["status"] == "completed")
            .expect("a completed workflow_run");
        payload["repository"] = branch_push()["repository"].clone();
        payload["workflow_run"]["head_sha"] = json!(sha);
        payload["workflow_run"]["head_branch"] = json!("master");
        payload["workflow_run"]["name"] = json!(workflow);
        payload["workflow_run"]["status"] = json!(status);
        payload["workflow_run"]["conclusion"] = json!(conclusion);
        payload["action"] = json!(if status == "completed" {
            "completed"
        } else {
            "in_progress"
        });
        let reply = self.app.deliver("workflow_run", delivery, &payload).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["outcome"], "ci_recorded");
    }

    /// Ticks the engine until `done` holds for the run, or fails after 30 s showing the run.
    async fn drive(&self, id: i64, done: impl Fn(&RunDetail) -> bool) -> RunDetail {
        let start = Instant::now();
        loop {
            self.engine.tick().await.expect("engine tick");
            let run = self.store.get_run(id).await.unwrap().unwrap();
            if done(&run) {
                return run;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "run {id} never got there: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn until_status(&self, id: i64, status: RunStatus) -> RunDetail {
        self.drive(id, |r| r.run.status == status).await
    }
}

fn stage<'a>(run: &'a RunDetail, environment: &str) -> &'a shipgate_pipeline::read::StageRecord {
    run.stages
        .iter()
        .find(|s| s.environment.as_deref() == Some(environment))
        .unwrap()
}

fn build_stage(run: &RunDetail) -> &shipgate_pipeline::read::StageRecord {
    run.stages
        .iter()
        .find(|s| s.kind == StageKind::Build)
        .unwrap()
}

on_both_backends! {
    async fn a_push_ships_to_staging_then_waits_for_approval_then_ships_the_same_digest(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        let old_staging = w.moto.ecs.describe_services().cluster("stg").services("hello").send().await.unwrap().services.unwrap()[0].task_definition.clone().unwrap();
        let id = w.push().await;
        w.ci("ci-started", "in_progress", None).await;
        w.engine.tick().await.unwrap();
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert_eq!(build_stage(&run).status, StageStatus::Running, "CI in progress starts the build stage");
        assert!(build_stage(&run).detail.contains("CI `build` is in_progress"), "{}", build_stage(&run).detail);

        let digest = w.moto.push_image("hello-world", &pushed_sha()).await;
        w.ci("ci-done", "completed", Some("success")).await;
        let run = w.until_status(id, RunStatus::AwaitingApproval).await;

        let build = run.build.as_ref().unwrap();
        assert_eq!(build.image_digest.as_deref(), Some(digest.as_str()));
        assert_eq!(build.ci_conclusion.as_deref(), Some("success"));
        assert_eq!(build.image_tag, pushed_sha(), "the default tag is the full commit SHA");
        assert_eq!(stage(&run, "staging").status, StageStatus::Succeeded);
        assert_eq!(stage(&run, "production").status, StageStatus::AwaitingApproval);
        let staging = &run.deploys[0];
        assert_eq!(staging.outcome.as_deref(), Some("succeeded"));
        assert!(staging.image.ends_with(&format!("hello-world@{digest}")), "pinned by digest: {}", staging.image);
        assert_eq!((staging.running, staging.desired), (Some(2), Some(2)));
        assert!(staging.events.iter().any(|e| e.message.contains("steady state") || e.message.contains("completed")), "{:?}", staging.events);
        assert!(staging.console_url().contains("clusters/stg/services/hello"));

        // Exactly one registration and one UpdateService so far, for staging.
        let registrations = w.moto.calls("RegisterTaskDefinition").await;
        let updates = w.moto.calls("UpdateService").await;
        assert_eq!(registrations.len(), 3, "two set-up registrations and one by the engine: {registrations:#?}");
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0]["body"]["cluster"], "stg");
        assert_eq!(updates[0]["body"]["taskDefinition"], json!(staging.task_definition.clone().unwrap()));
        assert_eq!(updates[0]["body"]["deploymentConfiguration"]["deploymentCircuitBreaker"], json!({"enable": true, "rollback": true}));

        // The rendered revision equals the live one except for the app container's image.
        let describe = |arn: String| {
            let ecs = w.moto.ecs.clone();
            async move { ecs.describe_task_definition().task_definition(arn).include(aws_sdk_ecs::types::TaskDefinitionField::Tags).send().await.unwrap() }
        };
        let old = describe(old_staging.clone()).await;
        let new = describe(staging.task_definition.clone().unwrap()).await;
        let (old_td, new_td) = (old.task_definition.clone().unwrap(), new.task_definition.clone().unwrap());
        let mut expected = old_td.clone();
        expected.container_definitions.as_mut().unwrap()[0].image = Some(staging.image.clone());
        let comparable = |mut td: aws_sdk_ecs::types::TaskDefinition| {
            td.task_definition_arn = None;
            td.revision = 0;
            td.registered_at = None;
            td.registered_by = None;
            td.status = None;
            td.requires_attributes = None;
            td.compatibilities = None;
            td
        };
        assert_eq!(comparable(new_td.clone()), comparable(expected), "only the image differs");
        assert!(new_td.revision > old_td.revision, "a new revision of the same family");
        let tags = new.tags.unwrap_or_default();
        assert!(tags.iter().any(|t| t.key.as_deref() == Some("shipgate:run") && t.value.as_deref() == Some(id.to_string().as_str())), "{tags:?}");

        // A rejection without a reason is refused; the approval deploys the same digest.
        let path = format!("/api/v1/runs/{id}/environments/production");
        let refused = w.app.api(Method::POST, &format!("{path}/reject"), Some(json!({})), Some(ADMIN_TOKEN)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
        let bad_token = w.app.api(Method::POST, &format!("{path}/approve"), None, Some("sgp_not-a-real-token")).await;
        assert_eq!(bad_token.status, StatusCode::UNAUTHORIZED);
        let unknown = w.app.api(Method::POST, &format!("/api/v1/runs/{id}/environments/qa/approve"), None, Some(ADMIN_TOKEN)).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.error().contains("no environment `qa`"), "{}", unknown.error());
        let approved = w.app.api(Method::POST, &format!("{path}/approve"), Some(json!({"comment": "ship it"})), Some(ADMIN_TOKEN)).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
        let twice = w.app.api(Method::POST, &format!("{path}/approve"), None, Some(ADMIN_TOKEN)).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text());

        let run = w.until_status(id, RunStatus::Succeeded).await;
        let production = &run.deploys[1];
        assert_eq!(production.image, staging.image, "production gets exactly the digest staging got");
        assert_eq!(production.outcome.as_deref(), Some("succeeded"));
        assert_eq!(run.decisions.len(), 1);
        assert_eq!(run.decisions[0].decision, "approved");
        assert_eq!(run.decisions[0].image_digest.as_deref(), Some(digest.as_str()));
        assert_eq!(run.decisions[0].comment, "ship it");
        let updates = w.moto.calls("UpdateService").await;
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[1]["body"]["cluster"], "prod");
        let audit = w.store.list_audit(Some(&format!("run:{id}/production")), 10).await.unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].action, "gate.approved");
    }
}

on_both_backends! {
    async fn a_rejection_with_a_reason_ends_the_run_without_deploying(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.until_status(id, RunStatus::AwaitingApproval).await;
        let reply = w
            .app
            .api(Method::POST, &format!("/api/v1/runs/{id}/environments/production/reject"), Some(json!({"comment": "not during the sale"})), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert_eq!(run.run.status, RunStatus::Rejected);
        assert!(stage(&run, "production").detail.contains("not during the sale"));
        w.engine.tick().await.unwrap();
        assert_eq!(w.moto.calls("UpdateService").await.len(), 1, "only staging was deployed");
    }
}

on_both_backends! {
    async fn a_failed_ci_run_fails_the_build_and_deploys_nothing(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.ci("ci-failed", "completed", Some("failure")).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let build = build_stage(&run);
        assert_eq!(build.status, StageStatus::Failed);
        assert!(build.detail.contains("CI `build` concluded failure"), "{}", build.detail);
        assert!(build.detail.contains("https://github.com/"), "links the CI run: {}", build.detail);
        assert_eq!(stage(&run, "staging").status, StageStatus::Skipped);
        assert!(w.moto.calls("UpdateService").await.is_empty());
    }
}

on_both_backends! {
    async fn an_image_that_never_appears_times_the_build_out(store: Store) {
        let w = World::new(store, pipeline(json!({"build_timeout": "1s"}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let build = build_stage(&run);
        assert_eq!(build.status, StageStatus::Failed);
        let expected = format!("no image `hello-world:{}` appeared in ECR (us-east-1) within 1s", pushed_sha());
        assert_eq!(build.detail, expected);
        assert!(!w.moto.calls("DescribeImages").await.is_empty(), "ECR was polled");
    }
}

on_both_backends! {
    async fn a_missing_ecr_repository_is_named_when_the_build_times_out(store: Store) {
        let w = World::new(store, pipeline(json!({"build_timeout": "1s"}), json!({}))).await;
        let id = w.push().await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let detail = &build_stage(&run).detail;
        assert!(
            detail.ends_with("within 1s (last error: RepositoryNotFoundException: ECR repository `hello-world` does not exist in us-east-1)"),
            "{detail}"
        );
    }
}

on_both_backends! {
    async fn the_scan_gate_blocks_an_image_with_high_findings(store: Store) {
        let w = World::new(store, pipeline(json!({"scan_gate": "high"}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.moto.scan_findings("hello-world", &pushed_sha(), json!({"HIGH": 2, "MEDIUM": 5, "LOW": 1})).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let build = build_stage(&run);
        assert_eq!(build.detail, "blocked by the scan gate (high or worse): 0 critical, 2 high, 5 medium, 1 low or informational");
        let counts = run.build.as_ref().unwrap().scan_counts.clone().unwrap();
        assert_eq!(counts.get("high"), Some(&2));
        assert!(w.moto.calls("UpdateService").await.is_empty(), "a blocked image is never deployed");
    }
}

on_both_backends! {
    async fn a_clean_enough_scan_lets_the_image_through_with_its_counts(store: Store) {
        let w = World::new(store, pipeline(json!({"scan_gate": "critical"}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.moto.scan_findings("hello-world", &pushed_sha(), json!({"HIGH": 1})).await;
        let run = w.until_status(id, RunStatus::AwaitingApproval).await;
        assert!(build_stage(&run).detail.ends_with("scan: 0 critical, 1 high, 0 medium"), "{}", build_stage(&run).detail);
    }
}

on_both_backends! {
    async fn a_failed_rollout_fails_the_deploy(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        w.moto.script_rollout("stg", "hello", "failed", 2).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let staging = stage(&run, "staging");
        assert_eq!(staging.status, StageStatus::Failed);
        assert!(staging.detail.contains("circuit breaker"), "{}", staging.detail);
        assert_eq!(run.deploys[0].outcome.as_deref(), Some("failed"));
        assert!(run.deploys[0].failed.unwrap_or(0) > 0, "{:?}", run.deploys[0]);
        assert_eq!(stage(&run, "production").status, StageStatus::Skipped);
    }
}

on_both_backends! {
    async fn a_circuit_breaker_rollback_is_reported_as_rolled_back_never_success(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        w.moto.script_rollout("stg", "hello", "rolled_back", 2).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::RolledBack).await;
        let staging = stage(&run, "staging");
        assert_eq!(staging.status, StageStatus::RolledBack);
        assert!(staging.detail.contains("rolled back to hello:1"), "{}", staging.detail);
        assert_eq!(run.deploys[0].outcome.as_deref(), Some("rolled_back"));
    }
}

on_both_backends! {
    async fn a_rollout_that_never_finishes_times_out(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({"deploy_timeout": "1s"}))).await;
        w.services().await;
        w.moto.script_rollout("stg", "hello", "stuck", 1).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        assert!(stage(&run, "staging").detail.starts_with("the deployment did not finish within 1s"), "{}", stage(&run, "staging").detail);
        assert_eq!(run.deploys[0].outcome.as_deref(), Some("timed_out"));
    }
}

on_both_backends! {
    async fn access_denied_is_shown_in_aws_words_and_fails_the_deploy(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        let message = "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:us-east-1:123456789012:service/stg/hello";
        w.moto.fault("UpdateService", "AccessDeniedException", message, 400, 1).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let detail = &stage(&run, "staging").detail;
        assert_eq!(detail, &format!("AccessDeniedException: ecs:UpdateService: {message}"));
        assert_eq!(run.deploys[0].error.as_deref(), Some(detail.as_str()));
    }
}

on_both_backends! {
    async fn a_missing_service_is_named(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({"service": "nope"}))).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        let detail = &stage(&run, "staging").detail;
        assert!(detail.starts_with("ServiceNotFoundException: service `nope` in cluster `stg`"), "{detail}");
    }
}

on_both_backends! {
    async fn throttling_is_retried_and_the_deploy_goes_on(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        w.moto.fault("RegisterTaskDefinition", "ThrottlingException", "Rate exceeded", 400, 2).await;
        w.moto.fault("UpdateService", "ServiceUnavailableException", "Service unavailable", 503, 1).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::AwaitingApproval).await;
        assert_eq!(stage(&run, "staging").status, StageStatus::Succeeded);
        let faulted = |calls: Vec<Value>| calls.iter().filter(|c| c["faulted"] == true).count();
        assert_eq!(faulted(w.moto.calls("RegisterTaskDefinition").await), 2);
        assert_eq!(faulted(w.moto.calls("UpdateService").await), 1);
        assert_eq!(w.moto.calls("UpdateService").await.iter().filter(|c| c["faulted"] == false).count(), 1, "one UpdateService went through");
    }
}

on_both_backends! {
    async fn deploys_to_one_service_go_one_at_a_time_in_order(store: Store) {
        let w = World::new(store, pipeline(json!({"image_tag": "{short_sha}"}), json!({}))).await;
        w.services().await;
        w.moto.push_image("hello-world", &pushed_sha()[..7]).await;
        let first = w.push().await;
        let reply = w.app.deliver("push", "push-2", &branch_push()).await;
        let second = reply.json()["run_ids"][0].as_i64().unwrap();
        // Hold whichever deploy goes first in its rollout, so the other must wait for the service.
        w.moto.script_rollout("stg", "hello", "completed", 6).await;
        let following = |r: &RunDetail| r.deploys.first().is_some_and(|d| d.step == "following");
        let (busy, other) = loop {
            w.engine.tick().await.unwrap();
            let a = w.store.get_run(first).await.unwrap().unwrap();
            let b = w.store.get_run(second).await.unwrap().unwrap();
            if following(&a) && !b.deploys.is_empty() {
                break (a, b);
            }
            if following(&b) && !a.deploys.is_empty() {
                break (b, a);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(other.deploys[0].step, "queued", "the other deploy waits for the service: {:?}", other.deploys[0]);
        assert_eq!(stage(&other, "staging").status, StageStatus::Pending);
        let busy = w.until_status(busy.run.id, RunStatus::AwaitingApproval).await;
        let other = w.until_status(other.run.id, RunStatus::AwaitingApproval).await;
        assert!(other.deploys[0].started_at >= busy.deploys[0].finished_at, "no overlap: {:?} / {:?}", busy.deploys[0], other.deploys[0]);
        assert_eq!(w.moto.calls("UpdateService").await.len(), 2);
    }
}

on_both_backends! {
    async fn only_the_configured_workflow_decides_the_build(store: Store) {
        let w = World::new(store, pipeline(json!({"ci_workflow": "build"}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.ci_named("lint-failed", "lint", "completed", Some("failure")).await;
        w.engine.tick().await.unwrap();
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert_eq!(build_stage(&run).status, StageStatus::Pending, "a failing `lint` workflow is not the build");
        w.ci_named("build-failed", "build", "completed", Some("failure")).await;
        let run = w.until_status(id, RunStatus::Failed).await;
        assert!(build_stage(&run).detail.starts_with("CI `build` concluded failure"), "{}", build_stage(&run).detail);
    }
}

on_both_backends! {
    async fn an_environments_deployment_settings_reach_update_service(store: Store) {
        let staging = json!({"minimum_healthy_percent": 50, "maximum_percent": 150, "strategy": "canary", "bake_time_minutes": 5, "circuit_breaker": false});
        let w = World::new(store, pipeline(json!({}), staging)).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.until_status(id, RunStatus::AwaitingApproval).await;
        let updates = w.moto.calls("UpdateService").await;
        let config = &updates[0]["body"]["deploymentConfiguration"];
        assert_eq!(config["minimumHealthyPercent"], 50, "{config}");
        assert_eq!(config["maximumPercent"], 150);
        assert_eq!(config["strategy"], "CANARY");
        assert_eq!(config["bakeTimeInMinutes"], 5);
        assert_eq!(config["deploymentCircuitBreaker"], json!({"enable": false, "rollback": false}));
    }
}

// ---- The inventory: what ECS runs and what ECR holds, for the services and images pages ----

on_both_backends! {
    async fn the_inventory_shows_what_ecs_runs_and_ecr_holds_including_changes_made_outside_shipgate(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        let digest = w.moto.push_image("hello-world", &pushed_sha()).await;
        let hotfix = w.moto.push_image("hello-world", "hotfix").await;
        w.until_status(id, RunStatus::AwaitingApproval).await;

        // Before the first refresh the pages say they have not looked yet.
        let services = w.app.get("/services").await.text();
        assert!(services.contains("Not looked up in ECS yet"), "{services}");
        let images = w.app.get("/pipelines/hello/images").await.text();
        assert!(images.contains("Not listed from ECR yet"), "{images}");

        // The deploy's end queued its service for a look of its own, ahead of the full refresh.
        assert_eq!(w.engine.recheck_services().await.unwrap(), 1);
        assert_eq!(w.engine.recheck_services().await.unwrap(), 0, "each ended deploy is looked at once");
        let records = w.store.service_records().await.unwrap();
        let staging = records.iter().find(|r| r.environment == "staging").unwrap();
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert_eq!(staging.live.as_ref().and_then(|l| l.task_definition.clone()), run.deploys[0].task_definition);
        assert!(records.iter().find(|r| r.environment == "production").unwrap().live.is_none(), "only the deployed service was looked at");

        // Someone deploys a hand-tagged image to production from outside Shipgate.
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world";
        let prod = w.moto.ecs.describe_services().cluster("prod").services("hello").send().await.unwrap().services.unwrap().remove(0);
        let current = w.moto.ecs.describe_task_definition().task_definition(prod.task_definition.unwrap()).send().await.unwrap().task_definition.unwrap();
        let mut containers = current.container_definitions.clone().unwrap();
        containers[0].image = Some(format!("{uri}:hotfix"));
        let outside = w
            .moto
            .ecs
            .register_task_definition()
            .family("hello")
            .set_container_definitions(Some(containers))
            .set_network_mode(current.network_mode.clone())
            .set_requires_compatibilities(current.requires_compatibilities.clone())
            .set_cpu(current.cpu.clone())
            .set_memory(current.memory.clone())
            .send()
            .await
            .unwrap()
            .task_definition
            .unwrap()
            .task_definition_arn
            .unwrap();
        w.moto.ecs.update_service().cluster("prod").service("hello").task_definition(&outside).send().await.unwrap();

        let report = w.engine.refresh_inventory().await.unwrap();
        assert_eq!(
            report,
            shipgate::engine::InventoryReport { services: 2, services_failed: 0, repositories: 1, repositories_failed: 0 }
        );

        let records = w.store.service_records().await.unwrap();
        let staging = records.iter().find(|r| r.environment == "staging").unwrap();
        let production = records.iter().find(|r| r.environment == "production").unwrap();
        let run = w.store.get_run(id).await.unwrap().unwrap();
        let live = staging.live.as_ref().expect("staging was looked up");
        assert_eq!(live.task_definition, run.deploys[0].task_definition, "staging runs the revision the run registered");
        assert_eq!(staging.live_image(), Some(format!("{uri}@{digest}").as_str()));
        assert_eq!(staging.live_deploy.as_ref().map(|d| d.run_id), Some(id));
        assert_eq!((live.running, live.desired), (Some(2), Some(2)));
        assert_eq!(live.images.get("log-router").map(String::as_str), Some("fluent-bit:3"), "every container's image is kept");
        let live = production.live.as_ref().unwrap();
        assert_eq!(live.task_definition.as_deref(), Some(outside.as_str()), "the change made outside Shipgate shows");
        assert_eq!(production.live_image(), Some(format!("{uri}:hotfix").as_str()));
        assert!(production.live_deploy.is_none(), "Shipgate did not deploy production");

        let images = w.store.pipeline_images("hello").await.unwrap().unwrap();
        let listing = images.listing.as_ref().expect("the repository was listed");
        assert_eq!((listing.image_count, listing.repository_uri.as_deref(), listing.error.as_deref()), (Some(2), Some(uri), None));
        let built = images.images.iter().find(|i| i.digest == digest).expect("the run's image is listed");
        let hand = images.images.iter().find(|i| i.digest == hotfix).expect("an image no build found is listed too");
        assert_eq!(built.live_in, vec!["staging".to_owned()]);
        assert_eq!(built.runs, vec![id]);
        assert_eq!(built.in_registry, Some(true));
        assert!(built.size.is_some() && built.pushed_at.is_some(), "{built:?}");
        assert_eq!(hand.tags, vec!["hotfix".to_owned()]);
        assert_eq!(hand.live_in, vec!["production".to_owned()], "a tag reference is matched through ECR's tags");
        assert!(hand.runs.is_empty());
        let production_image = images.environments.iter().find(|e| e.environment == "production").unwrap();
        assert_eq!(production_image.digest.as_deref(), Some(hotfix.as_str()));
        assert_eq!(production_image.run_id, None);
        assert!(production_image.observed_at.is_some());

        // The pages show the same facts.
        let services = w.app.get("/services").await.text();
        let production_card = services.split("data-environment=\"production\"").nth(1).unwrap();
        assert!(production_card.contains(&format!("title=\"{uri}:hotfix\"")) && production_card.contains("not deployed by Shipgate"), "{production_card}");
        assert!(services.contains("As ECS reported it at"), "{services}");
        let page = w.app.get("/pipelines/hello/images").await.text();
        assert!(page.contains(&format!("data-digest=\"{hotfix}\"")) && page.contains("(2 images)"), "{page}");

        // A look that AWS refuses is recorded beside the last good one.
        w.moto.fault("DescribeServices", "AccessDeniedException", "User is not authorized to perform: ecs:DescribeServices", 400, 2).await;
        w.moto.fault("DescribeImages", "AccessDeniedException", "User is not authorized to perform: ecr:DescribeImages", 400, 1).await;
        let report = w.engine.refresh_inventory().await.unwrap();
        assert_eq!((report.services_failed, report.repositories_failed), (2, 1));
        let records = w.store.service_records().await.unwrap();
        let live = records.iter().find(|r| r.environment == "production").unwrap().live.clone().unwrap();
        assert!(live.error.as_deref().unwrap().contains("AccessDeniedException: ecs:DescribeServices"), "{live:?}");
        assert_eq!(live.task_definition.as_deref(), Some(outside.as_str()), "the last good look is kept");
        let images = w.store.pipeline_images("hello").await.unwrap().unwrap();
        assert!(images.listing.unwrap().error.unwrap().contains("AccessDeniedException"));
        assert_eq!(images.images.len(), 2, "the last listing's images are kept");
        let services = w.app.get("/services").await.text();
        assert!(services.contains("AWS refused") && services.contains("failed; what is shown is from the last one that worked"), "{services}");

        // The refresh is a chore shared through the store: one turn per interval.
        assert!(w.engine.inventory_tick().await.unwrap().is_some(), "the first turn is due");
        assert!(w.engine.inventory_tick().await.unwrap().is_none(), "the next is an interval away");
    }
}

on_both_backends! {
    async fn a_cross_account_environment_is_deployed_through_its_role(store: Store) {
        let role = "arn:aws:iam::210987654321:role/shipgate-deployer";
        let w = World::new(store, pipeline(json!({}), json!({"role_arn": role}))).await;
        w.moto.ecr.create_repository().repository_name("hello-world").send().await.unwrap();
        // Staging lives only in the other account; production in Shipgate's own.
        let other = w.moto.assumed_ecs(role).await;
        w.moto.create_service_with(&other, "210987654321", "stg", "hello", "app").await;
        w.moto.create_service("prod", "hello", "app").await;
        let here = w.moto.ecs.describe_services().cluster("stg").services("hello").send().await;
        let code = here.err().and_then(|e| aws_sdk_ecs::error::ProvideErrorMetadata::code(&e).map(str::to_owned));
        assert_eq!(code.as_deref(), Some("ClusterNotFoundException"), "staging is not visible without the role");

        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let run = w.until_status(id, RunStatus::AwaitingApproval).await;
        assert_eq!(run.deploys[0].outcome.as_deref(), Some("succeeded"), "{:?}", run.deploys[0]);
        let live = other.describe_services().cluster("stg").services("hello").send().await.unwrap().services.unwrap().remove(0);
        assert_eq!(live.task_definition, run.deploys[0].task_definition, "the other account's service runs the new revision");
        assert!(live.task_definition.as_deref().unwrap().contains(":210987654321:"), "registered in the other account");

        let assumed = w.moto.control("GET", "/_shipgate/calls?service=sts&action=AssumeRole", None).await["calls"].as_array().cloned().unwrap();
        assert!(!assumed.is_empty() && assumed.iter().all(|c| c["body"]["RoleArn"] == role), "{assumed:#?}");
        let update = w.moto.calls("UpdateService").await;
        assert_eq!(update.len(), 1);
        assert_ne!(update[0]["accessKey"], "testing", "UpdateService was signed with the role's credentials, not the base ones");

        // The inventory reaches it through the role as well.
        let report = w.engine.refresh_inventory().await.unwrap();
        assert_eq!(report.services_failed, 0, "{report:?}");
        let records = w.store.service_records().await.unwrap();
        let staging = records.iter().find(|r| r.environment == "staging").unwrap();
        assert_eq!(staging.live.as_ref().unwrap().task_definition, run.deploys[0].task_definition);
    }
}

// ---- Gates: supersede, expiry, and freezes of auto-promotion ----

/// The hello pipeline with pipeline-wide settings and `production` (the gated environment) tuned.
fn gated(extra: Value, production_extra: Value) -> PipelineSpec {
    let mut draft = serde_json::to_value(PipelineDraft::from(&pipeline(extra, json!({})))).unwrap();
    for (k, v) in production_extra.as_object().unwrap() {
        draft["environments"][1][k] = v.clone();
    }
    serde_json::from_value::<PipelineDraft>(draft)
        .unwrap()
        .validate()
        .unwrap()
}

impl World {
    /// A new run of the example push, built and shipped to staging (by events, not by AWS),
    /// waiting at production's gate.
    async fn at_gate(&self, delivery: &str) -> i64 {
        let reply = self.app.deliver("push", delivery, &branch_push()).await;
        let id = reply.json()["run_ids"][0].as_i64().expect("a run");
        support::image_built(&self.store, id).await;
        for event in [
            shipgate_pipeline::RunEvent::BuildSucceeded,
            shipgate_pipeline::RunEvent::DeployStarted(0),
            shipgate_pipeline::RunEvent::DeploySucceeded(0),
        ] {
            self.store.apply_event(id, event, None).await.unwrap();
        }
        id
    }

    async fn status(&self, id: i64) -> RunStatus {
        self.store.get_run(id).await.unwrap().unwrap().run.status
    }
}

on_both_backends! {
    async fn a_newer_run_at_the_gate_supersedes_the_older_one_and_names_it(store: Store) {
        let w = World::new(store, gated(json!({}), json!({}))).await;
        let (older, newer) = (w.at_gate("sup-1").await, w.at_gate("sup-2").await);
        w.engine.tick().await.unwrap();
        assert_eq!(w.status(older).await, RunStatus::Superseded);
        assert_eq!(w.status(newer).await, RunStatus::AwaitingApproval);
        let run = w.store.get_run(older).await.unwrap().unwrap();
        assert_eq!(stage(&run, "production").status, StageStatus::Superseded);
        assert!(stage(&run, "production").detail.contains(&format!("superseded by run #{newer}")), "{}", stage(&run, "production").detail);

        let page = w.app.get(&format!("/runs/{older}")).await.text();
        assert!(page.contains(&format!("href=\"/runs/{newer}\"")), "the superseded run links the newer one");

        // Approving the superseded run is refused, naming what it became.
        let reply = w.app.api(Method::POST, &format!("/api/v1/runs/{older}/environments/production/approve"), Some(json!({})), Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert!(reply.error().contains("superseded"), "{}", reply.error());
    }
}

on_both_backends! {
    async fn with_queueing_every_waiting_run_stays(store: Store) {
        let w = World::new(store, gated(json!({"pending_runs": "queue"}), json!({}))).await;
        let (older, newer) = (w.at_gate("q-1").await, w.at_gate("q-2").await);
        w.engine.tick().await.unwrap();
        assert_eq!((w.status(older).await, w.status(newer).await), (RunStatus::AwaitingApproval, RunStatus::AwaitingApproval));
    }
}

on_both_backends! {
    async fn a_gate_nobody_decides_in_time_ends_the_run_as_expired(store: Store) {
        // Days pass on a manual clock, which the store and the engine both read: nothing is
        // backdated and nothing waits for real time.
        let clock = Clock::manual(shipgate::clock::wall_ms());
        // Queued, so that the newer run does not supersede the older one first.
        let w = World::new(store.with_clock(clock.clone()), gated(json!({"pending_runs": "queue"}), json!({"approval_expiry": "2d"}))).await;
        let stale = w.at_gate("exp-1").await;
        clock.advance(Duration::from_secs(86_400));
        let fresh = w.at_gate("exp-2").await;
        w.engine.tick().await.unwrap();
        assert_eq!(w.status(stale).await, RunStatus::AwaitingApproval, "a day in, nothing has expired");
        // Two days and a second after the first gate opened: only that one has expired.
        clock.advance(Duration::from_secs(86_401));
        w.engine.tick().await.unwrap();
        assert_eq!(w.status(stale).await, RunStatus::Expired, "expired, not failed");
        assert_eq!(w.status(fresh).await, RunStatus::AwaitingApproval);
        let run = w.store.get_run(stale).await.unwrap().unwrap();
        assert_eq!(stage(&run, "production").detail, "expired: nobody decided within 2d");
        // The fresh run sleeps until its own expiry, two days from when its gate opened, once
        // its brief is gathered (here its service does not exist, so after a few tries; the
        // clock jumps each retry's delay).
        let opened = stage(&w.store.get_run(fresh).await.unwrap().unwrap(), "staging").finished_at.unwrap();
        for tries in 0.. {
            let wake_at = fetch_i64(&w.store, &format!("SELECT wake_at FROM runs WHERE id = {fresh}")).await;
            if wake_at == opened + 2 * 86_400_000 {
                break;
            }
            assert!(wake_at < opened + 2 * 86_400_000, "never later than the expiry");
            assert!(tries < 50, "the run never went to sleep until its expiry");
            clock.advance(Duration::from_secs(1));
            w.engine.tick().await.unwrap();
        }
        assert_eq!(w.status(fresh).await, RunStatus::AwaitingApproval);
        let brief = &w.store.get_run(fresh).await.unwrap().unwrap().briefs[0];
        assert!(matches!(&brief.task_definition, shipgate_pipeline::brief::Gathered::Failed(e) if e.contains("ServiceNotFound") || e.contains("not found") || e.contains("MISSING")), "{:?}", brief.task_definition);
    }
}

on_both_backends! {
    async fn auto_promotion_waits_while_its_environment_is_frozen(store: Store) {
        let freeze = json!([{"name": "all year", "from": "2000-01-01", "until": "2100-01-01", "time_zone": "UTC"}]);
        let w = World::new(store, pipeline(json!({}), json!({"freeze": freeze}))).await;
        let reply = w.app.deliver("push", "frozen-1", &branch_push()).await;
        let id = reply.json()["run_ids"][0].as_i64().unwrap();
        support::image_built(&w.store, id).await;
        w.store.apply_event(id, shipgate_pipeline::RunEvent::BuildSucceeded, None).await.unwrap();
        w.engine.tick().await.unwrap();
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert_eq!(stage(&run, "staging").status, StageStatus::Pending, "staging is not started during the freeze");
        assert_eq!(stage(&run, "staging").detail, "waits for the deploy freeze “all year” to end at 2100-01-01T00:00:00Z", "the stage says why it waits");
        assert!(w.store.get_deploys(id).await.unwrap().is_empty(), "no deploy was queued");
        let wake_at = fetch_i64(&w.store, &format!("SELECT wake_at FROM runs WHERE id = {id}")).await;
        assert_eq!(wake_at, 4_102_444_800_000, "it looks again when the freeze ends (2100-01-01 UTC)");
    }
}

// ---- Notifications and GitHub deployment statuses ----

impl World {
    /// Runs the notification loop's pass until `done` holds, or fails after 20 s.
    async fn tell_until(&self, what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            self.engine.tell_tick().await.expect("tell tick");
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "never happened: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Pushes, builds and ships to staging, then approves production and ships it there.
    async fn ship_through_the_gate(&self) -> i64 {
        let id = self.push().await;
        self.moto.push_image("hello-world", &pushed_sha()).await;
        self.ci("ci-done", "completed", Some("success")).await;
        self.until_status(id, RunStatus::AwaitingApproval).await;
        let reply = self
            .app
            .api(
                Method::POST,
                &format!("/api/v1/runs/{id}/environments/production/approve"),
                Some(json!({"comment": "ship it"})),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        self.until_status(id, RunStatus::Succeeded).await;
        id
    }
}

fn notified(slack: &Receiver, json_hook: &Receiver) -> Value {
    json!({"notify": [
        {"name": "ops", "kind": "slack", "url": slack.url},
        {"name": "audit", "kind": "json", "url": json_hook.url, "events": ["approval_needed", "approved", "deploy_succeeded"]}
    ]})
}

on_both_backends! {
    async fn notifiers_and_github_hear_each_step_of_a_release_in_order(store: Store) {
        let (slack, hook, github) = (Receiver::start(&[]).await, Receiver::start(&[]).await, FakeGitHub::start().await);
        let w = World::with_github(store, pipeline(notified(&slack, &hook), json!({})), Some(&github)).await;
        w.services().await;
        let id = w.ship_through_the_gate().await;
        w.tell_until("every message delivered", || slack.received().len() >= 4 && github.statuses().len() >= 7).await;

        let texts = slack.texts();
        assert_eq!(texts.len(), 4, "{texts:#?}");
        for (text, what) in texts.iter().zip(["deployed to staging", "needs approval for production", "approved for production", "deployed to production"]) {
            assert!(text.starts_with(&format!("hello run #{id} {what}: ")), "{text}");
            assert!(text.contains(&format!("<http://shipgate.test/runs/{id}|Open run #{id}>")), "links to the run: {text}");
        }
        assert!(texts[2].contains("ship it"), "the approval's comment is told: {}", texts[2]);

        let bodies: Vec<Value> = hook.received().into_iter().map(|r| r.body).collect();
        let heard: Vec<(&str, &str)> = bodies.iter().map(|b| (b["happening"].as_str().unwrap(), b["environment"].as_str().unwrap())).collect();
        assert_eq!(heard, [("deploy_succeeded", "staging"), ("approval_needed", "production"), ("approved", "production"), ("deploy_succeeded", "production")]);
        assert_eq!(bodies[1]["run_id"], id);
        assert_eq!(bodies[1]["commit_sha"], pushed_sha());
        assert_eq!(bodies[1]["run_url"], format!("http://shipgate.test/runs/{id}"));
        // The approval request carries a signed one-time decision link to the run page.
        let link = bodies[1]["decision_url"].as_str().expect("a decision link");
        let token = link.strip_prefix(&format!("http://shipgate.test/runs/{id}?decide=")).expect("to the run page");
        let key = w.store.signing_key(shipgate::links::KEY_NAME).await.unwrap();
        let verified = shipgate::links::GateLink::verify(token, &key, shipgate::clock::wall_ms()).expect("genuine");
        assert_eq!((verified.run_id, verified.position), (id, 1));
        assert!(texts[1].contains(&format!("<{link}|Approve or reject>")), "{}", texts[1]);
        assert!(bodies[0]["decision_url"].is_null(), "only an approval request carries one");

        let deployments = github.deployments();
        assert_eq!(deployments.len(), 2, "one GitHub deployment per environment: {deployments:#?}");
        for (d, env) in deployments.iter().zip(["staging", "production"]) {
            assert_eq!((d["environment"].as_str(), d["ref"].as_str()), (Some(env), Some(pushed_sha().as_str())));
            assert_eq!(d["payload"]["shipgate_run"], id);
        }
        assert_eq!(deployments[1]["production_environment"], true);
        let created = github.received().into_iter().find(|r| r.path.ends_with("/deployments")).unwrap();
        assert_eq!(created.authorization.as_deref(), Some(format!("Bearer {GITHUB_TOKEN}").as_str()));
        assert_eq!((created.body["auto_merge"].clone(), created.body["required_contexts"].clone()), (json!(false), json!([])));
        let states = |env: &str| github.statuses().into_iter().filter(|(e, _)| e == env).map(|(_, s)| s).collect::<Vec<_>>();
        assert_eq!(states("staging"), ["queued", "in_progress", "success"]);
        assert_eq!(states("production"), ["pending", "queued", "in_progress", "success"]);

        // The run page lists each message as delivered.
        let run = w.store.get_run(id).await.unwrap().unwrap();
        assert!(run.messages.iter().all(|m| m.state() == "delivered"), "{:#?}", run.messages);
        assert_eq!(run.messages.len(), 4 + 4 + 7);
    }
}

on_both_backends! {
    async fn a_failing_receiver_is_retried_or_given_up_on_visibly_and_never_holds_up_the_deploy(store: Store) {
        // `ops` is down twice, then answers; `audit` refuses (404: the hook was deleted).
        let (slack, hook) = (Receiver::start(&[503, 503]).await, Receiver::start(&[404]).await);
        let w = World::new(store, pipeline(notified(&slack, &hook), json!({}))).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.ci("ci-done", "completed", Some("success")).await;
        // The deploy loop alone takes the run to the gate: nothing waits for the notifiers.
        w.until_status(id, RunStatus::AwaitingApproval).await;
        w.tell_until("ops got its messages after two failures", || slack.texts().len() >= 4).await;

        let run = w.store.get_run(id).await.unwrap().unwrap();
        let first_ops = run.messages.iter().find(|m| m.channel == "notifier:ops").unwrap();
        assert_eq!((first_ops.state(), first_ops.attempts), ("delivered", 3), "{first_ops:#?}");
        let audit = run.messages.iter().find(|m| m.channel == "notifier:audit").unwrap();
        assert_eq!(audit.state(), "failed", "a 404 is not retried: {audit:#?}");
        assert_eq!(audit.attempts, 1);
        assert!(audit.last_error.as_deref().unwrap().contains("404"), "{:?}", audit.last_error);
        // audit's next message (approval_needed) still went, after the one given up on.
        assert!(hook.received().iter().any(|r| r.body["happening"] == "approval_needed"));

        let page = w.app.get(&format!("/runs/{id}")).await.text();
        assert!(page.contains("data-state=\"failed\"") && page.contains("404"), "the run page shows the failure");
    }
}

on_both_backends! {
    async fn a_lost_github_answer_is_retried_without_a_second_deployment(store: Store) {
        let github = FakeGitHub::start().await;
        // The first create goes through but its answer is lost; a status call fails once.
        github.lose_create_answers(1);
        github.fail("status", &[500]);
        let w = World::with_github(store, pipeline(json!({}), json!({})), Some(&github)).await;
        w.services().await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.ci("ci-done", "completed", Some("success")).await;
        w.until_status(id, RunStatus::AwaitingApproval).await;
        w.tell_until("staging's statuses and production's pending", || github.statuses().len() >= 5).await;
        let envs: Vec<String> = github.deployments().iter().map(|d| d["environment"].as_str().unwrap().to_owned()).collect();
        assert_eq!(envs, ["staging", "production"], "the lost answer did not make a second staging deployment");
        let staging: Vec<String> = github.statuses().into_iter().filter(|(e, _)| e == "staging").map(|(_, s)| s).collect();
        assert_eq!(staging, ["queued", "queued", "in_progress", "success"], "the failed status was sent again, in order");
    }
}

// ---- Rollback ----

on_both_backends! {
    async fn a_rollback_redeploys_an_earlier_revision_without_a_build_even_during_a_freeze(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({}))).await;
        w.services().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        let first = w.push().await;
        w.ci("ci-1", "completed", Some("success")).await;
        w.until_status(first, RunStatus::AwaitingApproval).await;
        let reply = w.app.deliver("push", "push-2", &branch_push()).await;
        let second = reply.json()["run_ids"][0].as_i64().unwrap();
        w.ci("ci-2", "completed", Some("success")).await;
        w.drive(second, |r| stage(r, "staging").status == StageStatus::Succeeded).await;
        let first_revision = w.store.get_run(first).await.unwrap().unwrap().deploys[0].task_definition.clone().unwrap();
        let second_revision = w.store.get_run(second).await.unwrap().unwrap().deploys[0].task_definition.clone().unwrap();
        assert_ne!(first_revision, second_revision);

        // Staging is frozen now; a rollback goes out anyway.
        let mut frozen = serde_json::to_value(PipelineDraft::from(&pipeline(json!({}), json!({})))).unwrap();
        frozen["environments"][0]["freeze"] = json!([{"name": "all year", "from": "2000-01-01", "until": "2100-01-01", "time_zone": "UTC"}]);
        let put = w.app.api(Method::PUT, "/api/v1/pipelines/hello", Some(frozen), Some(ADMIN_TOKEN)).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.text());

        let path = format!("/api/v1/runs/{first}/environments/staging/rollback");
        let no_reason = w.app.api(Method::POST, &path, Some(json!({})), Some(ADMIN_TOKEN)).await;
        assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_reason.text());
        assert!(no_reason.error().contains("reason"), "{}", no_reason.error());
        let nowhere = w.app.api(Method::POST, &format!("/api/v1/runs/{first}/environments/production/rollback"), Some(json!({"reason": "x"})), Some(ADMIN_TOKEN)).await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "run {first} never deployed production: {}", nowhere.text());

        let registrations = w.moto.calls("RegisterTaskDefinition").await.len();
        let reply = w.app.api(Method::POST, &path, Some(json!({"reason": "the second build breaks logins"})), Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let rollback = reply.json()["id"].as_i64().unwrap();
        assert_eq!(reply.json()["kind"], "rollback");
        let run = w.until_status(rollback, RunStatus::Succeeded).await;
        assert_eq!(run.deploys[0].task_definition.as_deref(), Some(first_revision.as_str()));
        assert!(run.stages[0].detail.contains("the second build breaks logins"), "{}", run.stages[0].detail);
        let page = w.app.get(&format!("/runs/{rollback}")).await.text();
        assert!(page.contains("the second build breaks logins") && page.contains("Rollback: no approval or freeze holds it"), "the rollback's page says why and how it deploys");
        assert_eq!(w.moto.calls("RegisterTaskDefinition").await.len(), registrations, "nothing was registered: the earlier revision is reused");
        let updates = w.moto.calls("UpdateService").await;
        assert_eq!(updates.last().unwrap()["body"]["taskDefinition"], json!(first_revision));
        let audit = w.app.api(Method::GET, "/api/v1/audit?action=run.rollback", None, Some(ADMIN_TOKEN)).await.json();
        assert!(audit["items"][0]["detail"].as_str().unwrap().contains("the second build breaks logins"), "{audit}");

        // A rollback is not retried, and a failed deploy is nothing to roll back to.
        let retry = w.app.api(Method::POST, &format!("/api/v1/runs/{rollback}/retry"), None, Some(ADMIN_TOKEN)).await;
        assert_eq!(retry.status, StatusCode::CONFLICT);
    }
}

on_both_backends! {
    async fn a_failed_deploy_is_rolled_back_automatically_where_the_environment_asks(store: Store) {
        let w = World::new(store, pipeline(json!({}), json!({"auto_rollback": true, "circuit_breaker": false}))).await;
        w.services().await;
        let live = w.moto.ecs.describe_services().cluster("stg").services("hello").send().await.unwrap().services.unwrap()[0].task_definition.clone().unwrap();
        w.moto.script_rollout("stg", "hello", "failed", 1).await;
        let id = w.push().await;
        w.moto.push_image("hello-world", &pushed_sha()).await;
        w.ci("ci-done", "completed", Some("success")).await;
        let failed = w.until_status(id, RunStatus::Failed).await;
        assert_eq!(failed.deploys[0].outcome.as_deref(), Some("failed"));
        let rollbacks = w.store.list_runs(&Default::default()).await.unwrap().items.into_iter().filter(|r| r.kind == shipgate_pipeline::RunKind::Rollback).collect::<Vec<_>>();
        assert_eq!(rollbacks.len(), 1, "exactly one rollback run");
        let rollback = w.until_status(rollbacks[0].id, RunStatus::Succeeded).await;
        assert_eq!(rollback.deploys[0].task_definition.as_deref(), Some(live.as_str()), "back to what ran before");
        assert!(rollback.stages[0].detail.contains(&format!("after run #{id} failed")), "{}", rollback.stages[0].detail);
    }
}

// ---- What a release manager sees at the gate ----

impl World {
    /// GitHub's branch-push example, moved on to commit `sha`; returns the run it started.
    async fn push_commit(&self, delivery: &str, sha: &str) -> i64 {
        let mut payload = branch_push();
        payload["after"] = json!(sha);
        payload["head_commit"]["id"] = json!(sha);
        payload["commits"] = json!([payload["head_commit"].clone()]);
        let reply = self.app.deliver("push", delivery, &payload).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["run_ids"][0].as_i64().expect("a run")
    }

    /// A successful CI run for commit `sha`.
    async fn ci_passed(&self, delivery: &str, sha: &str) {
        self.ci_about(delivery, sha, "build", "completed", Some("success"))
            .await;
    }
}

on_both_backends! {
    async fn the_gate_shows_the_commits_since_the_live_version_and_the_task_definition_change(store: Store) {
        let github = FakeGitHub::start().await;
        let w = World::with_github(store, pipeline(json!({}), json!({})), Some(&github)).await;
        w.services().await;
        let first = w.ship_through_the_gate().await;
        let live_image = w.store.get_run(first).await.unwrap().unwrap().deploys[1].image.clone();

        let next = "7c2f6b4e1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c";
        github.set_commits(&[("1111111111111111111111111111111111111111", "Add the health check\n\nbody", "octocat"), (next, "Fix the login redirect", "hubot")]);
        let id = w.push_commit("push-next", next).await;
        let digest = w.moto.push_image("hello-world", next).await;
        w.moto.scan_findings("hello-world", next, json!({"HIGH": 1, "LOW": 3})).await;
        w.ci_passed("ci-next", next).await;
        let run = w.drive(id, |r| r.run.status == RunStatus::AwaitingApproval && !r.briefs.is_empty()).await;

        let brief = &run.briefs[0];
        assert_eq!(brief.environment, "production");
        assert_eq!(brief.live.as_ref().map(|l| (l.run_id, l.commit_sha.clone())), Some((first, pushed_sha())));
        let shipgate_pipeline::brief::Gathered::Found(commits) = &brief.commits else { panic!("commits: {:?}", brief.commits) };
        assert_eq!(commits.total, 2);
        let titles: Vec<(&str, &str)> = commits.commits.iter().map(|c| (c.title.as_str(), c.author.as_str())).collect();
        assert_eq!(titles, [("Add the health check", "octocat"), ("Fix the login redirect", "hubot")]);
        let compared = github.received().into_iter().find(|r| r.path.contains("/compare/")).unwrap();
        assert_eq!(compared.path, format!("/repos/Codertocat/Hello-World/compare/{}...{next}", pushed_sha()));

        let shipgate_pipeline::brief::Gathered::Found(diff) = &brief.task_definition else { panic!("task definition: {:?}", brief.task_definition) };
        assert_eq!(diff.changes.len(), 1, "only the image changes: {diff:#?}");
        assert_eq!(diff.changes[0].field, "app image");
        assert_eq!(diff.changes[0].live.as_deref(), Some(live_image.as_str()));
        assert!(diff.changes[0].candidate.as_deref().unwrap().ends_with(&format!("@{digest}")));

        let shipgate_pipeline::brief::Gathered::Found(scan) = &brief.scan else { panic!("the scan summary: {:?}", brief.scan) };
        assert_eq!((scan.get("high"), scan.get("low")), (Some(&1), Some(&3)), "read from ECR at the gate, though the pipeline has no scan gate");
        let page = w.app.get(&format!("/runs/{id}")).await.text();
        for shown in ["Fix the login redirect", "Add the health check", "app image", "Scan findings"] {
            assert!(page.contains(shown), "the run page shows `{shown}`");
        }
    }
}

on_both_backends! {
    async fn a_github_outage_shows_on_the_gate_and_the_commits_are_fetched_again(store: Store) {
        let github = FakeGitHub::start().await;
        let w = World::with_github(store, pipeline(json!({}), json!({})), Some(&github)).await;
        w.services().await;
        w.ship_through_the_gate().await;
        let next = "7c2f6b4e1d0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c";
        github.set_commits(&[(next, "Fix the login redirect", "hubot")]);
        github.fail("compare", &[502]);
        let id = w.push_commit("push-next", next).await;
        w.moto.push_image("hello-world", next).await;
        w.ci_passed("ci-next", next).await;
        let failed = w.drive(id, |r| !r.briefs.is_empty()).await;
        assert!(matches!(&failed.briefs[0].commits, shipgate_pipeline::brief::Gathered::Failed(e) if e.contains("502")), "{:?}", failed.briefs[0].commits);
        let page = w.app.get(&format!("/runs/{id}")).await.text();
        assert!(page.contains("The commits could not be listed"), "the page says the list is missing, not empty");
        let fixed = w.drive(id, |r| matches!(r.briefs[0].commits, shipgate_pipeline::brief::Gathered::Found(_))).await;
        assert_eq!(fixed.run.status, RunStatus::AwaitingApproval);
    }
}
