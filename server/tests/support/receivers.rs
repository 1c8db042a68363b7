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
    /// Each branch's history, oldest first, by (`owner/name` lowercased, branch).
    history: Arc<Mutex<Branches>>,
    /// Each hook's delivery log, oldest attempt first.
    hook_log: Arc<Mutex<Vec<LoggedAttempt>>>,
    /// The token's primary rate limit.
    rate: Arc<Mutex<RateLimit>>,
}

/// Each branch's commits, oldest first, by (`owner/name` lowercased, branch).
type Branches = HashMap<(String, String), Vec<FakeCommit>>;

/// A commit in a fake branch.
#[derive(Debug, Clone)]
pub struct FakeCommit {
    pub sha: String,
    pub message: String,
    pub login: String,
    /// RFC 3339.
    pub date: String,
}

/// One attempt in a hook's delivery log.
#[derive(Debug, Clone)]
pub struct LoggedAttempt {
    pub id: i64,
    pub hook_id: i64,
    pub guid: String,
    pub event: String,
    /// What the receiver answered (0: no answer).
    pub status_code: u16,
    pub delivered_at: String,
    pub payload: Value,
}

/// GitHub's primary rate limit for the token: every answer carries it in `X-RateLimit-*`
/// headers, every request but a 304 spends one, and a spent limit answers 403 until the
/// reset (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    /// Epoch seconds.
    pub reset: i64,
    /// Requests refused for the spent limit.
    pub refused: u64,
    /// Answers of 304 Not Modified.
    pub not_modified: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            limit: 5000,
            remaining: 5000,
            reset: epoch_secs() + 3600,
            refused: 0,
            not_modified: 0,
        }
    }
}

fn epoch_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
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
            .route("/repos/{owner}/{repo}/branches/{branch}", get(get_branch))
            .route("/repos/{owner}/{repo}/commits/{sha}", get(get_commit))
            .route(
                "/repos/{owner}/{repo}/hooks/{hook}/deliveries",
                get(list_hook_deliveries),
            )
            .route(
                "/repos/{owner}/{repo}/hooks/{hook}/deliveries/{id}",
                get(get_hook_delivery),
            )
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

    /// Pushes commits onto a branch (creating it), as `git push` would: no webhook is sent.
    pub fn push(&self, repository: &str, branch: &str, commits: &[(&str, &str, &str)]) {
        let mut history = self.state.history.lock().unwrap();
        let branch = history
            .entry((repository.to_ascii_lowercase(), branch.to_owned()))
            .or_default();
        for (sha, message, login) in commits {
            let n = branch.len();
            branch.push(FakeCommit {
                sha: sha.to_string(),
                message: message.to_string(),
                login: login.to_string(),
                date: format!("2026-12-04T10:{:02}:{:02}Z", (n / 60) % 60, n % 60),
            });
        }
    }

    /// Adds an attempt to a hook's delivery log.
    pub fn log_delivery(&self, attempt: LoggedAttempt) {
        self.state.hook_log.lock().unwrap().push(attempt);
    }

    /// Sets the rate limit's budget and reset (epoch seconds).
    pub fn set_rate_limit(&self, remaining: u64, reset: i64) {
        let mut rate = self.state.rate.lock().unwrap();
        rate.remaining = remaining;
        rate.reset = reset;
    }

    pub fn rate_limit(&self) -> RateLimit {
        self.state.rate.lock().unwrap().clone()
    }

    /// How many requests were made to paths containing `part`.
    pub fn requests_to(&self, part: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.path.contains(part))
            .count()
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
    let rate = match state.spend(&headers, None) {
        Ok(rate) => rate,
        Err(refused) => return refused,
    };
    // With a history of the repository, the comparison is computed from it.
    let (base, head) = basehead
        .split_once("...")
        .unwrap_or((basehead.as_str(), ""));
    let full_name = format!("{owner}/{repo}").to_ascii_lowercase();
    let found = state
        .history
        .lock()
        .unwrap()
        .iter()
        .find_map(|((r, _), commits)| {
            let h = commits.iter().position(|c| c.sha == head)?;
            (*r == full_name).then(|| {
                (
                    commits.iter().position(|c| c.sha == base),
                    h,
                    commits.clone(),
                )
            })
        });
    let (status, listed) = match found {
        Some((Some(b), h, commits)) if b <= h => (
            if b == h { "identical" } else { "ahead" },
            commits[b + 1..=h].to_vec(),
        ),
        Some((Some(_), _, _)) => ("behind", Vec::new()),
        Some((None, _, _)) => {
            return (StatusCode::NOT_FOUND, rate, Json(json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits"}))).into_response();
        }
        None => (
            "ahead",
            state
                .commits
                .lock()
                .unwrap()
                .iter()
                .map(|(sha, message, login)| FakeCommit {
                    sha: sha.clone(),
                    message: message.clone(),
                    login: login.clone(),
                    date: "2026-11-27T09:00:00Z".into(),
                })
                .collect(),
        ),
    };
    let commits: Vec<Value> = listed
        .iter()
        .map(|c| (c.sha.clone(), c.message.clone(), c.login.clone()))
        .collect::<Vec<_>>()
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
        "status": status, "ahead_by": commits.len(), "behind_by": 0, "total_commits": commits.len(),
        "commits": commits, "files": []
    }))
    .into_response()
    .with_headers(rate)
}

