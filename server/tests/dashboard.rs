//! The dashboard's server render: every page answers with its data in the HTML, so it
//! works with JavaScript off. (The browser tests in end2end/ cover hydration.)

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::*;

on_both_backends! {
    async fn pages_render_their_data_on_the_server(store: Store) {
        let app = TestApp::new(store).await;
        let push = branch_push();
        let run_id = app.deliver("push", "page-1", &push).await.json()["run_ids"][0].as_i64().unwrap();
        let mut tag = push.clone();
        tag["ref"] = json!("refs/tags/v1.0.0");
        app.deliver("push", "page-2", &tag).await;

        let runs = app.get("/").await;
        assert_eq!(runs.status, StatusCode::OK);
        let html = runs.text();
        assert!(html.contains(&format!("href=\"/runs/{run_id}\"")), "runs list links the run");
        assert!(html.contains("Initial commit") && html.contains("6113728"), "runs list shows the commit");

        let detail = app.get(&format!("/runs/{run_id}")).await.text();
        for needle in ["Source", "Build", "Deploy · staging", "Deploy · production", "stage-succeeded", "stage-pending",
                       "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246"] {
            assert!(detail.contains(needle), "run page lacks {needle}");
        }

        let filtered = app.get("/?status=succeeded").await.text();
        assert!(!filtered.contains(&format!("href=\"/runs/{run_id}\"")), "a filter hides other statuses");
        assert!(filtered.contains("No runs yet"));

        let pipelines = app.get("/pipelines").await.text();
        assert!(pipelines.contains("href=\"/pipelines/hello\"") && pipelines.contains("Codertocat/Hello-World"));
        let pipeline = app.get("/pipelines/hello").await.text();
        assert!(pipeline.contains("staging") && pipeline.contains("manual approval") && pipeline.contains(&format!("#{run_id}")));

        let deliveries = app.get("/deliveries").await.text();
        assert!(deliveries.contains("page-1") && deliveries.contains("page-2"));
        assert!(deliveries.contains("tag pushes start no run"));
    }
}

on_both_backends! {
    async fn missing_things_answer_404(store: Store) {
        let app = TestApp::new(store).await;
        for path in ["/runs/424242", "/pipelines/nope", "/no/such/page"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert!(app.get("/runs/424242").await.text().contains("Run not found"));
    }
}

on_both_backends! {
    async fn the_runs_list_pages_by_cursor(store: Store) {
        let app = TestApp::new(store).await;
        let mut push = branch_push();
        for i in 0..55 {
            push["after"] = json!(format!("{i:040x}"));
            app.deliver("push", &format!("p-{i}"), &push).await;
        }
        let html = app.get("/").await.text();
        assert_eq!(html.matches("class=\"run-row\"").count(), 50);
        let next = html.split("rel=\"next\" href=\"").nth(1).expect("an Older link").split('"').next().unwrap().replace("&amp;", "&");
        let older = app.get(&next).await.text();
        assert_eq!(older.matches("class=\"run-row\"").count(), 5);
        assert!(older.contains("← Newest"));
    }
}

// ---- The deploy engine's records, as the run, services and images pages show them ----

use shipgate::store::engine::{CiReport, DeployRow};
use shipgate::store::{AuditEntry, Store};
use shipgate_pipeline::RunEvent;
use shipgate_pipeline::gate::Verdict as Decision;
use shipgate_pipeline::inventory::{LiveService, RegistryImage, RegistryListing};
use shipgate_pipeline::rollout::{DeploymentView, RolloutState, ServiceEvent, ServiceView};

/// 2026-11-22 01:03:07 UTC: seeded times are fixed so the pages' text can be asserted.
const T0: i64 = 1_795_309_387_000;
const REPOSITORY_URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world";
const DIGEST_A: &str = "sha256:59bf1c3509f33515622619af21ed55bbe26d24913cedbca106468a5fb37a50c3";
const DIGEST_B: &str = "sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
const DIGEST_C: &str = "sha256:c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn td(family_revision: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family_revision}")
}

