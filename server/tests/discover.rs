//! Discovery over REST (`GET /api/v1/discover/ecs|ecr?region=`), against moto extended by
//! `tests/peers/moto_ecs.py` (which pages ListClusters and ListServices as ECS does): a large
//! account read page by page, services and containers as ECS reports them, an account that
//! may not list anything, regions that are missing or impossible, the admin role, and an
//! AWS too slow to wait for.

mod support;

use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentController, DeploymentControllerType, LaunchType,
};
use axum::http::Method;
use serde_json::Value;
use shipgate::aws::DiscoverLimits;
use shipgate::ops::{DISCOVERY_TTL, Discovery};
use shipgate::store::Store;
use shipgate::store::access::NewToken;
use shipgate_pipeline::access::{Grant, Role};
use std::sync::Arc;
use std::time::Duration;
use support::aws::Moto;
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
    let audit = shipgate::store::AuditEntry {
        actor: "test".into(),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    };
    for role in [Role::Viewer, Role::Deployer, Role::ReleaseManager] {
        let (token, _) = app
            .store
            .create_token(
                &NewToken {
                    name: format!("t-{role}"),
                    kind: "service".into(),
                    owner: None,
                    grant: Grant::everywhere(role),
                    expires_at: None,
                },
                &audit,
            )
            .await
            .unwrap();
        for what in ["ecs", "ecr"] {
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
