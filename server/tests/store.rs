//! The store itself, on SQLite and PostgreSQL: idempotent config loading, the append-only
//! audit log, and run transitions through the state machine.

mod support;

use shipgate::store::{AuditEntry, StoreError};
use shipgate::store::pipelines::Saved;
use shipgate_pipeline::{RunEvent, RunStatus, StageStatus, TransitionError};
use support::*;

fn actor() -> AuditEntry {
    AuditEntry { actor: "test".into(), action: String::new(), target: String::new(), ip: Some("127.0.0.1".into()), detail: String::new() }
}

on_both_backends! {
    async fn loading_the_same_config_twice_changes_nothing(store: Store) {
        let settings = settings();
        shipgate::load_config_pipelines(&store, &settings).await.unwrap();
        shipgate::load_config_pipelines(&store, &settings).await.unwrap();
        let audit = store.list_audit(Some("pipeline:hello"), 10).await.unwrap();
        assert_eq!(audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["pipeline.created"]);

        let mut changed = hello_world_pipeline();
        changed.environments[1].promotion = shipgate_pipeline::Promotion::Auto;
        let (saved, record) = store.put_pipeline(&changed, "config", &actor()).await.unwrap();
        assert_eq!(saved, Saved::Updated);
        assert_eq!(record.spec, changed);
        let (saved, _) = store.put_pipeline(&changed, "config", &actor()).await.unwrap();
        assert_eq!(saved, Saved::Unchanged);
        assert_eq!(store.list_audit(Some("pipeline:hello"), 10).await.unwrap().len(), 2);
    }
}

on_both_backends! {
    async fn the_audit_log_refuses_updates_and_deletes(store: Store) {
        store.append_audit(&AuditEntry { action: "test.appended".into(), target: "x".into(), ..actor() }).await.unwrap();
        let (update, delete) = match &store {
            shipgate::store::Store::Sqlite(pool) => (
                sqlx::query("UPDATE audit_log SET actor = 'mallory'").execute(pool).await.map(|_| ()),
                sqlx::query("DELETE FROM audit_log").execute(pool).await.map(|_| ()),
            ),
            shipgate::store::Store::Postgres(pool) => (
                sqlx::query("UPDATE audit_log SET actor = 'mallory'").execute(pool).await.map(|_| ()),
                sqlx::query("DELETE FROM audit_log").execute(pool).await.map(|_| ()),
            ),
        };
        for result in [update, delete] {
            let err = result.expect_err("the audit log is append-only");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        let rows = store.list_audit(Some("x"), 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor, "test");
        assert_eq!(rows[0].ip.as_deref(), Some("127.0.0.1"));
    }
}

async fn one_run(store: &shipgate::store::Store) -> i64 {
    let app = TestApp::new(store.clone()).await;
    app.deliver("push", "run-1", &branch_push()).await.json()["run_ids"][0].as_i64().unwrap()
}

on_both_backends! {
    async fn events_move_a_run_through_its_stages(store: Store) {
        let id = one_run(&store).await;
        for event in [RunEvent::BuildStarted, RunEvent::BuildSucceeded, RunEvent::DeployStarted(0)] {
            store.apply_event(id, event, None).await.unwrap();
        }
        let state = store.apply_event(id, RunEvent::DeploySucceeded(0), Some("deployment ecs-svc/1 completed")).await.unwrap();
        assert_eq!(state.status, RunStatus::AwaitingApproval);
        let run = store.get_run(id).await.unwrap().unwrap();
        assert_eq!(run.run.status, RunStatus::AwaitingApproval);
        let statuses: Vec<StageStatus> = run.stages.iter().map(|s| s.status).collect();
        assert_eq!(statuses, [StageStatus::Succeeded, StageStatus::Succeeded, StageStatus::Succeeded, StageStatus::AwaitingApproval]);
        let staging = &run.stages[2];
        assert!(staging.started_at.is_some() && staging.finished_at.is_some());
        assert!(staging.duration_ms().unwrap() >= 0);
        assert_eq!(staging.detail, "deployment ecs-svc/1 completed");
        assert_eq!(run.stages[3].detail, "", "the detail belongs to the stage the event names");
    }
}

on_both_backends! {
    async fn an_illegal_event_is_refused_and_nothing_changes(store: Store) {
        let id = one_run(&store).await;
        let before = store.get_run(id).await.unwrap().unwrap();
        let err = store.apply_event(id, RunEvent::Approved(1), None).await.unwrap_err();
        assert!(matches!(err, StoreError::Transition(TransitionError::DeployNot { env: 1, .. })), "{err}");
        assert_eq!(store.get_run(id).await.unwrap().unwrap(), before);
        assert!(matches!(store.apply_event(999, RunEvent::Cancelled, None).await, Err(StoreError::RunNotFound(999))));
    }
}

on_both_backends! {
    async fn racing_writers_cannot_both_apply_an_event(store: Store) {
        let id = one_run(&store).await;
        let results = futures::future::join_all((0..8).map(|_| store.apply_event(id, RunEvent::BuildStarted, None))).await;
        let applied = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(applied, 1, "{results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::RunChanged(_)) | Err(StoreError::Transition(_)))));
    }
}
