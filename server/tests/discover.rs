//! Discovery over REST (`GET /api/v1/discover/ecs|ecr?region=`), against moto extended by
//! `tests/peers/moto_ecs.py` (which pages ListClusters and ListServices as ECS does): a large
//! account read page by page, services and containers as ECS reports them, another account
//! read through its deploy role, an account that may not list anything, regions that are
//! missing or impossible, the admin role, and an AWS too slow to wait for. Also
//! `GET /api/v1/discover/github`: the token's repositories, read through the real octocrab
//! client from the GitHub fake (`support::receivers`), page by page.

mod support;

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentController, DeploymentControllerType, LaunchType,
};
use axum::http::Method;
use serde_json::Value;
use shipgate::aws::DiscoverLimits;
use shipgate::config::GitHubApi;
use shipgate::ops::{DISCOVERY_TTL, Discovery};
use shipgate::outbound::Outbound;
use shipgate::store::Store;
use shipgate_pipeline::access::Role;
use std::sync::Arc;
use std::time::Duration;
use support::aws::Moto;
use support::receivers::FakeGitHub;
use support::{ADMIN_TOKEN, TestApp};

/// What AWS says when an identity has no permission to list clusters.
const DENIED: &str = "User: arn:aws:iam::123456789012:user/shipgate-ci is not authorized to perform: ecs:ListClusters on resource: * because no identity-based policy allows the ecs:ListClusters action";

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite:{}", dir.path().join("shipgate.db").display());
    Store::connect(&url).await.expect("sqlite store")
}

/// An app whose discovery reads `cloud` with `limits`.
async fn app(store: Store, cloud: shipgate::aws::Cloud, limits: DiscoverLimits) -> TestApp {
    TestApp::with_state(store, support::settings(), |state| {
        state.discovery = Discovery::with_limits(Arc::new(cloud), limits, DISCOVERY_TTL);
    })
    .await
}

const GITHUB_TOKEN: &str = "ghp_discovery-test";

/// An app whose discovery also lists what the token sees on `github`.
async fn app_with_github(store: Store, github: &FakeGitHub) -> TestApp {
    let outbound = Outbound::new(Some(&GitHubApi {
        token: GITHUB_TOKEN.to_owned().into(),
        api_url: github.url.clone(),
    }))
    .expect("a GitHub client");
    TestApp::with_state(store, support::settings(), |state| {
        state.discovery = Discovery::with_limits(
            Arc::new(shipgate::aws::Cloud::new(Some("http://127.0.0.1:9".into()))),
            DiscoverLimits::default(),
            DISCOVERY_TTL,
        )
        .with_github(Arc::new(outbound));
    })
    .await
}

async fn discover(app: &TestApp, what: &str, query: &str) -> support::Reply {
    app.api(
        Method::GET,
        &format!("/api/v1/discover/{what}{query}"),
        None,
        Some(ADMIN_TOKEN),
    )
    .await
}

/// A one-container task definition (EC2 launch type: no network configuration needed).
async fn register(moto: &Moto, family: &str) -> String {
    moto.ecs
        .register_task_definition()
        .family(family)
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image("nginx:1")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register task definition")
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .expect("arn")
}

async fn plain_service(
    moto: &Moto,
    cluster: &str,
    name: &str,
    task_definition: &str,
    controller: DeploymentControllerType,
) {
    moto.ecs
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(0)
        .launch_type(LaunchType::Ec2)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(controller)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create service");
}

fn cluster<'a>(found: &'a Value, name: &str) -> &'a Value {
    found["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no cluster {name} in {found}"))
}

fn service<'a>(cluster: &'a Value, name: &str) -> &'a Value {
    cluster["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {cluster}"))
}

