//! Who is calling, and whether the request may go on.
//!
//! [`authenticate`] runs before every handler. It resolves the caller once (an API token,
//! the session of someone who signed in, or the local single user) and stores the
//! [`Principal`] in the request's extensions, where REST handlers read it through [`Caller`]
//! and server functions read it through the request parts Leptos puts in context. Pages
//! of a signed-out visitor are answered with a redirect to sign-in here; everything else
//! decides for itself, so that each handler states the action it needs.

use super::{ApiError, AppState};
use crate::identity::{self, SignIn, SignedIn, same_secret};
use crate::store::AuditEntry;
use crate::store::access::TokenCheck;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use shipgate_app::access::ClientIp;
use shipgate_pipeline::access::{Action, Grant, Principal, PrincipalKind, Role};
use std::net::SocketAddr;
use tower_sessions::Session;

/// A REST handler's proof that someone is calling, and who.
pub struct Caller {
    pub principal: Principal,
    pub ip: Option<String>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "sign in, or send `Authorization: Bearer <API token>`".into(),
                )
            })?;
        Ok(Caller {
            principal,
            ip: client_ip(parts),
        })
    }
}

impl Caller {
    /// Refuses with 403 unless the caller may do `action`. The reply names the role the
    /// action needs, not what the caller holds or why a scope did not match.
    pub fn require(&self, action: Action<'_>) -> Result<(), ApiError> {
        if self.principal.may(&action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role",
                action.least_role()
            )))
        }
    }

    /// The caller, as the use-cases take them.
    pub fn acting(&self) -> crate::ops::Acting {
        crate::ops::Acting::new(self.principal.clone(), self.ip.clone())
    }

    /// An audit entry with the caller as actor; the caller fills in action and target.
    pub fn audit(&self) -> AuditEntry {
        self.acting().audit()
    }
}

pub fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// Paths anyone may reach: health checks, GitHub's webhook (it carries its own signature),
/// the sign-in flow, and the static files the sign-in pages themselves need.
fn is_open(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/webhooks/github" | "/favicon.ico"
    ) || path.starts_with("/auth/")
        || path.starts_with("/pkg/")
}

