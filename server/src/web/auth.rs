//! The sign-in flow's endpoints. They answer browsers, so failures are small HTML pages
//! with a status code, a sentence saying what went wrong, and a way to start again.

use super::AppState;
use super::access::client_ip;
use crate::identity::oidc::SignInError;
use crate::identity::{PENDING, PendingSignIn, SIGNED_IN, SignedIn, safe_next};
use crate::store::{AuditEntry, now_ms};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use shipgate_pipeline::access::describe;
use tower_sessions::Session;
use tracing::{info, warn};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", get(sign_in))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/signed-out", get(signed_out))
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

/// A page about the sign-in, outside the dashboard (the dashboard needs a signed-in user).
fn page(status: StatusCode, title: &str, message: &str, next: &str) -> Response {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let again: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Shipgate</title><link rel=\"stylesheet\" href=\"/pkg/shipgate.css\"></head>\
         <body><main class=\"content\"><section class=\"empty auth-page\"><h1>{title}</h1><p>{message}</p>\
         <p><a class=\"button\" href=\"/auth/sign-in?next={again}\">Sign in</a></p></section></main></body></html>",
        title = escape(title),
        message = escape(message),
    );
    (status, Html(body)).into_response()
}

fn failure_status(e: &SignInError) -> StatusCode {
    match e {
        SignInError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        SignInError::NoPendingSignIn | SignInError::StateMismatch => StatusCode::BAD_REQUEST,
        SignInError::Refused(_) | SignInError::Unverified(_) => StatusCode::UNAUTHORIZED,
        SignInError::NoAccess { .. } => StatusCode::FORBIDDEN,
    }
}

async fn audit_failure(state: &AppState, parts: &Parts, e: &SignInError) {
    let actor = match e {
        SignInError::NoAccess { email: Some(email) } => format!("user:{email}"),
        _ => "anonymous".to_owned(),
    };
    warn!(reason = %e.detail(), "sign-in failed");
    let entry = AuditEntry { actor, action: "sign-in.failed".into(), target: "shipgate".into(), ip: client_ip(parts), detail: e.detail() };
    if let Err(err) = state.store.append_audit(&entry).await {
        tracing::error!(error = %err, "could not audit a failed sign-in");
    }
}

/// Sends the browser to the provider, remembering (in the session) what must come back.
async fn sign_in(State(state): State<AppState>, session: Session, parts: Parts, Query(query): Query<SignInQuery>) -> Response {
    let next = safe_next(query.next.as_deref());
    let Some(provider) = &state.auth.provider else {
        // Local mode: there is no one to sign in as but the local user.
        return Redirect::to(&next).into_response();
    };
    match provider.begin(next.clone()).await {
        Ok((url, pending)) => match session.insert(PENDING, &pending).await {
            Ok(()) => Redirect::to(&url).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "could not store a pending sign-in");
                page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "The session could not be stored; the server log has the details.", &next)
            }
        },
        Err(e) => {
            audit_failure(&state, &parts, &e).await;
            page(failure_status(&e), "Sign-in is unavailable", &format!("{e}. Try again in a moment."), &next)
        }
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider sends the browser back here. Only a response to the sign-in this browser
/// started, exchanged for an ID token that verifies, signs anyone in.
async fn callback(State(state): State<AppState>, session: Session, parts: Parts, Query(query): Query<CallbackQuery>) -> Response {
    let Some(provider) = &state.auth.provider else { return Redirect::to("/").into_response() };
    // Taken out first: whatever happens next, this response cannot be used twice.
    let pending: Option<PendingSignIn> = session.remove(PENDING).await.ok().flatten();
    let next = pending.as_ref().map_or_else(|| "/".to_owned(), |p| p.next.clone());
    let outcome = match (&query.error, &query.code, &query.state) {
        (Some(error), _, _) => {
            let description = query.error_description.as_deref().unwrap_or("");
            Err(SignInError::Refused(format!("{error} {description}").trim().to_owned()))
        }
        (None, Some(code), Some(returned_state)) => provider.finish(pending, returned_state, code).await,
        _ => Err(SignInError::NoPendingSignIn),
    };
    let verified = match outcome {
        Ok(v) => v,
        Err(e) => {
            audit_failure(&state, &parts, &e).await;
            let message = match &e {
                SignInError::NoAccess { .. } => format!("{e}. Ask a Shipgate admin to grant your account a role."),
                _ => format!("Sign-in failed: {e}."),
            };
            return page(failure_status(&e), "Sign-in failed", &message, &next);
        }
    };
    let now = now_ms();
    let actor = verified.email.as_ref().map_or_else(|| format!("user:{}", verified.subject), |e| format!("user:{e}"));
    let principal = shipgate_pipeline::Principal {
        id: actor.clone(),
        name: verified.name.clone(),
        kind: shipgate_pipeline::PrincipalKind::User,
        grants: verified.grants.clone(),
    };
    let who = SignedIn { principal, subject: verified.subject.clone(), signed_in_at: now, touched_at: now };
    // A new id for the signed-in session: an id planted before sign-in is worth nothing.
    let stored = async {
        session.cycle_id().await?;
        session.insert(SIGNED_IN, &who).await
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "could not store a session");
        return page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-in failed", "The session could not be stored; the server log has the details.", &next);
    }
    let ip = client_ip(&parts);
    let audit = |action: &str, detail: String| AuditEntry { actor: actor.clone(), action: action.into(), target: "shipgate".into(), ip: ip.clone(), detail };
    let previous = state.store.record_sign_in(&verified.subject, verified.email.as_deref(), &verified.name, &verified.grants).await;
    let mut entries = vec![audit("sign-in", describe(&verified.grants))];
    match previous {
        Ok(Some(before)) if before != verified.grants => {
            entries.push(AuditEntry { target: actor.clone(), ..audit("role.change", format!("{} → {}", describe(&before), describe(&verified.grants))) })
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not record the sign-in"),
    }
    for entry in entries {
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "could not audit a sign-in");
        }
    }
    info!(user = %actor, "signed in");
    Redirect::to(&next).into_response()
}

/// Ends the session everywhere: its row is deleted, so a copied cookie is worthless too.
async fn sign_out(State(state): State<AppState>, session: Session, parts: Parts) -> Response {
    if let Ok(Some(who)) = session.get::<SignedIn>(SIGNED_IN).await {
        let entry = AuditEntry { actor: who.principal.id, action: "sign-out".into(), target: "shipgate".into(), ip: client_ip(&parts), detail: String::new() };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "could not audit a sign-out");
        }
    }
    if let Err(e) = session.flush().await {
        tracing::error!(error = %e, "could not end a session");
        return page(StatusCode::INTERNAL_SERVER_ERROR, "Sign-out failed", "The session could not be ended; the server log has the details.", "/");
    }
    Redirect::to("/auth/signed-out").into_response()
}

async fn signed_out(State(state): State<AppState>) -> Response {
    if state.auth.is_local() {
        return Redirect::to("/").into_response();
    }
    page(StatusCode::OK, "Signed out", "You are signed out of Shipgate.", "/")
}
