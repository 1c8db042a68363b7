//! The JSON REST API under `/api/v1`. Every endpoint names the action it needs; the caller
//! is whoever [`super::access::authenticate`] found (an API token, a session, or local mode).

use super::access::Caller;
use super::extract::{ApiPath, ApiQuery, number, text};
use super::{ApiError, AppState};
use crate::ops::DecideGate;
use crate::store::access::NewToken;
use crate::store::pipelines::Saved;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shipgate_pipeline::access::{Action, TokenDraft};
use shipgate_pipeline::gate::Verdict;
use shipgate_pipeline::read::{AuditFilter, CreatedToken, RunFilter, RunSummary};
use shipgate_pipeline::{PipelineDraft, RunId, RunStatus};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pipelines", get(list_pipelines).post(create_pipeline))
        .route(
            "/pipelines/{name}",
            get(get_pipeline).put(put_pipeline).delete(delete_pipeline),
        )
        .route("/pipelines/{name}/setup", get(pipeline_setup))
        .route("/pipelines/{name}/verify", post(verify_pipeline))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/cancel", post(cancel_run))
        .route("/runs/{id}/retry", post(retry_run))
        .route("/runs/{id}/environments/{env}/rollback", post(roll_back))
        .route("/runs/{id}/environments/{env}/approve", post(approve_gate))
        .route("/runs/{id}/environments/{env}/reject", post(reject_gate))
        .route("/deliveries", get(list_deliveries))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/audit", get(list_audit))
        .route("/discover/ecs", get(discover_ecs))
        .route("/discover/ecr", get(discover_ecr))
        .route("/discover/github", get(discover_github))
}

/// Parses a JSON body, naming the path of any field that has the wrong type or is unknown.
fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::BadRequest(format!("the body is not valid JSON: {inner}"))
        } else {
            let field = if path == "." { String::new() } else { path };
            ApiError::Unprocessable {
                message: if field.is_empty() {
                    inner.to_string()
                } else {
                    format!("{field}: {inner}")
                },
                fields: vec![shipgate_pipeline::FieldError {
                    field,
                    message: inner.to_string(),
                }],
            }
        }
    })
}

async fn list_pipelines(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let admin = caller.principal.may(&Action::Administer);
    let items: Vec<_> = state
        .store
        .list_pipelines()
        .await?
        .into_iter()
        .map(|p| p.for_reader(admin))
        .collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    match state.store.get_pipeline(&name).await? {
        Some(p) => {
            Ok(Json(p.for_reader(caller.principal.may(&Action::Administer))).into_response())
        }
        None => Err(ApiError::NotFound(format!(
            "pipeline `{name}` does not exist"
        ))),
    }
}

async fn create_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let draft = json_body::<PipelineDraft>(&headers, &body)?;
    let record = state
        .ops()
        .create_pipeline(&caller.acting(), &draft)
        .await?;
    let location = format!("/api/v1/pipelines/{}", record.spec.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(record),
    )
        .into_response())
}

async fn put_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let draft = json_body::<PipelineDraft>(&headers, &body)?;
    let (saved, record) = state
        .ops()
        .put_pipeline(&caller.acting(), &name, draft)
        .await?;
    let status = if saved == Saved::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(record)).into_response())
}

async fn delete_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.ops().delete_pipeline(&caller.acting(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The runs list's query parameters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    pipeline: Option<String>,
    status: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

impl RunsQuery {
    pub fn filter(self) -> Result<RunFilter, ApiError> {
        let status = match text(self.status) {
            Some(s) => Some(
                s.parse::<RunStatus>()
                    .map_err(|e| ApiError::BadRequest(format!("query parameter `status`: {e}")))?,
            ),
            None => None,
        };
        Ok(RunFilter {
            pipeline: text(self.pipeline),
            status,
            before: number("before", self.before.as_deref())?,
            limit: number("limit", self.limit.as_deref())?,
        })
    }
}

async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let page: shipgate_pipeline::read::Page<RunSummary> =
        state.store.list_runs(&query.filter()?).await?;
    Ok(Json(page).into_response())
}

async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    match state.store.get_run(id.get()).await? {
        Some(run) => Ok(Json(run).into_response()),
        None => Err(ApiError::NotFound(format!("run {id} does not exist"))),
    }
}

/// The deliveries list's query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    before: Option<String>,
    limit: Option<String>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let before = number("before", query.before.as_deref())?;
    let limit = number::<u32>("limit", query.limit.as_deref())?
        .unwrap_or(shipgate_pipeline::read::DEFAULT_PAGE);
    Ok(Json(state.store.list_deliveries(before, limit).await?).into_response())
}

