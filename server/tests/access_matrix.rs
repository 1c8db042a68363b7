//! The authorization matrix: every REST route, every page and every server function, called
//! by a signed-out visitor and by a person of each role (signed in through the real OpenID
//! provider), with the exact status each must get. The lists of routes, pages and server
//! functions are read from the application itself, so a new one fails this test until it
//! is given a row.

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;
use shipgate::store::access::NewToken;
use shipgate_pipeline::access::{Grant, Role};
use shipgate_pipeline::{RunEvent, StageStatus};
use support::TestApp;
use support::oidc::{Browser, Provider};

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    Role(Role),
    /// A release manager for `production` of `hello` only.
    ScopedReleaseManager,
}

/// What a row needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Need {
    /// Anyone, signed in or not.
    Nothing,
    View,
    /// Deployer for the `hello` pipeline.
    Operate,
    /// Release manager for `production` of `hello`.
    Decide,
    Administer,
}

fn allowed(who: Who, need: Need) -> bool {
    let rank = |r: Role| match who {
        Who::Anonymous => false,
        Who::Role(role) => role >= r,
        Who::ScopedReleaseManager => r <= Role::Viewer,
    };
    match need {
        Need::Nothing => true,
        Need::View => rank(Role::Viewer),
        Need::Operate => rank(Role::Deployer),
        Need::Decide => rank(Role::ReleaseManager) || who == Who::ScopedReleaseManager,
        Need::Administer => rank(Role::Admin),
    }
}

/// The state a row's call acts on, made fresh for every call so that an allowed call never
/// meets a state an earlier call left behind.
#[derive(Debug, Clone, Copy)]
enum Fresh {
    None,
    /// A run building (live, not deploying).
    LiveRun,
    /// A run that was cancelled.
    EndedRun,
    /// A run waiting at the production gate.
    GatedRun,
    /// A run that shipped to production (a deploy there to roll back to).
    ShippedRun,
    /// A pipeline nobody needs.
    Pipeline,
    /// An API token.
    Token,
}

struct Row {
    /// `GET /api/v1/runs/{id}`, a page path as the router lists it, or a server fn name.
    key: &'static str,
    need: Need,
    fresh: Fresh,
    /// The status an allowed caller gets.
    ok: u16,
    /// Method, path and body, given the fresh state's id or name.
    call: fn(&str) -> (Method, String, Option<String>),
}

fn pipeline_json(name: &str) -> String {
    json!({"name": name, "repository": "octo/x", "branch": "main", "ecr_repository": "spare-app",
        "environments": [{"name": "staging", "cluster": "c", "service": "s", "container": "app", "region": "us-east-1", "promotion": "auto"}]})
    .to_string()
}

