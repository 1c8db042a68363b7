//! The JSON REST API under `/api/v1`. Every endpoint names the action it needs; the caller
//! is whoever [`super::access::authenticate`] found (an API token, a session, or local mode).

use super::access::Caller;
use super::{ApiError, AppState};
use crate::store::engine::{Decision, GateRequest};
use crate::store::pipelines::Saved;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use crate::store::access::NewToken;
use shipgate_pipeline::access::{Action, TokenDraft};
use shipgate_pipeline::read::{AuditFilter, CreatedToken, RunFilter, RunSummary};
use shipgate_pipeline::{PipelineDraft, RunStatus};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pipelines", get(list_pipelines).post(create_pipeline))
        .route("/pipelines/{name}", get(get_pipeline).put(put_pipeline).delete(delete_pipeline))
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
}

/// Parses a JSON body, naming the path of any field that has the wrong type or is unknown.
fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType("the body must be JSON (Content-Type: application/json)".into()));
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
                message: if field.is_empty() { inner.to_string() } else { format!("{field}: {inner}") },
                fields: vec![shipgate_pipeline::FieldError { field, message: inner.to_string() }],
            }
        }
    })
}

fn validate(draft: &PipelineDraft) -> Result<shipgate_pipeline::PipelineSpec, ApiError> {
    draft.validate().map_err(|e| ApiError::Unprocessable { message: format!("invalid pipeline: {e}"), fields: e.errors })
}

async fn list_pipelines(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let admin = caller.principal.may(&Action::Administer);
    let items: Vec<_> = state.store.list_pipelines().await?.into_iter().map(|p| p.for_reader(admin)).collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

async fn get_pipeline(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    match state.store.get_pipeline(&name).await? {
        Some(p) => Ok(Json(p.for_reader(caller.principal.may(&Action::Administer))).into_response()),
        None => Err(ApiError::NotFound(format!("pipeline `{name}` does not exist"))),
    }
}

async fn create_pipeline(State(state): State<AppState>, caller: Caller, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let spec = validate(&json_body::<PipelineDraft>(&headers, &body)?)?;
    let record = state.store.create_pipeline(&spec, "api", &caller.audit()).await?;
    let location = format!("/api/v1/pipelines/{}", record.spec.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(record)).into_response())
}

async fn put_pipeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let mut draft = json_body::<PipelineDraft>(&headers, &body)?;
    match &draft.name {
        None => draft.name = Some(name.clone()),
        Some(n) if *n != name => {
            return Err(ApiError::Unprocessable {
                message: format!("name: `{n}` does not match the pipeline in the URL, `{name}`"),
                fields: vec![shipgate_pipeline::FieldError { field: "name".into(), message: format!("must be `{name}`, as in the URL") }],
            });
        }
        Some(_) => {}
    }
    let spec = validate(&draft)?;
    let (saved, record) = state.store.put_pipeline(&spec, "api", &caller.audit()).await?;
    let status = if saved == Saved::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(record)).into_response())
}

async fn delete_pipeline(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    caller.require(Action::Administer)?;
    state.store.delete_pipeline(&name, &caller.audit()).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn int_param<T: std::str::FromStr>(params: &HashMap<String, String>, key: &str) -> Result<Option<T>, ApiError> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<T>().map_err(|_| ApiError::BadRequest(format!("query parameter `{key}`: `{v}` is not a valid number"))))
        .transpose()
}

/// Reads the runs filter from query parameters, rejecting unknown ones by name.
pub fn run_filter(params: &HashMap<String, String>) -> Result<RunFilter, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !matches!(k.as_str(), "pipeline" | "status" | "before" | "limit")) {
        return Err(ApiError::BadRequest(format!("unknown query parameter `{unknown}`; expected pipeline, status, before or limit")));
    }
    let status = match params.get("status").filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<RunStatus>().map_err(|e| ApiError::BadRequest(format!("query parameter `status`: {e}")))?),
        None => None,
    };
    Ok(RunFilter {
        pipeline: params.get("pipeline").filter(|p| !p.is_empty()).cloned(),
        status,
        before: int_param(params, "before")?,
        limit: int_param(params, "limit")?,
    })
}

