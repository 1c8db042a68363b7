//! A person's decision at a gate, as it is checked and committed: the approval policy and
//! the digest waiting there are read and checked in the same version-guarded write.

use super::decisions::{self, NewDecision};
use super::runs::{bump_version_if, state_of};
use super::{AuditEntry, Store, StoreError, StoreResult, Tx, audit, now_ms, on_pool};
use futures::FutureExt;
use crate::links::GateLink;
use shipgate_pipeline::freeze::active_freeze;
use shipgate_pipeline::gate::{self, Candidate, Decider, Decision as GateDecisionRequest, GateOutcome, GateRefusal, GivenApproval, Verdict};
use shipgate_pipeline::read::gate_opened_at;
use shipgate_pipeline::{Principal, RunEvent, transition};

/// Whether a gate was approved or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// A decision as a person asked for it at one gate of a run.
#[derive(Debug, Clone, Copy)]
pub struct GateRequest<'a> {
    /// The environment's position in the pipeline, and its name (which must agree).
    pub position: usize,
    pub environment: &'a str,
    pub decision: Decision,
    pub comment: &'a str,
    /// The digest the person was shown; the one waiting when they were not shown one.
    pub digest: Option<&'a str>,
    /// An admin's explicit override of a deploy freeze.
    pub override_freeze: bool,
    /// The signed decision link the person came from, if any: spent by this decision.
    pub link: Option<&'a str>,
}

impl Store {
    /// A decision at the gate of environment `request.position`, checked against the
    /// environment's approval policy as it stands and against the exact digest waiting there.
    /// The decision, its audit entry and (when it completes the gate) the run's transition
    /// commit together, before the caller is answered. Two people deciding at once are
    /// serialised by the run's version: the later one is re-checked against the first.
    pub async fn decide_gate(&self, run_id: i64, request: &GateRequest<'_>, who: &Principal, actor: &AuditEntry) -> StoreResult<GateOutcome> {
        for _ in 0..5 {
            match self.try_decide_gate(run_id, request, who, actor).await {
                Err(StoreError::RunChanged(_)) => continue,
                other => return other,
            }
        }
        Err(StoreError::RunChanged(run_id))
    }

