//! GitHub webhook intake: `POST /webhooks/github`.
//!
//! The handler checks the request (size, content type, headers, signature, payload) and
//! hands the delivery to the [`DeliveryWriter`]. The writer records deliveries in batches:
//! whatever arrived while the previous commit was on its way to disk goes into the next
//! transaction, so under load many deliveries share one fsync while each one is still
//! durable before its 2xx is sent.

use crate::forge::github::{self, SignatureError};
use crate::store::{NewDelivery, Recorded, Store, StoreError, now_ms};
use shipgate_pipeline::read::DeliveryOutcome;
use crate::web::{ApiError, AppState};
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, info, info_span, warn};

/// GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub.
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;
/// How many deliveries one transaction may carry.
const MAX_BATCH: usize = 256;

struct Job {
    delivery: NewDelivery,
    reply: oneshot::Sender<Result<Recorded, RecordError>>,
}

/// Why a delivery was not recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The database could not be reached (stopped, restarting, out of connections), so the
    /// delivery was not stored: delivered again later, it is recorded then. (Should the
    /// connection have broken during the commit itself, it may have been stored after all;
    /// the redelivery is then recognised by its delivery id, as any redelivery is.)
    #[error("the database is not reachable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Failed(String),
}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() { RecordError::Unavailable(e.to_string()) } else { RecordError::Failed(e.to_string()) }
    }
}

/// A handle to the single task that writes deliveries.
#[derive(Clone)]
pub struct DeliveryWriter {
    jobs: mpsc::Sender<Job>,
}

impl DeliveryWriter {
    /// Starts the writer task. It stops once every handle is dropped and the queue is drained,
    /// so graceful shutdown loses no delivery that was accepted.
    pub fn spawn(store: Store) -> DeliveryWriter {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(write_loop(store, rx));
        DeliveryWriter { jobs }
    }

    pub async fn record(&self, delivery: NewDelivery) -> Result<Recorded, RecordError> {
        let stopped = || RecordError::Failed("the delivery writer has stopped".to_owned());
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { delivery, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (deliveries, replies): (Vec<NewDelivery>, Vec<_>) = jobs.drain(..).map(|j| (j.delivery, j.reply)).unzip();
        match store.record_deliveries(&deliveries).await {
            Ok(recorded) => {
                for (reply, result) in replies.into_iter().zip(recorded) {
                    let _ = reply.send(Ok(result));
                }
            }
            // With the database out of reach, each delivery on its own would only wait out the
            // pool's timeout once more (and the sender's patience with it): refuse them all now.
            Err(batch_error) if batch_error.is_unavailable() => {
                warn!(error = %batch_error, size = deliveries.len(), "the database is not reachable; these deliveries were not recorded");
                let why = RecordError::from(batch_error);
                for reply in replies {
                    let _ = reply.send(Err(why.clone()));
                }
            }
            // One bad delivery must not fail its neighbours: retry each on its own.
            Err(batch_error) => {
                warn!(error = %batch_error, size = deliveries.len(), "batch of deliveries failed; recording them one by one");
                for (delivery, reply) in deliveries.iter().zip(replies) {
                    let result = store
                        .record_deliveries(std::slice::from_ref(delivery))
                        .await
                        .map(|mut r| r.remove(0))
                        .map_err(RecordError::from);
                    let _ = reply.send(result);
                }
            }
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| ApiError::BadRequest(format!("the {name} header is not valid text"))),
    }
}

fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    match header_str(headers, name)? {
        Some(v) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(ApiError::BadRequest(format!("the {name} header is missing"))),
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
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" => Ok(Encoding::Form),
        "" => Err(ApiError::UnsupportedMediaType(
            "the Content-Type header is missing; expected application/json or application/x-www-form-urlencoded".into(),
        )),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{other}` is not accepted; expected application/json or application/x-www-form-urlencoded"
        ))),
    }
}

/// The JSON of a form-encoded delivery: GitHub sends it percent-encoded in the form's
/// `payload` field (the first one, if a form repeats it). `None` when there is none. Public
/// so that the property tests (`tests/hostile_input.rs`) drive the decoding the handler uses.
pub fn form_payload(body: &[u8]) -> Option<Vec<u8>> {
    form_urlencoded::parse(body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned().into_bytes())
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(format!("the payload is larger than GitHub's 25 MB limit ({MAX_PAYLOAD_BYTES} bytes)"))
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let received = Instant::now();
    let received_at = now_ms();
    if let Some(len) = header_str(&headers, header::CONTENT_LENGTH.as_str())?.and_then(|v| v.parse::<u64>().ok())
        && len > MAX_PAYLOAD_BYTES as u64
    {
        return Err(too_large());
    }
    let encoding = encoding(&headers)?;
    let event = required_header(&headers, "x-github-event")?.to_owned();
    let delivery_id = required_header(&headers, "x-github-delivery")?.to_owned();
    if delivery_id.len() > 128 || !delivery_id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::BadRequest("the X-GitHub-Delivery header must be at most 128 printable characters".into()));
    }
    if event.len() > 64 || !event.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(ApiError::BadRequest(format!("the X-GitHub-Event header `{event}` is not an event name")));
    }
    let span = info_span!("delivery", delivery = %delivery_id, event = %event);
    async move {
        let body = to_bytes(body, MAX_PAYLOAD_BYTES).await.map_err(|e| {
            if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
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
        let signature = header_str(&headers, "x-hub-signature-256")?;
        if let Err(e) = github::verify_signature(secret.expose_secret().as_bytes(), &body, signature) {
            warn!(reason = %e, "rejected a delivery with a bad signature");
            return Err(ApiError::Unauthorized(match e {
                SignatureError::Missing => e.to_string(),
                _ => "the X-Hub-Signature-256 signature is not valid for this payload and secret".into(),
            }));
        }

        let json: std::borrow::Cow<'_, [u8]> = match encoding {
            Encoding::Json => std::borrow::Cow::Borrowed(&body),
            Encoding::Form => std::borrow::Cow::Owned(
                form_payload(&body).ok_or_else(|| ApiError::BadRequest("the form body has no `payload` field".into()))?,
            ),
        };
        let classified = github::classify(&event, &json).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let delivery = NewDelivery {
            delivery_id,
            event,
            action: classified.action,
            repository: classified.repository,
            git_ref: classified.git_ref,
            intent: classified.intent,
            payload: body,
            received_at,
            received,
        };
        let recorded = state.deliveries.record(delivery).await.map_err(|e| match e {
            // A 503 that says so, not a 500: the sender (GitHub's "Redeliver", a retrying
            // proxy) should try again, and this one will be recorded then. The write loop
            // has logged the cause once for the whole batch.
            RecordError::Unavailable(_) => {
                ApiError::Unavailable("the database is not reachable, so the delivery was not recorded; deliver it again once the database is back".into())
            }
            RecordError::Failed(detail) => ApiError::Internal(detail),
        })?;
        info!(outcome = recorded.outcome.as_str(), runs = ?recorded.run_ids, duplicate = recorded.duplicate, "delivery recorded");
        if !recorded.duplicate && matches!(recorded.outcome, DeliveryOutcome::RunCreated | DeliveryOutcome::CiRecorded) {
            state.engine.wake();
        }
        Ok((StatusCode::OK, Json(recorded)).into_response())
    }
    .instrument(span)
    .await
}
