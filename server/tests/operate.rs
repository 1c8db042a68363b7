//! People operating runs: deployers cancel and retry them, release managers decide gates,
//! through the store, the REST API and the dashboard's forms, on SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use shipgate::store::access::NewToken;
use shipgate::store::engine::DeployRow;
use shipgate::store::{AuditEntry, Db, Refusal, Store, StoreError};
use shipgate_pipeline::access::{Grant, Role, Scope};
use shipgate_pipeline::gate::Verdict as Decision;
use shipgate_pipeline::{RunEvent, RunStatus, StageStatus};
use support::*;

fn person() -> AuditEntry {
    AuditEntry {
        actor: "user:dana@example.com".into(),
        action: String::new(),
        target: String::new(),
        ip: Some("192.0.2.7".into()),
        detail: String::new(),
        via: None,
    }
}

/// A run of `hello` started by GitHub's push example (as delivery `delivery`).
async fn push_run(app: &TestApp, delivery: &str) -> i64 {
    let reply = app.deliver("push", delivery, &branch_push()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["run_ids"][0].as_i64().expect("a run")
}

async fn apply(store: &Store, id: i64, events: &[RunEvent]) {
    if events.contains(&RunEvent::BuildSucceeded) {
        image_built(store, id).await;
    }
    for event in events {
        store
            .apply_event(id, *event, None)
            .await
            .unwrap_or_else(|e| panic!("{event:?}: {e}"));
    }
}

/// Built, deployed to staging, and waiting at the gate of production.
const TO_GATE: &[RunEvent] = &[
    RunEvent::BuildSucceeded,
    RunEvent::DeployStarted(0),
    RunEvent::DeploySucceeded(0),
];

async fn status(store: &Store, id: i64) -> RunStatus {
    store
        .get_run(id)
        .await
        .unwrap()
        .expect("the run")
        .run
        .status
}

async fn audit_of(store: &Store, target: &str) -> Vec<(String, String, String)> {
    store
        .list_audit(Some(target), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.actor, a.action, a.detail))
        .collect()
}

fn refusal(err: StoreError) -> Refusal {
    match err {
        StoreError::RunRefused { why, .. } => why,
        other => panic!("expected a refusal, got {other}"),
    }
}

// ---- The store ----

on_both_backends! {
    async fn cancelling_at_a_gate_ends_the_run_and_audits_who_and_why(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let id = push_run(&app, "c-1").await;
        apply(&store, id, TO_GATE).await;

        let state = store.cancel_run(id, "  wrong branch  ", &person()).await.unwrap();
        assert_eq!(state.status, RunStatus::Cancelled);
        let run = store.get_run(id).await.unwrap().unwrap();
        let statuses: Vec<StageStatus> = run.stages.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [StageStatus::Succeeded, StageStatus::Succeeded, StageStatus::Succeeded, StageStatus::Cancelled]);
        assert_eq!(run.stages[3].detail, "cancelled by user:dana@example.com: wrong branch");
        assert!(run.stages[3].finished_at.is_some());
        let audit = store.list_audit(Some(&format!("run:{id}")), 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].actor.as_str(), audit[0].action.as_str(), audit[0].detail.as_str()), ("user:dana@example.com", "run.cancel", "wrong branch"));
        assert_eq!(audit[0].ip.as_deref(), Some("192.0.2.7"));

        let again = refusal(store.cancel_run(id, "", &person()).await.unwrap_err());
        assert_eq!(again, Refusal::Ended(RunStatus::Cancelled));
        assert_eq!(audit_of(&store, &format!("run:{id}")).await.len(), 1, "a refused cancel is not audited");
    }
}