    async fn try_decide_gate(&self, run_id: i64, request: &GateRequest<'_>, who: &Principal, actor: &AuditEntry) -> StoreResult<GateOutcome> {
        let (version, authors): (i64, String) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT version, authors FROM runs WHERE id = $1").bind(run_id).fetch_optional(pool).await?
        })
        .ok_or(StoreError::RunNotFound(run_id))?;
        let (run, stages) = self.run_and_stages(run_id).await?.ok_or(StoreError::RunNotFound(run_id))?;
        // The state machine says whether this run is at that gate at all, and if not, why.
        transition(&state_of(run.status.as_str(), &stages)?, RunEvent::Approved(request.position))?;
        let pipeline = self.get_pipeline(&run.pipeline).await?.ok_or_else(|| StoreError::PipelineNotFound(run.pipeline.clone()))?;
        let environment = pipeline
            .spec
            .environments
            .get(request.position)
            .ok_or_else(|| StoreError::Corrupt(format!("run {run_id} waits at environment {} that pipeline `{}` no longer has", request.position, run.pipeline)))?;
        let digest = self
            .get_build(run_id)
            .await?
            .and_then(|b| b.image_digest)
            .ok_or_else(|| StoreError::Corrupt(format!("run {run_id} is at a gate without an image digest")))?;
        let opened_at = gate_opened_at(&stages, request.position, run.created_at);
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
        let given: Vec<GivenApproval> = given.into_iter().map(|(person, digest)| GivenApproval { person, digest: digest.unwrap_or_default() }).collect();
        let candidate = Candidate {
            pipeline: run.pipeline.clone(),
            environment: environment.name.clone(),
            digest: digest.clone(),
            authors: serde_json::from_str(&authors).map_err(|e| StoreError::Corrupt(format!("authors of run {run_id}: {e}")))?,
            opened_at,
        };
        let person = person_of(&actor.actor);
        let now = now_ms();
        let freeze = active_freeze(&environment.deploy.freeze, now);
        let decision = GateDecisionRequest {
            verdict: match request.decision {
                Decision::Approve => Verdict::Approve,
                Decision::Reject => Verdict::Reject,
            },
            comment: request.comment,
            digest: request.digest.unwrap_or(&digest),
            environment: request.environment,
            override_freeze: request.override_freeze,
        };
        let outcome = gate::decide(&environment.deploy.approval, &candidate, &given, &Decider { principal: who, person: &person }, &decision, freeze.as_ref(), now)
            .map_err(|why| StoreError::GateRefused { run: run_id, why })?;
        let link = match request.link {
            None => None,
            Some(token) => Some(self.spendable_link(run_id, request.position, token, now).await?),
        };

        let word = match request.decision {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        };
        let overridden = freeze.as_ref().filter(|_| request.override_freeze && request.decision == Decision::Approve);
        let (approvals, required) = match outcome {
            GateOutcome::Waiting { approvals, required } => (approvals, required),
            _ => (given.len() + 1, usize::from(environment.deploy.approval.required_approvals)),
        };
        let audit = AuditEntry {
            action: format!("gate.{word}"),
            target: format!("run:{run_id}/{}", environment.name),
            detail: serde_json::json!({
                "comment": request.comment,
                "image_digest": digest,
                "approvals": approvals,
                "required": required,
                "freeze_overridden": overridden.map(|f| f.name.clone()),
                "via_link": link.is_some(),
            })
            .to_string(),
            ..actor.clone()
        };
        let decided = NewDecision { run_id, environment: &environment.name, decision: word, actor: &actor.actor, person: &person, comment: request.comment, image_digest: &digest, at: now };
        let (audit, link) = (&audit, &link);
        let also = move |mut tx: Tx| {
            async move {
                decisions::insert(&mut tx, &decided).await?;
                audit::append(&mut tx, audit).await?;
                if let Some(link) = link {
                    decisions::mark_link_used(&mut tx, &link.nonce, run_id, &actor.actor, now).await?;
                }
                Ok::<_, StoreError>(tx)
            }
            .boxed()
        };
        let event = match outcome {
            GateOutcome::Waiting { approvals, required } => {
                // Counted, not yet enough: the run stays at its gate, but its version moves, so
                // a concurrent decision is re-checked with this one in view.
                let mut tx = self.begin_write().await?;
                bump_version_if(&mut tx, run_id, version, now).await?;
                also(tx).await?.commit().await?;
                return Ok(GateOutcome::Waiting { approvals, required });
            }
            GateOutcome::Approved => RunEvent::Approved(request.position),
            GateOutcome::Rejected => RunEvent::Rejected(request.position),
        };
        let detail = format!("{word} by {}{}", actor.actor, if request.comment.is_empty() { String::new() } else { format!(": {}", request.comment) });
        // Only if nobody decided in between: otherwise the decision is made again, in view of theirs.
        self.apply_event_if(run_id, event, Some(&detail), also, |_, _| Ok(()), Some(version)).await?;
        Ok(outcome)
    }

    /// A decision link for this gate that is genuine, current and not used yet.
    async fn spendable_link(&self, run_id: i64, position: usize, token: &str, now: i64) -> StoreResult<GateLink> {
        let key = self.signing_key(crate::links::KEY_NAME).await?;
        let refuse = |why| StoreError::GateRefused { run: run_id, why };
        let link = GateLink::verify(token, &key, now).and_then(|l| l.for_gate(run_id, position)).map_err(|e| refuse(GateRefusal::LinkInvalid(e.to_string())))?;
        let used: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT nonce FROM gate_links_used WHERE nonce = $1").bind(link.nonce.as_str()).fetch_optional(pool).await?
        });
        if used.is_some() {
            return Err(refuse(GateRefusal::LinkUsed));
        }
        Ok(link)
    }
}

/// The person behind an actor: a signed-in person's email (a personal token acts as its
/// owner, `user:<owner>`), or else the actor itself (a service token, local mode).
fn person_of(actor: &str) -> String {
    actor.strip_prefix("user:").map_or_else(|| actor.to_owned(), str::to_lowercase)
}

