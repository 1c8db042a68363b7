//! GitHub delivers a webhook.

use super::{OpError, Ops};
use crate::intake::{DeliveryWriter, RecordError};
use crate::store::{NewDelivery, Recorded};
use shipgate_pipeline::read::DeliveryOutcome;

impl Ops {
    /// Records a verified delivery, durably, before it is acknowledged (the writer batches
    /// deliveries into shared commits), and wakes the engine when it started a run or
    /// reported CI. A redelivery is recognised by its delivery id and changes nothing.
    pub async fn record_delivery(
        &self,
        deliveries: &DeliveryWriter,
        delivery: NewDelivery,
    ) -> Result<Recorded, OpError> {
        let recorded = deliveries.record(delivery).await.map_err(|e| match e {
            // The sender (GitHub's "Redeliver", a retrying proxy) should try again, and this
            // one is recorded then. The writer has logged the cause once for the whole batch.
            RecordError::Unavailable(_) => {
                OpError::Unavailable("the database is not reachable, so the delivery was not recorded; deliver it again once the database is back".into())
            }
            RecordError::Failed(detail) => OpError::Failed(detail),
        })?;
        if !recorded.duplicate
            && matches!(
                recorded.outcome,
                DeliveryOutcome::RunCreated | DeliveryOutcome::CiRecorded
            )
        {
            self.engine.wake();
        }
        Ok(recorded)
    }

    /// Counts a delivery refused for a bad signature against the repository it claims, for
    /// Verify's hint that the secrets differ. The sender is refused whatever happens here,
    /// so a failure to count is logged, not answered.
    pub async fn record_refused_delivery(&self, claimed_repository: &str) {
        if let Err(e) = self.store.record_rejection(claimed_repository).await {
            tracing::warn!(error = %e, "could not count the refused delivery for Verify");
        }
    }
}