async fn list_runs(State(state): State<AppState>, caller: Caller, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let filter = run_filter(&params)?;
    let page: shipgate_pipeline::read::Page<RunSummary> = state.store.list_runs(&filter).await?;
    Ok(Json(page).into_response())
}

async fn get_run(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
    match state.store.get_run(id).await? {
        Some(run) => Ok(Json(run).into_response()),
        None => Err(ApiError::NotFound(format!("run {id} does not exist"))),
    }
}

async fn list_deliveries(State(state): State<AppState>, caller: Caller, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    if let Some(unknown) = params.keys().find(|k| !matches!(k.as_str(), "before" | "limit")) {
        return Err(ApiError::BadRequest(format!("unknown query parameter `{unknown}`; expected before or limit")));
    }
    let before = int_param(&params, "before")?;
    let limit = int_param::<u32>(&params, "limit")?.unwrap_or(shipgate_pipeline::read::DEFAULT_PAGE);
    Ok(Json(state.store.list_deliveries(before, limit).await?).into_response())
}

/// Why someone cancelled a run; optional, kept in the audit log and on the run.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    #[serde(default)]
    reason: String,
}

/// The run `id` names, for an operation on it: 400 for an id that is not a number, 404 for
/// a run that does not exist, 403 unless the caller may operate runs of its pipeline.
async fn run_to_operate(state: &AppState, caller: &Caller, id: &str) -> Result<shipgate_pipeline::read::RunDetail, ApiError> {
    caller.require(Action::View)?;
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    caller.require(Action::OperateRun { pipeline: &run.run.pipeline })?;
    Ok(run)
}

/// Cancels a live run. The reply is the run as it stands afterwards; 409 if it has ended or
/// a deploy is rolling out.
async fn cancel_run(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let run = run_to_operate(&state, &caller, &id).await?;
    let body: CancelBody = if body.is_empty() { CancelBody::default() } else { json_body(&headers, &body)? };
    let id = run.run.id;
    state.store.cancel_run(id, &body.reason, &caller.audit()).await?;
    // Runs queued behind a service this run was waiting for, or held, may go on now.
    state.engine.wake();
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    Ok(Json(run).into_response())
}

/// Starts a new run of a run's pipeline and commit; the reply is the new run, at its own
/// address. 409 if the run is live, succeeded, or was retried already.
async fn retry_run(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let run = run_to_operate(&state, &caller, &id).await?;
    let new_id = state.store.retry_run(run.run.id, &caller.audit()).await?;
    state.engine.wake();
    let new_run = state.store.get_run(new_id).await?.ok_or_else(|| ApiError::Internal(format!("run {new_id} vanished after it was created")))?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v1/runs/{new_id}"))], Json(new_run)).into_response())
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    #[serde(default)]
    reason: String,
}