/// A run started by GitHub's push example, with the commit `sha`.
async fn push_run(app: &TestApp, delivery: &str, sha: &str) -> i64 {
    let mut push = branch_push();
    push["after"] = json!(sha);
    push["head_commit"]["id"] = json!(sha);
    let reply = app.deliver("push", delivery, &push).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["run_ids"][0].as_i64().expect("a run")
}

/// The run's build found `digest` in ECR, and the Build stage succeeded.
async fn built(store: &Store, run: i64, sha: &str, digest: &str, size: i64, pushed_at: i64) {
    store.start_build(run, sha, T0 + 3_600_000).await.unwrap();
    let report = CiReport {
        id: 0,
        repository_key: "codertocat/hello-world".into(),
        head_sha: sha.into(),
        name: "build".into(),
        status: "completed".into(),
        conclusion: Some("success".into()),
        url: format!("https://github.com/Codertocat/Hello-World/actions/runs/{run}0001"),
    };
    store.record_ci(run, &report).await.unwrap();
    store
        .record_image(
            run,
            REPOSITORY_URI,
            digest,
            Some(size),
            Some(pushed_at),
            None,
        )
        .await
        .unwrap();
    store
        .apply_event(run, RunEvent::BuildStarted, None)
        .await
        .unwrap();
    store
        .apply_event(run, RunEvent::BuildSucceeded, Some("image found"))
        .await
        .unwrap();
}

/// Queues and starts run `run`'s deploy to environment `position`, as far as `following`
/// deployment `deployment` of revision `new_td` (replacing `old_td`).
async fn deploying(
    store: &Store,
    run: i64,
    position: i64,
    digest: &str,
    queued_at: i64,
    (old_td, new_td): (&str, &str),
    deployment: &str,
) -> DeployRow {
    let target = &support::hello_world_pipeline().environments[position as usize];
    let mut row = DeployRow::queued(
        run,
        position,
        target,
        format!("{REPOSITORY_URI}@{digest}"),
        queued_at,
    );
    store.queue_deploy(&row).await.unwrap();
    exec(
        store,
        &format!(
            "UPDATE deploys SET step = 'following', started_at = {}, previous_task_definition = '{}', task_definition = '{}', deployment_id = '{deployment}'
             WHERE run_id = {run} AND position = {position}",
            queued_at + 500,
            td(old_td),
            td(new_td)
        ),
    )
    .await;
    store
        .apply_event(
            run,
            RunEvent::DeployStarted(position as usize),
            Some("deploying"),
        )
        .await
        .unwrap();
    row.step = shipgate::store::engine::DeployStep::Following;
    row.previous_task_definition = Some(td(old_td));
    row.task_definition = Some(td(new_td));
    row.deployment_id = Some(deployment.into());
    row
}

/// What one DescribeServices showed of our deployment.
fn seen(
    row: &DeployRow,
    running: i32,
    desired: i32,
    pending: i32,
    failed: i32,
    events: &[(i64, &str)],
) -> ServiceView {
    let ours = DeploymentView {
        id: row.deployment_id.clone().unwrap(),
        status: "PRIMARY".into(),
        rollout_state: Some(RolloutState::InProgress),
        rollout_reason: None,
        task_definition: row.task_definition.clone().unwrap(),
        desired,
        running,
        pending,
        failed,
    };
    ServiceView {
        arn: format!(
            "arn:aws:ecs:us-east-1:123456789012:service/{}/hello",
            row.cluster
        ),
        status: "ACTIVE".into(),
        task_definition: row.task_definition.clone().unwrap(),
        desired,
        running,
        pending,
        deployments: vec![ours],
        events: events
            .iter()
            .map(|(at, message)| ServiceEvent {
                at: *at,
                message: (*message).into(),
            })
            .collect(),
    }
}

fn alice() -> AuditEntry {
    AuditEntry {
        actor: "user:alice@example.com".into(),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    }
}

/// The stretch of `html` from the first `start` to the next `end` after it.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in the page"));
    let rest = &html[from..];
    &rest[..rest[start.len()..]
        .find(end)
        .map_or(rest.len(), |i| i + start.len())]
}

