//! The sign-in flow's endpoints. They answer browsers, so failures are small HTML pages
//! with a status code, a sentence saying what went wrong, and a way to start again.

use super::AppState;
use super::access::client_ip;
use crate::identity::oidc::SignInError;
use crate::identity::{
    PENDING, PendingSignIn, SIGNED_IN, SignIn, SignedIn, bootstrap, safe_next, same_secret,
};
use crate::store::AuditEntry;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use shipgate_pipeline::access::describe;
use tower_sessions::Session;
use tracing::{info, warn};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", get(sign_in).post(bootstrap_sign_in))
        .route("/auth/callback", get(callback))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/signed-out", get(signed_out))
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page outside the dashboard (the dashboard needs a signed-in user): a title, a sentence,
/// and `more`, HTML that the caller built from escaped parts.
fn html_page(status: StatusCode, title: &str, message: &str, more: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Shipgate</title><link rel=\"stylesheet\" href=\"/pkg/shipgate.css\"></head>\
         <body><main class=\"content\"><section class=\"empty auth-page\"><h1>{title}</h1><p>{message}</p>{more}</section></main></body></html>",
        title = escape(title),
        message = escape(message),
    );
    (status, Html(body)).into_response()
}

/// A page about the sign-in, with a way to start again.
fn page(status: StatusCode, title: &str, message: &str, next: &str) -> Response {
    let again: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    html_page(
        status,
        title,
        message,
        &format!("<p><a class=\"button\" href=\"/auth/sign-in?next={again}\">Sign in</a></p>"),
    )
}

/// A page that only says something: why a request was refused, and what to do.
pub(super) fn notice(status: StatusCode, title: &str, message: &str) -> Response {
    html_page(status, title, message, "")
}

/// The bootstrap admin's sign-in form. It works without JavaScript; `next` rides along.
fn password_form(status: StatusCode, message: &str, next: &str) -> Response {
    let form = format!(
        "<form class=\"stack\" method=\"post\" action=\"/auth/sign-in\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>Bootstrap admin password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus></label>\
         <p><button type=\"submit\" class=\"button\">Sign in</button></p></form>",
        next = escape(next),
    );
    html_page(status, "Sign in to Shipgate", message, &form)
}

const BOOTSTRAP_HINT: &str = "No identity provider is configured, so Shipgate made a bootstrap admin password at its first start and \
     showed it once in its log; `shipgate reset-bootstrap-password` makes a new one. Configure OpenID Connect (docs/access.md) to let people sign in as themselves.";

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
    audit_attempt(state, parts, &actor, "sign-in.failed", &e.detail()).await;
}

