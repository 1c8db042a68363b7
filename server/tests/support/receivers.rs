//! Local HTTP peers for what Shipgate tells the world: a webhook receiver (as a Slack
//! incoming webhook or any JSON endpoint would be) that records every request and answers
//! with scripted statuses, and a fake of GitHub's REST API for deployments, deployment
//! statuses and commit comparisons, answering in the shapes GitHub documents
//! (docs.github.com/rest/deployments and /rest/commits/commits#compare-two-commits). The
//! GitHub fake is reached through Shipgate's real octocrab client.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One request a peer received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A webhook receiver: answers each request with the next scripted status (200 once the
/// script runs out) and records it.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start(script: &[u16]) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            received: received.clone(),
            script: Arc::new(Mutex::new(script.iter().rev().copied().collect())),
        };
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let base = serve(router).await;
        Receiver {
            url: format!("{base}/hook"),
            received,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The `text` of each request that a 2xx answered (what Slack would have shown).
    pub fn texts(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter_map(|r| r.body["text"].as_str().map(str::to_owned))
            .collect()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    state.received.lock().unwrap().push(Received {
        path: "/hook".into(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.0,
    });
    let status = state.script.lock().unwrap().pop().unwrap_or(200);
    let status = StatusCode::from_u16(status).unwrap();
    (
        status,
        if status.is_success() {
            "ok"
        } else {
            "no_service"
        },
    )
        .into_response()
}

/// GitHub's REST API, as far as Shipgate uses it.
#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    state: GitHubState,
}

#[derive(Clone, Default)]
struct GitHubState {
    received: Arc<Mutex<Vec<Received>>>,
    deployments: Arc<Mutex<Vec<Value>>>,
    /// Statuses to answer requests with, by route kind (`create`, `status`, `compare`), before 2xx.
    failures: Arc<Mutex<HashMap<&'static str, Vec<u16>>>>,
    /// Answer `create` with this status *after* creating the deployment (an answer lost on the way).
    lose_create_answer: Arc<Mutex<u32>>,
    /// Commits that `compare` lists, oldest first: (sha, message, login).
    commits: Arc<Mutex<Vec<(String, String, String)>>>,
    /// What `GET /user/repos` lists (`owner/name`), most recently pushed first.
    repositories: Arc<Mutex<Vec<String>>>,
}

impl FakeGitHub {
    pub async fn start() -> FakeGitHub {
        let state = GitHubState::default();
        let router = Router::new()
            .route(
                "/repos/{owner}/{repo}/deployments",
                post(create_deployment).get(list_deployments),
            )
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                post(create_status),
            )
            .route("/repos/{owner}/{repo}/compare/{basehead}", get(compare))
            .route("/user/repos", get(list_repositories))
            .route("/repos/{owner}/{repo}", get(get_repository))
            .with_state(state.clone());
        FakeGitHub {
            url: serve(router).await,
            state,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    pub fn deployments(&self) -> Vec<Value> {
        self.state.deployments.lock().unwrap().clone()
    }

    /// `(environment, state)` of every status set, in order.
    pub fn statuses(&self) -> Vec<(String, String)> {
        let deployments = self.deployments();
        self.received()
            .into_iter()
            .filter(|r| r.path.ends_with("/statuses"))
            .map(|r| {
                let id: i64 = r.path.split('/').nth(5).unwrap().parse().unwrap();
                let env = deployments
                    .iter()
                    .find(|d| d["id"] == id)
                    .map(|d| d["environment"].as_str().unwrap().to_owned())
                    .unwrap_or_default();
                (env, r.body["state"].as_str().unwrap_or_default().to_owned())
            })
            .collect()
    }

    /// The next requests of a kind (`create`, `status`, `compare`) fail with these statuses.
    pub fn fail(&self, kind: &'static str, statuses: &[u16]) {
        self.state
            .failures
            .lock()
            .unwrap()
            .insert(kind, statuses.iter().rev().copied().collect());
    }

    /// The next `n` deployments are created but their answer is a 502.
    pub fn lose_create_answers(&self, n: u32) {
        *self.state.lose_create_answer.lock().unwrap() = n;
    }

    /// The repositories the token can see, most recently pushed first.
    pub fn set_repositories(&self, names: impl IntoIterator<Item = String>) {
        *self.state.repositories.lock().unwrap() = names.into_iter().collect();
    }

    pub fn set_commits(&self, commits: &[(&str, &str, &str)]) {
        *self.state.commits.lock().unwrap() = commits
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
    }
}

impl GitHubState {
    fn record(&self, path: String, headers: &HeaderMap, body: Value) {
        self.received.lock().unwrap().push(Received {
            path,
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        });
    }

    fn scripted_failure(&self, kind: &'static str) -> Option<Response> {
        let status = self
            .failures
            .lock()
            .unwrap()
            .get_mut(kind)
            .and_then(Vec::pop)?;
        let status = StatusCode::from_u16(status).unwrap();
        Some((status, Json(json!({"message": "Server Error", "documentation_url": "https://docs.github.com/rest"}))).into_response())
    }
}

fn user() -> Value {
    json!({"login": "shipgate-bot", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false,
           "avatar_url": "https://github.com/images/error/octocat_happy.gif", "url": "https://api.github.com/users/shipgate-bot",
           "html_url": "https://github.com/shipgate-bot"})
}

#[derive(serde::Deserialize)]
struct Page {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// `GET /user/repos` (docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user):
/// one page of repository objects; `page` counts from 1, `per_page` defaults to 30.
async fn list_repositories(
    State(state): State<GitHubState>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> Response {
    let (number, size) = (
        page.page.unwrap_or(1).max(1),
        page.per_page.unwrap_or(30).min(100),
    );
    state.record(
        format!("/user/repos?page={number}&per_page={size}"),
        &headers,
        Value::Null,
    );
    if let Some(failure) = state.scripted_failure("repos") {
        return failure;
    }
    let all = state.repositories.lock().unwrap().clone();
    let listed: Vec<Value> = all
        .iter()
        .enumerate()
        .skip((number - 1) * size)
        .take(size)
        .map(|(i, full_name)| {
            let (owner, name) = full_name.split_once('/').unwrap();
            json!({
                "id": 1000 + i, "node_id": format!("R_{i}"), "name": name, "full_name": full_name,
                "owner": {"login": owner, "id": 2, "type": "Organization"},
                "private": i % 2 == 1, "html_url": format!("https://github.com/{full_name}"),
                "fork": false, "url": format!("https://api.github.com/repos/{full_name}"),
                "default_branch": if i == 0 { "main" } else { "master" },
                "pushed_at": "2026-11-30T12:00:00Z", "visibility": if i % 2 == 1 { "private" } else { "public" },
                "permissions": {"admin": false, "push": true, "pull": true}
            })
        })
        .collect();
    Json(Value::Array(listed)).into_response()
}

/// `GET /repos/{owner}/{repo}` (docs.github.com/rest/repos/repos#get-a-repository): a
/// repository the token can see (one given to `set_repositories`), with the token's
/// permissions in it; 404 for any other, as GitHub answers for a repository it hides.
async fn get_repository(
    State(state): State<GitHubState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let full_name = format!("{owner}/{repo}");
    state.record(format!("/repos/{full_name}"), &headers, Value::Null);
    if let Some(failure) = state.scripted_failure("repo") {
        return failure;
    }
    let known = state.repositories.lock().unwrap().clone();
    let Some(index) = known
        .iter()
        .position(|r| r.eq_ignore_ascii_case(&full_name))
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository", "status": "404"})),
        )
            .into_response();
    };
    Json(json!({
        "id": 1296269 + index, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": repo, "full_name": full_name,
        "owner": {"login": owner, "id": 583231, "type": "User"},
        "private": false, "html_url": format!("https://github.com/{full_name}"), "fork": false,
        "url": format!("https://api.github.com/repos/{full_name}"), "default_branch": "master",
        "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
    }))
    .into_response()
}

async fn create_deployment(
    State(state): State<GitHubState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/deployments");
    state.record(path.clone(), &headers, body.clone());
    if headers.get("authorization").is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Requires authentication"})),
        )
            .into_response();
    }
    if let Some(failure) = state.scripted_failure("create") {
        return failure;
    }
    if body["ref"].as_str().is_none_or(str::is_empty) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"message": "Validation Failed", "errors": [{"field": "ref", "code": "missing_field"}]}))).into_response();
    }
    let mut deployments = state.deployments.lock().unwrap();
    let id = 1000 + deployments.len() as i64;
    let deployment = json!({
        "url": format!("https://api.github.com{path}/{id}"), "id": id, "node_id": "MDEwOkRlcGxveW1lbnQx",
        "sha": body["ref"], "ref": body["ref"], "task": "deploy", "payload": body["payload"],
        "original_environment": body["environment"], "environment": body["environment"], "description": body["description"],
        "creator": user(), "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z",
        "statuses_url": format!("https://api.github.com{path}/{id}/statuses"), "repository_url": format!("https://api.github.com/repos/{owner}/{repo}"),
        "transient_environment": body["transient_environment"], "production_environment": body["production_environment"]
    });
    deployments.push(deployment.clone());
    drop(deployments);
    let mut lose = state.lose_create_answer.lock().unwrap();
    if *lose > 0 {
        *lose -= 1;
        return (StatusCode::BAD_GATEWAY, "upstream timed out").into_response();
    }
    (StatusCode::CREATED, Json(deployment)).into_response()
}