fn rest_rows() -> Vec<Row> {
    vec![
        Row {
            key: "GET /pipelines",
            need: Need::View,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/pipelines".into(), None),
        },
        Row {
            key: "POST /pipelines",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 201,
            call: |_| {
                let name = format!("new-{}", unique());
                (
                    Method::POST,
                    "/api/v1/pipelines".into(),
                    Some(pipeline_json(&name)),
                )
            },
        },
        Row {
            key: "GET /pipelines/{name}",
            need: Need::View,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/pipelines/hello".into(), None),
        },
        Row {
            key: "PUT /pipelines/{name}",
            need: Need::Administer,
            fresh: Fresh::Pipeline,
            ok: 200,
            call: |name| {
                (
                    Method::PUT,
                    format!("/api/v1/pipelines/{name}"),
                    Some(pipeline_json(name)),
                )
            },
        },
        Row {
            key: "DELETE /pipelines/{name}",
            need: Need::Administer,
            fresh: Fresh::Pipeline,
            ok: 204,
            call: |name| (Method::DELETE, format!("/api/v1/pipelines/{name}"), None),
        },
        Row {
            key: "GET /runs",
            need: Need::View,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/runs".into(), None),
        },
        Row {
            key: "GET /runs/{id}",
            need: Need::View,
            fresh: Fresh::LiveRun,
            ok: 200,
            call: |id| (Method::GET, format!("/api/v1/runs/{id}"), None),
        },
        Row {
            key: "POST /runs/{id}/cancel",
            need: Need::Operate,
            fresh: Fresh::LiveRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    format!("/api/v1/runs/{id}/cancel"),
                    Some(json!({"reason": "matrix"}).to_string()),
                )
            },
        },
        Row {
            key: "POST /runs/{id}/retry",
            need: Need::Operate,
            fresh: Fresh::EndedRun,
            ok: 201,
            call: |id| (Method::POST, format!("/api/v1/runs/{id}/retry"), None),
        },
        Row {
            key: "POST /runs/{id}/environments/{env}/approve",
            need: Need::Decide,
            fresh: Fresh::GatedRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    format!("/api/v1/runs/{id}/environments/production/approve"),
                    Some(json!({"comment": "ok"}).to_string()),
                )
            },
        },
        Row {
            key: "POST /runs/{id}/environments/{env}/reject",
            need: Need::Decide,
            fresh: Fresh::GatedRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    format!("/api/v1/runs/{id}/environments/production/reject"),
                    Some(json!({"comment": "no"}).to_string()),
                )
            },
        },
        Row {
            key: "POST /runs/{id}/environments/{env}/rollback",
            need: Need::Decide,
            fresh: Fresh::ShippedRun,
            ok: 201,
            call: |id| {
                (
                    Method::POST,
                    format!("/api/v1/runs/{id}/environments/production/rollback"),
                    Some(json!({"reason": "matrix"}).to_string()),
                )
            },
        },
        Row {
            key: "GET /deliveries",
            need: Need::View,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/deliveries".into(), None),
        },
        Row {
            key: "GET /tokens",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/tokens".into(), None),
        },
        Row {
            key: "POST /tokens",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 201,
            call: |_| {
                (
                    Method::POST,
                    "/api/v1/tokens".into(),
                    Some(json!({"name": format!("t{}", unique()), "role": "viewer"}).to_string()),
                )
            },
        },
        Row {
            key: "DELETE /tokens/{id}",
            need: Need::Administer,
            fresh: Fresh::Token,
            ok: 200,
            call: |id| (Method::DELETE, format!("/api/v1/tokens/{id}"), None),
        },
        Row {
            key: "GET /audit",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/audit".into(), None),
        },
        // Without a region: an admin learns it is missing (400) without any AWS call; nobody
        // else learns even that.
        Row {
            key: "GET /discover/ecs",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 400,
            call: |_| (Method::GET, "/api/v1/discover/ecs".into(), None),
        },
        Row {
            key: "GET /discover/ecr",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 400,
            call: |_| (Method::GET, "/api/v1/discover/ecr".into(), None),
        },
        Row {
            key: "GET /pipelines/{name}/setup",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/api/v1/pipelines/hello/setup".into(), None),
        },
        // No engine runs here, so a real Verify would wait out its limit: an admin learns
        // the pipeline is missing (404); nobody else learns even that.
        Row {
            key: "POST /pipelines/{name}/verify",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 404,
            call: |_| {
                (
                    Method::POST,
                    "/api/v1/pipelines/no-such-pipeline/verify".into(),
                    None,
                )
            },
        },
        // This app has no GitHub token: an admin is told so (409); nobody else learns even that.
        Row {
            key: "GET /discover/github",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 409,
            call: |_| (Method::GET, "/api/v1/discover/github".into(), None),
        },
    ]
}

/// The pipeline form as the dashboard posts it, for a pipeline `name`.
fn pipeline_form(name: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("form", "1"),
            ("name", name),
            ("repository", "octo/x"),
            ("branch", "main"),
            ("ecr_repository", "spare-app"),
            ("environments[0].name", "staging"),
            ("environments[0].region", "us-east-1"),
            ("environments[0].cluster", "c"),
            ("environments[0].service", "s"),
            ("environments[0].container", "app"),
            ("environments[0].promotion", "auto"),
        ])
        .finish()
}