/// Why someone cancelled a run or rolled an environment back; optional for a cancel, kept
/// in the audit log and on the run.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: String,
}

/// An optional JSON body: absent is the default.
fn optional_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        json_body(headers, body)
    }
}

/// Cancels a live run. The reply is the run as it stands afterwards; 409 if it has ended or
/// a deploy is rolling out.
async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RunId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ReasonBody = optional_body(&headers, &body)?;
    Ok(Json(
        state
            .ops()
            .cancel_run(&caller.acting(), id, &body.reason)
            .await?,
    )
    .into_response())
}

/// The reply to a change that made a run: the new run, at its own address.
async fn created_run(state: &AppState, id: RunId) -> Result<Response, ApiError> {
    let run = state
        .store
        .get_run(id.get())
        .await?
        .ok_or_else(|| ApiError::Internal(format!("run {id} vanished after it was created")))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/runs/{id}"))],
        Json(run),
    )
        .into_response())
}

/// Starts a new run of a run's pipeline and commit. 409 if the run is live, succeeded, or
/// was retried already.
async fn retry_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Response, ApiError> {
    let new_id = state.ops().retry_run(&caller.acting(), id).await?;
    created_run(&state, new_id).await
}

/// Redeploys what run `id` deployed to environment `env`, as a new run of kind `rollback`
/// (see [`crate::ops::Ops::roll_back`]). The reply is the new run (201).
async fn roll_back(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, env)): ApiPath<(RunId, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ReasonBody = optional_body(&headers, &body)?;
    let new_id = state
        .ops()
        .roll_back(&caller.acting(), id, &env, &body.reason)
        .await?;
    created_run(&state, new_id).await
}

/// What a release manager may say with a decision.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    comment: String,
    /// The digest the decision is about (`sha256:…`): refused if another is waiting now.
    #[serde(default)]
    digest: Option<String>,
    /// An admin's override of a deploy freeze; `comment` then says why.
    #[serde(default)]
    override_freeze: bool,
}

async fn approve_gate(
    state: State<AppState>,
    caller: Caller,
    path: ApiPath<(RunId, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    decide(state, caller, path, headers, body, Verdict::Approve).await
}

async fn reject_gate(
    state: State<AppState>,
    caller: Caller,
    path: ApiPath<(RunId, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    decide(state, caller, path, headers, body, Verdict::Reject).await
}

/// Records the decision (see [`crate::ops::Ops::decide_gate`]); the engine does the
/// deploying. The reply is the run as it stands after the decision.
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, environment)): ApiPath<(RunId, String)>,
    headers: HeaderMap,
    body: Bytes,
    verdict: Verdict,
) -> Result<Response, ApiError> {
    // Only people who could decide some gate learn even whether the body was well formed.
    if !caller
        .principal
        .grants
        .iter()
        .any(|g| g.role >= shipgate_pipeline::Role::ReleaseManager)
    {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role",
            shipgate_pipeline::Role::ReleaseManager
        )));
    }
    let body: DecisionBody = optional_body(&headers, &body)?;
    let digest = body.digest.map(|d| d.trim().to_owned());
    let request = DecideGate {
        run: id,
        environment,
        verdict,
        comment: body.comment,
        digest,
        override_freeze: body.override_freeze,
        link: None,
    };
    state.ops().decide_gate(&caller.acting(), request).await?;
    let run = state
        .store
        .get_run(id.get())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    Ok(Json(run).into_response())
}

async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    Ok(Json(serde_json::json!({ "items": state.store.list_tokens().await? })).into_response())
}

/// Makes a token. The reply is the only time the token is shown.
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let spec = json_body::<TokenDraft>(&headers, &body)?
        .validate()
        .map_err(|e| ApiError::Unprocessable {
            message: format!("invalid token: {e}"),
            fields: e.errors,
        })?;
    let (token, token_record) = state
        .store
        .create_token(
            &NewToken::from_spec(spec, state.store.now_ms()),
            &caller.audit(),
        )
        .await?;
    let location = format!("/api/v1/tokens/{}", token_record.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CreatedToken {
            token,
            token_record,
        }),
    )
        .into_response())
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("`{id}` is not a token id")))?;
    match state.store.revoke_token(id, &caller.audit()).await? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(ApiError::NotFound(format!("token {id} does not exist"))),
    }
}

/// The audit log's query parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

