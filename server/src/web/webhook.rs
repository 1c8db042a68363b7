//! `POST /webhooks/github`: the door GitHub knocks on. [`VerifiedDelivery`] checks the
//! request (size, content type, headers, signature, payload) as an extractor, so the handler
//! only hands the delivery to its use-case and answers.

use super::{ApiError, AppState};
use crate::forge::github::{self, SignatureError};
use crate::intake::{MAX_PAYLOAD_BYTES, form_payload};
use crate::store::NewDelivery;
use axum::Json;
use axum::body::to_bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::time::Instant;
use tracing::{Instrument, info, info_span, warn};

/// A delivery whose signature matched the webhook secret, classified and ready to record.
pub struct VerifiedDelivery(pub NewDelivery);

pub async fn receive(
    State(state): State<AppState>,
    VerifiedDelivery(delivery): VerifiedDelivery,
) -> Result<Response, ApiError> {
    let span = info_span!("delivery", delivery = %delivery.delivery_id, event = %delivery.event);
    async move {
        let recorded = state.ops().record_delivery(&state.deliveries, delivery).await?;
        info!(outcome = recorded.outcome.as_str(), runs = ?recorded.run_ids, duplicate = recorded.duplicate, "delivery recorded");
        Ok((StatusCode::OK, Json(recorded)).into_response())
    }
    .instrument(span)
    .await
}

impl FromRequest<AppState> for VerifiedDelivery {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let received = Instant::now();
        let received_at = state.store.now_ms();
        let (parts, body) = request.into_parts();
        let headers = &parts.headers;
        if let Some(len) = header_str(headers, header::CONTENT_LENGTH.as_str())?
            .and_then(|v| v.parse::<u64>().ok())
            && len > MAX_PAYLOAD_BYTES as u64
        {
            return Err(too_large());
        }
        let encoding = encoding(headers)?;
        let event = required_header(headers, "x-github-event")?.to_owned();
        let delivery_id = required_header(headers, "x-github-delivery")?.to_owned();
        if delivery_id.len() > 128 || !delivery_id.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ApiError::BadRequest(
                "the X-GitHub-Delivery header must be at most 128 printable characters".into(),
            ));
        }
        if event.len() > 64 || !event.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(ApiError::BadRequest(format!(
                "the X-GitHub-Event header `{event}` is not an event name"
            )));
        }
        let body = to_bytes(body, MAX_PAYLOAD_BYTES).await.map_err(|e| {
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                too_large()
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            }
        })?;

        let Some(secret) = &state.webhook_secret else {
            return Err(ApiError::Unavailable(
                "webhook intake is disabled: no webhook secret is configured (--github-webhook-secret / GITHUB_WEBHOOK_SECRET)".into(),
            ));
        };
        let signature = header_str(headers, "x-hub-signature-256")?;
        if let Err(e) =
            github::verify_signature(secret.expose_secret().as_bytes(), &body, signature)
        {
            warn!(delivery = %delivery_id, reason = %e, "rejected a delivery with a bad signature");
            if let Some(repository) = claimed_repository(encoding, &body) {
                state.ops().record_refused_delivery(&repository).await;
            }
            return Err(ApiError::Unauthorized(match e {
                SignatureError::Missing => e.to_string(),
                _ => "the X-Hub-Signature-256 signature is not valid for this payload and secret"
                    .into(),
            }));
        }

        let json: std::borrow::Cow<'_, [u8]> = match encoding {
            Encoding::Json => std::borrow::Cow::Borrowed(&body),
            Encoding::Form => std::borrow::Cow::Owned(form_payload(&body).ok_or_else(|| {
                ApiError::BadRequest("the form body has no `payload` field".into())
            })?),
        };
        let classified =
            github::classify(&event, &json).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(VerifiedDelivery(NewDelivery {
            delivery_id,
            event,
            action: classified.action,
            repository: classified.repository,
            git_ref: classified.git_ref,
            intent: classified.intent,
            payload: body,
            received_at,
            received,
            source: shipgate_pipeline::DeliverySource::Webhook,
            recovery: None,
            // Only ever a number from GitHub; anything else is not a hook to read back from.
            hook_id: header_str(headers, "x-github-hook-id")?.and_then(|v| v.trim().parse().ok()),
        }))
    }
}

/// The repository an unverified payload says it is from, for Verify's "deliveries fail
/// their signature" hint only: nothing else of an unverified body is read or kept.
fn claimed_repository(encoding: Encoding, body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claimed {
        repository: Named,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        full_name: String,
    }
    let json = match encoding {
        Encoding::Json => std::borrow::Cow::Borrowed(body),
        Encoding::Form => std::borrow::Cow::Owned(form_payload(body)?),
    };
    let name = serde_json::from_slice::<Claimed>(&json)
        .ok()?
        .repository
        .full_name;
    let (owner, repo) = name.split_once('/')?;
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (plain(owner) && plain(repo)).then_some(name)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("the {name} header is not valid text"))),
    }
}

fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    match header_str(headers, name)? {
        Some(v) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(ApiError::BadRequest(format!(
            "the {name} header is missing"
        ))),
    }
}

/// GitHub sends either JSON, or a form whose `payload` field holds the JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
}

fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let content_type = header_str(headers, header::CONTENT_TYPE.as_str())?.unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" => Ok(Encoding::Form),
        "" => Err(ApiError::UnsupportedMediaType("the Content-Type header is missing; expected application/json or application/x-www-form-urlencoded".into())),
        other => Err(ApiError::UnsupportedMediaType(format!("Content-Type `{other}` is not accepted; expected application/json or application/x-www-form-urlencoded"))),
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the payload is larger than GitHub's 25 MB limit ({MAX_PAYLOAD_BYTES} bytes)"
    ))
}
