//! The REST API: pipeline management with the admin token, runs and deliveries reads,
//! health checks, on SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::*;

fn api_pipeline() -> Value {
    json!({"name": "api", "repository": "octo-org/api", "branch": "main", "ecr_repository": "api",
       "environments": [
         {"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": "us-east-1", "promotion": "auto"},
         {"name": "production", "cluster": "prod", "service": "api", "container": "app", "region": "us-east-1", "promotion": "manual"}]})
}

on_both_backends! {
    async fn pipelines_can_be_created_read_replaced_and_deleted(store: Store) {
        let app = TestApp::new(store).await;
        let created = app.api(Method::POST, "/api/v1/pipelines", Some(api_pipeline()), Some(ADMIN_TOKEN)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        assert_eq!(created.headers["location"], "/api/v1/pipelines/api");
        assert_eq!(created.json()["source"], "api");

        let again = app.api(Method::POST, "/api/v1/pipelines", Some(api_pipeline()), Some(ADMIN_TOKEN)).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.error(), "pipeline `api` already exists");

        let got = app.get("/api/v1/pipelines/api").await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.json()["environments"][1]["promotion"], "manual");
        let names: Vec<String> = app.get("/api/v1/pipelines").await.json()["items"]
            .as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["api", "hello"]);

        let mut changed = api_pipeline();
        changed["branch"] = json!("release");
        changed.as_object_mut().unwrap().remove("name");
        let replaced = app.api(Method::PUT, "/api/v1/pipelines/api", Some(changed), Some(ADMIN_TOKEN)).await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text());
        assert_eq!(app.get("/api/v1/pipelines/api").await.json()["branch"], "release");

        let mut fresh = api_pipeline();
        fresh["name"] = json!("web");
        let put_new = app.api(Method::PUT, "/api/v1/pipelines/web", Some(fresh), Some(ADMIN_TOKEN)).await;
        assert_eq!(put_new.status, StatusCode::CREATED);

        let mismatch = app.api(Method::PUT, "/api/v1/pipelines/web", Some(api_pipeline()), Some(ADMIN_TOKEN)).await;
        assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(mismatch.json()["fields"][0]["field"], "name");

        let deleted = app.api(Method::DELETE, "/api/v1/pipelines/api", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get("/api/v1/pipelines/api").await.status, StatusCode::NOT_FOUND);
        let gone = app.api(Method::DELETE, "/api/v1/pipelines/api", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        assert_eq!(gone.error(), "pipeline `api` does not exist");

        let audit: Vec<String> = app.store.list_audit(None, 50).await.unwrap().into_iter()
            .filter(|a| a.actor == "token:config").map(|a| format!("{} {}", a.action, a.target)).collect();
        assert_eq!(audit, ["pipeline.deleted pipeline:api", "pipeline.verify pipeline:web", "pipeline.created pipeline:web", "pipeline.updated pipeline:api",
            "pipeline.verify pipeline:api", "pipeline.created pipeline:api"], "a new pipeline's first Verify is asked for by itself");
    }
}

/// A row: the case, how it spoils a valid pipeline, and the field the 422 must name.
type SpoiledPipeline<'a> = (&'a str, Box<dyn Fn(&mut Value)>, &'a str);

on_both_backends! {
    async fn invalid_pipelines_get_422_naming_the_field(store: Store) {
        let app = TestApp::new(store).await;
        let cases: Vec<SpoiledPipeline> = vec![
            ("bad repo", Box::new(|p| p["repository"] = json!("not a repo")), "repository"),
            ("no environments", Box::new(|p| p["environments"] = json!([])), "environments"),
            ("duplicate environment", Box::new(|p| p["environments"][1]["name"] = json!("staging")), "environments[1].name"),
            ("unknown promotion", Box::new(|p| p["environments"][0]["promotion"] = json!("yolo")), "environments[0].promotion"),
            ("wrong type", Box::new(|p| p["branch"] = json!(7)), "branch"),
            ("unknown field", Box::new(|p| p["environments"][0]["promtion"] = json!("auto")), "environments[0].promtion"),
        ];
        for (what, mutate, field) in cases {
            let mut body = api_pipeline();
            mutate(&mut body);
            let reply = app.api(Method::POST, "/api/v1/pipelines", Some(body), Some(ADMIN_TOKEN)).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", reply.text());
            let json = reply.json();
            assert_eq!(json["fields"][0]["field"], field, "{what}: {json}");
            assert!(json["error"].as_str().unwrap().contains(field), "{what}: {json}");
        }
        let malformed = app
            .send(Request::post("/api/v1/pipelines").header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "application/json").body(Body::from("{\"name\":")).unwrap())
            .await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert!(malformed.error().starts_with("the body is not valid JSON"));
        let not_json = app
            .send(Request::post("/api/v1/pipelines").header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .header("content-type", "text/plain").body(Body::from(api_pipeline().to_string())).unwrap())
            .await;
        assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(app.get("/api/v1/pipelines").await.json()["items"].as_array().unwrap().len(), 1, "nothing was stored");
    }
}