/// Sends the browser to the provider, remembering (in the session) what must come back.
async fn sign_in(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Query(query): Query<SignInQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    let provider = match &state.auth.sign_in {
        // Local mode: there is no one to sign in as but the local user.
        SignIn::Local { .. } => return Redirect::to(&next).into_response(),
        SignIn::Bootstrap => return password_form(StatusCode::OK, BOOTSTRAP_HINT, &next),
        SignIn::Oidc(provider) => provider,
    };
    match provider.begin(next.clone()).await {
        Ok((url, pending)) => match session.insert(PENDING, &pending).await {
            Ok(()) => Redirect::to(&url).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "could not store a pending sign-in");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sign-in failed",
                    "The session could not be stored; the server log has the details.",
                    &next,
                )
            }
        },
        Err(e) => {
            audit_failure(&state, &parts, &e).await;
            page(
                failure_status(&e),
                "Sign-in is unavailable",
                &format!("{e}. Try again in a moment."),
                &next,
            )
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
async fn callback(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(provider) = state.auth.provider() else {
        return Redirect::to("/").into_response();
    };
    // Taken out first: whatever happens next, this response cannot be used twice.
    let pending: Option<PendingSignIn> = session.remove(PENDING).await.ok().flatten();
    let next = pending
        .as_ref()
        .map_or_else(|| "/".to_owned(), |p| p.next.clone());
    let outcome = match (&query.error, &query.code, &query.state) {
        (Some(error), _, _) => {
            let description = query.error_description.as_deref().unwrap_or("");
            Err(SignInError::Refused(
                format!("{error} {description}").trim().to_owned(),
            ))
        }
        (None, Some(code), Some(returned_state)) => {
            provider.finish(pending, returned_state, code).await
        }
        _ => Err(SignInError::NoPendingSignIn),
    };
    let verified = match outcome {
        Ok(v) => v,
        Err(e) => {
            audit_failure(&state, &parts, &e).await;
            let message = match &e {
                SignInError::NoAccess { .. } => {
                    format!("{e}. Ask a Shipgate admin to grant your account a role.")
                }
                _ => format!("Sign-in failed: {e}."),
            };
            return page(failure_status(&e), "Sign-in failed", &message, &next);
        }
    };
    let now = state.clock.now_ms();
    let actor = verified.email.as_ref().map_or_else(
        || format!("user:{}", verified.subject),
        |e| format!("user:{e}"),
    );
    let principal = shipgate_pipeline::Principal {
        id: actor.clone(),
        name: verified.name.clone(),
        kind: shipgate_pipeline::PrincipalKind::User,
        grants: verified.grants.clone(),
        via: None,
    };
    let who = SignedIn {
        principal,
        subject: verified.subject.clone(),
        signed_in_at: now,
        touched_at: now,
    };
    // A new id for the signed-in session: an id planted before sign-in is worth nothing.
    let stored = async {
        session.cycle_id().await?;
        session.insert(SIGNED_IN, &who).await
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "could not store a session");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The session could not be stored; the server log has the details.",
            &next,
        );
    }
    let ip = client_ip(&parts);
    let audit = |action: &str, detail: String| AuditEntry {
        actor: actor.clone(),
        action: action.into(),
        target: "shipgate".into(),
        ip: ip.clone(),
        detail,
        via: None,
    };
    let previous = state
        .store
        .record_sign_in(
            &verified.subject,
            verified.email.as_deref(),
            &verified.name,
            &verified.grants,
        )
        .await;
    let mut entries = vec![audit("sign-in", describe(&verified.grants))];
    match previous {
        Ok(Some(before)) if before != verified.grants => entries.push(AuditEntry {
            target: actor.clone(),
            ..audit(
                "role.change",
                format!("{} → {}", describe(&before), describe(&verified.grants)),
            )
        }),
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

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The bootstrap admin signs in with the password from the log. Only in bootstrap mode:
/// with a provider, or in local mode, there is no password to take.
async fn bootstrap_sign_in(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Form(form): Form<PasswordForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if !matches!(state.auth.sign_in, SignIn::Bootstrap) {
        return notice(
            StatusCode::NOT_FOUND,
            "No password sign-in",
            "This Shipgate does not sign people in with a password.",
        );
    }
    let stored = match state.store.bootstrap_password_hash().await {
        Ok(Some(hash)) => hash,
        Ok(None) => {
            return notice(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in failed",
                "There is no bootstrap admin password yet: restart Shipgate to make one, or run `shipgate reset-bootstrap-password`.",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read the bootstrap password");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in failed",
                "The database could not be read; the server log has the details.",
                &next,
            );
        }
    };
    if !same_secret(&bootstrap::password_hash(&form.password), &stored) {
        warn!("bootstrap sign-in failed: wrong password");
        audit_attempt(
            &state,
            &parts,
            "anonymous",
            "sign-in.failed",
            "wrong bootstrap admin password",
        )
        .await;
        return password_form(
            StatusCode::UNAUTHORIZED,
            &format!("That is not the bootstrap admin password. {BOOTSTRAP_HINT}"),
            &next,
        );
    }
    let now = state.clock.now_ms();
    let who = SignedIn {
        principal: bootstrap::principal(),
        subject: bootstrap::SUBJECT.into(),
        signed_in_at: now,
        touched_at: now,
    };
    let stored = async {
        session.cycle_id().await?;
        session.insert(SIGNED_IN, &who).await
    };
    if let Err(e) = stored.await {
        tracing::error!(error = %e, "could not store a session");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in failed",
            "The session could not be stored; the server log has the details.",
            &next,
        );
    }
    audit_attempt(
        &state,
        &parts,
        bootstrap::ACTOR,
        "sign-in",
        "bootstrap admin password",
    )
    .await;
    info!("the bootstrap admin signed in");
    Redirect::to(&next).into_response()
}

async fn audit_attempt(state: &AppState, parts: &Parts, actor: &str, action: &str, detail: &str) {
    let entry = AuditEntry {
        actor: actor.into(),
        action: action.into(),
        target: "shipgate".into(),
        ip: client_ip(parts),
        detail: detail.into(),
        via: None,
    };
    if let Err(e) = state.store.append_audit(&entry).await {
        tracing::error!(error = %e, "could not audit a sign-in");
    }
}

/// Ends the session everywhere: its row is deleted, so a copied cookie is worthless too.
async fn sign_out(State(state): State<AppState>, session: Session, parts: Parts) -> Response {
    if let Ok(Some(who)) = session.get::<SignedIn>(SIGNED_IN).await {
        let entry = AuditEntry {
            actor: who.principal.id,
            action: "sign-out".into(),
            target: "shipgate".into(),
            ip: client_ip(&parts),
            detail: String::new(),
            via: who.principal.via,
        };
        if let Err(e) = state.store.append_audit(&entry).await {
            tracing::error!(error = %e, "could not audit a sign-out");
        }
    }
    if let Err(e) = session.flush().await {
        tracing::error!(error = %e, "could not end a session");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-out failed",
            "The session could not be ended; the server log has the details.",
            "/",
        );
    }
    Redirect::to("/auth/signed-out").into_response()
}

async fn signed_out(State(state): State<AppState>) -> Response {
    if state.auth.is_local() {
        return Redirect::to("/").into_response();
    }
    page(
        StatusCode::OK,
        "Signed out",
        "You are signed out of Shipgate.",
        "/",
    )
}
