//! `POST /webhooks/github`: every real push and ping example, signatures, encodings,
//! redelivery, bad input, and durability across a restart, on SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::*;

fn form_body(payload: &Value) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}

on_both_backends! {
    async fn every_push_and_ping_example_gets_the_outcome_its_ref_calls_for(store: Store) {
        let app = TestApp::new(store).await;
        let pushes = examples("push");
        let mut runs_expected = 0;
        for (i, payload) in pushes.iter().enumerate() {
            let reply = app.deliver("push", &format!("push-example-{i}"), payload).await;
            assert_eq!(reply.status, StatusCode::OK, "example {i}: {}", reply.text());
            let body = reply.json();
            let git_ref = payload["ref"].as_str().unwrap();
            let reason = body["reason"].as_str().unwrap();
            if git_ref.starts_with("refs/tags/") {
                assert_eq!(body["outcome"], "ignored", "example {i}");
                assert!(reason.contains("tag"), "example {i}: {reason}");
                assert_eq!(body["run_ids"], json!([]));
            } else {
                assert_eq!(git_ref, "refs/heads/master");
                assert_eq!(body["outcome"], "run_created", "example {i}: {reason}");
                assert_eq!(reason, "started a run on pipeline `hello`");
                runs_expected += 1;
                let run_id = body["run_ids"][0].as_i64().expect("a run id");
                let run = app.get(&format!("/api/v1/runs/{run_id}")).await.json();
                let head = &payload["head_commit"];
                assert_eq!(run["commit"]["sha"], payload["after"]);
                assert_eq!(run["commit"]["message"], head["message"]);
                assert_eq!(run["commit"]["author"], head["author"]["username"]);
                assert_eq!(run["commit"]["pusher"], payload["pusher"]["name"]);
                assert_eq!(run["commit"]["compare_url"], payload["compare"]);
                assert_eq!(run["commit"]["timestamp"], head["timestamp"]);
                assert_eq!(run["status"], "running");
                let stages: Vec<(String, String, Value)> = run["stages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["kind"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned(), s["environment"].clone()))
                    .collect();
                assert_eq!(
                    stages,
                    vec![
                        ("source".into(), "succeeded".into(), Value::Null),
                        ("build".into(), "pending".into(), Value::Null),
                        ("deploy".into(), "pending".into(), json!("staging")),
                        ("deploy".into(), "pending".into(), json!("production")),
                    ]
                );
            }
        }
        assert!(runs_expected >= 1, "the examples include a branch push");

        let pings = examples("ping");
        for (i, payload) in pings.iter().enumerate() {
            let reply = app.deliver("ping", &format!("ping-example-{i}"), payload).await;
            assert_eq!(reply.status, StatusCode::OK, "ping {i}: {}", reply.text());
            assert_eq!(reply.json()["outcome"], "pong");
        }
        let (deliveries, runs) = app.counts().await;
        assert_eq!(deliveries as usize, pushes.len() + pings.len());
        assert_eq!(runs, runs_expected);
    }
}

on_both_backends! {
    async fn pushes_that_start_nothing_say_why(store: Store) {
        let app = TestApp::new(store).await;
        let mut other_branch = branch_push();
        other_branch["ref"] = json!("refs/heads/feature/login");
        let reply = app.deliver("push", "other-branch", &other_branch).await.json();
        assert_eq!(reply["outcome"], "ignored");
        assert_eq!(reply["reason"], "branch `feature/login` of Codertocat/Hello-World is not tracked; its pipelines track `master`");

        let mut other_repo = branch_push();
        other_repo["repository"]["full_name"] = json!("octo-org/unlinked");
        let reply = app.deliver("push", "other-repo", &other_repo).await.json();
        assert_eq!(reply["reason"], "octo-org/unlinked is not linked to any pipeline");

        let mut deletion = branch_push();
        deletion["deleted"] = json!(true);
        deletion["head_commit"] = Value::Null;
        let reply = app.deliver("push", "deletion", &deletion).await.json();
        assert_eq!(reply["reason"], "branch `master` was deleted");

        let listed = app.get("/api/v1/deliveries").await.json();
        let reasons: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|d| d["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons.len(), 3);
        assert!(reasons.iter().all(|r| !r.is_empty()));
        assert_eq!(app.counts().await, (3, 0));
    }
}

on_both_backends! {
    async fn a_push_starts_a_run_in_every_pipeline_tracking_its_branch(store: Store) {
        let mut settings = settings();
        settings.pipelines.push(pipeline_json("hello-worker", "codertocat/hello-world", "master"));
        settings.pipelines.push(pipeline_json("hello-docs", "Codertocat/Hello-World", "docs"));
        let app = TestApp::with_settings(store, settings).await;
        let reply = app.deliver("push", "fan-out", &branch_push()).await.json();
        assert_eq!(reply["reason"], "started a run on each of pipelines `hello`, `hello-worker`");
        let run_ids = reply["run_ids"].as_array().unwrap().clone();
        assert_eq!(run_ids.len(), 2);
        let mut pipelines = Vec::new();
        for id in &run_ids {
            pipelines.push(app.get_json(&format!("/api/v1/runs/{id}")).await["pipeline"].clone());
        }
        assert_eq!(pipelines, [json!("hello"), json!("hello-worker")]);
        let listed = app.get("/api/v1/deliveries").await.json();
        assert_eq!(listed["items"][0]["run_ids"], json!(run_ids));
    }
}

on_both_backends! {
    async fn repository_names_match_without_regard_to_case(store: Store) {
        let app = TestApp::new(store).await;
        let mut push = branch_push();
        push["repository"]["full_name"] = json!("codertocat/hello-world");
        assert_eq!(app.deliver("push", "lower", &push).await.json()["outcome"], "run_created");
    }
}

on_both_backends! {
    async fn other_events_are_accepted_and_recorded_as_ignored(store: Store) {
        let app = TestApp::new(store).await;
        let star = examples("star").remove(0);
        let reply = app.deliver("star", "star-1", &star).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["outcome"], "ignored");
        assert_eq!(reply.json()["reason"], "`star` events start nothing in Shipgate");
        let listed = app.get("/api/v1/deliveries").await.json();
        assert_eq!(listed["items"][0]["event"], "star");
        assert_eq!(listed["items"][0]["action"], star["action"]);
        assert_eq!(app.counts().await, (1, 0));
    }
}

on_both_backends! {
    async fn every_workflow_run_and_check_suite_example_is_recorded_as_a_ci_report(store: Store) {
        let app = TestApp::new(store).await;
        for (event, key) in [("workflow_run", "workflow_run"), ("check_suite", "check_suite")] {
            for (i, example) in examples(event).into_iter().enumerate() {
                let reply = app.deliver(event, &format!("{event}-{i}"), &example).await;
                assert_eq!(reply.status, StatusCode::OK, "{event} #{i}: {}", reply.text());
                let body = reply.json();
                assert_eq!(body["outcome"], "ci_recorded", "{event} #{i}");
                let sha = example[key]["head_sha"].as_str().unwrap();
                let reason = body["reason"].as_str().unwrap();
                assert!(reason.contains(&sha[..7]), "{event} #{i}: the reason names the commit: {reason}");
                assert!(reason.contains(example[key]["status"].as_str().unwrap()), "{event} #{i}: {reason}");
            }
        }
        let reports = app.store.unapplied_ci_reports(100).await.unwrap();
        assert_eq!(reports.len(), examples("workflow_run").len() + examples("check_suite").len());
        assert!(reports.iter().all(|r| r.url.starts_with("https://")), "every report links somewhere");
    }
}

on_both_backends! {
    async fn a_redelivered_push_creates_no_second_run(store: Store) {
        let app = TestApp::new(store).await;
        let push = branch_push();
        let first = app.deliver("push", "same-id", &push).await.json();
        let again = app.deliver("push", "same-id", &push).await.json();
        assert_eq!(first["duplicate"], false);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["run_ids"], first["run_ids"]);
        assert_eq!(again["outcome"], "run_created");
        assert_eq!(app.counts().await, (1, 1));
        let listed = app.get("/api/v1/deliveries").await.json();
        assert_eq!(listed["items"][0]["redeliveries"], 1);
        // A new delivery id for the same commit is a new push event: it starts a run.
        app.deliver("push", "another-id", &push).await;
        assert_eq!(app.counts().await, (2, 2));
    }
}