#[tokio::test]
async fn ecs_discovery_pages_through_more_clusters_than_one_list_holds_and_reports_each_service() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    for i in 0..120 {
        moto.ecs
            .create_cluster()
            .cluster_name(format!("team-{i:03}"))
            .send()
            .await
            .expect("create cluster");
    }
    let live = moto.create_service("stg", "api", "app").await;
    let legacy = register(&moto, "legacy").await;
    plain_service(
        &moto,
        "stg",
        "legacy",
        &legacy,
        DeploymentControllerType::CodeDeploy,
    )
    .await;

    let reply = discover(&app, "ecs", "?region=us-east-1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let found = reply.json();
    assert_eq!(found["clusters"].as_array().unwrap().len(), 121);
    let team = cluster(&found, "team-119");
    assert_eq!(
        team["arn"],
        "arn:aws:ecs:us-east-1:123456789012:cluster/team-119"
    );
    assert_eq!(team["services"], serde_json::json!([]));
    let stg = cluster(&found, "stg");
    let api = service(stg, "api");
    assert_eq!(api["task_definition"], live.as_str());
    assert_eq!(api["containers"], serde_json::json!(["app", "log-router"]));
    assert_eq!(api["launch_type"], "FARGATE");
    assert_eq!(api["deployment_controller"], "ECS");
    assert!(api["arn"].as_str().unwrap().ends_with("service/stg/api"));
    let legacy = service(stg, "legacy");
    assert_eq!(legacy["deployment_controller"], "CODE_DEPLOY");
    assert_eq!(legacy["containers"], serde_json::json!(["web"]));

    let lists = moto.calls("ListClusters").await;
    assert_eq!(lists.len(), 2, "121 clusters are two pages of 100");
    assert_eq!(lists[0]["body"]["maxResults"], 100);
    assert!(lists[1]["body"]["nextToken"].is_string());
    assert_eq!(
        moto.calls("DescribeClusters").await.len(),
        2,
        "described 100 at a time"
    );

    let again = discover(&app, "ecs", "?region=us-east-1").await;
    assert_eq!(again.json(), found);
    assert_eq!(
        moto.calls("ListClusters").await.len(),
        2,
        "a second look within the cache time asks AWS nothing"
    );
}

#[tokio::test]
async fn services_are_listed_page_by_page_described_ten_at_a_time_and_each_task_definition_read_once()
 {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let limits = DiscoverLimits {
        page_size: 5,
        ..DiscoverLimits::default()
    };
    let app = app(store(&dir).await, moto.cloud(), limits).await;
    moto.ecs
        .create_cluster()
        .cluster_name("busy")
        .send()
        .await
        .unwrap();
    let shared = register(&moto, "worker").await;
    for i in 0..12 {
        plain_service(
            &moto,
            "busy",
            &format!("worker-{i:02}"),
            &shared,
            DeploymentControllerType::Ecs,
        )
        .await;
    }
    let reply = discover(&app, "ecs", "?region=us-east-1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let busy = cluster(&reply.json(), "busy").clone();
    let names: Vec<&str> = busy["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12);
    assert_eq!(names[0], "worker-00");
    assert_eq!(names[11], "worker-11");
    assert_eq!(
        moto.calls("ListServices").await.len(),
        3,
        "12 services in pages of 5"
    );
    let described = moto.calls("DescribeServices").await;
    assert_eq!(described.len(), 2);
    assert_eq!(
        described[0]["body"]["services"].as_array().unwrap().len(),
        10
    );
    assert_eq!(moto.calls("DescribeTaskDefinition").await.len(), 1);
    assert_eq!(service(&busy, "worker-03")["launch_type"], "EC2");
}

#[tokio::test]
async fn ecr_discovery_lists_repositories_with_their_tag_and_scan_settings() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    moto.ecr
        .create_repository()
        .repository_name("payments/api")
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .image_scanning_configuration(
            aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    moto.ecr
        .create_repository()
        .repository_name("hello-world")
        .send()
        .await
        .unwrap();
    let reply = discover(&app, "ecr", "?region=us-east-1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        serde_json::json!({"repositories": [
            {"name": "hello-world", "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world",
             "tag_mutability": "MUTABLE", "scan_on_push": false},
            {"name": "payments/api", "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments/api",
             "tag_mutability": "IMMUTABLE", "scan_on_push": true},
        ]})
    );
}