async fn list_deployments(
    State(state): State<GitHubState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let listed: Vec<Value> = state
        .deployments
        .lock()
        .unwrap()
        .iter()
        .filter(|d| {
            query.get("sha").is_none_or(|s| d["sha"] == s.as_str())
                && query
                    .get("environment")
                    .is_none_or(|e| d["environment"] == e.as_str())
        })
        .rev()
        .cloned()
        .collect();
    Json(listed).into_response()
}

async fn create_status(
    State(state): State<GitHubState>,
    Path((owner, repo, id)): Path<(String, String, i64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    state.record(
        format!("/repos/{owner}/{repo}/deployments/{id}/statuses"),
        &headers,
        body.clone(),
    );
    if let Some(failure) = state.scripted_failure("status") {
        return failure;
    }
    if !state
        .deployments
        .lock()
        .unwrap()
        .iter()
        .any(|d| d["id"] == id)
    {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    let allowed = [
        "error",
        "failure",
        "inactive",
        "in_progress",
        "queued",
        "pending",
        "success",
    ];
    if !body["state"].as_str().is_some_and(|s| allowed.contains(&s)) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"message": "Validation Failed", "errors": [{"field": "state", "code": "invalid"}]}))).into_response();
    }
    Json(json!({
        "url": format!("https://api.github.com/repos/{owner}/{repo}/deployments/{id}/statuses/1"), "id": 1, "node_id": "MDE2OkRlcGxveW1lbnRTdGF0dXMx",
        "state": body["state"], "creator": user(), "description": body["description"], "environment": body["environment"],
        "target_url": body["log_url"], "log_url": body["log_url"], "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z",
        "deployment_url": format!("https://api.github.com/repos/{owner}/{repo}/deployments/{id}"), "repository_url": format!("https://api.github.com/repos/{owner}/{repo}")
    }))
    .into_response()
}