/// The pipeline form's doors (`web/pipeline_form.rs`): a save sends the browser on (303).
fn form_rows() -> Vec<Row> {
    vec![
        Row {
            key: "POST /pipelines/new",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 303,
            call: |_| {
                let name = format!("form-{}", unique());
                (
                    Method::POST,
                    "/pipelines/new".into(),
                    Some(pipeline_form(&name)),
                )
            },
        },
        Row {
            key: "POST /pipelines/{name}/edit",
            need: Need::Administer,
            fresh: Fresh::Pipeline,
            ok: 303,
            call: |name| {
                (
                    Method::POST,
                    format!("/pipelines/{name}/edit"),
                    Some(pipeline_form(name)),
                )
            },
        },
    ]
}

fn page_rows() -> Vec<Row> {
    let view = |key, call| Row {
        key,
        need: Need::View,
        fresh: Fresh::LiveRun,
        ok: 200,
        call,
    };
    vec![
        view("/", |_| (Method::GET, "/".into(), None)),
        view("/runs/{id}", |id| {
            (Method::GET, format!("/runs/{id}"), None)
        }),
        view("/pipelines", |_| (Method::GET, "/pipelines".into(), None)),
        view("/pipelines/{name}", |_| {
            (Method::GET, "/pipelines/hello".into(), None)
        }),
        view("/pipelines/{name}/images", |_| {
            (Method::GET, "/pipelines/hello/images".into(), None)
        }),
        view("/services", |_| (Method::GET, "/services".into(), None)),
        view("/images", |_| (Method::GET, "/images".into(), None)),
        view("/deliveries", |_| (Method::GET, "/deliveries".into(), None)),
        view("/approvals", |_| (Method::GET, "/approvals".into(), None)),
        Row {
            key: "/admin/tokens",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/admin/tokens".into(), None),
        },
        Row {
            key: "/admin/audit",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/admin/audit".into(), None),
        },
        Row {
            key: "/pipelines/new",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/pipelines/new".into(), None),
        },
        Row {
            key: "/pipelines/{name}/edit",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/pipelines/hello/edit".into(), None),
        },
        Row {
            key: "/pipelines/{name}/setup",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/pipelines/hello/setup".into(), None),
        },
        Row {
            key: "/pipelines/{name}/delete",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::GET, "/pipelines/hello/delete".into(), None),
        },
    ]
}