#[tokio::test]
async fn an_account_that_may_not_list_gets_aws_own_words_as_a_502_never_an_sdk_dump() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    moto.fault("ListClusters", "AccessDeniedException", DENIED, 400, 1)
        .await;
    let reply = discover(&app, "ecs", "?region=us-east-1").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    let error = reply.error();
    assert!(error.contains("AccessDeniedException"), "{error}");
    assert!(error.contains("ecs:ListClusters"), "{error}");
    assert!(error.contains(DENIED), "AWS's message, whole: {error}");
    for dump in [
        "{ source:",
        "DispatchFailure",
        "ServiceError {",
        "ErrorMetadata",
    ] {
        assert!(!error.contains(dump), "{dump} in {error}");
    }
    assert_eq!(
        reply.json().as_object().unwrap().keys().collect::<Vec<_>>(),
        ["error"]
    );

    let ecr_denied = "User: arn:aws:iam::123456789012:user/shipgate-ci is not authorized to perform: ecr:DescribeRepositories on resource: arn:aws:ecr:us-east-1:123456789012:repository/* because no identity-based policy allows the ecr:DescribeRepositories action";
    moto.control(
        "POST",
        "/_shipgate/fault",
        Some(
            serde_json::json!({"action": "DescribeRepositories", "code": "AccessDeniedException",
            "message": ecr_denied, "status": 400, "times": 1, "service": "ecr"}),
        ),
    )
    .await;
    let reply = discover(&app, "ecr", "?region=us-east-1").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(reply.error().contains(ecr_denied), "{}", reply.error());

    let after = discover(&app, "ecs", "?region=us-east-1").await;
    assert_eq!(after.status, 200, "a failure is not kept: {}", after.text());
}

#[tokio::test]
async fn a_missing_or_impossible_region_is_refused_by_name_before_any_aws_call() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    for what in ["ecs", "ecr"] {
        for query in ["", "?region="] {
            let reply = discover(&app, what, query).await;
            assert_eq!(reply.status, 400, "{what}{query}: {}", reply.text());
            assert!(reply.error().contains("`region`"), "{}", reply.error());
        }
        let reply = discover(&app, what, "?region=mars").await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert_eq!(reply.json()["fields"][0]["field"], "region");
        assert!(reply.error().contains("`mars`"), "{}", reply.error());
        let reply = discover(&app, what, "?region=us-east-1&cluster=x").await;
        assert_eq!(reply.status, 400, "unknown parameters are named");
        assert!(reply.error().contains("cluster"), "{}", reply.error());
    }
    let calls = moto
        .control("GET", "/_shipgate/calls", None)
        .await
        .to_string();
    assert_eq!(calls, r#"{"calls":[]}"#);
}

#[tokio::test]
async fn discovery_needs_the_admin_role() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    for role in [Role::Viewer, Role::Deployer, Role::ReleaseManager] {
        let token = support::service_token(&app.store, &format!("t-{role}"), role).await;
        for what in ["ecs", "ecr", "github"] {
            let reply = app
                .api(
                    Method::GET,
                    &format!("/api/v1/discover/{what}?region=us-east-1"),
                    None,
                    Some(&token),
                )
                .await;
            assert_eq!(reply.status, 403, "{role} {what}: {}", reply.text());
            assert_eq!(reply.error(), "this needs the admin role");
        }
    }
    assert!(moto.calls("ListClusters").await.is_empty());
}

#[tokio::test]
async fn an_aws_that_does_not_answer_in_time_is_named_by_the_call_that_waited() {
    // An endpoint that takes connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let limits = DiscoverLimits {
        deadline: Duration::from_millis(600),
        ..DiscoverLimits::default()
    };
    let cloud = shipgate::aws::Cloud::with_endpoint(&url, support::aws::credentials());
    let app = app(store(&dir).await, cloud, limits).await;
    let started = std::time::Instant::now();
    let reply = discover(&app, "ecs", "?region=us-east-1").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at the deadline"
    );
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        reply.error().contains("ecs:ListClusters"),
        "{}",
        reply.error()
    );
    let reply = discover(&app, "ecr", "?region=us-east-1").await;
    assert_eq!(reply.status, 504, "{}", reply.text());
    assert!(
        reply.error().contains("ecr:DescribeRepositories"),
        "{}",
        reply.error()
    );
    held.abort();
}

