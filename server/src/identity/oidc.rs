//! The OpenID Connect relying party: authorization code flow with PKCE, `state` and `nonce`,
//! and a verified ID token (signature, issuer, audience, expiry, nonce) as the only proof
//! of who came back.

use super::{PENDING_FOR_MS, PendingSignIn};
use crate::clock::Clock;
use crate::config::OidcSettings;
use crate::outbound::Https;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IdTokenFields, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use shipgate_pipeline::access::{Grant, Identity, RoleRule, grants_for};
use std::time::Duration;
use tokio::sync::RwLock;

/// The claims beyond the standard ones, kept whole: which one holds the groups is a setting.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<IdFields, CoreTokenType>;
type DiscoveredClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Why a sign-in did not complete. The person sees a short message; the audit log gets
/// [`SignInError::detail`].
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the identity provider is not reachable")]
    Unreachable(String),
    #[error("no sign-in was started in this browser, or it was already used or has expired")]
    NoPendingSignIn,
    #[error("the sign-in response does not belong to the sign-in this browser started")]
    StateMismatch,
    #[error("the identity provider refused the sign-in")]
    Refused(String),
    #[error("the identity provider's answer could not be verified")]
    Unverified(String),
    #[error("this account has no access to Shipgate")]
    NoAccess { email: Option<String> },
}

impl SignInError {
    /// What the audit log records: the reason in full (never a token or a code).
    pub fn detail(&self) -> String {
        match self {
            SignInError::Unreachable(d) | SignInError::Refused(d) | SignInError::Unverified(d) => {
                format!("{self}: {d}")
            }
            SignInError::NoAccess { email } => format!(
                "{self}: no grant matches {}",
                email
                    .as_deref()
                    .unwrap_or("an account without a verified email")
            ),
            other => other.to_string(),
        }
    }
}

/// A person the provider vouched for, with what the role rules give them.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `<issuer> <sub>`.
    pub subject: String,
    pub email: Option<String>,
    pub name: String,
    pub grants: Vec<Grant>,
}

pub struct Provider {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    scopes: Vec<String>,
    groups_claim: String,
    rules: Vec<RoleRule>,
    http: HyperClient<Https, Full<Bytes>>,
    /// Discovery, done at the first sign-in and again when keys may have rotated.
    discovered: RwLock<Option<(DiscoveredClient, i64)>>,
    /// What pending sign-ins and the discovery's age are measured on.
    clock: Clock,
}

/// Provider metadata (and with it the signing keys) is refreshed this often.
const REDISCOVER_AFTER_MS: i64 = 15 * 60 * 1000;
/// Answers from the provider larger than this are refused.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl Provider {
    pub fn new(settings: &OidcSettings, redirect: &str, clock: Clock) -> anyhow::Result<Provider> {
        use anyhow::Context;
        Ok(Provider {
            issuer: IssuerUrl::new(settings.issuer.clone()).context("auth.issuer is not a URL")?,
            client_id: ClientId::new(settings.client_id.clone()),
            client_secret: ClientSecret::new(settings.client_secret.expose_secret().to_owned()),
            redirect: RedirectUrl::new(redirect.to_owned())
                .context("public_url does not make a redirect URL")?,
            scopes: settings.scopes.clone(),
            groups_claim: settings.groups_claim.clone(),
            rules: settings.rules.clone(),
            http: crate::outbound::https_client()?,
            discovered: RwLock::new(None),
            clock,
        })
    }

    fn http(&self) -> ProviderHttp {
        ProviderHttp(self.http.clone())
    }

    async fn client(&self, refresh: bool) -> Result<DiscoveredClient, SignInError> {
        if !refresh
            && let Some((client, at)) = self.discovered.read().await.as_ref()
            && self.clock.now_ms() - at < REDISCOVER_AFTER_MS
        {
            return Ok(client.clone());
        }
        let http = self.http();
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &http)
            .await
            .map_err(|e| {
                SignInError::Unreachable(format!(
                    "discovery at {}: {}",
                    self.issuer.as_str(),
                    crate::error_chain(&e)
                ))
            })?;
        let client = DiscoveredClient::from_provider_metadata(
            metadata,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        *self.discovered.write().await = Some((client.clone(), self.clock.now_ms()));
        Ok(client)
    }

    /// Starts a sign-in: the URL to send the browser to, and what must come back.
    pub async fn begin(&self, next: String) -> Result<(String, PendingSignIn), SignInError> {
        let client = self.client(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in self.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let pending = PendingSignIn {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next,
            created_at: self.clock.now_ms(),
        };
        Ok((url.to_string(), pending))
    }

    /// Completes a sign-in from the provider's redirect. `pending` is what this browser's
    /// session held (already removed from it, so a replayed response finds nothing).
    pub async fn finish(
        &self,
        pending: Option<PendingSignIn>,
        state: &str,
        code: &str,
    ) -> Result<Verified, SignInError> {
        let pending = pending
            .filter(|p| self.clock.now_ms() - p.created_at < PENDING_FOR_MS)
            .ok_or(SignInError::NoPendingSignIn)?;
        if !super::same_secret(state, &pending.state) {
            return Err(SignInError::StateMismatch);
        }
        let client = self.client(false).await?;
        let http = self.http();
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| {
                SignInError::Unreachable(format!("the provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| {
                SignInError::Refused(format!("token exchange: {}", crate::error_chain(&e)))
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SignInError::Unverified("the token response has no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rotated its keys since discovery: look again, once.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.client(true).await?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|e| SignInError::Unverified(crate::error_chain(&e)))?
                    .clone()
            }
            Err(e) => return Err(SignInError::Unverified(crate::error_chain(&e))),
        };
        let email = claims.email().map(|e| e.as_str().to_owned());
        let identity = Identity {
            email: email.clone(),
            email_verified: claims.email_verified().unwrap_or(false),
            groups: groups(&claims.additional_claims().rest, &self.groups_claim),
        };
        let grants = grants_for(&self.rules, &identity);
        if grants.is_empty() {
            return Err(SignInError::NoAccess { email });
        }
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| email.clone())
            .unwrap_or_else(|| claims.subject().as_str().to_owned());
        Ok(Verified {
            subject: format!("{} {}", claims.issuer().as_str(), claims.subject().as_str()),
            email,
            name,
            grants,
        })
    }
}

/// The provider's HTTP client, as `openidconnect` wants it. Redirects are not followed
/// (OAuth 2.0 security advice), bodies are capped and each exchange has a deadline.
struct ProviderHttp(HyperClient<Https, Full<Bytes>>);

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let request = axum::http::Request::from_parts(parts, Full::new(Bytes::from(body)));
            let exchange = async {
                let response = self
                    .0
                    .request(request)
                    .await
                    .map_err(|e| HttpError(e.to_string()))?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, MAX_RESPONSE_BYTES)
                    .collect()
                    .await
                    .map_err(|e| HttpError(e.to_string()))?
                    .to_bytes();
                Ok(axum::http::Response::from_parts(parts, body.to_vec()))
            };
            tokio::time::timeout(Duration::from_secs(10), exchange)
                .await
                .map_err(|_| HttpError("no answer within 10 s".into()))?
        })
    }
}

/// The groups claim as a list, whether the provider sends an array or one string.
fn groups(claims: &serde_json::Map<String, serde_json::Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}