/// A page of the audit log, newest first; `next` is the `before` of the following page.
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let filter = AuditFilter {
        actor: text(query.actor),
        action: text(query.action),
        target: text(query.target),
        before: number("before", query.before.as_deref())?,
        limit: number("limit", query.limit.as_deref())?,
    };
    Ok(Json(state.store.search_audit(&filter).await?).into_response())
}

/// Discovery's query: the region to look in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverQuery {
    region: Option<String>,
}

/// ECS discovery's query: the region, and the role to read it as (an environment's
/// `role_arn`, for another account).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EcsDiscoverQuery {
    region: Option<String>,
    role_arn: Option<String>,
}

/// The region asked for; 400 when there is none. Whether it is a region code at all is the
/// use-case's check (422, naming `region`).
fn required_region(region: Option<String>) -> Result<String, ApiError> {
    text(region).ok_or_else(|| {
        ApiError::BadRequest(
            "query parameter `region` is required, e.g. `?region=us-east-1`".into(),
        )
    })
}

/// The ECS clusters of a region, with their services and each service's containers
/// (see [`crate::ops::Discovery::ecs`]); 502 with AWS's words when AWS refuses.
async fn discover_ecs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EcsDiscoverQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let role_arn = text(query.role_arn);
    let found = state
        .discovery
        .ecs(
            &caller.acting(),
            &required_region(query.region)?,
            role_arn.as_deref(),
        )
        .await?;
    Ok(Json(found).into_response())
}

/// The ECR repositories of a region (see [`crate::ops::Discovery::ecr`]).
async fn discover_ecr(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<DiscoverQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let found = state
        .discovery
        .ecr(&caller.acting(), &required_region(query.region)?)
        .await?;
    Ok(Json(found).into_response())
}

/// The repositories the GitHub token can see (see [`crate::ops::Discovery::github`]); 409
/// when no token is configured, 502 with GitHub's words when GitHub refuses.
async fn discover_github(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    match state.discovery.github(&caller.acting()).await? {
        Some(found) => Ok(Json(found).into_response()),
        None => Err(ApiError::Conflict(
            "no GitHub token is configured (github_token / SHIPGATE_GITHUB_TOKEN), so Shipgate cannot list repositories; type the repository in".into(),
        )),
    }
}

/// What the setup kit is generated with, from this server's settings.
pub(super) fn kit_settings(state: &AppState) -> shipgate_pipeline::setup_kit::KitSettings {
    shipgate_pipeline::setup_kit::KitSettings {
        public_url: state.public_url.as_deref().map(str::to_owned),
        webhook_secret_configured: state.webhook_secret.is_some(),
    }
}

/// A stored Verify as the API shows it.
fn verification_json(v: &crate::store::checks::Verification) -> serde_json::Value {
    let report = v.report.as_ref();
    serde_json::json!({
        "requested_at": v.requested_at,
        "requested_by": v.requested_by,
        "pending": v.pending,
        "checked_at": report.map(|r| r.finished_at),
        "problems": report.map(|r| r.problems()),
        "incomplete": report.and_then(|r| r.incomplete.clone()),
        "checks": report.map(|r| r.checks.clone()).unwrap_or_default(),
    })
}

/// The pipeline's setup kit: the CI workflow, IAM policies, ECR settings and webhook,
/// generated from its definition and what its last Verify learnt.
async fn pipeline_setup(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let setup = state
        .ops()
        .setup(&caller.acting(), &name, &kit_settings(&state))
        .await?;
    let mut body = serde_json::to_value(&setup.kit)
        .map_err(|e| ApiError::Internal(format!("setup kit: {e}")))?;
    body["pipeline"] = serde_json::Value::String(setup.pipeline.spec.name.clone());
    body["verification"] = setup
        .verification
        .as_ref()
        .map_or(serde_json::Value::Null, verification_json);
    Ok(Json(body).into_response())
}

/// Runs Verify and answers with its checks: 200 when an engine answered within the time
/// limit, 202 (with the previous checks, if any) when none has yet.
async fn verify_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let verification = state
        .ops()
        .verify(&caller.acting(), &name, crate::ops::VERIFY_WAIT)
        .await?;
    let mut body = verification_json(&verification);
    body["pipeline"] = serde_json::Value::String(name);
    if verification.pending {
        body["message"] = serde_json::Value::String(
            "Verify is queued: no engine has answered yet (is this replica started with --no-engine?); GET /api/v1/pipelines/{name}/setup shows it when it has".into(),
        );
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    Ok(Json(body).into_response())
}