trait WithHeaders {
    fn with_headers(self, headers: HeaderMap) -> Response;
}

impl WithHeaders for Response {
    fn with_headers(mut self, headers: HeaderMap) -> Response {
        self.headers_mut().extend(headers);
        self
    }
}

impl GitHubState {
    /// Spends one request of the rate limit, or answers for it: a 304 when `etag` matches
    /// the request's `If-None-Match` (free), a 403 when the limit is spent. The returned
    /// headers carry the limit, as every GitHub answer does.
    #[allow(clippy::result_large_err)] // a test peer's answer, built once per request
    fn spend(&self, headers: &HeaderMap, etag: Option<&str>) -> Result<HeaderMap, Response> {
        let mut rate = self.rate.lock().unwrap();
        let now = epoch_secs();
        if now >= rate.reset {
            rate.remaining = rate.limit;
            rate.reset = now + 3600;
        }
        let limit_headers = |rate: &RateLimit| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-limit", rate.limit.into());
            h.insert("x-ratelimit-remaining", rate.remaining.into());
            h.insert("x-ratelimit-reset", rate.reset.into());
            h.insert("x-ratelimit-resource", "core".parse().unwrap());
            h
        };
        if rate.remaining == 0 {
            rate.refused += 1;
            let h = limit_headers(&rate);
            return Err((StatusCode::FORBIDDEN, h, Json(json!({
                "message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            }))).into_response());
        }
        let matches = etag.is_some_and(|tag| {
            headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(tag)
        });
        if matches {
            rate.not_modified += 1;
            let mut h = limit_headers(&rate);
            h.insert("etag", etag.unwrap().parse().unwrap());
            return Err((StatusCode::NOT_MODIFIED, h).into_response());
        }
        rate.remaining -= 1;
        let mut h = limit_headers(&rate);
        if let Some(tag) = etag {
            h.insert("etag", tag.parse().unwrap());
        }
        Ok(h)
    }
}

fn not_found(doc: &str) -> Value {
    json!({"message": "Not Found", "documentation_url": doc, "status": "404"})
}

/// `GET /repos/{owner}/{repo}/branches/{branch}` (docs.github.com/rest/branches/branches#get-a-branch).
async fn get_branch(
    State(state): State<GitHubState>,
    Path((owner, repo, branch)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    state.record(
        format!("/repos/{owner}/{repo}/branches/{branch}"),
        &headers,
        Value::Null,
    );
    if let Some(failure) = state.scripted_failure("branch") {
        return failure;
    }
    let full_name = format!("{owner}/{repo}");
    let head = state
        .history
        .lock()
        .unwrap()
        .get(&(full_name.to_ascii_lowercase(), branch.clone()))
        .and_then(|c| c.last().cloned());
    let etag = head.as_ref().map(|c| format!("W/\"branch-{}\"", c.sha));
    let rate = match state.spend(&headers, etag.as_deref()) {
        Ok(rate) => rate,
        Err(answer) => return answer,
    };
    let Some(head) = head else {
        return (
            StatusCode::NOT_FOUND,
            rate,
            Json(not_found(
                "https://docs.github.com/rest/branches/branches#get-a-branch",
            )),
        )
            .into_response();
    };
    (rate, Json(json!({
        "name": branch,
        "commit": commit_json(&full_name, &head),
        "_links": {"self": format!("https://api.github.com/repos/{full_name}/branches/{branch}"), "html": format!("https://github.com/{full_name}/tree/{branch}")},
        "protected": false,
        "protection_url": format!("https://api.github.com/repos/{full_name}/branches/{branch}/protection")
    }))).into_response()
}

fn commit_json(full_name: &str, c: &FakeCommit) -> Value {
    json!({
        "sha": c.sha, "node_id": "C_kwDOA",
        "url": format!("https://api.github.com/repos/{full_name}/commits/{}", c.sha),
        "html_url": format!("https://github.com/{full_name}/commit/{}", c.sha),
        "commit": {
            "author": {"name": c.login, "email": format!("{}@example.com", c.login), "date": c.date},
            "committer": {"name": c.login, "email": format!("{}@example.com", c.login), "date": c.date},
            "message": c.message, "tree": {"sha": c.sha, "url": ""}, "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}
        },
        "author": {"login": c.login, "id": 2, "type": "User", "site_admin": false},
        "committer": {"login": c.login, "id": 2, "type": "User", "site_admin": false},
        "parents": []
    })
}

/// `GET /repos/{owner}/{repo}/commits/{sha}` (docs.github.com/rest/commits/commits#get-a-commit).
async fn get_commit(
    State(state): State<GitHubState>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    state.record(
        format!("/repos/{owner}/{repo}/commits/{sha}"),
        &headers,
        Value::Null,
    );
    let rate = match state.spend(&headers, None) {
        Ok(rate) => rate,
        Err(answer) => return answer,
    };
    let full_name = format!("{owner}/{repo}");
    let found = state
        .history
        .lock()
        .unwrap()
        .iter()
        .find_map(|((r, _), commits)| {
            (*r == full_name.to_ascii_lowercase())
                .then(|| commits.iter().find(|c| c.sha == sha).cloned())
                .flatten()
        });
    match found {
        Some(c) => {
            let mut body = commit_json(&full_name, &c);
            body["stats"] = json!({"total": 1, "additions": 1, "deletions": 0});
            body["files"] = json!([]);
            (rate, Json(body)).into_response()
        }
        None => (StatusCode::UNPROCESSABLE_ENTITY, rate, Json(json!({"message": format!("No commit found for SHA: {sha}"), "documentation_url": "https://docs.github.com/rest/commits/commits#get-a-commit"}))).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Cursor {
    per_page: Option<usize>,
    cursor: Option<String>,
}

/// `GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries`
/// (docs.github.com/rest/repos/webhooks#list-deliveries-for-a-repository-webhook): newest
/// first, paged by an opaque cursor in the `Link` header.
async fn list_hook_deliveries(
    State(state): State<GitHubState>,
    Path((owner, repo, hook)): Path<(String, String, i64)>,
    Query(page): Query<Cursor>,
    headers: HeaderMap,
) -> Response {
    let query = page
        .cursor
        .as_deref()
        .map(|c| format!("?cursor={c}"))
        .unwrap_or_default();
    state.record(
        format!("/repos/{owner}/{repo}/hooks/{hook}/deliveries{query}"),
        &headers,
        Value::Null,
    );
    if let Some(failure) = state.scripted_failure("hook_deliveries") {
        return failure;
    }
    let log: Vec<LoggedAttempt> = state
        .hook_log
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.hook_id == hook)
        .rev()
        .cloned()
        .collect();
    let size = page.per_page.unwrap_or(30).min(100);
    let start = page
        .cursor
        .as_deref()
        .and_then(|c| c.strip_prefix("v1_"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0usize);
    // The log's newest attempt stands for the whole list, as an ETag must.
    let etag = (start == 0).then(|| format!("W/\"log-{}\"", log.first().map_or(0, |a| a.id)));
    let mut rate = match state.spend(&headers, etag.as_deref()) {
        Ok(rate) => rate,
        Err(answer) => return answer,
    };
    let listed: Vec<Value> = log.iter().skip(start).take(size).map(|a| json!({
        "id": a.id, "guid": a.guid, "delivered_at": a.delivered_at, "redelivery": false, "duration": 0.31,
        "status": if a.status_code == 0 { "Timed out".to_owned() } else { format!("Status {}", a.status_code) },
        "status_code": a.status_code, "event": a.event, "action": null, "installation_id": null, "repository_id": 1296269,
        "throttled_at": null
    })).collect();
    if start + size < log.len() {
        let next = format!(
            "<{}/repos/{owner}/{repo}/hooks/{hook}/deliveries?per_page={size}&cursor=v1_{}>; rel=\"next\"",
            "https://api.github.com",
            start + size
        );
        rate.insert("link", next.parse().unwrap());
    }
    (rate, Json(Value::Array(listed))).into_response()
}

/// `GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}`
/// (docs.github.com/rest/repos/webhooks#get-a-delivery-for-a-repository-webhook).
async fn get_hook_delivery(
    State(state): State<GitHubState>,
    Path((owner, repo, hook, id)): Path<(String, String, i64, i64)>,
    headers: HeaderMap,
) -> Response {
    state.record(
        format!("/repos/{owner}/{repo}/hooks/{hook}/deliveries/{id}"),
        &headers,
        Value::Null,
    );
    let rate = match state.spend(&headers, None) {
        Ok(rate) => rate,
        Err(answer) => return answer,
    };
    let found = state
        .hook_log
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.hook_id == hook && a.id == id)
        .cloned();
    let Some(a) = found else {
        return (StatusCode::NOT_FOUND, rate, Json(not_found("https://docs.github.com/rest/repos/webhooks#get-a-delivery-for-a-repository-webhook"))).into_response();
    };
    (rate, Json(json!({
        "id": a.id, "guid": a.guid, "delivered_at": a.delivered_at, "redelivery": false, "duration": 0.31,
        "status": format!("Status {}", a.status_code), "status_code": a.status_code, "event": a.event, "action": null,
        "installation_id": null, "repository_id": 1296269, "throttled_at": null,
        "url": "https://shipgate.example.com/webhooks/github",
        "request": {"headers": {"X-GitHub-Delivery": a.guid, "X-GitHub-Event": a.event, "X-GitHub-Hook-ID": hook.to_string(),
                                 "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/0000000"},
                    "payload": a.payload},
        "response": {"headers": {}, "payload": null}
    }))).into_response()
}
