//! The dashboard's pipeline form posts here, to the address of its own page: `POST
//! /pipelines/new` and `POST /pipelines/{name}/edit`. A save goes through the pipeline
//! use-cases (which check the role, validate as the REST API does, and audit) and sends the
//! browser on: a new pipeline to its Set up page (its first Verify already asked for), an
//! edit to the pipeline. A refused save answers with the form's page drawn again, with
//! what was sent and each error beside its field, so that a browser without JavaScript
//! loses nothing and sees exactly what to fix.

use super::access::Caller;
use super::{ApiError, AppState};
use crate::ops::OpError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Router};
use futures::future::BoxFuture;
use leptos::prelude::{LeptosOptions, provide_context};
use shipgate_app::linking::PipelineSubmission;
use shipgate_pipeline::pipeline_form::PipelineForm;
use std::sync::Arc;

/// Draws a dashboard page again for a refused form, with the submission in its context.
#[derive(Clone)]
pub struct Pages {
    render: Arc<dyn Fn(Request, PipelineSubmission) -> BoxFuture<'static, Response> + Send + Sync>,
}

impl Pages {
    /// `context` is what every page render has in context (the router's own).
    pub fn new(
        context: impl Fn() + Clone + Send + Sync + 'static,
        options: LeptosOptions,
    ) -> Pages {
        Pages {
            render: Arc::new(move |request, submission| {
                let context = context.clone();
                let options = options.clone();
                let handler = leptos_axum::render_app_async_with_context(
                    move || {
                        context();
                        provide_context(submission.clone());
                    },
                    move || shipgate_app::shell(options.clone()),
                );
                handler(request)
            }),
        }
    }
}

pub fn routes(pages: Pages) -> Router<AppState> {
    Router::new()
        .route("/pipelines/new", post(create))
        .route("/pipelines/{name}/edit", post(edit))
        .layer(Extension(pages))
}

async fn create(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    caller: Caller,
    request: Request,
) -> Response {
    save(state, pages, caller, None, request).await
}

async fn edit(
    State(state): State<AppState>,
    Extension(pages): Extension<Pages>,
    caller: Caller,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    save(state, pages, caller, Some(name), request).await
}

/// Largest form body read: a pipeline of the most environments is a few kilobytes.
const MAX_FORM: usize = 64 * 1024;

async fn save(
    state: AppState,
    pages: Pages,
    caller: Caller,
    editing: Option<String>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return ApiError::UnsupportedMediaType(
            "the pipeline form is sent as application/x-www-form-urlencoded".into(),
        )
        .into_response();
    }
    let body: Bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::PayloadTooLarge("the pipeline form is too large".into())
                .into_response();
        }
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let form = PipelineForm::from_pairs(pairs.iter().map(|(k, v)| (k, v)));
    let refusal = match state
        .ops()
        .save_pipeline_form(&caller.acting(), editing.as_deref(), &form)
        .await
    {
        // A new pipeline goes on to its Set up page (where its first Verify shows); an
        // edit, back to the pipeline.
        Ok(record) if editing.is_none() => {
            return Redirect::to(&format!("/pipelines/{}/setup?created=1", record.spec.name))
                .into_response();
        }
        Ok(record) => {
            return Redirect::to(&format!("/pipelines/{}?saved=1", record.spec.name))
                .into_response();
        }
        Err(e) => e,
    };
    let (status, submission) = refused(refusal, pairs);
    // Drawn as the page itself is on a GET of its address.
    parts.method = Method::GET;
    let mut response = (pages.render)(Request::from_parts(parts, Body::empty()), submission).await;
    *response.status_mut() = status;
    response
}

/// The status and the page's view of a refused save. Failures on our side are logged and
/// shown as one sentence, as every door shows them.
fn refused(e: OpError, pairs: Vec<(String, String)>) -> (StatusCode, PipelineSubmission) {
    let (message, errors) = match e {
        OpError::Invalid { fields, .. } => (
            "The pipeline was not saved: fix the fields marked below.".to_owned(),
            fields,
        ),
        other => {
            let status = ApiError::from(other);
            let message = match &status {
                ApiError::Internal(detail) => {
                    tracing::error!(%detail, "saving the pipeline form failed");
                    "The pipeline was not saved: it failed on the server; the server log has the details.".to_owned()
                }
                shown => format!("The pipeline was not saved: {shown}"),
            };
            return (
                status.status(),
                PipelineSubmission {
                    pairs,
                    errors: Vec::new(),
                    message,
                },
            );
        }
    };
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        PipelineSubmission {
            pairs,
            errors,
            message,
        },
    )
}
