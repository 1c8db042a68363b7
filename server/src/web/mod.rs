//! The HTTP layer: routing, shared state, and the one error type every handler returns,
//! which maps to a status code and a JSON body that names the problem without leaking internals.

pub mod access;
mod api;
mod auth;
mod dashboard;
mod extract;
pub mod headers;
mod live;
mod pipeline_form;
mod setup;
mod webhook;

use crate::intake::DeliveryWriter;
use crate::store::sessions::SessionRecords;
use crate::store::{Store, StoreError};
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use secrecy::SecretString;
use serde_json::json;
use shipgate_app::{App, shell};
use shipgate_pipeline::FieldError;
use std::sync::{Arc, OnceLock};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub deliveries: DeliveryWriter,
    pub webhook_secret: Option<Arc<SecretString>>,
    pub admin_token: Option<Arc<SecretString>>,
    pub leptos: LeptosOptions,
    /// Wakes the deploy engine after an approval or a CI report is stored.
    pub engine: crate::engine::EngineHandle,
    /// Sign-in: the OpenID provider, or local mode.
    pub auth: Arc<crate::identity::Auth>,
    /// Where people reach Shipgate (scheme and host), if configured.
    pub public_url: Option<Arc<str>>,
    /// Turns true when the server begins to shut down: long-lived responses (live-update
    /// streams) end then, so graceful shutdown does not wait for open pages.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// The time sign-in and sessions go by (the system clock, or a test's manual one).
    pub clock: crate::clock::Clock,
    /// Where AWS calls go, when that is a stand-in rather than AWS.
    pub aws_stand_in: Option<shipgate_app::AwsStandIn>,
    /// What AWS holds, for linking pipelines (the only AWS reads a request waits on).
    pub discovery: crate::ops::Discovery,
}

impl AppState {
    /// The use-cases, over this state's store and engine.
    pub fn ops(&self) -> crate::ops::Ops {
        crate::ops::Ops::new(self.store.clone(), self.engine.clone())
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Unprocessable {
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// AWS refused or failed a call made for the caller (502), or did not answer in time (504).
    #[error("{message}")]
    Upstream { message: String, slow: bool },
    /// Logged in full; the client only learns that something went wrong on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        crate::ops::OpError::from(e).into()
    }
}

impl From<crate::ops::OpError> for ApiError {
    fn from(e: crate::ops::OpError) -> Self {
        use crate::ops::OpError;
        match e {
            OpError::Forbidden(_) | OpError::Denied(_) => ApiError::Forbidden(e.to_string()),
            OpError::NotFound(message) => ApiError::NotFound(message),
            OpError::Invalid { message, fields } => ApiError::Unprocessable { message, fields },
            OpError::Conflict(message) => ApiError::Conflict(message),
            OpError::Unavailable(message) => ApiError::Unavailable(message),
            OpError::Upstream { message, slow } => ApiError::Upstream { message, slow },
            OpError::Failed(detail) => ApiError::Internal(detail),
            OpError::Store(e) if e.is_unavailable() => {
                ApiError::Unavailable("the database is unavailable; try again shortly".into())
            }
            OpError::Store(e) => ApiError::Internal(crate::error_chain(&e)),
        }
    }
}

impl ApiError {
    /// The status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream { slow: false, .. } => StatusCode::BAD_GATEWAY,
            ApiError::Upstream { slow: true, .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                json!({ "error": "internal error; the server log has the details" })
            }
            ApiError::Unprocessable { message, fields } => {
                json!({ "error": message, "fields": fields })
            }
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The dashboard's pages, found by running the app once, and only once per process.
///
/// While the list is being made, leptos holds back every resource in the process (a global
/// flag), and a page whose resource first runs in that window never finishes rendering. A
/// server builds its router once before it serves, but tests build one app each, side by
/// side, so a second generation could stall another test's page. Doing it once, before any
/// router exists, closes that window.
pub fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Builds the whole application: API, webhook intake, health checks and the dashboard.
pub fn router(state: AppState) -> Router {
    let routes = page_routes();
    let dashboard: Arc<dyn shipgate_app::Dashboard> = Arc::new(dashboard::StoreDashboard {
        store: state.store.clone(),
        engine: state.engine.clone(),
        discovery: state.discovery.clone(),
        kit: api::kit_settings(&state),
    });
    let leptos_options = state.leptos.clone();
    let sessions = SessionManagerLayer::new(SessionRecords {
        store: state.store.clone(),
        clock: state.clock.clone(),
    })
    .with_name("shipgate_session")
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_secure(state.auth.secure_cookies)
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(time::Duration::milliseconds(
        state.auth.idle_timeout_ms,
    )));
    let local_mode = state.auth.is_local();
    let stand_in = state.aws_stand_in.clone();
    // What every page render has in context, whether the router renders it or a form door
    // renders it again with what was submitted.
    let page_context = move || {
        provide_context(dashboard.clone());
        provide_context(shipgate_app::AuthMode { local: local_mode });
        if let Some(stand_in) = &stand_in {
            provide_context(stand_in.clone());
        }
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/webhooks/github", post(webhook::receive))
        .merge(auth::routes())
        .merge(live::routes())
        .nest("/api/v1", api::routes())
        .merge(setup::routes())
        .merge(pipeline_form::routes(pipeline_form::Pages::new(
            page_context.clone(),
            leptos_options.clone(),
        )))
        .leptos_routes_with_context(&state, routes, page_context, move || {
            shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Outermost first: the browser protections (on every reply, refusals included), a
        // session for the request, then the cross-site check, then who is calling. All of
        // them run before any handler.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::refuse_cross_site,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::protect,
        ))
        .with_state(state)
}

/// Liveness: the process is up and serving.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            Json(json!({ "status": "ready", "database": state.store.backend() })).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "error": "the database is not reachable" })),
            )
                .into_response()
        }
    }
}

/// What the pages say about an `aws_endpoint_url`: where it is, and whether it is on
/// this machine (`localhost` or a loopback address, as the demo's moto is).
pub fn stand_in(endpoint: &str) -> shipgate_app::AwsStandIn {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    shipgate_app::AwsStandIn {
        endpoint: endpoint.to_owned(),
        local,
    }
}

#[cfg(test)]
mod stand_in_tests {
    use super::stand_in;

    #[test]
    fn a_loopback_endpoint_is_called_local() {
        for (url, local) in [
            ("http://127.0.0.1:4566", true),
            ("http://localhost:5000/", true),
            ("http://[::1]:4566", true),
            ("https://vpce-1.ecs.us-east-1.vpce.amazonaws.com", false),
            ("http://10.0.0.5:4566", false),
        ] {
            assert_eq!(stand_in(url).local, local, "{url}");
        }
    }
}