/// Redeploys what run `id` deployed to environment `env` (its task-definition revision, as
/// it was), as a new run of kind `rollback`. A rollback changes what runs in an
/// environment, so it needs the right to approve that environment when its promotion is
/// manual, and the right to operate the pipeline's runs when it is automatic. Freezes do
/// not hold it. The reply is the new run (201).
async fn roll_back(State(state): State<AppState>, caller: Caller, Path((id, env)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
    caller.require(Action::View)?;
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    let Some(deploy) = run.deploys.iter().find(|d| d.environment == env) else {
        return Err(ApiError::NotFound(format!("run {id} did not deploy to environment `{env}`")));
    };
    caller.require(run.rollback_action(&env))?;
    let body: RollbackBody = if body.is_empty() { RollbackBody::default() } else { json_body(&headers, &body)? };
    let new_id = state.store.roll_back(id, deploy.position, &body.reason, &caller.audit()).await?;
    state.engine.wake();
    let new_run = state.store.get_run(new_id).await?.ok_or_else(|| ApiError::Internal(format!("run {new_id} vanished after it was created")))?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v1/runs/{new_id}"))], Json(new_run)).into_response())
}

/// What a release manager may say with a decision.
#[derive(serde::Deserialize, Default)]
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

async fn approve_gate(state: State<AppState>, caller: Caller, path: Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    decide(state, caller, path, headers, body, Decision::Approve).await
}

async fn reject_gate(state: State<AppState>, caller: Caller, path: Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    decide(state, caller, path, headers, body, Decision::Reject).await
}

/// Records the decision (durably, with the digest it binds to) and wakes the engine, which
/// does the deploying. The reply is the run as it stands after the decision.
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, env)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    decision: Decision,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
    // Only people who could decide some gate learn whether this run exists.
    if !caller.principal.grants.iter().any(|g| g.role >= shipgate_pipeline::Role::ReleaseManager) {
        return Err(ApiError::Forbidden(format!("this needs the {} role", shipgate_pipeline::Role::ReleaseManager)));
    }
    let body: DecisionBody = if body.is_empty() { DecisionBody::default() } else { json_body(&headers, &body)? };
    if decision == Decision::Reject && body.comment.trim().is_empty() {
        return Err(ApiError::Unprocessable {
            message: "comment: a rejection needs a reason".into(),
            fields: vec![shipgate_pipeline::FieldError { field: "comment".into(), message: "is required when rejecting".into() }],
        });
    }
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    let position = run
        .stages
        .iter()
        .filter(|s| s.kind == shipgate_pipeline::StageKind::Deploy)
        .position(|s| s.environment.as_deref() == Some(env.as_str()))
        .ok_or_else(|| ApiError::NotFound(format!("run {id} has no environment `{env}`")))?;
    caller.require(Action::DecideGate { pipeline: &run.run.pipeline, environment: &env })?;
    let request = GateRequest {
        position,
        environment: &env,
        decision,
        comment: body.comment.trim(),
        digest: body.digest.as_deref().map(str::trim),
        override_freeze: body.override_freeze,
        link: None,
    };
    state.store.decide_gate(id, &request, &caller.principal, &caller.audit()).await.map_err(|e| match e {
        crate::store::StoreError::Transition(t) => ApiError::Conflict(format!("run {id}, environment `{env}`: {t}")),
        other => other.into(),
    })?;
    state.engine.wake();
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    Ok(Json(run).into_response())
}

async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    Ok(Json(serde_json::json!({ "items": state.store.list_tokens().await? })).into_response())
}

/// Makes a token. The reply is the only time the token is shown.
async fn create_token(State(state): State<AppState>, caller: Caller, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let spec = json_body::<TokenDraft>(&headers, &body)?
        .validate()
        .map_err(|e| ApiError::Unprocessable { message: format!("invalid token: {e}"), fields: e.errors })?;
    let (token, token_record) = state.store.create_token(&NewToken::from_spec(spec, crate::store::now_ms()), &caller.audit()).await?;
    let location = format!("/api/v1/tokens/{}", token_record.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(CreatedToken { token, token_record })).into_response())
}

async fn revoke_token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a token id")))?;
    match state.store.revoke_token(id, &caller.audit()).await? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(ApiError::NotFound(format!("token {id} does not exist"))),
    }
}

/// Reads the audit filter from query parameters, rejecting unknown ones by name.
fn audit_filter(params: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !matches!(k.as_str(), "actor" | "action" | "target" | "before" | "limit")) {
        return Err(ApiError::BadRequest(format!("unknown query parameter `{unknown}`; expected actor, action, target, before or limit")));
    }
    let text = |key: &str| params.get(key).filter(|v| !v.is_empty()).cloned();
    Ok(AuditFilter { actor: text("actor"), action: text("action"), target: text("target"), before: int_param(params, "before")?, limit: int_param(params, "limit")? })
}

/// A page of the audit log, newest first; `next` is the `before` of the following page.
async fn list_audit(State(state): State<AppState>, caller: Caller, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    Ok(Json(state.store.search_audit(&audit_filter(&params)?).await?).into_response())
}
