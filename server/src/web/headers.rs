//! Browser protections on every response: a content security policy, no framing, no MIME
//! sniffing, no `Referer` to other sites (decision links carry a one-time token in their URL,
//! and pages link to GitHub), HSTS behind https, and no caching of anything but static files.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The policy of every response that sets none of its own: JSON, redirects, the sign-in and
/// notice pages, static files. It runs no script at all. Dashboard pages send their own,
/// with the nonce of their hydration script (`shipgate_app::page_policy`).
pub const STRICT_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A year: what browsers (and preload lists) expect of a site that means it.
const HSTS: &str = "max-age=31536000";

/// Static files are the same for everyone; every other reply may be someone's data.
fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.ico"
}

pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cacheable = is_static(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(STRICT_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`: a `Referer` only on requests to Shipgate itself, never to GitHub or any
    // other site. Not `no-referrer`: a form posted without JavaScript comes back to the page
    // it was posted from by its `Referer`.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if state
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
    {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
