//! Verify (preflight) against the AWS stand-in: moto, with IAM's SimulatePrincipalPolicy
//! answered from moto's own IAM by `tests/peers/moto_ecs.py`. Shipgate runs as an IAM user
//! made in moto, whose policy is the one the Set up page generates, so these tests also
//! prove that policy grants what the engine writes.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shipgate::aws::Cloud;
use shipgate::config::GitHubApi;
use shipgate::engine::{Engine, EngineHandle, EngineSettings};
use shipgate::outbound::Outbound;
use shipgate::store::Store;
use shipgate_pipeline::setup_kit::{EnvironmentFacts, KitFacts, KitSettings, setup_kit};
use shipgate_pipeline::verify::{CheckStatus, VerifyReport};
use shipgate_pipeline::{PipelineDraft, PipelineSpec, Span};
use std::sync::Arc;
use support::aws::{DEFAULT_ACCOUNT, Moto, REGION};
use support::receivers::FakeGitHub;
use support::{ADMIN_TOKEN, TestApp, branch_push, examples, settings};

const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const SHIPGATE_USER: &str = "arn:aws:iam::123456789012:user/shipgate";

/// The pipeline GitHub's example pushes start: staging and production services in two
/// clusters, `overrides` laid over the staging environment.
fn pipeline(staging: Value) -> PipelineSpec {
    let mut draft = json!({
        "name": "hello", "repository": "Codertocat/Hello-World", "branch": "master", "ecr_repository": "hello-world",
        "environments": [
            {"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": REGION, "promotion": "auto"},
            {"name": "production", "cluster": "prod", "service": "api", "container": "app", "region": REGION, "promotion": "manual"}
        ]
    });
    for (k, v) in staging.as_object().unwrap() {
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
    spec: PipelineSpec,
    _github: FakeGitHub,
}

/// An IAM client on moto, as its root.
async fn iam(moto: &Moto) -> aws_sdk_iam::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(&moto.url)
        .credentials_provider(support::aws::credentials())
        .load()
        .await;
    aws_sdk_iam::Client::new(&config)
}