async fn compare(
    State(state): State<GitHubState>,
    Path((owner, repo, basehead)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    state.record(
        format!("/repos/{owner}/{repo}/compare/{basehead}"),
        &headers,
        Value::Null,
    );
    if let Some(failure) = state.scripted_failure("compare") {
        return failure;
    }
    let commits: Vec<Value> = state
        .commits
        .lock()
        .unwrap()
        .iter()
        .map(|(sha, message, login)| {
            json!({
                "sha": sha, "node_id": "C_kwDOA", "url": format!("https://api.github.com/repos/{owner}/{repo}/commits/{sha}"),
                "html_url": format!("https://github.com/{owner}/{repo}/commit/{sha}"),
                "comments_url": format!("https://api.github.com/repos/{owner}/{repo}/commits/{sha}/comments"),
                "commit": {"message": message, "author": {"name": login, "email": format!("{login}@example.com"), "date": "2026-11-27T09:00:00Z"},
                           "committer": {"name": login, "email": format!("{login}@example.com"), "date": "2026-11-27T09:00:00Z"},
                           "comment_count": 0, "url": "", "tree": {"sha": sha, "url": ""}},
                "author": {"login": login, "id": 2, "type": "User", "site_admin": false},
                "committer": {"login": login, "id": 2, "type": "User", "site_admin": false},
                "parents": []
            })
        })
        .collect();
    Json(json!({
        "url": format!("https://api.github.com/repos/{owner}/{repo}/compare/{basehead}"),
        "html_url": format!("https://github.com/{owner}/{repo}/compare/{basehead}"),
        "permalink_url": format!("https://github.com/{owner}/{repo}/compare/{basehead}"),
        "diff_url": format!("https://github.com/{owner}/{repo}/compare/{basehead}.diff"),
        "patch_url": format!("https://github.com/{owner}/{repo}/compare/{basehead}.patch"),
        "status": "ahead", "ahead_by": commits.len(), "behind_by": 0, "total_commits": commits.len(),
        "commits": commits, "files": []
    }))
    .into_response()
}
