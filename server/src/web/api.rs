//! The JSON REST API under `/api/v1`. Reads are open until sign-in exists; writes need the
//! configured admin bearer token.

use super::{ApiError, AppState};
use crate::store::AuditEntry;
use crate::store::engine::Decision;
use crate::store::pipelines::Saved;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use shipgate_pipeline::read::{RunFilter, RunSummary};
use shipgate_pipeline::{PipelineDraft, RunStatus};
use std::collections::HashMap;
use std::net::SocketAddr;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pipelines", get(list_pipelines).post(create_pipeline))
        .route("/pipelines/{name}", get(get_pipeline).put(put_pipeline).delete(delete_pipeline))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/environments/{env}/approve", post(approve_gate))
        .route("/runs/{id}/environments/{env}/reject", post(reject_gate))
        .route("/deliveries", get(list_deliveries))
}

/// Proof that the caller presented the admin token; carries who they are for the audit log.
pub struct Admin {
    audit: AuditEntry,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(expected) = &state.admin_token else {
            return Err(ApiError::Forbidden(
                "write endpoints are disabled: no admin token is configured (--admin-token / SHIPGATE_ADMIN_TOKEN)".into(),
            ));
        };
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("an `Authorization: Bearer <admin token>` header is required".into()))?;
        if !same_secret(presented.trim(), expected.expose_secret()) {
            return Err(ApiError::Unauthorized("the bearer token is not valid".into()));
        }
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(Admin { audit: AuditEntry { actor: "admin-token".into(), action: String::new(), target: String::new(), ip, detail: String::new() } })
    }
}

/// Compares digests, so the time taken says nothing about how much of the token matched.
fn same_secret(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

async fn list_pipelines(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({ "items": state.store.list_pipelines().await? })).into_response())
}

async fn get_pipeline(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    match state.store.get_pipeline(&name).await? {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(ApiError::NotFound(format!("pipeline `{name}` does not exist"))),
    }
}

async fn create_pipeline(State(state): State<AppState>, admin: Admin, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let spec = validate(&json_body::<PipelineDraft>(&headers, &body)?)?;
    let record = state.store.create_pipeline(&spec, "api", &admin.audit).await?;
    let location = format!("/api/v1/pipelines/{}", record.spec.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(record)).into_response())
}

async fn put_pipeline(
    State(state): State<AppState>,
    admin: Admin,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
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
    let (saved, record) = state.store.put_pipeline(&spec, "api", &admin.audit).await?;
    let status = if saved == Saved::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(record)).into_response())
}

async fn delete_pipeline(State(state): State<AppState>, admin: Admin, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    state.store.delete_pipeline(&name, &admin.audit).await?;
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

async fn list_runs(State(state): State<AppState>, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let filter = run_filter(&params)?;
    let page: shipgate_pipeline::read::Page<RunSummary> = state.store.list_runs(&filter).await?;
    Ok(Json(page).into_response())
}

async fn get_run(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
    match state.store.get_run(id).await? {
        Some(run) => Ok(Json(run).into_response()),
        None => Err(ApiError::NotFound(format!("run {id} does not exist"))),
    }
}

async fn list_deliveries(State(state): State<AppState>, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !matches!(k.as_str(), "before" | "limit")) {
        return Err(ApiError::BadRequest(format!("unknown query parameter `{unknown}`; expected before or limit")));
    }
    let before = int_param(&params, "before")?;
    let limit = int_param::<u32>(&params, "limit")?.unwrap_or(shipgate_pipeline::read::DEFAULT_PAGE);
    Ok(Json(state.store.list_deliveries(before, limit).await?).into_response())
}

/// What a release manager may say with a decision.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    comment: String,
}

async fn approve_gate(state: State<AppState>, admin: Admin, path: Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    decide(state, admin, path, headers, body, Decision::Approve).await
}

async fn reject_gate(state: State<AppState>, admin: Admin, path: Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    decide(state, admin, path, headers, body, Decision::Reject).await
}

/// Records the decision (durably, with the digest it binds to) and wakes the engine, which
/// does the deploying. The reply is the run as it stands after the decision.
async fn decide(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, env)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    decision: Decision,
) -> Result<Response, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::BadRequest(format!("`{id}` is not a run id")))?;
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
    state.store.decide_gate(id, position, &env, decision, body.comment.trim(), &admin.audit).await.map_err(|e| match e {
        crate::store::StoreError::Transition(t) => ApiError::Conflict(format!("run {id}, environment `{env}`: {t}")),
        other => other.into(),
    })?;
    state.engine.wake();
    let run = state.store.get_run(id).await?.ok_or_else(|| ApiError::NotFound(format!("run {id} does not exist")))?;
    Ok(Json(run).into_response())
}