/// Server functions, by name; the call's path is filled in from the registry.
fn server_fn_rows() -> Vec<Row> {
    let view = |key, call| Row {
        key,
        need: Need::View,
        fresh: Fresh::LiveRun,
        ok: 200,
        call,
    };
    vec![
        Row {
            key: "who_am_i",
            need: Need::Nothing,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some(String::new())),
        },
        view("list_runs", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        view("get_run", |id| {
            (Method::POST, String::new(), Some(format!("id={id}")))
        }),
        view("live_fingerprint", |id| {
            (Method::POST, String::new(), Some(format!("run={id}")))
        }),
        view("list_pipelines", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        view("get_pipeline", |_| {
            (Method::POST, String::new(), Some("name=hello".into()))
        }),
        view("list_deliveries", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        view("list_my_gates", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        view("list_services", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        view("get_images", |_| {
            (Method::POST, String::new(), Some(String::new()))
        }),
        Row {
            key: "cancel_run",
            need: Need::Operate,
            fresh: Fresh::LiveRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    String::new(),
                    Some(format!("id={id}&reason=matrix")),
                )
            },
        },
        Row {
            key: "retry_run",
            need: Need::Operate,
            fresh: Fresh::EndedRun,
            ok: 200,
            call: |id| (Method::POST, String::new(), Some(format!("id={id}"))),
        },
        Row {
            key: "approve_gate",
            need: Need::Decide,
            fresh: Fresh::GatedRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    String::new(),
                    Some(format!("id={id}&environment=production&comment=ok")),
                )
            },
        },
        Row {
            key: "reject_gate",
            need: Need::Decide,
            fresh: Fresh::GatedRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    String::new(),
                    Some(format!("id={id}&environment=production&comment=no")),
                )
            },
        },
        Row {
            key: "roll_back",
            need: Need::Decide,
            fresh: Fresh::ShippedRun,
            ok: 200,
            call: |id| {
                (
                    Method::POST,
                    String::new(),
                    Some(format!("id={id}&environment=production&reason=matrix")),
                )
            },
        },
        Row {
            key: "list_audit",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some(String::new())),
        },
        Row {
            key: "list_tokens",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some(String::new())),
        },
        Row {
            key: "take_created_token",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some(String::new())),
        },
        Row {
            key: "create_token",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| {
                let body = format!(
                    "name=t{}&kind=service&owner=&role=viewer&pipelines=&environments=&expires_in_days=",
                    unique()
                );
                (Method::POST, String::new(), Some(body))
            },
        },
        // An impossible region is an answer (the page shows it beside the field), not an AWS call.
        Row {
            key: "discover_ecs",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some("region=mars".into())),
        },
        Row {
            key: "discover_ecr",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some("region=mars".into())),
        },
        Row {
            key: "discover_github",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), None),
        },
        Row {
            key: "editable_pipeline",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some("name=hello".into())),
        },
        Row {
            key: "get_setup",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 200,
            call: |_| (Method::POST, String::new(), Some("name=hello".into())),
        },
        Row {
            key: "verify_pipeline",
            need: Need::Administer,
            fresh: Fresh::None,
            ok: 404,
            call: |_| {
                (
                    Method::POST,
                    String::new(),
                    Some("name=no-such-pipeline".into()),
                )
            },
        },
        view("verify_problems", |_| (Method::POST, String::new(), None)),
        Row {
            key: "delete_pipeline",
            need: Need::Administer,
            fresh: Fresh::Pipeline,
            ok: 200,
            call: |name| (Method::POST, String::new(), Some(format!("name={name}"))),
        },
        Row {
            key: "revoke_token",
            need: Need::Administer,
            fresh: Fresh::Token,
            ok: 200,
            call: |id| (Method::POST, String::new(), Some(format!("id={id}"))),
        },
    ]
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A new run of the `hello` pipeline from a push of a new commit.
async fn new_run(app: &TestApp) -> i64 {
    let mut push = support::branch_push();
    let sha = format!("{:040x}", unique() + 0xabc000);
    push["after"] = json!(sha);
    push["head_commit"]["id"] = json!(sha);
    let reply = app.deliver("push", &format!("matrix-{sha}"), &push).await;
    assert!(reply.status.is_success(), "{}", reply.text());
    let runs = app.store.list_runs(&Default::default()).await.unwrap();
    runs.items
        .iter()
        .find(|r| r.commit.sha == sha)
        .map(|r| r.id)
        .expect("the push started a run")
}