on_both_backends! {
    async fn concurrent_redeliveries_still_create_one_run(store: Store) {
        let app = TestApp::new(store).await;
        let push = branch_push();
        let replies = futures::future::join_all((0..16).map(|_| app.deliver("push", "racy", &push))).await;
        assert!(replies.iter().all(|r| r.status == StatusCode::OK));
        assert_eq!(replies.iter().filter(|r| r.json()["duplicate"] == false).count(), 1);
        assert_eq!(app.counts().await, (1, 1));
    }
}

on_both_backends! {
    async fn bad_signatures_get_401_and_store_nothing(store: Store) {
        let app = TestApp::new(store).await;
        let body = serde_json::to_vec(&branch_push()).unwrap();
        let missing = app.deliver_raw("push", "unsigned", "application/json", body.clone(), None).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.error(), "the X-Hub-Signature-256 header is missing");
        let wrong = app.deliver_raw("push", "wrong", "application/json", body.clone(), Some("not the secret")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.error().contains("not valid"), "{}", wrong.error());
        // Signed, then tampered with.
        let mut tampered = app.deliver_raw("push", "tampered", "application/json", body.clone(), Some(SECRET)).await;
        assert_eq!(tampered.status, StatusCode::OK);
        let req = Request::post("/webhooks/github")
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", "tampered-2")
            .header("x-hub-signature-256", shipgate::forge::github::sign(SECRET.as_bytes(), &body))
            .body(Body::from([&body[..], b" "].concat()))
            .unwrap();
        tampered = app.send(req).await;
        assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.counts().await, (1, 1), "only the correctly signed delivery is stored");
    }
}

