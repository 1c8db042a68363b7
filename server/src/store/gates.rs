//! Gate decisions as the store keeps them: what a decision is checked against, read in one
//! go, and the decision committed with its audit entry (and, when it completes the gate, the
//! run's transition) in one version-guarded write. Whether a decision counts is decided by
//! the pure gate policy, in `ops::decide_gate`; nothing here judges it.

use super::decisions::{self, NewDecision};
use super::runs::bump_version_if;
use super::runs::state_of;
use super::{AuditEntry, Store, StoreError, StoreResult, Tx, audit, on_pool};
use futures::FutureExt;
use shipgate_pipeline::gate::{Candidate, GivenApproval, Verdict};
use shipgate_pipeline::read::{RunSummary, gate_opened_at};
use shipgate_pipeline::{EnvironmentSpec, RunEvent, RunState};

/// Everything a decision at one gate is checked against, as of one version of the run.
#[derive(Debug, Clone)]
pub struct GateContext {
    /// The run's version when this was read: the decision commits only if it is unchanged.
    pub version: i64,
    pub run: RunSummary,
    pub state: RunState,
    /// The environment at the gate, as the pipeline defines it now.
    pub environment: EnvironmentSpec,
    /// The run as the gate policy sees it: the digest waiting, who made the change, when
    /// the gate opened.
    pub candidate: Candidate,
    /// The approvals already given at this gate.
    pub given: Vec<GivenApproval>,
}

/// A decision that the gate policy accepted, to be recorded.
#[derive(Debug, Clone)]
pub struct GateRecord<'a> {
    pub run_id: i64,
    /// The version the decision was checked against.
    pub version: i64,
    pub environment: &'a str,
    pub verdict: Verdict,
    /// The actor as the audit log names them, and the person behind them.
    pub actor: &'a str,
    pub person: &'a str,
    pub comment: &'a str,
    pub digest: &'a str,
    /// The decision link's nonce, spent by this decision.
    pub link_nonce: Option<&'a str>,
    pub audit: &'a AuditEntry,
    /// The run's transition when the decision completes the gate; `None` while more
    /// approvals are needed.
    pub event: Option<(RunEvent, String)>,
}

/// The word a decision is stored and audited under.
pub fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Approve => "approved",
        Verdict::Reject => "rejected",
    }
}

impl Store {
    /// What a decision at the gate at `position` of run `run_id` is checked against.
    pub async fn gate_context(&self, run_id: i64, position: usize) -> StoreResult<GateContext> {
        let (version, authors): (i64, String) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT version, authors FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(pool)
                .await?
        })
        .ok_or(StoreError::RunNotFound(run_id))?;
        let (run, stages) = self
            .run_and_stages(run_id)
            .await?
            .ok_or(StoreError::RunNotFound(run_id))?;
        let state = state_of(run.status.as_str(), &stages)?;
        let pipeline = self
            .get_pipeline(&run.pipeline)
            .await?
            .ok_or_else(|| StoreError::PipelineNotFound(run.pipeline.clone()))?;
        let environment = pipeline
            .spec
            .environments
            .get(position)
            .cloned()
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "run {run_id} waits at environment {} that pipeline `{}` no longer has",
                    position, run.pipeline
                ))
            })?;
        let digest = self
            .get_build(run_id)
            .await?
            .and_then(|b| b.image_digest)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("run {run_id} is at a gate without an image digest"))
            })?;
        let given: Vec<(String, Option<String>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(person, actor), image_digest FROM gate_decisions
                 WHERE run_id = $1 AND environment = $2 AND decision = 'approved' ORDER BY id",
            )
            .bind(run_id)
            .bind(environment.name.as_str())
            .fetch_all(pool)
            .await?
        });
        let given = given
            .into_iter()
            .map(|(person, digest)| GivenApproval {
                person,
                digest: digest.unwrap_or_default(),
            })
            .collect();
        let candidate = Candidate {
            pipeline: run.pipeline.clone(),
            environment: environment.name.clone(),
            digest,
            authors: serde_json::from_str(&authors)
                .map_err(|e| StoreError::Corrupt(format!("authors of run {run_id}: {e}")))?,
            opened_at: gate_opened_at(&stages, position, run.created_at),
        };
        Ok(GateContext {
            version,
            run,
            state,
            environment,
            candidate,
            given,
        })
    }

    /// Whether the decision link with this nonce was used already.
    pub async fn link_spent(&self, nonce: &str) -> StoreResult<bool> {
        let used: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT nonce FROM gate_links_used WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(pool)
                .await?
        });
        Ok(used.is_some())
    }

    /// Records a decision the policy accepted: the decision row, its audit entry, the link
    /// spent, and the run's transition or (while more approvals are needed) a bump of its
    /// version, so that a concurrent decision is re-checked with this one in view. Fails
    /// with [`StoreError::RunChanged`] if the run moved since `record.version`.
    pub async fn record_gate_decision(&self, record: &GateRecord<'_>) -> StoreResult<()> {
        let now = self.now_ms();
        let run_id = record.run_id;
        let decided = NewDecision {
            run_id,
            environment: record.environment,
            decision: verdict_word(record.verdict),
            actor: record.actor,
            person: record.person,
            comment: record.comment,
            image_digest: record.digest,
            at: now,
        };
        let also = move |mut tx: Tx| {
            async move {
                decisions::insert(&mut tx, &decided).await?;
                audit::append(&mut tx, record.audit, now).await?;
                if let Some(nonce) = record.link_nonce {
                    decisions::mark_link_used(&mut tx, nonce, run_id, record.actor, now).await?;
                }
                Ok::<_, StoreError>(tx)
            }
            .boxed()
        };
        match &record.event {
            // Only if nobody decided in between: otherwise the decision is made again, in view of theirs.
            Some((event, detail)) => {
                self.apply_event_if(
                    run_id,
                    *event,
                    Some(detail),
                    also,
                    |_, _| Ok(()),
                    Some(record.version),
                )
                .await?;
            }
            // Counted, not yet enough: the run stays at its gate, but its version moves, so a
            // concurrent decision is re-checked with this one in view.
            None => {
                let mut tx = self.begin_write().await?;
                bump_version_if(&mut tx, run_id, record.version, now).await?;
                also(tx).await?.commit().await?;
            }
        }
        Ok(())
    }
}
