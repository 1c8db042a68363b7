//! An admin reads a pipeline's setup kit, or asks for a Verify of its wiring.
//!
//! The kit is generated on each read from the pipeline's definition and what its last
//! Verify learnt (account, roles, families), so it never goes stale. A Verify is recorded
//! as a request and run by an engine, which owns every call to AWS and GitHub; the door
//! may wait a little for the answer.

use super::{Acting, OpError, Ops};
use crate::store::checks::Verification;
use shipgate_pipeline::access::Action;
use shipgate_pipeline::read::PipelineRecord;
use shipgate_pipeline::setup_kit::{KitSettings, SetupKit, setup_kit};
use shipgate_pipeline::verify::VERIFY_LIMIT_SECS;
use std::time::Duration;

/// A pipeline's setup kit, with the Verify it was filled from.
pub struct Setup {
    pub pipeline: PipelineRecord,
    pub kit: SetupKit,
    pub verification: Option<Verification>,
}

/// How long a door waits for an engine to answer a Verify: its time limit, and a margin
/// for the engine to notice the request.
pub const VERIFY_WAIT: Duration = Duration::from_secs(VERIFY_LIMIT_SECS + 5);

impl Ops {
    pub async fn setup(
        &self,
        who: &Acting,
        name: &str,
        settings: &KitSettings,
    ) -> Result<Setup, OpError> {
        who.require(Action::Administer)?;
        let pipeline = self
            .store
            .get_pipeline(name)
            .await?
            .ok_or_else(|| OpError::NotFound(format!("pipeline `{name}` does not exist")))?;
        let verification = self.store.verification(name).await?;
        let facts = verification
            .as_ref()
            .and_then(|v| v.report.as_ref())
            .map(|r| r.facts.clone())
            .unwrap_or_default();
        let kit = setup_kit(&pipeline.spec, &facts, settings);
        Ok(Setup {
            pipeline,
            kit,
            verification,
        })
    }

    /// Records a Verify request (audited) and wakes the engine; returns the request's time.
    pub async fn request_verify(&self, who: &Acting, name: &str) -> Result<i64, OpError> {
        who.require(Action::Administer)?;
        let at = self.store.request_verification(name, &who.audit()).await?;
        self.engine.wake_verify();
        Ok(at)
    }

    /// Asks for a Verify and waits up to `wait` for an engine's answer. `Ok` holds the
    /// stored Verify, whose `pending` says whether the answer came in time.
    pub async fn verify(
        &self,
        who: &Acting,
        name: &str,
        wait: Duration,
    ) -> Result<Verification, OpError> {
        self.request_verify(who, name).await?;
        let until = tokio::time::Instant::now() + wait;
        loop {
            let current =
                self.store.verification(name).await?.ok_or_else(|| {
                    OpError::NotFound(format!("pipeline `{name}` does not exist"))
                })?;
            if !current.pending || tokio::time::Instant::now() >= until {
                return Ok(current);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
