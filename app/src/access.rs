//! The caller, as server functions see it. The server resolves who is calling before any
//! handler runs and leaves the [`Principal`] in the request; every server function starts by
//! asking for the action it performs. Buttons are drawn from [`Me`], but drawing is never
//! what protects anything.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::{Action, Principal};

/// Whether the server runs without an identity provider. Placed in context by the server.
#[derive(Debug, Clone, Copy)]
pub struct AuthMode {
    pub local: bool,
}

/// Where AWS calls go when it is not AWS (`aws_endpoint_url`, such as the demo's local
/// moto). Placed in context by the server; every page's top bar says so, so nobody takes a
/// stand-in's deploys for real ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsStandIn {
    pub endpoint: String,
    /// On this machine (a loopback address): the demo, or a developer's own stand-in.
    pub local: bool,
}

/// The caller's network address, for the audit log. The server puts it in the request.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

/// The caller's address, as the server recorded it.
#[cfg(feature = "ssr")]
pub fn client_ip() -> Option<String> {
    use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .extensions
            .get::<ClientIp>()
            .and_then(|ip| ip.0.clone())
    })
}

/// The signed-in person, for the header and for choosing which controls to offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    /// The grants in words, e.g. `release-manager (pipelines: payments; environments: production)`.
    pub access: String,
    pub grants: Vec<shipgate_pipeline::Grant>,
    /// Local single-user mode: no sign-in, no sign-out.
    pub local: bool,
}

/// Sets the refusal's status, except on a form post from a browser without JavaScript: the
/// framework answers that with a redirect back to the form, carrying the error for the page
/// to show beside it, and a 401/403 status would replace the redirect with a bare error body.
/// Page renders (GET) and calls from code (which ask for data, not HTML) keep their status.
#[cfg(feature = "ssr")]
pub(crate) fn set_status(status: http::StatusCode) {
    let plain_form_post = use_context::<http::request::Parts>().is_some_and(|parts| {
        parts.method == http::Method::POST
            && parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    });
    if plain_form_post {
        return;
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
}

/// Who is calling, if anyone.
#[cfg(feature = "ssr")]
fn current() -> Option<Principal> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Principal>().cloned())
}

/// Who is calling, or a 401.
#[cfg(feature = "ssr")]
pub fn caller() -> Result<Principal, ServerFnError> {
    current().ok_or_else(|| {
        set_status(http::StatusCode::UNAUTHORIZED);
        ServerFnError::new("sign in first")
    })
}

/// The caller, if they may do `action`; a 401 or 403 otherwise.
#[cfg(feature = "ssr")]
pub fn require(action: Action<'_>) -> Result<Principal, ServerFnError> {
    let principal = caller()?;
    if principal.may(&action) {
        Ok(principal)
    } else {
        set_status(http::StatusCode::FORBIDDEN);
        Err(ServerFnError::new(format!(
            "forbidden: this needs the {} role",
            action.least_role()
        )))
    }
}

/// Who is signed in (`None` before sign-in).
#[server]
pub async fn who_am_i() -> Result<Option<Me>, ServerFnError> {
    let Some(principal) = current() else {
        return Ok(None);
    };
    let local = use_context::<AuthMode>().is_some_and(|m| m.local);
    Ok(Some(Me {
        name: principal.name.clone(),
        access: shipgate_pipeline::access::describe(&principal.grants),
        grants: principal.grants,
        local,
    }))
}
