//! Never miss a push: head reconcile and delivery recovery, against the GitHub fake
//! (`support::receivers::FakeGitHub`, GitHub's documented shapes, ETags and rate-limit
//! headers) through Shipgate's real octocrab client, on SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use shipgate::config::GitHubApi;
use shipgate::engine::{Engine, EngineHandle, EngineSettings};
use shipgate::outbound::Outbound;
use shipgate::store::Store;
use shipgate_pipeline::{PipelineDraft, PipelineSpec, Span};
use std::sync::Arc;
use support::receivers::{FakeGitHub, LoggedAttempt};
use support::{SECRET, TestApp, branch_push, examples, fetch_i64, settings};

const REPO: &str = "Codertocat/Hello-World";

/// The commit GitHub's branch-push example points `master` at: the run every test starts from.
fn first_sha() -> String {
    branch_push()["head_commit"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

/// The hello pipeline, with a configured hook id when given.
fn pipeline(hook: Option<u64>) -> PipelineSpec {
    let mut draft = json!({
        "name": "hello", "repository": REPO, "branch": "master", "ecr_repository": "hello-world",
        "environments": [
            {"name": "staging", "cluster": "stg", "service": "hello", "container": "app", "region": "us-east-1", "promotion": "auto"},
            {"name": "production", "cluster": "prod", "service": "hello", "container": "app", "region": "us-east-1", "promotion": "manual"}
        ]
    });
    if let Some(hook) = hook {
        draft["github_hook_id"] = json!(hook);
    }
    serde_json::from_value::<PipelineDraft>(draft)
        .unwrap()
        .validate()
        .unwrap()
}

/// GitHub's push example moved to `sha`, pushed by `pusher`.
fn push_of(sha: &str, pusher: &str) -> Value {
    let mut p = branch_push();
    p["after"] = json!(sha);
    p["head_commit"]["id"] = json!(sha);
    p["commits"] = json!([p["head_commit"].clone()]);
    p["pusher"] = json!({"name": pusher, "email": format!("{pusher}@example.com")});
    p
}

struct Rig {
    github: FakeGitHub,
    app: TestApp,
    store: Store,
}

impl Rig {
    async fn new(store: Store, hook: Option<u64>) -> Rig {
        let github = FakeGitHub::start().await;
        let mut s = settings();
        s.pipelines = vec![pipeline(hook)];
        let app = TestApp::with_settings(store.clone(), s).await;
        // The branch as it was when the first push's webhook arrived.
        github.push(
            REPO,
            "master",
            &[(&first_sha(), "Update README.md", "Codertocat")],
        );
        Rig { github, app, store }
    }

    /// An engine process, as a replica starting would make it.
    fn engine(&self, owner: &str) -> Engine {
        let api = GitHubApi {
            token: secrecy::SecretString::from("ghp_reconcile-test"),
            api_url: self.github.url.clone(),
        };
        Engine::new(
            self.store.clone(),
            Arc::new(shipgate::aws::Cloud::with_endpoint(
                "http://127.0.0.1:9",
                support::aws::credentials(),
            )),
            Arc::new(Outbound::new(Some(&api)).unwrap()),
            EngineSettings {
                poll: Span::millis(20),
                reconcile: Span::seconds(1),
                owner: owner.into(),
                ..EngineSettings::default()
            },
            EngineHandle::default(),
        )
    }

    /// The first push arrives as a webhook, and starts run 1.
    async fn first_push(&self) -> i64 {
        let reply = self
            .app
            .deliver("push", "push-1", &push_of(&first_sha(), "codertocat"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["run_ids"][0].as_i64().unwrap()
    }

    async fn runs(&self) -> Vec<Value> {
        self.app.get_json("/api/v1/runs").await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn run(&self, id: i64) -> Value {
        self.app.get_json(&format!("/api/v1/runs/{id}")).await
    }

    async fn deliveries(&self) -> Vec<Value> {
        self.app.get_json("/api/v1/deliveries").await["items"]
            .as_array()
            .unwrap()
            .clone()
    }
}

on_both_backends!(
    async fn pushes_while_stopped_start_one_recovered_run_for_the_newest_head(store: Store) {
        let rig = Rig::new(store, None).await;
        let first = rig.first_push().await;
        let before = rig.engine("replica-a");
        let baseline = before.reconcile_tick(true).await.unwrap();
        assert_eq!(
            (baseline.pipelines, baseline.recovered_runs, baseline.failed),
            (1, 0, 0),
            "{baseline:?}"
        );
        drop(before);

        // Shipgate is down while two pushes happen: GitHub's webhooks for them are lost.
        rig.github.push(
            REPO,
            "master",
            &[
                (&sha(2), "Add the login page", "alice"),
                (&sha(3), "Fix the login page", "bob"),
            ],
        );
        // Started again: the start-up pass finds the head.
        let after = rig.engine("replica-a");
        let report = after.reconcile_tick(true).await.unwrap();
        assert_eq!(report.recovered_runs, 1, "{report:?}");

        let runs = rig.runs().await;
        assert_eq!(runs.len(), 2, "{runs:?}");
        let recovered = runs.iter().find(|r| r["id"] != first).unwrap();
        assert_eq!(
            recovered["commit"]["sha"],
            sha(3),
            "only the newest head is deployed"
        );
        assert_eq!(recovered["recovered"]["by"], "reconcile");
        let detail = rig.run(recovered["id"].as_i64().unwrap()).await;
        let listed: Vec<&str> = detail["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["sha"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed,
            vec![sha(2).as_str(), sha(3).as_str()],
            "both commits are listed, oldest first"
        );
        assert_eq!(detail["commits"][0]["title"], "Add the login page");
        assert_eq!(
            detail["commit"]["pusher"], "",
            "the branch API does not say who pushed"
        );
        assert_eq!(detail["commit"]["message"], "Fix the login page");
        // Self-approval knows both authors, by login and email.
        let authors = fetch_i64(&rig.store, &format!(
            "SELECT COUNT(*) FROM runs WHERE id = {} AND authors LIKE '%alice@example.com%' AND authors LIKE '%\"bob\"%'",
            recovered["id"]
        )).await;
        assert_eq!(authors, 1);

        // The Deliveries page says where it came from.
        let deliveries = rig.deliveries().await;
        let found = deliveries
            .iter()
            .find(|d| d["source"] == "recovered")
            .expect("a recovered delivery");
        assert_eq!(found["outcome"], "run_created");
        assert_eq!(found["run_ids"], json!([recovered["id"]]));
        assert!(
            found["reason"]
                .as_str()
                .unwrap()
                .starts_with("no webhook arrived: reconcile found commit 0303030"),
            "{found}"
        );
        assert!(
            deliveries
                .iter()
                .filter(|d| d["delivery_id"] == "push-1")
                .all(|d| d["source"] == "webhook")
        );

        // The next pass finds nothing new: no second run, and GitHub answers 304.
        let again = after.reconcile_tick(true).await.unwrap();
        assert_eq!((again.unchanged, again.recovered_runs), (1, 0), "{again:?}");
        assert_eq!(rig.runs().await.len(), 2);

        // The Pipelines API shows that reconcile works, and counts the recovery.
        let pipelines = rig.app.get_json("/api/v1/pipelines").await;
        let health = &pipelines
            .as_array()
            .map_or(&pipelines["items"][0], |a| &a[0])["reconcile"];
        assert_eq!(health["recovered_runs"], 1, "{pipelines}");
        assert!(health["error"].is_null());
    }
);

on_both_backends!(
    async fn a_late_webhook_after_a_recovery_starts_no_second_run(store: Store) {
        let rig = Rig::new(store, None).await;
        rig.first_push().await;
        let engine = rig.engine("replica-a");
        engine.reconcile_tick(true).await.unwrap();
        rig.github.push(
            REPO,
            "master",
            &[
                (&sha(2), "Add the login page", "alice"),
                (&sha(3), "Fix the login page", "bob"),
            ],
        );
        assert_eq!(engine.reconcile_tick(true).await.unwrap().recovered_runs, 1);
        let recovered = rig.runs().await[0]["id"].as_i64().unwrap();

        // GitHub's webhook for the push finally arrives.
        let reply = rig
            .app
            .deliver("push", "push-3", &push_of(&sha(3), "mallory"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["outcome"], "joined_run", "{}", reply.text());
        assert_eq!(reply.json()["run_ids"], json!([recovered]));
        assert_eq!(rig.runs().await.len(), 2, "no second run");
        // Now the pusher is known to the self-approval rule.
        let detail = rig.run(recovered).await;
        assert_eq!(detail["commit"]["pusher"], "mallory");
        assert_eq!(
            fetch_i64(
                &rig.store,
                &format!(
                    "SELECT COUNT(*) FROM runs WHERE id = {recovered} AND authors LIKE '%mallory%'"
                )
            )
            .await,
            1
        );
        // Its redelivery is a redelivery; and the skipped commit's own late push joins too.
        let again = rig
            .app
            .deliver("push", "push-3", &push_of(&sha(3), "mallory"))
            .await;
        assert_eq!(again.json()["duplicate"], true);
        let skipped = rig
            .app
            .deliver("push", "push-2", &push_of(&sha(2), "alice"))
            .await;
        assert_eq!(
            skipped.json()["outcome"],
            "joined_run",
            "{}",
            skipped.text()
        );
        assert_eq!(rig.runs().await.len(), 2);
        let deliveries = rig.deliveries().await;
        let joined = deliveries
            .iter()
            .find(|d| d["delivery_id"] == "push-3")
            .unwrap();
        assert_eq!(
            (joined["source"].as_str(), joined["run_ids"].clone()),
            (Some("webhook"), json!([recovered]))
        );
        // A push of the same commit later is a new push, with its own run.
        let repush = rig
            .app
            .deliver("push", "push-3b", &push_of(&sha(3), "mallory"))
            .await;
        assert_eq!(repush.json()["outcome"], "run_created");
        assert_eq!(rig.runs().await.len(), 3);
    }
);

on_both_backends!(
    async fn a_webhook_that_came_first_leaves_reconcile_nothing_to_start(store: Store) {
        let rig = Rig::new(store, None).await;
        rig.first_push().await;
        let engine = rig.engine("replica-a");
        engine.reconcile_tick(true).await.unwrap();
        rig.github
            .push(REPO, "master", &[(&sha(3), "Fix the login page", "bob")]);
        let reply = rig
            .app
            .deliver("push", "push-3", &push_of(&sha(3), "bob"))
            .await;
        assert_eq!(reply.json()["outcome"], "run_created");
        let report = engine.reconcile_tick(true).await.unwrap();
        assert_eq!((report.recovered_runs, report.failed), (0, 0), "{report:?}");
        assert_eq!(rig.runs().await.len(), 2);
        assert!(
            rig.deliveries()
                .await
                .iter()
                .all(|d| d["source"] == "webhook")
        );
    }
);

on_both_backends!(
    async fn a_failed_delivery_is_recovered_from_the_hooks_log_with_its_own_id(store: Store) {
        let rig = Rig::new(store, None).await;
        // The first delivery names its hook, which Shipgate remembers for the repository.
        let body = serde_json::to_vec(&push_of(&first_sha(), "codertocat")).unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/webhooks/github")
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", "push-1")
            .header("x-github-hook-id", "4242")
            .header(
                "x-hub-signature-256",
                shipgate::forge::github::sign(SECRET.as_bytes(), &body),
            )
            .body(Body::from(body))
            .unwrap();
        assert_eq!(rig.app.send(request).await.status, StatusCode::OK);
        let engine = rig.engine("replica-a");
        engine.reconcile_tick(true).await.unwrap();

        // The database was down: Shipgate answered 503 to a push and to CI's completion.
        rig.github
            .push(REPO, "master", &[(&sha(3), "Fix the login page", "bob")]);
        let mut ci = examples("workflow_run")
            .into_iter()
            .find(|e| e["action"] == "completed")
            .unwrap();
        ci["workflow_run"]["head_sha"] = json!(sha(3));
        ci["workflow_run"]["head_branch"] = json!("master");
        ci["repository"]["full_name"] = json!(REPO);
        let attempt = |id, guid: &str, event: &str, status_code, payload: Value| LoggedAttempt {
            id,
            hook_id: 4242,
            guid: guid.into(),
            event: event.into(),
            status_code,
            delivered_at: "2026-12-04T10:00:00Z".into(),
            payload,
        };
        rig.github.log_delivery(attempt(
            1,
            "push-1",
            "push",
            200,
            push_of(&first_sha(), "codertocat"),
        ));
        rig.github.log_delivery(attempt(
            2,
            "lost-push",
            "push",
            503,
            push_of(&sha(3), "bob"),
        ));
        rig.github
            .log_delivery(attempt(3, "lost-ci", "workflow_run", 503, ci));
        // One GitHub already redelivered by hand, successfully: not fetched again.
        rig.github
            .log_delivery(attempt(4, "redelivered", "ping", 503, json!({})));
        rig.github
            .log_delivery(attempt(5, "redelivered", "ping", 200, json!({})));

        let report = engine.reconcile_tick(true).await.unwrap();
        assert_eq!(
            (report.recovered_deliveries, report.recovered_runs),
            (2, 0),
            "the head's push was recovered, so reconcile starts nothing: {report:?}"
        );
        assert_eq!(
            rig.github.requests_to("/deliveries/"),
            2,
            "only the two lost deliveries are fetched"
        );
        let runs = rig.runs().await;
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["commit"]["sha"], sha(3));
        assert_eq!(runs[0]["recovered"]["by"], "hook_delivery");
        assert_eq!(
            runs[0]["delivery_id"], "lost-push",
            "the delivery keeps GitHub's id"
        );
        assert_eq!(
            runs[0]["commit"]["pusher"], "bob",
            "a push read back names its pusher"
        );
        let deliveries = rig.deliveries().await;
        let by_id = |id: &str| {
            deliveries
                .iter()
                .find(|d| d["delivery_id"] == id)
                .unwrap()
                .clone()
        };
        assert_eq!(
            (
                by_id("lost-push")["source"].clone(),
                by_id("lost-push")["outcome"].clone()
            ),
            (json!("recovered"), json!("run_created"))
        );
        assert_eq!(
            (
                by_id("lost-ci")["source"].clone(),
                by_id("lost-ci")["outcome"].clone()
            ),
            (json!("recovered"), json!("ci_recorded"))
        );
        assert_eq!(
            fetch_i64(
                &rig.store,
                "SELECT COUNT(*) FROM ci_reports WHERE delivery_id = 'lost-ci'"
            )
            .await,
            1,
            "Build hears of CI without waiting for its poll"
        );

        // GitHub's own redelivery of the recovered push, later, is a redelivery.
        let reply = rig
            .app
            .deliver("push", "lost-push", &push_of(&sha(3), "bob"))
            .await;
        assert_eq!(reply.json()["duplicate"], true, "{}", reply.text());
        assert_eq!(rig.runs().await.len(), 2);
        // The unchanged log is a free 304 on the next pass.
        let before = rig.github.rate_limit();
        engine.reconcile_tick(true).await.unwrap();
        let after = rig.github.rate_limit();
        assert_eq!(after.remaining, before.remaining);
        assert_eq!(
            after.not_modified,
            before.not_modified + 2,
            "the log and the branch both answered 304"
        );
    }
);

on_both_backends!(
    async fn unchanged_heads_answered_304_spend_no_rate_limit(store: Store) {
        let rig = Rig::new(store, None).await;
        rig.first_push().await;
        let engine = rig.engine("replica-a");
        engine.reconcile_tick(true).await.unwrap();
        let spent = rig.github.rate_limit();
        for _ in 0..3 {
            let report = engine.reconcile_tick(true).await.unwrap();
            assert_eq!(report.unchanged, 1, "{report:?}");
        }
        let after = rig.github.rate_limit();
        assert_eq!(after.remaining, spent.remaining, "304s are free");
        assert_eq!(after.not_modified, spent.not_modified + 3);
        assert_eq!(rig.github.requests_to("/branches/master"), 4);
        let conditional = rig
            .github
            .received()
            .iter()
            .filter(|r| r.path.ends_with("/branches/master"))
            .count();
        assert_eq!(conditional, 4);
        // Not due again before the interval: a pass that is not forced takes nothing.
        assert_eq!(engine.reconcile_tick(false).await.unwrap().pipelines, 0);
    }
);

on_both_backends!(
    async fn a_spent_rate_limit_stops_every_call_until_its_reset(store: Store) {
        let rig = Rig::new(store, None).await;
        rig.first_push().await;
        let engine = rig.engine("replica-a");
        engine.reconcile_tick(true).await.unwrap();
        rig.github
            .push(REPO, "master", &[(&sha(3), "Fix the login page", "bob")]);
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 2;
        rig.github.set_rate_limit(0, reset);

        let report = engine.reconcile_tick(true).await.unwrap();
        assert_eq!(report.failed, 1, "{report:?}");
        assert_eq!(rig.github.rate_limit().refused, 1);
        let pipelines = rig.app.get_json("/api/v1/pipelines").await;
        let health = &pipelines
            .as_array()
            .map_or(&pipelines["items"][0], |a| &a[0])["reconcile"];
        let error = health["error"].as_str().unwrap();
        assert!(error.contains("rate limit"), "{error}");
        assert!(
            health["last_ok_at"].is_i64(),
            "when it last worked: {health}"
        );

        // Until the reset, no pass calls GitHub at all.
        let calls = rig.github.received().len();
        for _ in 0..3 {
            assert_eq!(engine.reconcile_tick(true).await.unwrap().pipelines, 0);
        }
        assert_eq!(
            rig.github.received().len(),
            calls,
            "no call before the reset"
        );

        tokio::time::sleep(std::time::Duration::from_millis(
            (reset * 1000 + 1200 - shipgate::clock::wall_ms()).max(0) as u64,
        ))
        .await;
        let report = engine.reconcile_tick(true).await.unwrap();
        assert_eq!((report.recovered_runs, report.failed), (1, 0), "{report:?}");
        assert_eq!(rig.runs().await.len(), 2);
    }
);

on_both_backends!(
    async fn two_replicas_reconciling_at_once_start_one_run(store: Store) {
        let rig = Rig::new(store, None).await;
        rig.first_push().await;
        let (a, b) = (rig.engine("replica-a"), rig.engine("replica-b"));
        a.reconcile_tick(true).await.unwrap();
        rig.github
            .push(REPO, "master", &[(&sha(3), "Fix the login page", "bob")]);
        let (ra, rb) = tokio::join!(a.reconcile_tick(true), b.reconcile_tick(true));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.recovered_runs + rb.recovered_runs, 1, "{ra:?} {rb:?}");
        assert_eq!(rig.runs().await.len(), 2);

        // While one replica holds a pipeline, another's pass (even a start-up pass) skips it.
        let now = rig.store.now_ms();
        let held = rig
            .store
            .claim_reconciles("replica-a", now, now + 60_000, true)
            .await
            .unwrap();
        assert_eq!(held.len(), 1);
        assert!(
            rig.store
                .claim_reconciles("replica-b", now, now + 60_000, true)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(b.reconcile_tick(true).await.unwrap().pipelines, 0);
        rig.store
            .reconciled_unchanged("replica-a", &[held[0].pipeline.clone()], now, now)
            .await
            .unwrap();

        // A late webhook racing a reconcile of the next head: still one run for it.
        rig.github
            .push(REPO, "master", &[(&sha(4), "Tidy up", "bob")]);
        let late = push_of(&sha(4), "bob");
        let (reply, report) = tokio::join!(
            rig.app.deliver("push", "push-4", &late),
            b.reconcile_tick(true)
        );
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        report.unwrap();
        assert_eq!(
            fetch_i64(
                &rig.store,
                &format!("SELECT COUNT(*) FROM runs WHERE commit_sha = '{}'", sha(4))
            )
            .await,
            1
        );
    }
);