/// One stage card of a run page's timeline, by the name it shows.
fn stage_card<'a>(html: &'a str, name: &str) -> &'a str {
    let timeline = section(html, "class=\"timeline\"", "</main>");
    section(timeline, &format!(">{name}</span>"), "data-stage=")
}

on_both_backends! {
    async fn the_run_page_shows_the_engines_facts(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let sha = "a".repeat(40);
        let run = push_run(&app, "facts-1", &sha).await;
        built(&store, run, &sha, DIGEST_A, 31_457_280, T0).await;
        store.record_scan(run, "complete", Some(r#"{"critical":0,"high":2,"medium":5,"low":1}"#)).await.unwrap();
        store.note_build_check(run, Some("ThrottlingException: ecr:DescribeImageScanFindings: Rate exceeded")).await.unwrap();

        let staging = deploying(&store, run, 0, DIGEST_A, T0 + 1_000, ("hello:6", "hello:7"), "ecs-svc/1234567890123456789").await;
        let events = [(T0 + 9_000, "(service hello) has reached a steady state."), (T0 + 4_000, "(service hello) has started 3 tasks: (task 0f3e).")];
        store.record_rollout(&staging, &seen(&staging, 3, 3, 0, 0, &events), None).await.unwrap();
        store.finish_deploy(&staging, RunEvent::DeploySucceeded(0), "succeeded", "hello:7 running 3/3 on stg/hello", None, None).await.unwrap();

        // Before the gate opens, the page says which digest an approval would ship.
        let waiting = app.get(&format!("/runs/{run}")).await.text();
        assert!(stage_card(&waiting, "Deploy · production").contains("An approval deploys"), "the gate names the digest");

        decide(&store, run, "production", Decision::Approve, "ship it", &alice()).await.unwrap();
        let production = deploying(&store, run, 1, DIGEST_A, T0 + 20_000, ("hello:3", "hello:4"), "ecs-svc/9876543210987654321").await;
        let failure = "deployment ecs-svc/9876543210987654321 failed: tasks failed to start. ECS rolled back to hello:3";
        store
            .record_rollout(&production, &seen(&production, 1, 2, 0, 2, &[(T0 + 30_000, "(service hello) deployment ecs-svc/9876543210987654321 deployment failed: tasks failed to start.")]), None)
            .await
            .unwrap();
        store.finish_deploy(&production, RunEvent::DeployRolledBack(1), "rolled_back", failure, Some(failure), None).await.unwrap();

        let reply = app.get(&format!("/runs/{run}")).await;
        assert_eq!(reply.status, StatusCode::OK);
        let html = reply.text();
        let build = stage_card(&html, "Build");
        for needle in [
            "href=\"https://github.com/Codertocat/Hello-World/actions/runs/",
            "success",
            &format!("title=\"{DIGEST_A}\""),
            "sha256:59bf1c3509f3…",
            &sha,
            "30.0 MiB",
            "2026-11-22 01:03:07 UTC",
            "0 critical", "2 high", "5 medium", "1 low",
            "Last check reported:",
            "ThrottlingException: ecr:DescribeImageScanFindings: Rate exceeded",
        ] {
            assert!(build.contains(needle), "the Build stage lacks {needle}: {build}");
        }

        let staging_card = stage_card(&html, "Deploy · staging");
        for needle in [
            "stg/hello", "us-east-1",
            &format!("title=\"{REPOSITORY_URI}@{DIGEST_A}\""),
            ">hello:6<", ">hello:7<",
            "title=\"ecs-svc/1234567890123456789\"",
            "3/3 running",
            "(service hello) has reached a steady state.",
            "01:03:16",
            "badge-succeeded",
            "href=\"https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/stg/services/hello/deployments?region=us-east-1\"",
            "Open in ECS console",
        ] {
            assert!(staging_card.contains(needle), "the staging stage lacks {needle}: {staging_card}");
        }
        assert!(!staging_card.contains("failed to start"), "production's events stay on production's card");

        let production_card = stage_card(&html, "Deploy · production");
        for needle in [
            "prod/hello", ">hello:4<", "1/2 running", "2 failed", "badge-rolled_back",
            "ECS rolled the service back to its previous task definition",
            failure,
            "deployment failed: tasks failed to start.",
            "clusters/prod/services/hello",
            // The gate decision: who, what, the comment, and the digest it was about.
            "alice@example.com", "badge-approved", "ship it", &format!("title=\"{DIGEST_A}\""),
        ] {
            assert!(production_card.contains(needle), "the production stage lacks {needle}: {production_card}");
        }
        assert_eq!(production_card.matches(failure).count(), 1, "the error is shown once, not also as the stage detail");
        assert!(!production_card.contains("An approval deploys"), "the gate has been passed");
    }
}

on_both_backends! {
    async fn services_and_images_show_what_shipgate_deployed_where(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let (sha_a, sha_b) = ("a".repeat(40), "b".repeat(40));

        // Run A: staging succeeded on hello:7, then production approved and still rolling out.
        let a = push_run(&app, "svc-a", &sha_a).await;
        built(&store, a, &sha_a, DIGEST_A, 31_457_280, T0).await;
        let staging_a = deploying(&store, a, 0, DIGEST_A, T0 + 1_000, ("hello:6", "hello:7"), "ecs-svc/1111").await;
        store.record_rollout(&staging_a, &seen(&staging_a, 2, 2, 0, 0, &[]), None).await.unwrap();
        store.finish_deploy(&staging_a, RunEvent::DeploySucceeded(0), "succeeded", "ok", None, None).await.unwrap();
        decide(&store, a, "production", Decision::Approve, "", &alice()).await.unwrap();
        let production_a = deploying(&store, a, 1, DIGEST_A, T0 + 3_000, ("hello:3", "hello:4"), "ecs-svc/2222").await;
        store.record_rollout(&production_a, &seen(&production_a, 1, 4, 3, 0, &[]), None).await.unwrap();

        // Run B, newer: a different image whose staging rollout failed.
        let b = push_run(&app, "svc-b", &sha_b).await;
        built(&store, b, &sha_b, DIGEST_B, 2_811_478, T0 + 4_000).await;
        let staging_b = deploying(&store, b, 0, DIGEST_B, T0 + 5_000, ("hello:7", "hello:8"), "ecs-svc/3333").await;
        store.record_rollout(&staging_b, &seen(&staging_b, 0, 2, 0, 2, &[]), None).await.unwrap();
        store.finish_deploy(&staging_b, RunEvent::DeployFailed(0), "failed", "tasks failed to start", Some("tasks failed to start"), None).await.unwrap();

        let reply = app.get("/services").await;
        assert_eq!(reply.status, StatusCode::OK);
        let html = reply.text();
        assert!(html.contains("href=\"/services\"") && html.contains("href=\"/images\""), "the nav links the new pages");
        let staging = section(&html, "data-environment=\"staging\"", "</article>");
        // What runs: the last *successful* deploy (run A), not the latest one (run B, failed).
        let current = section(staging, "class=\"current-image\"", "</dd>");
        assert!(current.contains(&format!("title=\"{REPOSITORY_URI}@{DIGEST_A}\"")) && current.contains(&format!("href=\"/runs/{a}\"")), "{current}");
        assert!(!current.contains(DIGEST_B), "a failed deploy does not change what runs: {current}");
        // Not looked up in ECS yet: no live facts are made up from Shipgate's records.
        assert!(staging.contains("Not looked up in ECS yet"), "{staging}");
        assert!(section(staging, "class=\"live-task-definition\"", "</dd>").contains("—"), "{staging}");
        assert!(staging.contains("stg/hello") && staging.contains("clusters/stg/services/hello"));
        // History, newest first: B failed, then A succeeded, each with its digest.
        let row_b = section(staging, &format!("data-run-id=\"{b}\""), "</tr>");
        let row_a = section(staging, &format!("data-run-id=\"{a}\""), "</tr>");
        assert!(row_b.contains("badge-failed") && row_b.contains(&format!("title=\"{REPOSITORY_URI}@{DIGEST_B}\"")) && row_b.contains("tasks failed to start"), "{row_b}");
        assert!(row_a.contains("badge-succeeded") && row_a.contains(&format!("title=\"{REPOSITORY_URI}@{DIGEST_A}\"")) && row_a.contains(">hello:7<"), "{row_a}");
        let position = |html: &str, needle: String| html.find(&needle).unwrap_or_else(|| panic!("no {needle}"));
        assert!(position(staging, format!("data-run-id=\"{b}\"")) < position(staging, format!("data-run-id=\"{a}\"")), "newest first");

        let production = section(&html, "data-environment=\"production\"", "</article>");
        assert!(production.contains("has not deployed to this service successfully yet"), "{production}");
        let row = section(production, &format!("data-run-id=\"{a}\""), "</tr>");
        assert!(row.contains("data-outcome=\"in_progress\"") && row.contains("in progress") && row.contains(">hello:4<"), "{row}");

        // Before the engine looked anything up, the images page falls back to the builds'
        // images and to Shipgate's last successful deploys, and says so.
        let html = app.get("/pipelines/hello/images").await.text();
        assert!(html.contains("Not listed from ECR yet"), "{html}");
        let image_a = section(&html, &format!("data-digest=\"{DIGEST_A}\""), "</tr>");
        assert!(image_a.contains("running in staging") && !image_a.contains("not in ECR"), "{image_a}");
        let live = section(&html, "class=\"live-list\"", "</ul>");
        assert!(section(live, "data-environment=\"staging\"", "</li>").contains("Shipgate&#x27;s record; not looked up in ECS yet")
            || section(live, "data-environment=\"staging\"", "</li>").contains("Shipgate's record; not looked up in ECS yet"), "{live}");
        assert!(section(live, "data-environment=\"production\"", "</li>").contains("nothing deployed by Shipgate yet"), "{live}");

        // ECS's report, as the engine stored it: staging on run A's revision, production on
        // a revision Shipgate did not make, with a failed last look.
        let live = |td_name: &str, image: &str, counts: (i64, i64, i64), deployments: i64| LiveService {
            status: Some("ACTIVE".into()),
            task_definition: Some(td(td_name)),
            images: [("app".to_owned(), image.to_owned()), ("log-router".to_owned(), "fluent-bit:3".to_owned())].into(),
            running: Some(counts.0),
            desired: Some(counts.1),
            pending: Some(counts.2),
            deployments: Some(deployments),
            observed_at: Some(T0 + 60_000),
            error: None,
            checked_at: T0 + 60_000,
        };
        let key = |cluster: &str| ("us-east-1".to_owned(), cluster.to_owned(), "hello".to_owned());
        store.save_service_snapshot(&key("stg"), &live("hello:7", &format!("{REPOSITORY_URI}@{DIGEST_A}"), (2, 2, 0), 1)).await.unwrap();
        store.save_service_snapshot(&key("prod"), &live("hello:9", &format!("{REPOSITORY_URI}:hotfix"), (1, 4, 3), 2)).await.unwrap();
        store.note_service_error(&key("prod"), "ThrottlingException: ecs:DescribeServices: Rate exceeded", T0 + 120_000).await.unwrap();
        let listing = RegistryListing {
            region: "us-east-1".into(),
            repository: "hello-world".into(),
            repository_uri: Some(REPOSITORY_URI.into()),
            image_count: Some(2),
            observed_at: Some(T0 + 60_000),
            error: None,
            checked_at: T0 + 60_000,
        };
        let hotfix = RegistryImage { digest: DIGEST_C.into(), tags: vec!["hotfix".into()], size: Some(1_048_576), pushed_at: Some(T0 + 50_000) };
        let a_listed = RegistryImage { digest: DIGEST_A.into(), tags: vec![sha_a.clone(), "v1.2.0".into()], size: Some(31_457_280), pushed_at: Some(T0) };
        store.save_registry_listing(&listing, &[hotfix, a_listed]).await.unwrap();

        let html = app.get("/services").await.text();
        let staging = section(&html, "data-environment=\"staging\"", "</article>");
        assert!(section(staging, "class=\"live-task-definition\"", "</dd>").contains(">hello:7<"), "{staging}");
        let image = section(staging, "class=\"live-image\"", "</dd>");
        assert!(image.contains(&format!("title=\"{REPOSITORY_URI}@{DIGEST_A}\"")) && image.contains(&format!("href=\"/runs/{a}\"")), "{image}");
        assert!(section(staging, "class=\"live-tasks\"", "</dd>").contains("2/2 running"), "{staging}");
        assert!(staging.contains("As ECS reported it at 2026-11-22 01:04:07 UTC"), "{staging}");
        let production = section(&html, "data-environment=\"production\"", "</article>");
        let image = section(production, "class=\"live-image\"", "</dd>");
        assert!(image.contains(&format!("title=\"{REPOSITORY_URI}:hotfix\"")) && image.contains("not deployed by Shipgate"), "{image}");
        let tasks = section(production, "class=\"live-tasks\"", "</dd>");
        assert!(tasks.contains("1/4 running · 3 pending") && tasks.contains("2 deployments in progress"), "{tasks}");
        assert!(production.contains("ThrottlingException: ecs:DescribeServices: Rate exceeded") && production.contains("again at the next refresh"), "{production}");
        assert!(section(production, "class=\"live-task-definition\"", "</dd>").contains(">hello:9<"), "the last good look is still shown");

        // Images: ECR's listing merged with the builds' images, newest first, each marked
        // with the environments that run it by ECS's report.
        for path in ["/pipelines/hello/images", "/images", "/images?pipeline=hello"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            let html = reply.text();
            assert!(html.contains("as listed at 2026-11-22 01:04:07 UTC (2 images)"), "{path} says when it listed");
            let image_a = section(&html, &format!("data-digest=\"{DIGEST_A}\""), "</tr>");
            let image_b = section(&html, &format!("data-digest=\"{DIGEST_B}\""), "</tr>");
            let image_c = section(&html, &format!("data-digest=\"{DIGEST_C}\""), "</tr>");
            let order: Vec<usize> = [DIGEST_C, DIGEST_B, DIGEST_A].iter().map(|d| position(&html, format!("data-digest=\"{d}\""))).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{path}: newest first by push time");
            assert!(image_a.contains("running in staging") && !image_a.contains("running in production"), "{path}: {image_a}");
            assert!(image_a.contains("v1.2.0") && image_a.contains("30.0 MiB") && image_a.contains(&format!("href=\"/runs/{a}\"")), "{image_a}");
            assert!(image_c.contains("running in production") && image_c.contains("hotfix") && image_c.contains("1.00 MiB"), "{path}: {image_c}");
            assert!(!image_b.contains("live-chip") && image_b.contains("not in ECR"), "{path}: run B's image is not in the listing: {image_b}");
            assert!(image_b.contains("2.68 MiB") && image_b.contains(&format!("href=\"/runs/{b}\"")) && image_b.contains("title=\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\""), "{image_b}");
            let live = section(&html, "class=\"live-list\"", "</ul>");
            assert!(section(live, "data-environment=\"staging\"", "</li>").contains(&format!("href=\"/runs/{a}\"")), "{live}");
            let production = section(live, "data-environment=\"production\"", "</li>");
            assert!(production.contains("not deployed by Shipgate") && production.contains(&format!("title=\"{REPOSITORY_URI}:hotfix\"")), "{live}");
        }
        let pipeline = app.get("/pipelines/hello").await.text();
        assert!(pipeline.contains("href=\"/pipelines/hello/images\""), "the pipeline page links its images");

        for path in ["/pipelines/nope/images", "/images?pipeline=nope"] {
            let reply = app.get(path).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert!(reply.text().contains("Pipeline not found"), "{path}");
        }
    }
}

// ---- Live updates (server-sent events) ----

/// The next server-sent event's text (`event: …` and `data: …` lines), skipping keep-alives.
async fn next_event(
    body: &mut (impl futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin),
) -> String {
    use futures::StreamExt;
    loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open")
            .unwrap();
        let text = String::from_utf8_lossy(&chunk).into_owned();
        if text.contains("event:") {
            return text;
        }
    }
}

on_both_backends! {
    async fn live_streams_say_when_a_run_or_the_list_changes_and_end_at_shutdown(store: Store) {
        use axum::body::Body;
        use axum::http::Request;
        use futures::StreamExt;
        use tower::ServiceExt;
        let app = TestApp::new(store.clone()).await;
        let id = push_run(&app, "live-1", &"b".repeat(40)).await;
        let open = |path: String| {
            let router = app.router.clone();
            async move { router.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap() }
        };

        let run_stream = open(format!("/events/runs/{id}")).await;
        assert_eq!(run_stream.status(), StatusCode::OK);
        assert_eq!(run_stream.headers()["content-type"], "text/event-stream");
        let mut run_events = run_stream.into_body().into_data_stream();
        let mut list_events = open("/events/runs".into()).await.into_body().into_data_stream();
        let run_ready = next_event(&mut run_events).await;
        assert!(run_ready.starts_with("event: ready"), "{run_ready}");
        let list_ready = next_event(&mut list_events).await;
        assert!(list_ready.starts_with("event: ready"), "{list_ready}");
        let fingerprint = |event: &str| event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap().to_owned();
        let (run_before, list_before) = (fingerprint(&run_ready), fingerprint(&list_ready));

        store.apply_event(id, RunEvent::BuildStarted, None).await.unwrap();
        assert!(next_event(&mut run_events).await.starts_with("event: changed"), "the run moved");
        assert!(next_event(&mut list_events).await.starts_with("event: changed"), "the list shows the run's status");

        // A page drawn before the change subscribes with what it saw and hears of it at once;
        // one drawn after it hears `ready`.
        let first_event = |path: String| async move {
            next_event(&mut open(path).await.into_body().into_data_stream()).await
        };
        let stale_run = first_event(format!("/events/runs/{id}?seen={run_before}")).await;
        assert!(stale_run.starts_with("event: changed"), "{stale_run}");
        let current = fingerprint(&stale_run);
        assert_ne!(current, run_before);
        let fresh_run = first_event(format!("/events/runs/{id}?seen={current}")).await;
        assert!(fresh_run.starts_with("event: ready"), "{fresh_run}");
        let stale_list = first_event(format!("/events/runs?seen={list_before}")).await;
        assert!(stale_list.starts_with("event: changed"), "{stale_list}");
        let refused = open(format!("/events/runs/{id}?since=1")).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "an unknown parameter is named, not ignored");
        push_run(&app, "live-2", &"c".repeat(40)).await;
        assert!(next_event(&mut list_events).await.starts_with("event: changed"), "a new run");

        assert_eq!(open("/events/runs/999999".into()).await.status(), StatusCode::NOT_FOUND);

        app.closing.send(true).unwrap();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while run_events.next().await.is_some() {}
            while list_events.next().await.is_some() {}
        })
        .await;
        assert!(ended.is_ok(), "both streams end when the server shuts down");
    }
}

