//! The dashboard's pipeline form, as a browser without JavaScript uses it (plain GETs and
//! form posts, in-process): a pipeline made, edited and deleted through it, each change
//! audited; a refused save drawn again with every error beside its field; choices read from
//! moto (clusters, then services, then containers), another account's read through the
//! environment's deploy role, a live service imported, and AWS's refusal shown where the
//! region is typed.

mod support;

use axum::http::Method;
use shipgate::aws::DiscoverLimits;
use shipgate::ops::{DISCOVERY_TTL, Discovery};
use shipgate_pipeline::access::Role;
use shipgate_pipeline::read::AuditFilter;
use std::sync::Arc;
use support::aws::Moto;
use support::{ADMIN_TOKEN, TestApp};

/// What the form sends for a one-environment pipeline `name`, with `changes` laid over it.
fn form<'a>(name: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("form", "1"),
        ("name", name),
        ("repository", "octo-org/api"),
        ("branch", "main"),
        ("ecr_region", ""),
        ("ecr_repository", "api"),
        ("environments[0].was", ""),
        ("environments[0].name", "staging"),
        ("environments[0].region", "us-east-1"),
        ("environments[0].cluster", "stg"),
        ("environments[0].service", "api"),
        ("environments[0].container", "app"),
        ("environments[0].promotion", "auto"),
        ("environments[0].required_approvals", ""),
        ("environments[0].approvers", ""),
        ("environments[0].approval_expiry", ""),
    ];
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        fields.push((key, value));
    }
    fields
}