/// REST endpoints and server functions answer 401 themselves; pages redirect.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Resolves the caller and stores it in the request. A bearer token that is wrong, expired
/// or revoked is refused here, whatever the path, so a broken automation fails loudly
/// rather than being treated as anonymous.
pub async fn authenticate(
    State(state): State<AppState>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let path = request.uri().path().to_owned();
    let principal = match bearer(request.headers()) {
        Some(Err(message)) => return ApiError::Unauthorized(message.into()).into_response(),
        Some(Ok(token)) => match token_principal(&state, token).await {
            Ok(principal) => Some(principal),
            Err(e) => return e.into_response(),
        },
        None => match &state.auth.sign_in {
            SignIn::Local { loopback_only } => match loopback_only
                .then(|| not_addressed_locally(request.headers()))
                .flatten()
            {
                None => Some(Principal::local()),
                Some(_) if is_open(&path) => None,
                Some(why) => return local_mode_refused(&why, is_api(&path)),
            },
            // Static files and the sign-in flow need no caller: no session read for them.
            _ if is_open(&path) => None,
            SignIn::Bootstrap | SignIn::Oidc(_) => {
                match identity::signed_in(&session, &state.auth).await {
                    Ok(found) => found.map(|s: SignedIn| s.principal),
                    Err(e) => return ApiError::Internal(format!("session: {e}")).into_response(),
                }
            }
        },
    };
    match principal {
        Some(p) => {
            request.extensions_mut().insert(p);
        }
        None if is_open(&path) || is_api(&path) => {}
        None if matches!(*request.method(), Method::GET | Method::HEAD) => {
            return Redirect::to(&identity::sign_in_path(request.uri())).into_response();
        }
        None => return ApiError::Unauthorized("sign in first".into()).into_response(),
    }
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

/// Why a request may not have local mode's admin, if it may not: it was forwarded by a proxy,
/// or addressed to a name other than this machine's loopback ones. A proxy on the same host
/// makes every peer 127.0.0.1, and a web page can point a name it owns at 127.0.0.1 (DNS
/// rebinding), so neither the peer address nor a browser's reach says who is asking; only
/// a request a person sent to `localhost` from this machine does. A request without a
/// `Host` (HTTP/1.0, in-process calls) names no other host.
pub fn not_addressed_locally(headers: &HeaderMap) -> Option<String> {
    if let Some(name) = [
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-real-ip",
    ]
    .into_iter()
    .find(|h| headers.contains_key(*h))
    {
        return Some(format!("it came through a proxy (it carries `{name}`)"));
    }
    let host = headers.get(header::HOST)?;
    let text = host.to_str().unwrap_or_default();
    if is_loopback_host(text) {
        None
    } else {
        Some(format!(
            "it was sent to `{}`, not to localhost",
            text.escape_debug()
        ))
    }
}

/// `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A 403 that says why local mode does not let this request in, and what to do instead.
fn local_mode_refused(why: &str, api: bool) -> Response {
    let message = format!(
        "Local mode (no sign-in) serves only requests made on this machine to localhost, and {why}: \
         configure sign-in (docs/access.md), or start Shipgate with --allow-local-mode if everyone who reaches it may be its admin."
    );
    // Once per process at warn (a proxy in front of local mode refuses every request), then
    // quietly: the page says the same to whoever is refused.
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::debug!(%why, "local mode refused a request that was not addressed to localhost");
    } else {
        tracing::warn!(%why, "local mode refused a request that was not addressed to localhost (logged once; more at debug level)");
    }
    if api {
        ApiError::Forbidden(message).into_response()
    } else {
        super::auth::notice(StatusCode::FORBIDDEN, "Not available here", &message)
    }
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, &'static str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return Some(Err("the Authorization header must be `Bearer <API token>`"));
    };
    Some(Ok(token.trim()))
}

async fn token_principal(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    // The token from the configuration: an admin for bootstrapping and automation.
    if let Some(expected) = &state.admin_token
        && same_secret(token, expected.expose_secret())
    {
        return Ok(Principal {
            id: "token:config".into(),
            name: "admin token from the configuration".into(),
            kind: PrincipalKind::Token,
            grants: vec![Grant::everywhere(Role::Admin)],
            via: None,
        });
    }
    match state.store.check_token(token).await? {
        TokenCheck::Valid(principal) => Ok(principal),
        TokenCheck::Expired => Err(ApiError::Unauthorized("the API token has expired".into())),
        TokenCheck::Revoked => Err(ApiError::Unauthorized("the API token was revoked".into())),
        TokenCheck::Unknown => Err(ApiError::Unauthorized(
            "the bearer token is not valid".into(),
        )),
    }
}

/// Refuses state-changing requests that a browser sent from another site.
///
/// Browsers label every request with `Sec-Fetch-Site`, and cross-origin ones with `Origin`;
/// a page on another site can make a browser send a form POST with the victim's cookie, but
/// cannot make it lie in these headers. Requests with an `Authorization` header are exempt
/// (another site cannot add one without a CORS preflight, which Shipgate never grants), as
/// is GitHub's webhook (signed). A request with neither header did not come from a browser:
/// it carries no ambient cookie worth stealing, except in local mode, which is why local
/// mode refuses to face the internet.
pub async fn refuse_cross_site(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method
        && request.uri().path() != "/webhooks/github"
        && !request.headers().contains_key(header::AUTHORIZATION)
        && let Err(why) = same_origin(
            request.headers(),
            request.uri(),
            state.public_url.as_deref(),
        )
    {
        tracing::warn!(path = %request.uri().path(), %why, "cross-site request refused");
        return (
            StatusCode::FORBIDDEN,
            axum::Json(
                serde_json::json!({ "error": format!("cross-site request refused: {why}") }),
            ),
        )
            .into_response();
    }
    next.run(request).await
}

