//! Approval gates through the REST API, on SQLite and PostgreSQL: the environment's policy
//! (N distinct approvers, no self-approval, freezes with an admin's override) and the binding
//! of a decision to the exact digest waiting, as release managers meet them.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use shipgate::store::access::NewToken;
use shipgate::store::{AuditEntry, Store};
use shipgate_pipeline::access::{Grant, Role};
use shipgate_pipeline::freeze::FreezeDraft;
use shipgate_pipeline::{RunEvent, RunStatus};
use support::*;

/// The pusher of GitHub's example push (Codertocat), by email.
const PUSHER: &str = "21031067+codertocat@users.noreply.github.com";

/// A personal API token acting for `owner` with `role` everywhere.
async fn token_for(store: &Store, owner: &str, role: Role) -> String {
    let new = NewToken {
        name: format!("{owner}'s"),
        kind: "personal".into(),
        owner: Some(owner.into()),
        grant: Grant::everywhere(role),
        expires_at: None,
    };
    let actor = support::test_actor();
    store.create_token(&new, &actor).await.unwrap().0
}

/// An app whose `hello` pipeline gates production with `tune` applied to its policy.
async fn app_with(
    store: &Store,
    tune: impl FnOnce(&mut shipgate_pipeline::DeploySettings),
) -> TestApp {
    let mut settings = settings();
    tune(&mut settings.pipelines[0].environments[1].deploy);
    TestApp::with_settings(store.clone(), settings).await
}

/// A run of GitHub's example push, built and shipped to staging, waiting at production.
async fn at_gate(app: &TestApp, store: &Store, delivery: &str) -> i64 {
    let id = app.deliver("push", delivery, &branch_push()).await.json()["run_ids"][0]
        .as_i64()
        .expect("a run");
    image_built(store, id).await;
    for event in [
        RunEvent::BuildSucceeded,
        RunEvent::DeployStarted(0),
        RunEvent::DeploySucceeded(0),
    ] {
        store.apply_event(id, event, None).await.unwrap();
    }
    id
}

async fn approve(app: &TestApp, run: i64, token: &str, body: Value) -> Reply {
    app.api(
        Method::POST,
        &format!("/api/v1/runs/{run}/environments/production/approve"),
        Some(body),
        Some(token),
    )
    .await
}

async fn status(store: &Store, run: i64) -> RunStatus {
    store.get_run(run).await.unwrap().unwrap().run.status
}

on_both_backends! {
    async fn two_approvals_means_two_different_people(store: Store) {
        let app = app_with(&store, |d| d.approval.required_approvals = 2).await;
        let run = at_gate(&app, &store, "two-1").await;
        let (ana, ana_again, ben) = (
            token_for(&store, "ana@example.com", Role::ReleaseManager).await,
            token_for(&store, "ANA@example.com", Role::ReleaseManager).await,
            token_for(&store, "ben@example.com", Role::ReleaseManager).await,
        );

        let first = approve(&app, run, &ana, json!({"comment": "looks good"})).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text());
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval, "one of two is not enough");

        // The same person with another token is still one person.
        let again = approve(&app, run, &ana_again, json!({})).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN);
        assert_eq!(again.error(), "you have already approved this change; it needs approval from someone else");
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);

        let second = approve(&app, run, &ben, json!({})).await;
        assert_eq!(second.status, StatusCode::OK, "{}", second.text());
        assert_eq!(status(&store, run).await, RunStatus::Running, "the second person completes the gate");

        let audit = store.list_audit(Some(&format!("run:{run}/production")), 10).await.unwrap();
        let details: Vec<Value> = audit.iter().map(|a| serde_json::from_str(&a.detail).unwrap()).collect();
        assert_eq!(audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["gate.approved", "gate.approved"]);
        assert_eq!((details[1]["approvals"].as_i64(), details[0]["approvals"].as_i64()), (Some(1), Some(2)));
        assert!(details.iter().all(|d| d["image_digest"] == BUILT_DIGEST && d["required"] == 2));
    }
}