on_both_backends! {
    async fn form_encoded_deliveries_are_accepted(store: Store) {
        let app = TestApp::new(store).await;
        let reply = app.deliver_raw("push", "form-1", "application/x-www-form-urlencoded", form_body(&branch_push()), Some(SECRET)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["outcome"], "run_created");
        let ping = app.deliver_raw("ping", "form-2", "application/x-www-form-urlencoded", form_body(&examples("ping")[0]), Some(SECRET)).await;
        assert_eq!(ping.json()["outcome"], "pong");
        let no_payload = app.deliver_raw("push", "form-3", "application/x-www-form-urlencoded", b"other=1".to_vec(), Some(SECRET)).await;
        assert_eq!(no_payload.status, StatusCode::BAD_REQUEST);
        assert_eq!(no_payload.error(), "the form body has no `payload` field");
        assert_eq!(app.counts().await, (2, 1));
    }
}

on_both_backends! {
    async fn bad_requests_are_refused_with_a_named_problem(store: Store) {
        let app = TestApp::new(store).await;
        let body = serde_json::to_vec(&branch_push()).unwrap();

        let malformed = app.deliver_raw("push", "m-1", "application/json", b"{\"ref\": ".to_vec(), Some(SECRET)).await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert!(malformed.error().starts_with("the push payload is not valid:"), "{}", malformed.error());

        let wrong_shape = app.deliver_raw("push", "m-2", "application/json", b"{\"ref\": 5}".to_vec(), Some(SECRET)).await;
        assert_eq!(wrong_shape.status, StatusCode::BAD_REQUEST);

        let wrong_type = app.deliver_raw("push", "m-3", "text/plain", body.clone(), Some(SECRET)).await;
        assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(wrong_type.error().contains("text/plain"), "{}", wrong_type.error());

        let base = || {
            Request::post("/webhooks/github")
                .header("content-type", "application/json")
                .header("x-hub-signature-256", shipgate::forge::github::sign(SECRET.as_bytes(), &body))
        };
        let no_event = app.send(base().header("x-github-delivery", "m-4").body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(no_event.status, StatusCode::BAD_REQUEST);
        assert_eq!(no_event.error(), "the x-github-event header is missing");
        let no_delivery = app.send(base().header("x-github-event", "push").body(Body::from(body.clone())).unwrap()).await;
        assert_eq!(no_delivery.status, StatusCode::BAD_REQUEST);
        assert_eq!(no_delivery.error(), "the x-github-delivery header is missing");
        let no_type = app
            .send(
                Request::post("/webhooks/github")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", "m-5")
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
        assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(app.counts().await, (0, 0));
    }
}

on_both_backends! {
    async fn bodies_over_25_mb_get_413(store: Store) {
        let app = TestApp::new(store).await;
        let limit = shipgate::intake::MAX_PAYLOAD_BYTES;
        // Declared too large up front.
        let declared = app
            .send(
                Request::post("/webhooks/github")
                    .header("content-type", "application/json")
                    .header("content-length", (limit + 1).to_string())
                    .header("x-github-event", "push")
                    .header("x-github-delivery", "big-1")
                    .body(Body::from(vec![b' '; limit + 1]))
                    .unwrap(),
            )
            .await;
        assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(declared.error().contains("25"), "{}", declared.error());
        // Streamed without a length, and found too large while reading.
        let stream = futures::stream::iter((0..26).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024 * 1024])));
        let streamed = app
            .send(
                Request::post("/webhooks/github")
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", "big-2")
                    .body(Body::from_stream(stream))
                    .unwrap(),
            )
            .await;
        assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(app.counts().await, (0, 0));
    }
}

on_both_backends! {
    async fn without_a_configured_secret_intake_refuses_everything(store: Store) {
        let mut settings = settings();
        settings.webhook_secret = None;
        let app = TestApp::with_settings(store, settings).await;
        let reply = app.deliver("push", "nosecret", &branch_push()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.error().contains("GITHUB_WEBHOOK_SECRET"));
        assert_eq!(app.counts().await, (0, 0));
    }
}

#[tokio::test]
async fn deliveries_and_runs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("restart.db").display());
    let push = branch_push();
    {
        let app = TestApp::new(shipgate::store::Store::connect(&url).await.unwrap()).await;
        assert_eq!(
            app.deliver("push", "before-restart", &push).await.json()["outcome"],
            "run_created"
        );
        app.store.close().await;
    }
    let app = TestApp::new(shipgate::store::Store::connect(&url).await.unwrap()).await;
    assert_eq!(app.counts().await, (1, 1));
    let again = app.deliver("push", "before-restart", &push).await.json();
    assert_eq!(
        again["duplicate"], true,
        "the delivery id is remembered across the restart"
    );
    assert_eq!(app.counts().await, (1, 1));
    let payload = app
        .store
        .delivery_payload("before-restart")
        .await
        .unwrap()
        .expect("payload kept");
    assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), push);
}