fn same_origin(headers: &HeaderMap, uri: &Uri, public_url: Option<&str>) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            other => Err(format!("Sec-Fetch-Site is `{other}`")),
        };
    }
    let Some(origin) = text("origin") else {
        return Ok(());
    };
    let expected = match public_url {
        Some(url) => url.to_owned(),
        None => {
            // Without a configured public URL, the origin must name the host the request
            // was sent to, under either scheme (a TLS proxy may sit in front).
            let host = text("host").or(uri.host()).unwrap_or_default();
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            return if bare == Some(host) && !host.is_empty() {
                Ok(())
            } else {
                Err(format!("Origin `{origin}` is not this site"))
            };
        }
    };
    if origin == expected {
        Ok(())
    } else {
        Err(format!("Origin `{origin}` is not {expected}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn local_mode_answers_only_requests_addressed_to_localhost_and_not_forwarded() {
        let cases: [(&[(&'static str, &'static str)], bool); 14] = [
            (&[], true),
            (&[("host", "127.0.0.1:3000")], true),
            (&[("host", "127.1.2.3")], true),
            (&[("host", "localhost:3000")], true),
            (&[("host", "LOCALHOST")], true),
            (&[("host", "shipgate.localhost:3000")], true),
            (&[("host", "[::1]:3000")], true),
            (&[("host", "shipgate.example.com")], false),
            (&[("host", "192.0.2.10:3000")], false),
            (&[("host", "localhost.evil.test")], false),
            (&[("host", "127.0.0.1.nip.io")], false),
            (
                &[
                    ("host", "127.0.0.1:3000"),
                    ("x-forwarded-for", "203.0.113.9"),
                ],
                false,
            ),
            (
                &[("host", "localhost"), ("forwarded", "for=203.0.113.9")],
                false,
            ),
            (
                &[("host", "127.0.0.1:3000"), ("x-real-ip", "203.0.113.9")],
                false,
            ),
        ];
        for (pairs, local) in cases {
            assert_eq!(
                not_addressed_locally(&headers(pairs)).is_none(),
                local,
                "{pairs:?}"
            );
        }
        let why = not_addressed_locally(&headers(&[("host", "shipgate.example.com")])).unwrap();
        assert_eq!(
            why,
            "it was sent to `shipgate.example.com`, not to localhost"
        );
    }

    /// A row: the request's headers, the configured public URL, and whether it passes.
    type OriginCase<'a> = (&'a [(&'static str, &'static str)], Option<&'a str>, bool);

    #[test]
    fn browsers_on_other_sites_are_refused_and_everything_else_passes() {
        let uri: Uri = "/api/v1/pipelines".parse().unwrap();
        let public = Some("https://shipgate.example.com");
        let cases: [OriginCase; 10] = [
            (&[("sec-fetch-site", "same-origin")], public, true),
            (&[("sec-fetch-site", "none")], public, true),
            (&[("sec-fetch-site", "cross-site")], public, false),
            (&[("sec-fetch-site", "same-site")], public, false),
            (&[("origin", "https://shipgate.example.com")], public, true),
            (&[("origin", "https://evil.example.net")], public, false),
            (
                &[
                    ("origin", "http://127.0.0.1:3000"),
                    ("host", "127.0.0.1:3000"),
                ],
                None,
                true,
            ),
            (
                &[("origin", "http://evil.test"), ("host", "127.0.0.1:3000")],
                None,
                false,
            ),
            (
                &[("origin", "null"), ("host", "127.0.0.1:3000")],
                None,
                false,
            ),
            // Not a browser: nothing to forge.
            (&[], public, true),
        ];
        for (pairs, public_url, allowed) in cases {
            assert_eq!(
                same_origin(&headers(pairs), &uri, public_url).is_ok(),
                allowed,
                "{pairs:?} {public_url:?}"
            );
        }
    }
}