impl World {
    /// Moto with both services, the execution role, an immutable scanned repository, and
    /// Shipgate as the IAM user `shipgate` holding the setup kit's policy for `spec`.
    async fn new(store: Store, spec: PipelineSpec) -> World {
        let moto = Moto::start().await;
        moto.create_service("stg", "api", "app").await;
        moto.create_service("prod", "api", "app").await;
        let iam = iam(&moto).await;
        iam.create_role()
            .role_name("ecsTaskExecutionRole")
            .assume_role_policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}).to_string(),
            )
            .send()
            .await
            .expect("create role");
        moto.ecr
            .create_repository()
            .repository_name("hello-world")
            .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .send()
            .await
            .expect("create repository");

        // Shipgate's own identity: an IAM user with exactly the generated policy.
        let facts = KitFacts {
            account_id: Some(DEFAULT_ACCOUNT.into()),
            shipgate_principal_arn: Some(SHIPGATE_USER.into()),
            environments: ["staging", "production"]
                .iter()
                .map(|name| EnvironmentFacts {
                    name: (*name).into(),
                    task_family: Some("api".into()),
                    task_role_arn: None,
                    execution_role_arn: Some(EXECUTION_ROLE.into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let kit = setup_kit(&spec, &facts, &KitSettings::default());
        let policy = kit
            .files
            .iter()
            .find(|f| f.id == "shipgate_policy")
            .expect("the kit has Shipgate's policy");
        iam.create_user()
            .user_name("shipgate")
            .send()
            .await
            .unwrap();
        iam.put_user_policy()
            .user_name("shipgate")
            .policy_name("shipgate")
            .policy_document(&policy.content)
            .send()
            .await
            .expect("the generated policy is one IAM accepts");
        let key = iam
            .create_access_key()
            .user_name("shipgate")
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let cloud = Cloud::with_endpoint(
            &moto.url,
            aws_sdk_ecs::config::Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "shipgate-user",
            ),
        );

        let github = FakeGitHub::start().await;
        github.set_repositories(["Codertocat/Hello-World".to_owned()]);
        let mut s = settings();
        s.pipelines = vec![spec.clone()];
        let app = TestApp::with_settings(store.clone(), s).await;
        let engine = Engine::new(
            store,
            Arc::new(cloud),
            Arc::new(
                Outbound::new(Some(&GitHubApi {
                    token: secrecy::SecretString::from("ghp_verify-test"),
                    api_url: github.url.clone(),
                }))
                .unwrap(),
            ),
            EngineSettings {
                poll: Span::millis(20),
                owner: "verify-engine".into(),
                ..EngineSettings::default()
            },
            EngineHandle::default(),
        );
        World {
            moto,
            app,
            engine,
            spec,
            _github: github,
        }
    }

    /// GitHub's example push to the branch, and a completed `workflow_run` for it, as
    /// the webhook delivers them; and the image CI pushes for it.
    async fn webhook_and_image(&self) {
        let reply = self.app.deliver("push", "push-1", &branch_push()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let sha = branch_push()["head_commit"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut run = examples("workflow_run")
            .into_iter()
            .find(|e| e["workflow_run"]["status"] == "completed")
            .unwrap();
        run["repository"] = branch_push()["repository"].clone();
        run["workflow_run"]["head_sha"] = json!(sha);
        let reply = self.app.deliver("workflow_run", "ci-1", &run).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        self.moto.push_image("hello-world", &sha).await;
    }

    async fn verify(&self) -> VerifyReport {
        self.engine.verify(&self.spec).await.expect("verify")
    }
}

fn check<'a>(report: &'a VerifyReport, id: &str) -> &'a shipgate_pipeline::verify::Check {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", report.checks))
}

fn status(report: &VerifyReport, id: &str) -> CheckStatus {
    check(report, id).status
}

fn not_ok(report: &VerifyReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .map(|c| format!("{} {:?}: {} / {}", c.id, c.status, c.detail, c.fix))
        .collect()
}

const WRITES: [&str; 4] = [
    "permissions.ecs:RegisterTaskDefinition",
    "permissions.ecs:TagResource",
    "permissions.ecs:UpdateService",
    "permissions.iam:PassRole",
];

on_both_backends! {
    async fn a_pipeline_wired_as_the_setup_kit_says_passes_every_check(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        w.webhook_and_image().await;
        let report = w.verify().await;
        assert_eq!(not_ok(&report), Vec::<String>::new(), "every check passes");
        assert!(check(&report, "aws.identity").detail.contains("user/shipgate"));
        for id in ["env.staging.cluster", "env.staging.service", "env.staging.deployment_controller", "env.staging.container",
                   "env.staging.circuit_breaker", "env.staging.execution_role", "env.production.service", "ecr.repository",
                   "ecr.tag_immutability", "ecr.scan_on_push", "ecr.latest_image", "webhook.delivery", "webhook.signature",
                   "webhook.ci_events", "github.token", "permissions.ecs:DescribeServices", "permissions.ecr:DescribeImages"] {
            assert_eq!(status(&report, id), CheckStatus::Ok, "{id}");
        }
        for id in WRITES {
            let write = check(&report, id);
            assert_eq!(write.status, CheckStatus::Ok, "{id}: {}", write.detail);
            assert!(write.detail.contains("IAM allows"), "{id} was simulated: {}", write.detail);
        }
        let simulated = w.moto.control("GET", "/_shipgate/calls?service=iam&action=SimulatePrincipalPolicy", None).await;
        assert!(!simulated["calls"].as_array().unwrap().is_empty(), "write permissions were asked of IAM");
        assert_eq!(w.moto.calls("RegisterTaskDefinition").await.len(), 2, "only the set-up's registrations: Verify never calls a write action");
        assert!(w.moto.calls("UpdateService").await.is_empty(), "Verify never calls a write action");
        assert_eq!(report.facts.account_id.as_deref(), Some(DEFAULT_ACCOUNT));
        assert_eq!(report.facts.environments[0].task_family.as_deref(), Some("api"));
        assert_eq!(report.facts.environments[0].execution_role_arn.as_deref(), Some(EXECUTION_ROLE));
        assert!(report.facts.github_repository_id.is_some(), "the token's view of the repository fills the immutable-id form");
    }
}

on_both_backends! {
    async fn a_missing_service_is_named_with_its_cluster_and_region(store: Store) {
        let w = World::new(store, pipeline(json!({"service": "nope"}))).await;
        let report = w.verify().await;
        let service = check(&report, "env.staging.service");
        assert_eq!(service.status, CheckStatus::Problem);
        assert!(service.detail.contains("no service nope") && service.detail.contains(REGION), "{}", service.detail);
        assert!(!service.fix.is_empty());
        assert!(report.checks.iter().all(|c| c.id != "env.staging.container"), "nothing is said of a missing service's containers");
        assert_eq!(status(&report, "env.production.service"), CheckStatus::Ok);
    }
}

on_both_backends! {
    async fn a_wrong_container_name_lists_the_ones_the_task_definition_has(store: Store) {
        let w = World::new(store, pipeline(json!({"container": "web"}))).await;
        let report = w.verify().await;
        let container = check(&report, "env.staging.container");
        assert_eq!(container.status, CheckStatus::Problem);
        assert!(container.detail.contains("no container `web`") && container.detail.contains("`app`, `log-router`"), "{}", container.detail);
    }
}

on_both_backends! {
    async fn a_codedeploy_service_is_not_supported_yet(store: Store) {
        let w = World::new(store, pipeline(json!({"service": "legacy"}))).await;
        let live = w.moto.ecs.describe_services().cluster("stg").services("api").send().await.unwrap().services.unwrap()[0].task_definition.clone().unwrap();
        w.moto.ecs.create_service().cluster("stg").service_name("legacy").task_definition(live).desired_count(0)
            .launch_type(aws_sdk_ecs::types::LaunchType::Ec2)
            .deployment_controller(aws_sdk_ecs::types::DeploymentController::builder().r#type(aws_sdk_ecs::types::DeploymentControllerType::CodeDeploy).build().unwrap())
            .send().await.expect("create service");
        let report = w.verify().await;
        let controller = check(&report, "env.staging.deployment_controller");
        assert_eq!(controller.status, CheckStatus::Problem);
        assert!(controller.detail.contains("CODE_DEPLOY") && controller.detail.contains("does not support yet"), "{}", controller.detail);
    }
}

on_both_backends! {
    async fn a_missing_repository_leaves_its_settings_unchecked(store: Store) {
        let mut spec = pipeline(json!({}));
        spec.ecr_repository = "not-there".into();
        let w = World::new(store, spec).await;
        let report = w.verify().await;
        let repository = check(&report, "ecr.repository");
        assert_eq!(repository.status, CheckStatus::Problem);
        assert!(repository.detail.contains("no repository not-there"), "{}", repository.detail);
        assert!(repository.fix.contains("aws ecr create-repository --repository-name not-there"));
        for id in ["ecr.tag_immutability", "ecr.scan_on_push", "ecr.latest_image"] {
            assert_eq!(status(&report, id), CheckStatus::NotChecked, "{id}");
        }
        assert_eq!(status(&report, "permissions.ecr:DescribeRepositories"), CheckStatus::Ok, "a not-found answer still proves the permission");
    }
}

on_both_backends! {
    async fn access_denied_on_one_read_is_reported_in_awss_words(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        w.moto.fault(
            "DescribeTaskDefinition",
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: ecs:DescribeTaskDefinition on resource: * because no identity-based policy allows the ecs:DescribeTaskDefinition action",
            400,
            -1,
        ).await;
        let report = w.verify().await;
        let read = check(&report, "permissions.ecs:DescribeTaskDefinition");
        assert_eq!(read.status, CheckStatus::Problem);
        assert!(read.detail.contains("AWS refused arn:aws:iam::123456789012:user/shipgate the action ecs:DescribeTaskDefinition"), "{}", read.detail);
        assert!(read.fix.contains("Allow ecs:DescribeTaskDefinition"), "{}", read.fix);
        assert_eq!(status(&report, "env.staging.container"), CheckStatus::Problem);
        assert_eq!(status(&report, "permissions.ecs:DescribeServices"), CheckStatus::Ok, "only the faulted action is refused");
    }
}

on_both_backends! {
    async fn no_webhook_yet_says_pushes_will_not_start_runs(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        let report = w.verify().await;
        let delivery = check(&report, "webhook.delivery");
        assert_eq!(delivery.status, CheckStatus::Problem);
        assert!(delivery.detail.contains("No webhook delivery from Codertocat/Hello-World"), "{}", delivery.detail);
        assert_eq!(status(&report, "webhook.signature"), CheckStatus::NotChecked);
        assert_eq!(status(&report, "ecr.latest_image"), CheckStatus::NotChecked, "no run, no image to look for");
    }
}

on_both_backends! {
    async fn deliveries_with_a_wrong_secret_are_reported_until_one_verifies(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        let body = serde_json::to_vec(&branch_push()).unwrap();
        for i in 0..2 {
            let reply = w.app.deliver_raw("push", &format!("bad-{i}"), "application/json", body.clone(), Some("another secret")).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        // A stranger's payload naming a repository no pipeline links adds nothing.
        let mut stranger = branch_push();
        stranger["repository"]["full_name"] = json!("someone/else");
        let reply = w.app.deliver_raw("push", "bad-stranger", "application/json", serde_json::to_vec(&stranger).unwrap(), Some("another secret")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(support::fetch_i64(&w.app.store, "SELECT COUNT(*) FROM webhook_rejections").await, 1);
        let report = w.verify().await;
        let signature = check(&report, "webhook.signature");
        assert_eq!(signature.status, CheckStatus::Problem);
        assert!(signature.detail.starts_with("2 deliveries"), "{}", signature.detail);
        w.webhook_and_image().await;
        assert_eq!(status(&w.verify().await, "webhook.signature"), CheckStatus::Ok);
    }
}

on_both_backends! {
    async fn without_the_simulator_write_permissions_are_not_checked_never_ok(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        w.moto.control("POST", "/_shipgate/fault", Some(json!({
            "service": "iam", "action": "SimulatePrincipalPolicy", "code": "AccessDenied", "status": 403, "times": -1,
            "message": "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: iam:SimulatePrincipalPolicy on resource: arn:aws:iam::123456789012:user/shipgate"
        }))).await;
        let report = w.verify().await;
        for id in WRITES {
            let write = check(&report, id);
            assert_eq!(write.status, CheckStatus::NotChecked, "{id}: {}", write.detail);
            assert!(write.detail.contains("iam:SimulatePrincipalPolicy") || write.detail.contains("simulator"), "{id} says why: {}", write.detail);
            assert!(write.fix.contains("iam:SimulatePrincipalPolicy"), "{}", write.fix);
        }
    }
}

on_both_backends! {
    async fn a_write_the_policy_does_not_grant_is_a_problem(store: Store) {
        let w = World::new(store, pipeline(json!({}))).await;
        // The staging service is not in the policy's UpdateService statement any more.
        let iam = iam(&w.moto).await;
        let kit = setup_kit(&pipeline(json!({"service": "other"})), &KitFacts {
            account_id: Some(DEFAULT_ACCOUNT.into()),
            shipgate_principal_arn: Some(SHIPGATE_USER.into()),
            environments: ["staging", "production"].iter().map(|n| EnvironmentFacts {
                name: (*n).into(), task_family: Some("api".into()), task_role_arn: None, execution_role_arn: Some(EXECUTION_ROLE.into()), ..Default::default()
            }).collect(),
            ..Default::default()
        }, &KitSettings::default());
        let narrower = &kit.files.iter().find(|f| f.id == "shipgate_policy").unwrap().content;
        iam.put_user_policy().user_name("shipgate").policy_name("shipgate").policy_document(narrower).send().await.unwrap();
        let report = w.verify().await;
        let update = check(&report, "permissions.ecs:UpdateService");
        assert_eq!(update.status, CheckStatus::Problem, "{}", update.detail);
        assert!(update.detail.contains("service/stg/api"), "names the resource it may not update: {}", update.detail);
        assert!(!update.detail.contains("service/prod/api"), "production is still allowed: {}", update.detail);
    }
}

on_both_backends! {
    async fn the_api_runs_verify_in_the_engine_and_the_setup_kit_fills_in_what_it_learnt(store: Store) {
        let w = World::new(store.clone(), pipeline(json!({}))).await;
        let before = w.app.api(Method::GET, "/api/v1/pipelines/hello/setup", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(before.status, StatusCode::OK, "{}", before.text());
        let before = before.json();
        assert!(before["placeholders"].as_array().is_some_and(|p| !p.is_empty()), "nothing is known before Verify: {before}");
        assert_eq!(before["verification"], Value::Null);

        // The engine's loop runs the request the door records.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let World { app, engine, moto: _moto, .. } = w;
        let running = tokio::spawn(engine.run(stopped));
        let reply = app.api(Method::POST, "/api/v1/pipelines/hello/verify", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["pending"], false);
        let checks = body["checks"].as_array().unwrap();
        assert!(checks.iter().all(|c| ["ok", "problem", "not_checked"].contains(&c["status"].as_str().unwrap())));
        for field in ["id", "subject", "status", "detail", "fix"] {
            assert!(checks.iter().all(|c| c[field].is_string()), "every check has {field}");
        }
        assert!(checks.iter().any(|c| c["id"] == "webhook.delivery" && c["status"] == "problem"));
        assert_eq!(body["problems"], checks.iter().filter(|c| c["status"] == "problem").count());

        let after = app.api(Method::GET, "/api/v1/pipelines/hello/setup", None, Some(ADMIN_TOKEN)).await.json();
        let policy = after["files"].as_array().unwrap().iter().find(|f| f["id"] == "shipgate_policy").unwrap()["content"].as_str().unwrap().to_owned();
        assert!(policy.contains(EXECUTION_ROLE), "the execution role Verify read is in Shipgate's PassRole statement: {policy}");
        assert!(policy.contains("arn:aws:ecs:us-east-1:123456789012:service/stg/api"));
        assert_eq!(after["verification"]["checks"].as_array().unwrap().len(), checks.len());
        let audit = app.api(Method::GET, "/api/v1/audit?action=pipeline.verify", None, Some(ADMIN_TOKEN)).await.json();
        assert_eq!(audit["items"].as_array().unwrap().len(), 1, "the request is audited: {audit}");

        let missing = app.api(Method::POST, "/api/v1/pipelines/nope/verify", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
        stop.send(true).unwrap();
        running.await.unwrap();
        let badges = store.verification_problems().await.unwrap();
        assert!(badges["hello"].0 >= 1, "the Pipelines page's badge counts the problems");
    }
}

on_both_backends! {
    async fn one_engine_takes_each_request_and_a_dead_ones_claim_expires(store: Store) {
        store.put_pipeline(&pipeline(json!({})), "api", &support::test_actor()).await.unwrap();
        let at = store.request_verification("hello", &support::test_actor()).await.unwrap();
        let now = store.now_ms();
        let first = store.claim_verification("engine-a", now, now - 60_000).await.unwrap();
        assert_eq!(first.as_ref().map(|c| c.requested_at), Some(at));
        assert_eq!(store.claim_verification("engine-b", now, now - 60_000).await.unwrap(), None, "held by engine-a");
        let later = now + 120_000;
        let taken_over = store.claim_verification("engine-b", later, later - 60_000).await.unwrap();
        assert!(taken_over.is_some(), "a claim older than the limit belongs to a process that died");
        let pending = store.verification("hello").await.unwrap().unwrap();
        assert!(pending.pending && pending.report.is_none());
    }
}