// ---- Pushes Shipgate found itself (issue 16) ----

on_both_backends! {
    async fn recovered_runs_and_deliveries_say_so_on_every_page(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let (older, newest) = ("d".repeat(40), "e".repeat(40));
        // A run as reconcile makes one: no webhook came, so the delivery is Shipgate's own,
        // and the run ships every commit since the run before it.
        let run = push_run(&app, "rec-1", &newest).await;
        let commits = json!([
            {"sha": older, "title": "Fix the login redirect", "author": "Monalisa Octocat"},
            {"sha": newest, "title": "Add the health check", "author": "Hubot"},
        ]);
        exec(&store, &format!(
            "UPDATE runs SET recovered_by = 'reconcile', recovered_at = {T0}, commits = '{commits}' WHERE id = {run}"
        )).await;
        exec(&store, "UPDATE webhook_deliveries SET source = 'recovered' WHERE delivery_id = 'rec-1'").await;
        // The push's own webhook, late, joined that run instead of starting another.
        let mut tag = branch_push();
        tag["ref"] = json!("refs/tags/v9.9.9");
        app.deliver("push", "late-1", &tag).await;
        exec(&store, "UPDATE webhook_deliveries SET outcome = 'joined_run', reason = 'reconcile had already started its run' WHERE delivery_id = 'late-1'").await;
        exec(&store, &format!("DELETE FROM commit_claims WHERE pipeline_name = 'hello' AND commit_sha = '{newest}'")).await;
        exec(&store, &format!(
            "INSERT INTO commit_claims (pipeline_name, commit_sha, delivery_id, reconciled, joined_by) VALUES ('hello', '{newest}', 'rec-1', 1, 'late-1')"
        )).await;
        // An ordinary webhook run beside it, which says nothing of recovery.
        let plain = push_run(&app, "hook-1", &"f".repeat(40)).await;
        // Reconcile then could not reach GitHub.
        exec(&store, &format!(
            "INSERT INTO reconcile_state (pipeline, checked_at, last_ok_at, error, error_since, recovered_runs)
             VALUES ('hello', {}, {T0}, 'GitHub answered 401 Bad credentials for the branch', {}, 1)",
            T0 + 120_000, T0 + 60_000
        )).await;

        let sentence = "Recovered: no webhook arrived; found by reconcile at 2026-11-22 01:03:07 UTC.";
        let page = app.get(&format!("/runs/{run}")).await;
        assert_eq!(page.status, StatusCode::OK);
        let page = page.text();
        let why = section(&page, "class=\"card recovered-why\"", "</p>");
        assert!(why.contains(sentence), "{why}");
        let listed = section(&page, "class=\"pushed-commits\"", "</details>");
        for needle in ["2 commits; only the newest is built and deployed", "ddddddd", "Fix the login redirect", "Monalisa Octocat", "eeeeeee", "Add the health check", "Hubot"] {
            assert!(listed.contains(needle), "the run's commits lack {needle}: {listed}");
        }
        assert!(listed.find("Fix the login redirect") < listed.find("Add the health check"), "oldest first");
        assert!(!app.get(&format!("/runs/{plain}")).await.text().contains("recovered-why"), "a webhook's run is not called recovered");

        let list = app.get("/").await.text();
        let row = section(&list, &format!("data-run-id=\"{run}\""), "</tr>");
        assert!(row.contains("class=\"run-recovered\"") && row.contains(&format!("title=\"{sentence}\"")), "{row}");
        let row = section(&list, &format!("data-run-id=\"{plain}\""), "</tr>");
        assert!(!row.contains("run-recovered"), "{row}");
        assert!(section(&app.get("/pipelines/hello").await.text(), "Recent runs", "</table>").contains("run-recovered"), "the pipeline's recent runs mark it too");

        let deliveries = app.get("/deliveries").await.text();
        let recovered = section(&deliveries, ">rec-1<", "</tr>");
        assert!(recovered.contains("delivery-source-recovered") && recovered.contains(">recovered<"), "{recovered}");
        assert!(recovered.contains(&format!("href=\"/runs/{run}\"")), "{recovered}");
        let joined = section(&deliveries, ">late-1<", "</tr>");
        assert!(joined.contains("badge-outcome-joined_run") && joined.contains(">joined run<"), "{joined}");
        assert!(joined.contains(&format!("href=\"/runs/{run}\"")), "the late push links the run it joined: {joined}");
        assert!(joined.contains("delivery-source-webhook") && joined.contains(">webhook<"), "{joined}");

        let pipelines = app.get("/pipelines").await.text();
        let trouble = section(&pipelines, "class=\"reconcile-trouble\"", "</p>");
        let at = pipelines.find("class=\"reconcile-trouble\"").unwrap();
        let tag = &pipelines[pipelines[..at].rfind('<').unwrap()..at + trouble.find('>').unwrap()];
        assert!(tag.contains("role=\"status\""), "the warning is announced: {tag}");
        assert!(trouble.contains(
            "Missed pushes are not being looked for: GitHub answered 401 Bad credentials for the branch (last succeeded 2026-11-22 01:03:07 UTC)."
        ), "{trouble}");
        assert!(pipelines.contains("1 run recovered"), "{pipelines}");

        // Once reconcile works again, the warning goes.
        exec(&store, "UPDATE reconcile_state SET error = NULL, error_since = NULL WHERE pipeline = 'hello'").await;
        let pipelines = app.get("/pipelines").await.text();
        assert!(!pipelines.contains("Missed pushes are not being looked for"), "{pipelines}");
        assert!(pipelines.contains("1 run recovered"));
    }
}