#[tokio::test]
async fn ecs_is_read_as_an_environments_deploy_role_so_its_own_accounts_clusters_are_offered() {
    const ROLE: &str = "arn:aws:iam::222222222222:role/shipgate-deployer";
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    moto.create_service("stg", "api", "app").await;
    let other = moto.assumed_ecs(ROLE).await;
    moto.create_service_with(&other, "222222222222", "prod-eu", "api", "app")
        .await;

    let own = discover(&app, "ecs", "?region=us-east-1").await.json();
    let names = |found: &Value| -> Vec<String> {
        found["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&own), ["stg"], "Shipgate's own account");

    let reply = discover(
        &app,
        "ecs",
        &format!("?region=us-east-1&role_arn={}", urlencoding(ROLE)),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let theirs = reply.json();
    assert_eq!(names(&theirs), ["prod-eu"], "the role's account");
    assert!(
        cluster(&theirs, "prod-eu")["arn"]
            .as_str()
            .unwrap()
            .contains(":222222222222:"),
        "{theirs}"
    );
    assert_eq!(
        discover(&app, "ecs", "?region=us-east-1").await.json(),
        own,
        "each role's reading is kept apart"
    );

    let reply = discover(&app, "ecs", "?region=us-east-1&role_arn=deployer").await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.json()["fields"][0]["field"], "role_arn");
    assert!(
        reply.error().contains("is not an IAM role ARN"),
        "{}",
        reply.error()
    );
    let reply = discover(
        &app,
        "ecr",
        &format!("?region=us-east-1&role_arn={}", urlencoding(ROLE)),
    )
    .await;
    assert_eq!(
        reply.status,
        400,
        "ECR is read as Shipgate itself, as builds read it: {}",
        reply.text()
    );
}

fn urlencoding(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn the_github_tokens_repositories_are_listed_page_by_page_and_kept_briefly() {
    let github = FakeGitHub::start().await;
    github.set_repositories((0..230).map(|i| format!("octo-org/service-{i:03}")));
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_github(store(&dir).await, &github).await;

    let reply = discover(&app, "github", "").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let found = reply.json();
    let repositories = found["repositories"].as_array().unwrap();
    assert_eq!(repositories.len(), 230);
    assert_eq!(found["truncated"], false);
    assert_eq!(
        repositories[0],
        serde_json::json!({"full_name": "octo-org/service-000", "default_branch": "main", "private": false})
    );
    assert_eq!(repositories[229]["full_name"], "octo-org/service-229");
    assert_eq!(repositories[1]["private"], true);
    let asked: Vec<String> = github.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        asked,
        [
            "/user/repos?page=1&per_page=100",
            "/user/repos?page=2&per_page=100",
            "/user/repos?page=3&per_page=100"
        ]
    );
    assert!(
        github.received()[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.ends_with(GITHUB_TOKEN)),
        "the token is sent"
    );

    assert_eq!(discover(&app, "github", "").await.json(), found);
    assert_eq!(
        github.received().len(),
        3,
        "a second look within the TTL asks GitHub nothing"
    );
}

#[tokio::test]
async fn a_token_that_sees_very_many_repositories_lists_the_most_recently_pushed_and_says_so() {
    let github = FakeGitHub::start().await;
    github.set_repositories((0..650).map(|i| format!("big-org/r{i}")));
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_github(store(&dir).await, &github).await;
    let found = discover(&app, "github", "").await.json();
    assert_eq!(
        found["repositories"].as_array().unwrap().len(),
        100 * shipgate::outbound::REPOSITORY_PAGES as usize
    );
    assert_eq!(found["truncated"], true);
}

#[tokio::test]
async fn a_refused_github_token_is_a_502_in_githubs_words_and_is_not_kept() {
    let github = FakeGitHub::start().await;
    github.set_repositories(["octo-org/api".to_owned()]);
    github.fail("repos", &[401]);
    let dir = tempfile::tempdir().unwrap();
    let app = app_with_github(store(&dir).await, &github).await;
    let reply = discover(&app, "github", "").await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert!(
        reply
            .error()
            .starts_with("listing the GitHub token's repositories failed: GitHub answered 401"),
        "{}",
        reply.error()
    );
    assert!(!reply.text().contains("source:"), "{}", reply.text());
    let reply = discover(&app, "github", "").await;
    assert_eq!(
        reply.status,
        200,
        "the next look asks again: {}",
        reply.text()
    );
    assert_eq!(reply.json()["repositories"][0]["full_name"], "octo-org/api");
}

#[tokio::test]
async fn without_a_github_token_the_repository_list_says_what_to_configure() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().unwrap();
    let app = app(store(&dir).await, moto.cloud(), DiscoverLimits::default()).await;
    let reply = discover(&app, "github", "").await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    assert!(reply.error().contains("github_token"), "{}", reply.error());
}
