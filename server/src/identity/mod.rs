//! Identity: how Shipgate learns who someone is (an OpenID Connect provider, or nobody in
//! local mode) and how it remembers them between requests (a session).

pub mod bootstrap;
pub mod oidc;
mod secret;

use crate::clock::Clock;
use crate::config::{AuthMode, AuthSettings};
use serde::{Deserialize, Serialize};
use shipgate_pipeline::Principal;
use tower_sessions::Session;

pub use secret::same_secret;

/// Session key of the signed-in person.
pub const SIGNED_IN: &str = "signed_in";
/// Session key of a sign-in that went to the provider and has not come back yet.
pub const PENDING: &str = "pending_sign_in";

/// A pending sign-in is good for this long: the time to type a password, not a day.
pub const PENDING_FOR_MS: i64 = 10 * 60 * 1000;

/// Idle expiry is moved forward at most this often (or a quarter of the idle timeout, if
/// that is shorter), so browsing does not write the session row on every click.
const TOUCH_EVERY_MS: i64 = 60 * 1000;

/// What a session knows about the person in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignedIn {
    pub principal: Principal,
    /// `<issuer> <sub>`.
    pub subject: String,
    pub signed_in_at: i64,
    pub touched_at: i64,
}

/// What must come back from the provider for a sign-in to count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (a path on this site).
    pub next: String,
    pub created_at: i64,
}

/// How this Shipgate lets people in: the configured [`AuthMode`], made ready.
pub enum SignIn {
    /// No sign-in: everyone who may reach it is the local admin (see [`AuthMode::Local`]).
    Local { loopback_only: bool },
    /// The bootstrap admin password (see [`bootstrap`]).
    Bootstrap,
    /// Boxed: the provider's metadata and client are large beside the other variants.
    Oidc(Box<oidc::Provider>),
}

/// The sign-in setup the web layer works with.
pub struct Auth {
    pub sign_in: SignIn,
    pub idle_timeout_ms: i64,
    pub absolute_timeout_ms: i64,
    /// Cookies get `Secure` when people reach Shipgate over https.
    pub secure_cookies: bool,
    /// What sessions' ages and pending sign-ins are measured on (the app's clock).
    pub clock: Clock,
}

impl Auth {
    pub fn new(
        settings: &AuthSettings,
        public_url: Option<&str>,
        clock: Clock,
    ) -> anyhow::Result<Auth> {
        let sign_in = match &settings.mode {
            AuthMode::Local { loopback_only } => SignIn::Local {
                loopback_only: *loopback_only,
            },
            AuthMode::Bootstrap => SignIn::Bootstrap,
            AuthMode::Oidc(oidc) => {
                let public_url = public_url
                    .ok_or_else(|| anyhow::anyhow!("public_url is required with OpenID Connect"))?;
                SignIn::Oidc(Box::new(oidc::Provider::new(
                    oidc,
                    &format!("{public_url}/auth/callback"),
                    clock.clone(),
                )?))
            }
        };
        Ok(Auth {
            sign_in,
            idle_timeout_ms: settings.idle_timeout.as_millis(),
            absolute_timeout_ms: settings.absolute_timeout.as_millis(),
            secure_cookies: public_url.is_some_and(|u| u.starts_with("https://")),
            clock,
        })
    }

    /// Local single-user mode: no one signs in, and whoever may reach it is the admin.
    pub fn is_local(&self) -> bool {
        matches!(self.sign_in, SignIn::Local { .. })
    }

    /// The OpenID provider people sign in with, if there is one.
    pub fn provider(&self) -> Option<&oidc::Provider> {
        match &self.sign_in {
            SignIn::Oidc(provider) => Some(provider),
            SignIn::Local { .. } | SignIn::Bootstrap => None,
        }
    }
}

/// The signed-in person of this session, if the session is still good. A session past its
/// absolute timeout is ended here, however recently it was used.
pub async fn signed_in(
    session: &Session,
    auth: &Auth,
) -> Result<Option<SignedIn>, tower_sessions::session::Error> {
    let Some(mut who) = session.get::<SignedIn>(SIGNED_IN).await? else {
        return Ok(None);
    };
    // A bootstrap admin's session is good only while the bootstrap password is how people
    // sign in: once an identity provider is configured, the provider decides who is admin.
    if (who.subject == bootstrap::SUBJECT) != matches!(auth.sign_in, SignIn::Bootstrap) {
        session.flush().await?;
        return Ok(None);
    }
    let now = auth.clock.now_ms();
    if now - who.signed_in_at >= auth.absolute_timeout_ms {
        session.flush().await?;
        return Ok(None);
    }
    if now - who.touched_at >= TOUCH_EVERY_MS.min(auth.idle_timeout_ms / 4) {
        // Changing the session makes tower-sessions save it, which moves its idle expiry.
        who.touched_at = now;
        session.insert(SIGNED_IN, &who).await?;
    }
    Ok(Some(who))
}

/// The sign-in URL that comes back to `uri` afterwards.
pub fn sign_in_path(uri: &axum::http::Uri) -> String {
    let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/auth/sign-in?next={encoded}")
}

/// A `next` that stays on this site: a path, not `//host` or `/\host` (which browsers read
/// as another host), nor a URL with a scheme.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\r', '\n']) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_never_leaves_the_site() {
        let cases = [
            (Some("/runs/4?x=1"), "/runs/4?x=1"),
            (Some("//evil.test/x"), "/"),
            (Some("/\\evil.test"), "/"),
            (Some("https://evil.test"), "/"),
            (Some("runs"), "/"),
            (Some("/a\r\nSet-Cookie: x=1"), "/"),
            (None, "/"),
        ];
        for (next, want) in cases {
            assert_eq!(safe_next(next), want, "{next:?}");
        }
    }

    #[test]
    fn the_sign_in_path_carries_the_page_to_return_to() {
        let uri: axum::http::Uri = "/runs?pipeline=a&status=failed".parse().unwrap();
        assert_eq!(
            sign_in_path(&uri),
            "/auth/sign-in?next=%2Fruns%3Fpipeline%3Da%26status%3Dfailed"
        );
    }
}