on_both_backends! {
    async fn a_run_is_not_cancelled_while_ecs_rolls_a_deploy_out(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let id = push_run(&app, "c-2").await;
        apply(&store, id, &[RunEvent::BuildSucceeded, RunEvent::DeployStarted(0)]).await;
        let err = store.cancel_run(id, "", &person()).await.unwrap_err();
        let message = err.to_string();
        assert_eq!(refusal(err), Refusal::Deploying("staging".into()));
        assert!(message.starts_with(&format!("run {id} cannot be cancelled: its deploy to `staging` is rolling out")), "{message}");
        assert!(message.contains("wait") && message.contains("roll the service back"), "{message}");
        assert_eq!(status(&store, id).await, RunStatus::Running);
        assert!(audit_of(&store, &format!("run:{id}")).await.is_empty());

        // Building, or fresh: nothing to take back, so cancelling is fine.
        let building = push_run(&app, "c-3").await;
        apply(&store, building, &[RunEvent::BuildStarted]).await;
        assert_eq!(store.cancel_run(building, "", &person()).await.unwrap().status, RunStatus::Cancelled);
    }
}

on_both_backends! {
    async fn cancelling_a_run_queued_for_a_busy_service_frees_its_place(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let spec = hello_world_pipeline();
        let id = push_run(&app, "c-4").await;
        apply(&store, id, &[RunEvent::BuildSucceeded]).await;
        // The engine queued the staging deploy and even took the service, but had not
        // started the stage when the person cancelled.
        let row = DeployRow::queued(id, 0, &spec.environments[0], "repo@sha256:1".into(), 1);
        store.queue_deploy(&row).await.unwrap();
        assert!(store.take_service(&row).await.unwrap());

        store.cancel_run(id, "", &person()).await.unwrap();
        let deploys = store.get_deploys(id).await.unwrap();
        assert_eq!((deploys[0].step.as_str(), deploys[0].outcome.as_deref()), ("done", Some("cancelled")));
        assert!(store.service_holder(&row).await.unwrap().is_none(), "the service is free for the next deploy");

        // The next run's deploy of the same service is no longer queued behind it.
        let next = push_run(&app, "c-5").await;
        let next_row = DeployRow::queued(next, 0, &spec.environments[0], "repo@sha256:2".into(), 2);
        store.queue_deploy(&next_row).await.unwrap();
        assert!(store.take_service(&next_row).await.unwrap());
    }
}

on_both_backends! {
    async fn retrying_a_failed_or_cancelled_run_starts_the_same_commit_afresh(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let failed = push_run(&app, "r-1").await;
        apply(&store, failed, &[RunEvent::BuildStarted, RunEvent::BuildFailed]).await;
        let cancelled = push_run(&app, "r-2").await;
        apply(&store, cancelled, TO_GATE).await;
        store.cancel_run(cancelled, "", &person()).await.unwrap();
        // What a push creates, to compare the retries' stages with.
        let fresh = store.get_run(push_run(&app, "r-3").await).await.unwrap().unwrap();
        let shape = |run: &shipgate_pipeline::read::RunDetail| {
            run.stages.iter().map(|s| (s.kind, s.environment.clone(), s.promotion, s.status)).collect::<Vec<_>>()
        };

        for old in [failed, cancelled] {
            let new = store.retry_run(old, &person()).await.unwrap();
            assert!(new > old);
            let (old_run, new_run) = (store.get_run(old).await.unwrap().unwrap(), store.get_run(new).await.unwrap().unwrap());
            assert_eq!(new_run.run.status, RunStatus::Running);
            assert_eq!(new_run.run.commit, old_run.run.commit);
            assert_eq!((&new_run.run.pipeline, &new_run.run.repository, &new_run.run.branch), (&old_run.run.pipeline, &old_run.run.repository, &old_run.run.branch));
            assert_eq!(new_run.run.delivery_id, format!("retry:{old}"));
            assert_eq!(shape(&new_run), shape(&fresh), "fresh stages, as a push makes them");
            assert!(new_run.build.is_none() && new_run.deploys.is_empty() && new_run.decisions.is_empty());
            assert_eq!(old_run.run.status, if old == failed { RunStatus::Failed } else { RunStatus::Cancelled }, "the old run stays as it was");
            let audit = audit_of(&store, &format!("run:{old}")).await;
            assert_eq!(audit[0], ("user:dana@example.com".into(), "run.retry".into(), format!("retried as run {new}")));

            let twice = refusal(store.retry_run(old, &person()).await.unwrap_err());
            assert_eq!(twice, Refusal::AlreadyRetried(new), "a form sent twice starts one run");
        }
        assert_eq!(store.get_run(failed).await.unwrap().unwrap().run.status, RunStatus::Failed);
    }
}