on_both_backends! {
    async fn a_wrong_bearer_token_is_refused_even_in_local_mode(store: Store) {
        let app = TestApp::new(store).await;
        let wrong = app.api(Method::DELETE, "/api/v1/pipelines/hello", None, Some("not-the-admin-token")).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.headers["www-authenticate"], "Bearer");
        assert_eq!(wrong.error(), "the bearer token is not valid");
        assert_eq!(app.get("/api/v1/pipelines/hello").await.status, StatusCode::OK, "still there");
        // Without any credential, local mode's one user acts, and is named in the audit log.
        let local = app.api(Method::POST, "/api/v1/pipelines", Some(api_pipeline()), None).await;
        assert_eq!(local.status, StatusCode::CREATED, "{}", local.text());
        let audit = app.store.list_audit(Some("pipeline:api"), 5).await.unwrap();
        assert_eq!(audit[0].actor, "local");
    }
}

on_both_backends! {
    async fn without_a_configured_admin_token_no_bearer_token_is_an_admin(store: Store) {
        let mut settings = settings();
        settings.admin_token = None;
        let app = TestApp::with_settings(store, settings).await;
        let reply = app.api(Method::POST, "/api/v1/pipelines", Some(api_pipeline()), Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error(), "the bearer token is not valid");
        assert_eq!(app.get("/api/v1/pipelines").await.json()["items"].as_array().unwrap().len(), 1, "nothing was stored");
    }
}

on_both_backends! {
    async fn runs_page_newest_first_with_filters_and_cursors(store: Store) {
        let app = TestApp::new(store).await;
        let mut push = branch_push();
        for i in 0..7 {
            push["after"] = json!(format!("{i:040x}"));
            push["head_commit"]["id"] = push["after"].clone();
            app.deliver("push", &format!("d-{i}"), &push).await;
        }
        let first = app.get("/api/v1/runs?limit=3").await.json();
        let ids = |page: &Value| page["items"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect::<Vec<_>>();
        let first_ids = ids(&first);
        assert_eq!(first_ids.len(), 3);
        assert!(first_ids.windows(2).all(|w| w[0] > w[1]), "newest first: {first_ids:?}");
        let second = app.get(&format!("/api/v1/runs?limit=3&before={}", first["next"])).await.json();
        let third = app.get(&format!("/api/v1/runs?limit=3&before={}", second["next"])).await.json();
        let mut all = [first_ids, ids(&second), ids(&third)].concat();
        assert_eq!(third["next"], Value::Null);
        assert_eq!(all.len(), 7);
        all.dedup();
        assert_eq!(all.len(), 7, "pages do not overlap");

        assert_eq!(ids(&app.get("/api/v1/runs?pipeline=hello&status=running").await.json()).len(), 7);
        assert_eq!(ids(&app.get("/api/v1/runs?status=succeeded").await.json()).len(), 0);
        assert_eq!(ids(&app.get("/api/v1/runs?pipeline=other").await.json()).len(), 0);

        let bad_status = app.get("/api/v1/runs?status=done").await;
        assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_status.error(), "query parameter `status`: unknown run status `done`");
        let bad_cursor = app.get("/api/v1/runs?before=yesterday").await;
        assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
        let unknown = app.get("/api/v1/runs?colour=red").await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.error().contains("colour"));
    }
}

on_both_backends! {
    async fn missing_and_malformed_run_ids_are_told_apart(store: Store) {
        let app = TestApp::new(store).await;
        let missing = app.get("/api/v1/runs/999").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.error(), "run 999 does not exist");
        assert_eq!(app.get("/api/v1/runs/abc").await.status, StatusCode::BAD_REQUEST);
    }
}

on_both_backends! {
    async fn health_and_readiness_answer(store: Store) {
        let app = TestApp::new(store.clone()).await;
        assert_eq!(app.get("/healthz").await.json()["status"], "ok");
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.json()["database"], store.backend());
        store.close().await;
        let down = app.get("/readyz").await;
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.json()["status"], "unavailable");
    }
}