async fn audit(app: &TestApp, action: &str, target: &str) -> Vec<String> {
    app.store
        .search_audit(&AuditFilter {
            action: Some(action.into()),
            target: Some(target.into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.actor)
        .collect()
}

fn location(reply: &support::Reply) -> String {
    reply
        .headers
        .get("location")
        .unwrap_or_else(|| panic!("no Location: {} {}", reply.status, reply.text()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The value of the text input named `name`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag = &html[at..at + html[at..].find('>')?];
    let value = &tag[tag.find("value=\"")? + 7..];
    Some(value[..value.find('"')?].to_owned())
}

/// The text of the error shown beside `field`, if any.
fn error_beside(html: &str, field: &str) -> Option<String> {
    let at = html.find(&format!("data-error-for=\"{field}\""))?;
    let text = &html[at..];
    let text = &text[text.find('>')? + 1..];
    Some(text[..text.find('<')?].to_owned())
}

on_both_backends! {
    async fn a_pipeline_made_edited_and_deleted_through_the_form_is_audited_and_its_runs_stay(store: Store) {
        let app = TestApp::new(store).await;
        let page = app.get("/pipelines/new").await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains("Import from a live service"));

        let reply = app.post_form("/pipelines/new", &form("api", &[]), "/pipelines/new", None).await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(location(&reply), "/pipelines/api/setup?created=1", "a new pipeline goes on to its Set up page");
        let saved = app.get_json("/api/v1/pipelines/api").await;
        assert_eq!(saved["source"], "api");
        assert_eq!(saved["environments"][0]["cluster"], "stg");
        assert_eq!(saved["environments"][0]["container"], "app");
        assert_eq!(audit(&app, "pipeline.created", "pipeline:api").await, ["local"]);
        assert_eq!(audit(&app, "pipeline.verify", "pipeline:api").await, ["local"], "its first Verify is asked for by itself");
        let setup = app.get("/pipelines/api/setup?created=1").await.text();
        assert!(setup.contains("Pipeline created."), "{setup}");
        assert!(setup.contains("Verify is running"), "the first Verify waits for an engine");
        assert!(setup.contains(".github/workflows/build.yml"));
        let shown = app.get("/pipelines/api?saved=1").await.text();
        assert!(shown.contains("Pipeline saved."));
        assert!(shown.contains("href=\"/pipelines/api/edit\""), "admins get Edit");
        assert!(shown.contains("href=\"/pipelines/api/delete\""), "and Delete");

        // A setting the form does not show, given through the API, survives an edit.
        let json = serde_json::json!({"name": "api", "repository": "octo-org/api", "branch": "main", "ecr_repository": "api",
            "environments": [{"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": "us-east-1",
                "promotion": "auto", "deploy_timeout": "45m",
                "freeze": [{"name": "weekends", "cron": "0 18 * * FRI", "lasts": "63h", "time_zone": "UTC"}]}]});
        let put = app.api(Method::PUT, "/api/v1/pipelines/api", Some(json), Some(ADMIN_TOKEN)).await;
        assert_eq!(put.status, 200, "{}", put.text());
        let edit = app.get("/pipelines/api/edit").await.text();
        assert!(edit.contains("value=\"octo-org/api\""), "the form starts from the pipeline");
        assert!(!edit.contains("declared in the configuration file"));
        let changes = [("branch", "release"), ("environments[0].was", "staging"), ("environments[0].name", "stage")];
        let reply = app.post_form("/pipelines/api/edit", &form("api", &changes), "/pipelines/api/edit", None).await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let edited = app.get_json("/api/v1/pipelines/api").await;
        assert_eq!(edited["branch"], "release");
        assert_eq!(edited["environments"][0]["name"], "stage");
        assert_eq!(edited["environments"][0]["deploy_timeout"], "45m", "kept through a rename");
        assert_eq!(edited["environments"][0]["freeze"][0]["name"], "weekends");
        assert_eq!(audit(&app, "pipeline.updated", "pipeline:api").await, ["local", "token:config"]);

        // A run of it, then delete: the run stays.
        let push = app.deliver("push", "form-1", &support::branch_push()).await;
        assert!(push.status.is_success());
        let runs_before = app.get_json("/api/v1/runs?pipeline=hello").await["items"].as_array().unwrap().len();
        assert_eq!(runs_before, 1);
        let confirm = app.get("/pipelines/hello/delete").await;
        assert_eq!(confirm.status, 200);
        let html = confirm.text();
        assert!(html.contains("Its runs stay"), "{html}");
        assert!(html.contains("declared in the configuration file"), "hello is from TOML");
        let action = support::form_action(&html, "Delete hello");
        let reply = app.post_form(&action, &[("name", "hello")], "/pipelines/hello/delete", None).await;
        assert!(reply.status.is_redirection(), "{} {}", reply.status, reply.text());
        assert_eq!(location(&reply), "/pipelines?deleted=hello");
        assert_eq!(app.get("/api/v1/pipelines/hello").await.status, 404);
        let runs_after = app.get_json("/api/v1/runs?pipeline=hello").await["items"].as_array().unwrap().len();
        assert_eq!(runs_after, 1, "history stays");
        assert_eq!(audit(&app, "pipeline.deleted", "pipeline:hello").await, ["local"]);
        assert!(app.get("/pipelines?deleted=hello").await.text().contains("Pipeline hello was deleted"));
    }
}

#[tokio::test]
async fn a_refused_save_draws_the_form_again_with_what_was_sent_and_each_error_beside_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shipgate.db").display());
    let app = TestApp::new(shipgate::store::Store::connect(&url).await.unwrap()).await;
    let fields = form(
        "api",
        &[
            ("environments[0].cluster", ""),
            ("environments[0].region", "mars"),
            ("environments[0].required_approvals", "two"),
            ("environments[0].approvers", "alice"),
        ],
    );
    let reply = app
        .post_form("/pipelines/new", &fields, "/pipelines/new", None)
        .await;
    assert_eq!(reply.status, 422);
    let html = reply.text();
    assert!(html.contains("The pipeline was not saved"), "{html}");
    assert!(
        html.contains("value=\"octo-org/api\""),
        "what was typed stays"
    );
    assert_eq!(
        error_beside(&html, "environments[0].cluster").as_deref(),
        Some("is required")
    );
    assert!(
        error_beside(&html, "environments[0].region")
            .unwrap()
            .contains("`mars` is not an AWS region code")
    );
    assert!(
        error_beside(&html, "environments[0].required_approvals")
            .unwrap()
            .contains("`two`")
    );
    assert!(
        error_beside(&html, "environments[0].approvers")
            .unwrap()
            .contains("not an email address")
    );
    assert_eq!(error_beside(&html, "name"), None);
    assert!(
        html.contains("aria-describedby=\"error-environments[0].cluster\" aria-invalid=\"true\"")
            || html.contains(
                "aria-invalid=\"true\" aria-describedby=\"error-environments[0].cluster\""
            ),
        "the input says it is wrong and where the reason is"
    );
    assert!(app.store.get_pipeline("api").await.unwrap().is_none());

    let taken = form("hello", &[]);
    let reply = app
        .post_form("/pipelines/new", &taken, "/pipelines/new", None)
        .await;
    assert_eq!(reply.status, 409);
    assert!(reply.text().contains("already exists"), "{}", reply.text());

    let renamed = form("other", &[]);
    let reply = app
        .post_form(
            "/pipelines/hello/edit",
            &renamed,
            "/pipelines/hello/edit",
            None,
        )
        .await;
    assert_eq!(reply.status, 422);
    assert!(
        error_beside(&reply.text(), "name")
            .unwrap()
            .contains("must be `hello`")
    );
}

#[tokio::test]
async fn only_admins_may_use_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shipgate.db").display());
    let app = TestApp::new(shipgate::store::Store::connect(&url).await.unwrap()).await;
    let token = support::service_token(&app.store, "ci", Role::ReleaseManager).await;
    let reply = app
        .post_form(
            "/pipelines/new",
            &form("api", &[]),
            "/pipelines/new",
            Some(&token),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("You don't have access to this page"));
    assert!(app.store.get_pipeline("api").await.unwrap().is_none());
    for page in [
        "/pipelines/new",
        "/pipelines/hello/edit",
        "/pipelines/hello/delete",
    ] {
        assert_eq!(app.get_as(page, &token).await.status, 403, "{page}");
    }
    let list = app.get_as("/pipelines", &token).await.text();
    assert!(
        !list.contains("href=\"/pipelines/new\""),
        "no New for non-admins"
    );
}

#[tokio::test]
async fn the_form_offers_what_aws_reports_one_step_at_a_time_and_imports_a_live_service() {
    let moto = Moto::start().await;
    moto.create_service("stg", "api", "app").await;
    moto.ecr
        .create_repository()
        .repository_name("hello-world")
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("shipgate.db").display());
    let store = shipgate::store::Store::connect(&url).await.unwrap();
    let cloud = Arc::new(moto.cloud());
    let app = TestApp::with_state(store, support::settings(), |state| {
        state.discovery = Discovery::with_limits(cloud, DiscoverLimits::default(), DISCOVERY_TTL);
    })
    .await;
    let page = |query: &str| {
        let path = format!("/pipelines/new?form=1&name=api&{query}");
        let app = &app;
        async move {
            let reply = app.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            reply.text()
        }
    };
    let region = "environments%5B0%5D.region=us-east-1";
    let html = page(region).await;
    assert!(
        html.contains("<select name=\"environments[0].cluster\""),
        "a region lists its clusters"
    );
    assert!(html.contains("<option value=\"stg\""));
    assert!(
        html.contains("<select name=\"ecr_repository\""),
        "ECR's repositories"
    );
    assert!(html.contains("<option value=\"hello-world\""));
    assert!(html.contains("Choose a cluster first."));

    let html = page(&format!("{region}&environments%5B0%5D.cluster=stg")).await;
    assert!(html.contains("<select name=\"environments[0].service\""));
    assert!(html.contains("<option value=\"api\""));

    let html = page(&format!(
        "{region}&environments%5B0%5D.cluster=stg&environments%5B0%5D.service=api"
    ))
    .await;
    assert!(html.contains("<select name=\"environments[0].container\""));
    assert!(html.contains("<option value=\"app\""));
    assert!(html.contains("<option value=\"log-router\""));

    // Import: the step is taken, then the page is shown at an address without it.
    let reply = app
        .get("/pipelines/new?form=1&name=api&import_region=us-east-1&import_service=stg%2Fapi&op=import")
        .await;
    assert!(reply.status.is_redirection(), "{}", reply.text());
    let to = location(&reply);
    assert!(!to.contains("op="), "{to}");
    let html = app.get(&to).await.text();
    assert!(html.contains("<option value=\"stg\" selected"), "{html}");
    assert!(html.contains("<option value=\"api\" selected"));
    assert!(html.contains("<option value=\"app\" selected"));
    assert_eq!(
        input_value(&html, "environments[0].name").as_deref(),
        Some("stg"),
        "an unnamed environment is named after its cluster"
    );
    assert_eq!(
        moto.calls("ListClusters").await.len(),
        1,
        "every step read the one cached answer"
    );

    // An environment in another account: its clusters are read as its deploy role.
    let other = moto
        .assumed_ecs("arn:aws:iam::222222222222:role/deployer")
        .await;
    moto.create_service_with(&other, "222222222222", "prod-eu", "api", "app")
        .await;
    let html = page(&format!(
        "{region}&environments%5B0%5D.role_arn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Fdeployer"
    ))
    .await;
    assert!(
        html.contains("<option value=\"prod-eu\""),
        "the role's account's clusters"
    );
    assert!(
        !html.contains("<option value=\"stg\""),
        "not Shipgate's own"
    );
    assert_eq!(
        input_value(&html, "environments[0].role_arn").as_deref(),
        Some("arn:aws:iam::222222222222:role/deployer")
    );

    moto.control("POST", "/_shipgate/reset", None).await;
    let app = TestApp::with_state(
        shipgate::store::Store::connect(&format!(
            "sqlite:{}",
            dir.path().join("other.db").display()
        ))
        .await
        .unwrap(),
        support::settings(),
        |state| state.discovery = Discovery::new(Arc::new(moto.cloud())),
    )
    .await;
    moto.fault(
        "ListClusters",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: ecs:ListClusters on resource: *",
        400,
        1,
    )
    .await;
    let html = app
        .get(&format!("/pipelines/new?form=1&{region}"))
        .await
        .text();
    let beside =
        error_beside(&html, "environments[0].region").expect("AWS's refusal beside the region");
    assert!(
        beside.contains("not authorized to perform: ecs:ListClusters"),
        "{beside}"
    );
    assert!(
        html.contains("<input type=\"text\" name=\"environments[0].cluster\""),
        "without AWS's list, the cluster can still be typed"
    );
}