on_both_backends! {
    async fn live_and_succeeded_runs_are_not_retried(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let running = push_run(&app, "r-4").await;
        let at_gate = push_run(&app, "r-5").await;
        apply(&store, at_gate, TO_GATE).await;
        let succeeded = push_run(&app, "r-6").await;
        apply(&store, succeeded, TO_GATE).await;
        apply(&store, succeeded, &[RunEvent::Approved(1), RunEvent::DeployStarted(1), RunEvent::DeploySucceeded(1)]).await;
        let (_, runs_before) = app.counts().await;

        let err = store.retry_run(running, &person()).await.unwrap_err();
        assert_eq!(err.to_string(), format!("run {running} cannot be retried: it is still running; only a run that ended unsuccessfully can be retried"));
        assert_eq!(refusal(store.retry_run(at_gate, &person()).await.unwrap_err()), Refusal::Live(RunStatus::AwaitingApproval));
        assert_eq!(refusal(store.retry_run(succeeded, &person()).await.unwrap_err()), Refusal::Succeeded);
        assert!(matches!(store.retry_run(999, &person()).await, Err(StoreError::RunNotFound(999))));
        assert_eq!(app.counts().await.1, runs_before, "no run was started");

        // A pipeline deleted since: nothing to run the commit through.
        store.cancel_run(running, "", &person()).await.unwrap();
        store.delete_pipeline("hello", &person()).await.unwrap();
        assert_eq!(refusal(store.retry_run(running, &person()).await.unwrap_err()), Refusal::PipelineGone("hello".into()));
    }
}

