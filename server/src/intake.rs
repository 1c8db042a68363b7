//! GitHub webhook intake: the writer that records deliveries. The HTTP door
//! (`web::webhook`) checks each request and hands the delivery, through
//! `ops::Ops::record_delivery`, to the [`DeliveryWriter`]. The writer records deliveries in batches:
//! whatever arrived while the previous commit was on its way to disk goes into the next
//! transaction, so under load many deliveries share one fsync while each one is still
//! durable before its 2xx is sent.

use crate::store::{NewDelivery, Recorded, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

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
        if e.is_unavailable() {
            RecordError::Unavailable(e.to_string())
        } else {
            RecordError::Failed(e.to_string())
        }
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
        self.jobs
            .send(Job { delivery, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (deliveries, replies): (Vec<NewDelivery>, Vec<_>) =
            jobs.drain(..).map(|j| (j.delivery, j.reply)).unzip();
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

/// The JSON of a form-encoded delivery: GitHub sends it percent-encoded in the form's
/// `payload` field (the first one, if a form repeats it). `None` when there is none. Public
/// so that the property tests (`tests/hostile_input.rs`) drive the decoding the door uses.
pub fn form_payload(body: &[u8]) -> Option<Vec<u8>> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned().into_bytes())
}
