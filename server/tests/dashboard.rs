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