on_both_backends! {
    async fn a_change_whose_audit_entry_fails_is_not_made(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let at_gate = push_run(&app, "a-1").await;
        apply(&store, at_gate, TO_GATE).await;
        let failed = push_run(&app, "a-2").await;
        apply(&store, failed, &[RunEvent::BuildFailed]).await;
        // The database refuses these audit entries: each change must fail with its entry.
        match store.db() {
            Db::Sqlite(_) => exec(&store, "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log
                WHEN NEW.action IN ('run.cancel', 'run.retry', 'gate.approved')
                BEGIN SELECT RAISE(ABORT, 'audit refused'); END").await,
            Db::Postgres(_) => {
                exec(&store, "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql").await;
                exec(&store, "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
                    WHEN (NEW.action IN ('run.cancel', 'run.retry', 'gate.approved')) EXECUTE FUNCTION refuse_audit()").await;
            }
        }
        let (_, runs_before) = app.counts().await;
        for err in [
            store.cancel_run(at_gate, "", &person()).await.map(|_| ()).unwrap_err().to_string(),
            store.retry_run(failed, &person()).await.map(|_| ()).unwrap_err().to_string(),
            decide(&store, at_gate, "production", Decision::Approve, "", &person()).await.map(|_| ()).unwrap_err().to_string(),
        ] {
            assert!(err.to_string().contains("audit refused"), "{err}");
        }
        assert_eq!(status(&store, at_gate).await, RunStatus::AwaitingApproval, "neither cancelled nor approved");
        assert_eq!(fetch_i64(&store, &format!("SELECT COUNT(*) FROM gate_decisions WHERE run_id = {at_gate}")).await, 0);
        assert_eq!(app.counts().await.1, runs_before, "no retry run");
    }
}

// ---- The REST API ----

/// `hello` and `other`, both tracking the example's repository and branch: one push starts
/// a run of each.
async fn two_pipeline_app(store: Store) -> TestApp {
    let mut settings = settings();
    settings
        .pipelines
        .push(pipeline_json("other", "Codertocat/Hello-World", "master"));
    TestApp::with_settings(store, settings).await
}

/// A token with one grant, and the actor the audit log names for it.
async fn token(
    store: &Store,
    name: &str,
    role: Role,
    pipelines: &[&str],
    environments: &[&str],
) -> (String, String) {
    let scope = Scope {
        pipelines: pipelines.iter().map(|s| s.to_string()).collect(),
        environments: environments.iter().map(|s| s.to_string()).collect(),
    };
    let new = NewToken {
        name: name.into(),
        kind: "service".into(),
        owner: None,
        grant: Grant { role, scope },
        expires_at: None,
    };
    let (token, record) = store
        .create_token(
            &new,
            &AuditEntry {
                actor: "test".into(),
                ..person()
            },
        )
        .await
        .unwrap();
    (token, format!("token:{}", record.id))
}

/// Run ids of `hello` and `other` from one push.
async fn push_both(app: &TestApp, delivery: &str) -> (i64, i64) {
    let reply = app.deliver("push", delivery, &branch_push()).await;
    let ids: Vec<i64> = reply.json()["run_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let mut by_pipeline = (0, 0);
    for id in ids {
        match app
            .store
            .get_run(id)
            .await
            .unwrap()
            .unwrap()
            .run
            .pipeline
            .as_str()
        {
            "hello" => by_pipeline.0 = id,
            _ => by_pipeline.1 = id,
        }
    }
    by_pipeline
}

on_both_backends! {
    async fn a_deployer_cancels_and_retries_through_the_api_and_a_viewer_may_not(store: Store) {
        let app = two_pipeline_app(store.clone()).await;
        let (deployer, deployer_actor) = token(&store, "ci", Role::Deployer, &[], &[]).await;
        let (viewer, _) = token(&store, "dashboard", Role::Viewer, &[], &[]).await;
        let (id, _) = push_both(&app, "api-1").await;
        apply(&store, id, TO_GATE).await;

        let path = format!("/api/v1/runs/{id}/cancel");
        let refused = app.api(Method::POST, &path, None, Some(&viewer)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
        assert_eq!(refused.error(), "this needs the deployer role");
        assert_eq!(app.api(Method::POST, &format!("/api/v1/runs/{id}/retry"), None, Some(&viewer)).await.status, StatusCode::FORBIDDEN);
        assert_eq!(status(&store, id).await, RunStatus::AwaitingApproval);

        let cancelled = app.api(Method::POST, &path, Some(json!({"reason": "bad config"})), Some(&deployer)).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
        assert_eq!(cancelled.json()["status"], "cancelled");
        assert_eq!(cancelled.json()["stages"][3]["status"], "cancelled");
        let audit = store.list_audit(Some(&format!("run:{id}")), 10).await.unwrap();
        assert_eq!(audit[0].actor, deployer_actor);
        assert_eq!((audit[0].action.as_str(), audit[0].detail.as_str()), ("run.cancel", "bad config"));

        let again = app.api(Method::POST, &path, None, Some(&deployer)).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.error(), format!("run {id} cannot be cancelled: it has already ended as cancelled"));

        let retried = app.api(Method::POST, &format!("/api/v1/runs/{id}/retry"), None, Some(&deployer)).await;
        assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text());
        let new_id = retried.json()["id"].as_i64().unwrap();
        assert_eq!(retried.headers["location"], format!("/api/v1/runs/{new_id}").as_str());
        assert_eq!(retried.json()["status"], "running");
        assert_eq!(retried.json()["commit"], cancelled.json()["commit"]);
        let live = app.api(Method::POST, &format!("/api/v1/runs/{new_id}/retry"), None, Some(&deployer)).await;
        assert_eq!(live.status, StatusCode::CONFLICT);
        assert!(live.error().contains("it is still running"), "{}", live.error());

        let unknown_field = app.api(Method::POST, &format!("/api/v1/runs/{new_id}/cancel"), Some(json!({"why": "x"})), Some(&deployer)).await;
        assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(&store, new_id).await, RunStatus::Running, "a malformed request changes nothing");
        assert_eq!(app.api(Method::POST, "/api/v1/runs/999/cancel", None, Some(&deployer)).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.api(Method::POST, "/api/v1/runs/abc/retry", None, Some(&deployer)).await.status, StatusCode::BAD_REQUEST);
    }
}

on_both_backends! {
    async fn a_release_manager_decides_only_the_gates_in_scope(store: Store) {
        let app = two_pipeline_app(store.clone()).await;
        let (manager, manager_actor) = token(&store, "prod-approver", Role::ReleaseManager, &["hello"], &["production"]).await;
        let (hello, other) = push_both(&app, "api-2").await;
        apply(&store, hello, TO_GATE).await;
        apply(&store, other, TO_GATE).await;

        let outside = app.api(Method::POST, &format!("/api/v1/runs/{other}/environments/production/approve"), None, Some(&manager)).await;
        assert_eq!(outside.status, StatusCode::FORBIDDEN, "{}", outside.text());
        assert_eq!(status(&store, other).await, RunStatus::AwaitingApproval);
        // Its scope is one environment: a whole run, which may go on to others, is not its to cancel.
        let cancel = app.api(Method::POST, &format!("/api/v1/runs/{hello}/cancel"), None, Some(&manager)).await;
        assert_eq!(cancel.status, StatusCode::FORBIDDEN);

        let approved = app.api(Method::POST, &format!("/api/v1/runs/{hello}/environments/production/approve"),
            Some(json!({"comment": "ship it"})), Some(&manager)).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
        assert_eq!(approved.json()["status"], "running");
        assert_eq!(approved.json()["decisions"][0]["comment"], "ship it");
        let audit = store.list_audit(Some(&format!("run:{hello}/production")), 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "gate.approved");
        assert_eq!(audit[0].actor, manager_actor);
    }
}

// ---- The dashboard ----

on_both_backends! {
    async fn the_run_page_offers_the_controls_its_viewer_may_use(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let at_gate = push_run(&app, "p-1").await;
        apply(&store, at_gate, TO_GATE).await;
        let failed = push_run(&app, "p-2").await;
        apply(&store, failed, &[RunEvent::BuildFailed]).await;
        let deploying = push_run(&app, "p-3").await;
        apply(&store, deploying, &[RunEvent::BuildSucceeded, RunEvent::DeployStarted(0)]).await;

        // Local mode: the one user is an admin.
        let gate_page = app.get(&format!("/runs/{at_gate}")).await.text();
        for needle in [">Cancel run</button>", ">Approve production</button>", ">Reject</button>", "name=\"comment\""] {
            assert!(gate_page.contains(needle), "the gate page lacks {needle}");
        }
        assert!(!gate_page.contains(">Retry</button>"));
        let failed_page = app.get(&format!("/runs/{failed}")).await.text();
        assert!(failed_page.contains(">Retry</button>") && !failed_page.contains(">Cancel run</button>"));
        let deploying_page = app.get(&format!("/runs/{deploying}")).await.text();
        assert!(!deploying_page.contains(">Cancel run</button>"));
        assert!(deploying_page.contains("The deploy to staging is rolling out on ECS"));

        let (viewer, _) = token(&store, "viewer", Role::Viewer, &[], &[]).await;
        let as_viewer = app.get_as(&format!("/runs/{at_gate}"), &viewer).await.text();
        assert!(as_viewer.contains("Deploy · production"), "a viewer sees the run");
        assert!(!as_viewer.contains(">Cancel run</button>") && !as_viewer.contains(">Approve production</button>"));
        let (deployer, _) = token(&store, "deployer", Role::Deployer, &[], &[]).await;
        let as_deployer = app.get_as(&format!("/runs/{at_gate}"), &deployer).await.text();
        assert!(as_deployer.contains(">Cancel run</button>") && !as_deployer.contains(">Approve production</button>"));
    }
}

on_both_backends! {
    async fn the_run_page_forms_work_without_javascript(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let id = push_run(&app, "f-1").await;
        apply(&store, id, TO_GATE).await;
        let page = format!("/runs/{id}");
        let html = app.get(&page).await.text();
        let (reject, cancel) = (form_action(&html, "Reject"), form_action(&html, "Cancel run"));
        let id_text = id.to_string();

        // A rejection without a reason: back to the page, which says what is missing.
        let reply = app.post_form(&reject, &[("id", &id_text), ("environment", "production"), ("comment", " ")], &page, None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        let back = reply.headers["location"].to_str().unwrap().to_owned();
        assert!(back.starts_with(&format!("http://localhost{page}?")), "{back}");
        let shown = app.get(back.trim_start_matches("http://localhost")).await.text();
        assert!(shown.contains("comment: a rejection needs a reason"), "the error is shown by the form");
        assert_eq!(status(&store, id).await, RunStatus::AwaitingApproval);

        let reply = app.post_form(&cancel, &[("id", &id_text), ("reason", "not today")], &page, None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        // Back to the page as it was sent from (the framework may leave an empty `?`).
        assert_eq!(reply.headers["location"].to_str().unwrap().trim_end_matches('?'), format!("http://localhost{page}"));
        assert_eq!(status(&store, id).await, RunStatus::Cancelled);
        assert_eq!(audit_of(&store, &format!("run:{id}")).await, [("local".to_owned(), "run.cancel".to_owned(), "not today".to_owned())]);

        // The page now offers a retry, which leads to the new run.
        let html = app.get(&page).await.text();
        let retry = form_action(&html, "Retry");
        let reply = app.post_form(&retry, &[("id", &id_text)], &page, None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        let new_page = reply.headers["location"].to_str().unwrap().to_owned();
        let new_id: i64 = new_page.strip_prefix("/runs/").expect("the new run's page").parse().unwrap();
        assert_eq!(status(&store, new_id).await, RunStatus::Running);
        let new_html = app.get(&new_page).await.text();
        assert!(new_html.contains(&format!("href=\"/runs/{id}\"")), "the new run links the run it retries");

        // Cancelling the old run again is refused, and the page says why.
        let reply = app.post_form(&cancel, &[("id", &id_text), ("reason", "")], &page, None).await;
        let back = reply.headers["location"].to_str().unwrap().trim_start_matches("http://localhost").to_owned();
        assert!(app.get(&back).await.text().contains("it has already ended as cancelled"));
    }
}

on_both_backends! {
    async fn a_refused_form_post_without_javascript_goes_back_to_the_page_with_the_reason(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let id = push_run(&app, "r-1").await;
        apply(&store, id, TO_GATE).await;
        let page = format!("/runs/{id}");
        let cancel = form_action(&app.get(&page).await.text(), "Cancel run");
        let (viewer, _) = token(&store, "viewer", Role::Viewer, &[], &[]).await;

        // Not a bare 403 body: the browser is sent back to the page it posted from ...
        let reply = app.post_form(&cancel, &[("id", &id.to_string()), ("reason", "mine")], &page, Some(&viewer)).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        let back = reply.headers["location"].to_str().unwrap().trim_start_matches("http://localhost").to_owned();
        assert!(back.starts_with(&format!("{page}?")), "{back}");
        // ... nothing happened, and nothing was audited ...
        assert_eq!(status(&store, id).await, RunStatus::AwaitingApproval);
        assert!(audit_of(&store, &format!("run:{id}")).await.is_empty());
        // ... and a caller from code, asking for data, still gets the 403.
        let request = Request::builder()
            .method(Method::POST)
            .uri(&cancel)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Bearer {viewer}"))
            .body(Body::from(format!("id={id}&reason=mine")))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.text().contains("this needs the deployer role"), "{}", reply.text());
    }
}
