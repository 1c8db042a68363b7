//! Server functions for administration: API tokens and the audit log. Each one needs the
//! admin role; the pages are only linked for admins, but these checks are what protects them.

#[cfg(feature = "ssr")]
use crate::access::{client_ip, require};
#[cfg(feature = "ssr")]
use crate::data::dashboard;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::{Action, TokenForm};
use shipgate_pipeline::read::{AuditRecord, CreatedToken, Millis, Page, TokenRecord};

/// The tokens, with the server's clock, so that the server's render and the browser's
/// hydration agree on which tokens have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<TokenRecord>,
    pub now: Millis,
}

#[server]
pub async fn list_tokens() -> Result<TokenList, ServerFnError> {
    require(Action::Administer)?;
    let tokens = dashboard()?.tokens().await.map_err(ServerFnError::new)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok(TokenList { tokens, now })
}

/// Makes a token from the dashboard's form. A refusal names every field that is wrong, as
/// the REST API's does (both check with [`TokenForm`]'s rules).
#[server]
pub async fn create_token(
    name: String,
    kind: String,
    owner: String,
    role: String,
    pipelines: String,
    environments: String,
    expires_in_days: String,
) -> Result<CreatedToken, ServerFnError> {
    let by = require(Action::Administer)?;
    let form = TokenForm {
        name,
        kind,
        owner,
        role,
        pipelines,
        environments,
        expires_in_days,
    };
    let spec = form
        .validate()
        .map_err(|e| ServerFnError::new(e.to_string()))?;
    let created = dashboard()?
        .create_token(spec, by, client_ip())
        .await
        .map_err(ServerFnError::new)?;
    flash::keep(&created);
    Ok(created)
}

#[server]
pub async fn revoke_token(id: i64) -> Result<TokenRecord, ServerFnError> {
    let by = require(Action::Administer)?;
    dashboard()?
        .revoke_token(id, by, client_ip())
        .await
        .map_err(ServerFnError::new)
}

/// The token the previous request created, once: how a browser without JavaScript gets to
/// see it (see [`flash`]). With JavaScript the create call's own answer shows it.
#[server]
pub async fn take_created_token() -> Result<Option<CreatedToken>, ServerFnError> {
    require(Action::Administer)?;
    let Some((id, token)) = flash::take() else {
        return Ok(None);
    };
    let tokens = dashboard()?.tokens().await.map_err(ServerFnError::new)?;
    // Only a token that is what it claims to be: a cookie is the browser's to change.
    Ok(tokens
        .into_iter()
        .find(|t| t.id == id && token.starts_with(&t.prefix) && t.revoked_at.is_none())
        .map(|token_record| {
            flash::no_store();
            CreatedToken {
                token,
                token_record,
            }
        }))
}

/// The audit log, newest first; `action` ending in `.` matches a prefix.
#[server]
pub async fn list_audit(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<i64>,
) -> Result<Page<AuditRecord>, ServerFnError> {
    require(Action::Administer)?;
    let text = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = shipgate_pipeline::read::AuditFilter {
        actor: text(actor),
        action: text(action),
        target: text(target),
        before,
        limit: None,
    };
    dashboard()?.audit(filter).await.map_err(ServerFnError::new)
}

/// Carries a new token across the redirect that follows a form post without JavaScript.
///
/// The framework answers such a post with a redirect back to the page, so the token cannot
/// be in the answer, and it must not be in the URL (history, logs) nor in the database (which
/// keeps only hashes). So it rides in a cookie the browser sends back once, to the tokens
/// page only: HttpOnly, SameSite=Strict, five minutes at most, cleared when shown.
#[cfg(feature = "ssr")]
mod flash {
    use http::HeaderValue;
    use http::header::{CACHE_CONTROL, COOKIE, REFERER, SET_COOKIE};
    use leptos::prelude::use_context;
    use shipgate_pipeline::read::CreatedToken;

    const COOKIE_NAME: &str = "shipgate_new_token";
    const PATH: &str = "/admin/tokens";

    fn request() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
    }

    fn set_cookie(value: &str) {
        if let (Some(response), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            HeaderValue::from_str(value),
        ) {
            response.append_header(SET_COOKIE, value);
        }
    }

    /// Keeps the token for the next page view, if this is a form post without JavaScript
    /// (the browser asks for a page back, not data).
    pub fn keep(created: &CreatedToken) {
        let Some(parts) = request() else { return };
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or("")
        };
        if !header(http::header::ACCEPT).contains("text/html") {
            return;
        }
        // Secure when the form was on an HTTPS page, so the cookie never crosses plain HTTP
        // (and still works on a local, plain-HTTP Shipgate).
        let secure = if header(REFERER).starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        set_cookie(&format!(
            "{COOKIE_NAME}={}.{}; Path={PATH}; Max-Age=300; HttpOnly; SameSite=Strict{secure}",
            created.token_record.id, created.token
        ));
    }

    /// The kept token's id and secret, clearing the cookie so that it shows once.
    pub fn take() -> Option<(i64, String)> {
        let parts = request()?;
        let value = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                pair.trim()
                    .strip_prefix(COOKIE_NAME)?
                    .strip_prefix('=')
                    .map(str::to_owned)
            })?;
        set_cookie(&format!(
            "{COOKIE_NAME}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Strict"
        ));
        let (id, token) = value.split_once('.')?;
        Some((id.parse().ok()?, token.to_owned()))
    }

    /// Keeps the page that shows a token out of every cache.
    pub fn no_store() {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.insert_header(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}