on_both_backends! {
    async fn the_pusher_may_not_approve_their_own_change_but_may_reject_it(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let run = at_gate(&app, &store, "self-1").await;
        let pusher = token_for(&store, PUSHER, Role::ReleaseManager).await;

        let reply = approve(&app, run, &pusher, json!({"comment": "mine, but fine"})).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.error(), "you pushed or wrote this change, so someone else must approve it");
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);
        assert!(store.list_audit(Some(&format!("run:{run}/production")), 10).await.unwrap().is_empty(), "a refusal records no decision");

        let reject = app.api(Method::POST, &format!("/api/v1/runs/{run}/environments/production/reject"), Some(json!({"comment": "wrong branch"})), Some(&pusher)).await;
        assert_eq!(reject.status, StatusCode::OK, "{}", reject.text());
        assert_eq!(status(&store, run).await, RunStatus::Rejected);
    }
}

on_both_backends! {
    async fn self_approval_is_allowed_only_where_the_policy_allows_it(store: Store) {
        let app = app_with(&store, |d| d.approval.allow_self_approval = true).await;
        let run = at_gate(&app, &store, "self-2").await;
        let pusher = token_for(&store, PUSHER, Role::ReleaseManager).await;
        let reply = approve(&app, run, &pusher, json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(status(&store, run).await, RunStatus::Running);
    }
}

on_both_backends! {
    async fn an_approval_of_another_digest_is_refused(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let run = at_gate(&app, &store, "digest-1").await;
        let rm = token_for(&store, "rm@example.com", Role::ReleaseManager).await;
        let stale = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

        let reply = approve(&app, run, &rm, json!({"digest": stale})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert!(reply.error().contains(&format!("the image waiting is {BUILT_DIGEST}, not {stale}")), "{}", reply.error());
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);

        let reply = approve(&app, run, &rm, json!({"digest": BUILT_DIGEST})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["decisions"][0]["image_digest"], BUILT_DIGEST);
    }
}

on_both_backends! {
    async fn a_freeze_holds_approvals_until_an_admin_overrides_it_with_a_reason(store: Store) {
        let freeze = FreezeDraft {
            name: Some("all year".into()),
            time_zone: Some("UTC".into()),
            from: Some("2000-01-01".into()),
            until: Some("2100-01-01".into()),
            ..FreezeDraft::default()
        };
        let app = app_with(&store, |d| d.freeze = vec![freeze.validate().unwrap()]).await;
        let run = at_gate(&app, &store, "freeze-1").await;
        let (rm, admin) = (token_for(&store, "rm@example.com", Role::ReleaseManager).await, token_for(&store, "root@example.com", Role::Admin).await);

        let reply = approve(&app, run, &rm, json!({"comment": "please"})).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert!(reply.error().ends_with("production is frozen (all year); approving now needs an admin's override with a reason"), "{}", reply.error());
        let reply = approve(&app, run, &rm, json!({"comment": "please", "override_freeze": true})).await;
        assert_eq!((reply.status, reply.error()), (StatusCode::FORBIDDEN, "only an admin may override a deploy freeze".to_owned()));
        let reply = approve(&app, run, &admin, json!({"override_freeze": true})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.json()["fields"][0]["field"], "comment");
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);

        let reply = approve(&app, run, &admin, json!({"override_freeze": true, "comment": "payments outage hotfix"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(status(&store, run).await, RunStatus::Running);
        let audit = store.list_audit(Some(&format!("run:{run}/production")), 10).await.unwrap();
        let detail: Value = serde_json::from_str(&audit[0].detail).unwrap();
        assert_eq!((detail["freeze_overridden"].as_str(), detail["comment"].as_str()), (Some("all year"), Some("payments outage hotfix")));
    }
}

on_both_backends! {
    async fn a_retried_run_keeps_the_owners_of_its_change(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let first = at_gate(&app, &store, "owners-1").await;
        store.apply_event(first, RunEvent::Rejected(1), Some("no")).await.unwrap();
        let admin = AuditEntry { actor: "test".into(), action: String::new(), target: String::new(), ip: None, detail: String::new(), via: None };
        let retry = store.retry_run(first, &admin).await.unwrap();
        image_built(&store, retry).await;
        for event in [RunEvent::BuildSucceeded, RunEvent::DeployStarted(0), RunEvent::DeploySucceeded(0)] {
            store.apply_event(retry, event, None).await.unwrap();
        }
        let pusher = token_for(&store, PUSHER, Role::ReleaseManager).await;
        assert_eq!(approve(&app, retry, &pusher, json!({})).await.status, StatusCode::FORBIDDEN, "a retry is still the pusher's change");
    }
}

on_both_backends! {
    async fn the_gate_card_shows_what_the_policy_still_needs_and_sends_the_digest_it_shows(store: Store) {
        let app = app_with(&store, |d| d.approval.required_approvals = 2).await;
        let run = at_gate(&app, &store, "card-1").await;
        let ana = token_for(&store, "ana@example.com", Role::ReleaseManager).await;
        assert_eq!(approve(&app, run, &ana, json!({})).await.status, StatusCode::OK);

        // Local mode: the viewer is an admin, who may decide.
        let page = app.get(&format!("/runs/{run}")).await.text();
        for needle in [
            "1 of 2 approvals",
            "The pusher and the commits’ authors cannot approve their own change.",
            "Expires ",
            &format!("name=\"digest\" value=\"{BUILT_DIGEST}\""),
        ] {
            assert!(page.contains(needle), "the gate card lacks {needle}");
        }
        assert!(!page.contains("override_freeze"), "no freeze, no override");
        let json = app.get_json(&format!("/api/v1/runs/{run}")).await;
        assert_eq!((json["gate"]["required_approvals"].as_i64(), json["gate"]["approved_by"].as_array().map(Vec::len)), (Some(2), Some(1)));
    }
}

on_both_backends! {
    async fn during_a_freeze_the_gate_card_says_so_and_offers_admins_the_override(store: Store) {
        let freeze = FreezeDraft { name: Some("all year".into()), time_zone: Some("UTC".into()), from: Some("2000-01-01".into()), until: Some("2100-01-01".into()), ..FreezeDraft::default() };
        let app = app_with(&store, |d| d.freeze = vec![freeze.validate().unwrap()]).await;
        let run = at_gate(&app, &store, "card-2").await;
        let page = app.get(&format!("/runs/{run}")).await.text();
        assert!(page.contains("Deploy freeze “all year” until 2100-01-01 00:00:00 UTC"), "the freeze is named");
        assert!(page.contains("name=\"override_freeze\""), "an admin is offered the override");
    }
}

on_both_backends! {
    async fn pending_approvals_lists_the_gates_each_person_may_decide_longest_waiting_first(store: Store) {
        let mut settings = settings();
        settings.pipelines[0].build.pending_runs = shipgate_pipeline::gate::PendingRuns::Queue;
        let app = TestApp::with_settings(store.clone(), settings).await;
        let (first, second) = (at_gate(&app, &store, "pending-1").await, at_gate(&app, &store, "pending-2").await);
        let actor = AuditEntry { actor: "test".into(), action: String::new(), target: String::new(), ip: None, detail: String::new(), via: None };
        let scoped = |environments: &[&str]| NewToken {
            name: format!("rm {environments:?}"),
            kind: "service".into(),
            owner: None,
            grant: Grant { role: Role::ReleaseManager, scope: shipgate_pipeline::Scope { pipelines: vec![], environments: environments.iter().map(|e| e.to_string()).collect() } },
            expires_at: None,
        };
        let production = store.create_token(&scoped(&["production"]), &actor).await.unwrap().0;
        let staging = store.create_token(&scoped(&["staging"]), &actor).await.unwrap().0;

        let page = app.get_as("/approvals", &production).await.text();
        let rows: Vec<&str> = page.split("data-run-id=\"").skip(1).map(|r| r.split('"').next().unwrap()).collect();
        assert_eq!(rows, [first.to_string(), second.to_string()], "both, the one waiting longest first");
        assert!(page.contains("<strong>production</strong>"));
        let page = app.get_as("/approvals", &staging).await.text();
        assert!(page.contains("Nothing waits for you") && !page.contains("data-run-id"), "nothing a staging release manager may decide");
    }
}

on_both_backends! {
    async fn a_decision_link_from_a_notification_works_once_and_grants_nothing_by_itself(store: Store) {
        use shipgate::links::{GateLink, KEY_NAME};
        let app = app_with(&store, |d| d.approval.required_approvals = 2).await;
        let run = at_gate(&app, &store, "link-1").await;
        let key = store.signing_key(KEY_NAME).await.unwrap();
        assert_eq!(key, store.signing_key(KEY_NAME).await.unwrap(), "one key, kept");
        let link = GateLink::new(run, 1, shipgate::clock::wall_ms() + 3_600_000).sign(&key);
        let (ana, ben, viewer) = (
            token_for(&store, "ana@example.com", Role::ReleaseManager).await,
            token_for(&store, "ben@example.com", Role::ReleaseManager).await,
            token_for(&store, "vic@example.com", Role::Viewer).await,
        );

        // The link opens the run page with the decision forms, which carry it.
        let page = format!("/runs/{run}?decide={link}");
        let html = app.get_as(&page, &ana).await.text();
        assert!(html.contains(&format!("name=\"link\" value=\"{link}\"")), "the forms carry the link");
        assert!(html.contains("opened this decision from a notification"));
        let approve_action = form_action(&html, "Approve production");
        let fields = |link: &str| vec![("id".to_owned(), run.to_string()), ("environment".into(), "production".into()), ("comment".into(), String::new()), ("link".into(), link.to_owned())];
        let post = |token: String, link: String| {
            let (app, action, page) = (&app, approve_action.clone(), page.clone());
            async move {
                let owned = fields(&link);
                let pairs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let reply = app.post_form(&action, &pairs, &page, Some(&token)).await;
                assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
                let back = reply.headers["location"].to_str().unwrap().trim_start_matches("http://localhost").to_owned();
                app.get_as(&back, &token).await.text()
            }
        };

        // A viewer holding the link cannot decide: the link grants no role.
        let shown = post(viewer.clone(), link.clone()).await;
        assert!(shown.contains("needs the release-manager role"), "the viewer is told why");
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);

        // Ana approves through the link: one of two.
        post(ana.clone(), link.clone()).await;
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);
        let audit = store.list_audit(Some(&format!("run:{run}/production")), 10).await.unwrap();
        let detail: Value = serde_json::from_str(&audit[0].detail).unwrap();
        assert_eq!(detail["via_link"], true);

        // The same link again, by someone else: spent.
        let shown = post(ben.clone(), link.clone()).await;
        assert!(shown.contains("this decision link was already used"), "the second use is refused by name");
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);
        // A link changed by hand, or for another gate, is refused too.
        let forged = link.replacen(&format!("v1.{run}."), &format!("v1.{}.", run + 1), 1);
        assert!(post(ben.clone(), forged).await.contains("signature does not match"));
        let other_gate = GateLink::new(run + 1, 1, shipgate::clock::wall_ms() + 3_600_000).sign(&key);
        assert!(post(ben.clone(), other_gate).await.contains("for another run or environment"));
        assert_eq!(status(&store, run).await, RunStatus::AwaitingApproval);

        // Ben decides from the run page without a link.
        let reply = approve(&app, run, &ben, json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(status(&store, run).await, RunStatus::Running);
    }
}

on_both_backends! {
    async fn only_admins_read_a_notifiers_url_whole(store: Store) {
        use shipgate_pipeline::notice::{Notifier, NotifierKind};
        let mut settings = settings();
        let url = "https://hooks.slack.com/services/T000/B000/very-secret";
        settings.pipelines[0].build.notify = vec![Notifier { name: "releases".into(), kind: NotifierKind::Slack, url: url.into(), events: vec![] }];
        let app = TestApp::with_settings(store.clone(), settings).await;
        let viewer = token_for(&store, "vic@example.com", Role::Viewer).await;
        for path in ["/api/v1/pipelines/hello", "/api/v1/pipelines"] {
            let as_viewer = app.api(Method::GET, path, None, Some(&viewer)).await.text();
            assert!(!as_viewer.contains("very-secret") && as_viewer.contains("https://hooks.slack.com/…"), "{path} as a viewer: {as_viewer}");
            let as_admin = app.api(Method::GET, path, None, Some(ADMIN_TOKEN)).await.text();
            assert!(as_admin.contains(url), "{path} as an admin shows the URL, so a GET-edit-PUT keeps it");
        }
    }
}