async fn prepare(app: &TestApp, fresh: Fresh) -> String {
    let store = &app.store;
    match fresh {
        Fresh::None => String::new(),
        Fresh::LiveRun => new_run(app).await.to_string(),
        Fresh::EndedRun => {
            let id = new_run(app).await;
            store
                .apply_event(id, RunEvent::Cancelled, Some("matrix"))
                .await
                .unwrap();
            id.to_string()
        }
        Fresh::GatedRun => {
            let id = new_run(app).await;
            support::image_built(store, id).await;
            for event in [
                RunEvent::BuildStarted,
                RunEvent::BuildSucceeded,
                RunEvent::DeployStarted(0),
                RunEvent::DeploySucceeded(0),
            ] {
                store.apply_event(id, event, None).await.unwrap();
            }
            let run = store.get_run(id).await.unwrap().unwrap();
            assert!(
                run.stages
                    .iter()
                    .any(|s| s.status == StageStatus::AwaitingApproval),
                "the run waits at the gate"
            );
            id.to_string()
        }
        Fresh::ShippedRun => {
            let id: i64 = Box::pin(prepare(app, Fresh::GatedRun))
                .await
                .parse()
                .unwrap();
            store
                .apply_event(id, RunEvent::Approved(1), None)
                .await
                .unwrap();
            let target = &support::hello_world_pipeline().environments[1];
            let mut row = shipgate::store::engine::DeployRow::queued(
                id,
                1,
                target,
                format!("hello@{}", support::BUILT_DIGEST),
                0,
            );
            store.queue_deploy(&row).await.unwrap();
            let revision = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello:9";
            let sql = format!(
                "UPDATE deploys SET step = 'following', task_definition = '{revision}' WHERE run_id = {id} AND position = 1"
            );
            support::exec(store, &sql).await;
            (row.step, row.task_definition) = (
                shipgate::store::engine::DeployStep::Following,
                Some(revision.into()),
            );
            store
                .apply_event(id, RunEvent::DeployStarted(1), None)
                .await
                .unwrap();
            store
                .finish_deploy(
                    &row,
                    RunEvent::DeploySucceeded(1),
                    "succeeded",
                    "matrix",
                    None,
                    None,
                )
                .await
                .unwrap();
            id.to_string()
        }
        Fresh::Pipeline => {
            let name = format!("spare-{}", unique());
            let draft: shipgate_pipeline::PipelineDraft =
                serde_json::from_str(&pipeline_json(&name)).unwrap();
            let audit = support::test_actor();
            store
                .create_pipeline(&draft.validate().unwrap(), "api", &audit)
                .await
                .unwrap();
            name
        }
        Fresh::Token => {
            let audit = support::test_actor();
            let new = NewToken {
                name: format!("spare-{}", unique()),
                kind: "service".into(),
                owner: None,
                grant: Grant::everywhere(Role::Viewer),
                expires_at: None,
            };
            store
                .create_token(&new, &audit)
                .await
                .unwrap()
                .1
                .id
                .to_string()
        }
    }
}

/// Pairs the router's own lists with the rows, failing on anything unlisted.
fn check_coverage(listed: &[String], rows: &[Row], what: &str) {
    for item in listed {
        assert!(
            rows.iter().any(|r| r.key == item),
            "{what} `{item}` has no row in the authorization matrix"
        );
    }
    for row in rows {
        assert!(
            listed.iter().any(|l| l == row.key),
            "the matrix has a row for {what} `{}`, which does not exist",
            row.key
        );
    }
}

/// The `.route("/path", get(a).post(b))` calls of the REST module's `routes()`, as
/// `METHOD /path`, however rustfmt wraps them.
fn rest_routes() -> Vec<String> {
    let out = routes_in(include_str!("../src/web/api.rs"));
    assert!(
        out.len() >= 15,
        "read only {} REST routes from web/api.rs: {out:?}",
        out.len()
    );
    out
}

/// The form doors' routes, read as [`rest_routes`] reads the REST API's.
fn form_routes() -> Vec<String> {
    let out = routes_in(include_str!("../src/web/pipeline_form.rs"));
    assert_eq!(out.len(), 2, "read the form doors: {out:?}");
    out
}

/// The setup kit's download links (`web/setup.rs`).
fn download_routes() -> Vec<String> {
    let out = routes_in(include_str!("../src/web/setup.rs"));
    assert_eq!(out.len(), 1, "read the downloads: {out:?}");
    out
}

