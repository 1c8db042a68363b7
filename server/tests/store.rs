//! The store itself, on SQLite and PostgreSQL: idempotent config loading, the append-only
//! audit log, and run transitions through the state machine.

mod support;

use shipgate::store::pipelines::Saved;
use shipgate::store::{AuditEntry, StoreError};
use shipgate_pipeline::{RunEvent, RunStatus, StageStatus, TransitionError};
use support::*;

fn actor() -> AuditEntry {
    AuditEntry {
        actor: "test".into(),
        action: String::new(),
        target: String::new(),
        ip: Some("127.0.0.1".into()),
        detail: String::new(),
        via: None,
    }
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
        let (update, delete) = match store.db() {
            shipgate::store::Db::Sqlite(pool) => (
                sqlx::query("UPDATE audit_log SET actor = 'mallory'").execute(pool).await.map(|_| ()),
                sqlx::query("DELETE FROM audit_log").execute(pool).await.map(|_| ()),
            ),
            shipgate::store::Db::Postgres(pool) => (
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
    app.deliver("push", "run-1", &branch_push()).await.json()["run_ids"][0]
        .as_i64()
        .unwrap()
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

on_both_backends! {
    async fn of_replicas_claiming_a_due_chore_at_once_exactly_one_gets_it(store: Store) {
        use shipgate::store::inventory::INVENTORY;
        let now = shipgate::clock::wall_ms();
        let claims = futures::future::join_all((0..8).map(|_| store.claim_chore(INVENTORY, now, now + 60_000))).await;
        assert_eq!(claims.into_iter().map(Result::unwrap).filter(|won| *won).count(), 1);
        assert!(!store.claim_chore(INVENTORY, now + 59_999, now + 120_000).await.unwrap(), "not due again before its interval");
        assert!(store.claim_chore(INVENTORY, now + 60_000, now + 120_000).await.unwrap(), "due again once its interval passed");
    }
}

on_both_backends! {
    async fn a_new_listing_replaces_the_last_and_a_failed_one_keeps_it(store: Store) {
        use shipgate_pipeline::inventory::{RegistryImage, RegistryListing};
        let listing = |at: i64| RegistryListing {
            region: "us-east-1".into(),
            repository: "hello-world".into(),
            repository_uri: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world".into()),
            image_count: None,
            observed_at: Some(at),
            error: None,
            checked_at: at,
        };
        let image = |n: i64| RegistryImage { digest: format!("sha256:{n:064}"), tags: vec![format!("v{n}")], size: Some(n), pushed_at: Some(n) };
        // More rows than one INSERT carries, to cover the chunking.
        let many: Vec<RegistryImage> = (1..=450).map(image).collect();
        store.save_registry_listing(&RegistryListing { image_count: Some(450), ..listing(1) }, &many).await.unwrap();
        let (saved, images) = store.registry("us-east-1", "hello-world", 1000).await.unwrap();
        assert_eq!(images.len(), 450);
        assert_eq!(images[0], image(450), "newest first");
        assert_eq!(saved.unwrap().image_count, Some(450));

        store.save_registry_listing(&RegistryListing { image_count: Some(2), ..listing(2) }, &[image(7), image(3)]).await.unwrap();
        let (_, images) = store.registry("us-east-1", "hello-world", 1000).await.unwrap();
        assert_eq!(images, vec![image(7), image(3)], "a listing replaces the previous one whole");

        store.note_registry_error("us-east-1", "hello-world", "AccessDeniedException: ecr:DescribeImages: denied", 3).await.unwrap();
        let (saved, images) = store.registry("us-east-1", "hello-world", 1000).await.unwrap();
        let saved = saved.unwrap();
        assert_eq!((saved.observed_at, saved.checked_at, saved.image_count), (Some(2), 3, Some(2)));
        assert!(saved.error.unwrap().contains("AccessDenied"));
        assert_eq!(images.len(), 2, "the failed look keeps the images");
        assert!(store.registry("us-east-1", "other", 10).await.unwrap().0.is_none());
    }
}

on_both_backends! {
    async fn a_deploy_with_an_unknown_step_or_unreadable_settings_is_reported_corrupt(store: Store) {
        let id = one_run(&store).await;
        let spec = hello_world_pipeline();
        let row = shipgate::store::engine::DeployRow::queued(id, 0, &spec.environments[0], "repo@sha256:1".into(), 1);
        store.queue_deploy(&row).await.unwrap();
        assert_eq!(store.get_deploys(id).await.unwrap().len(), 1, "a sound row reads back");

        // An unknown step is never parked as if it were asleep: the read fails, naming it.
        exec(&store, "UPDATE deploys SET step = 'teleporting'").await;
        match store.get_deploys(id).await {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("teleporting") && why.contains("staging"), "{why}"),
            other => panic!("an unknown step must be Corrupt, got {other:?}"),
        }

        // Settings that do not decode are not replaced by defaults.
        exec(&store, "UPDATE deploys SET step = 'queued', settings = '{not json'").await;
        match store.get_deploys(id).await {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("unreadable settings"), "{why}"),
            other => panic!("unreadable settings must be Corrupt, got {other:?}"),
        }
    }
}