/// A download is a link a browser follows, so a stranger is sent to sign in, as for a page.
fn download_rows() -> Vec<Row> {
    vec![Row {
        key: "GET /pipelines/{name}/setup/files/{id}",
        need: Need::Administer,
        fresh: Fresh::None,
        ok: 200,
        call: |_| {
            (
                Method::GET,
                "/pipelines/hello/setup/files/workflow".into(),
                None,
            )
        },
    }]
}

/// The routes a module's `pub fn routes(…)` declares.
fn routes_in(source: &str) -> Vec<String> {
    let start = source
        .find("pub fn routes(")
        .expect("the module has `pub fn routes(…)`");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("routes() ends")];
    let flat: String = body.split_whitespace().collect();
    let mut out = Vec::new();
    for call in flat.split(".route(\"").skip(1) {
        let (path, handlers) = call
            .split_once('"')
            .expect("a route's path is a string literal");
        for method in ["get", "post", "put", "delete", "patch"] {
            if handlers.starts_with(&format!(",{method}("))
                || handlers.contains(&format!(").{method}("))
            {
                out.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    out
}

on_both_backends! {
    async fn every_route_page_and_server_function_answers_each_role_as_it_should(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;

        let server_fns: Vec<(String, String)> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| (path.trim_start_matches("/api/").trim_end_matches(|c: char| c.is_ascii_digit()).to_owned(), path.to_owned()))
            .collect();
        let pages: Vec<String> = shipgate::web::page_routes().into_iter().map(|r| r.path().to_owned()).collect();
        check_coverage(&rest_routes(), &rest_rows(), "REST route");
        check_coverage(&form_routes(), &form_rows(), "form door");
        check_coverage(&download_routes(), &download_rows(), "download");
        check_coverage(&pages, &page_rows(), "page");
        check_coverage(&server_fns.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>(), &server_fn_rows(), "server function");

        let mut callers: Vec<(Who, Browser)> = vec![(Who::Anonymous, Browser::default())];
        for role in Role::ALL {
            let mut browser = Browser::default();
            assert_eq!(browser.sign_in(&app, &provider, support::oidc::user_for(role)).await.status, 303);
            callers.push((Who::Role(role), browser));
        }
        let mut paula = Browser::default();
        assert_eq!(paula.sign_in(&app, &provider, "paula@example.com").await.status, 303);
        callers.push((Who::ScopedReleaseManager, paula));

        let mut failures = Vec::new();
        let mut checked = 0;
        for (kind, rows) in [("rest", rest_rows()), ("page", page_rows()), ("fn", server_fn_rows()), ("form", form_rows()), ("download", download_rows())] {
            for row in &rows {
                for (who, browser) in callers.iter_mut() {
                    let target = prepare(&app, row.fresh).await;
                    let (method, mut path, body) = (row.call)(&target);
                    let mut request = Request::builder().method(method);
                    match kind {
                        "rest" => request = request.header("content-type", "application/json"),
                        "form" => request = request.header("content-type", "application/x-www-form-urlencoded").header("accept", "text/html"),
                        "fn" => {
                            path = server_fns.iter().find(|(name, _)| name == row.key).unwrap().1.clone();
                            request = request.header("content-type", "application/x-www-form-urlencoded").header("accept", "application/json");
                        }
                        _ => {}
                    }
                    let reply = browser.send(&app, request.uri(&path), Body::from(body.unwrap_or_default())).await;
                    let want = match (allowed(*who, row.need), *who, kind) {
                        (true, _, _) => row.ok,
                        (false, Who::Anonymous, "page" | "download") => 303,
                        (false, Who::Anonymous, _) => 401,
                        (false, _, _) => 403,
                    };
                    checked += 1;
                    if reply.status.as_u16() != want {
                        failures.push(format!("{kind} {} as {who:?}: want {want}, got {} {}", row.key, reply.status, reply.text().chars().take(200).collect::<String>()));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{} of {checked} calls answered wrongly:\n{}", failures.len(), failures.join("\n"));
    }
}
