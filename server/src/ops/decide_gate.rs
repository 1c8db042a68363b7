//! A release manager approves or rejects a gate.

use super::{Acting, OpError, Ops};
use crate::links::{GateLink, KEY_NAME};
use crate::store::gates::{GateRecord, verdict_word};
use crate::store::{AuditEntry, StoreError};
use shipgate_pipeline::access::{Action, Role};
use shipgate_pipeline::freeze::active_freeze;
use shipgate_pipeline::gate::{self, Decider, Decision, GateOutcome, GateRefusal, Verdict};
use shipgate_pipeline::{Actor, RunEvent, RunId, StageKind, transition};

/// A decision as a person asked for it, at the gate of one environment of a run.
#[derive(Debug, Clone)]
pub struct DecideGate {
    pub run: RunId,
    pub environment: String,
    pub verdict: Verdict,
    pub comment: String,
    /// The digest the person was shown; the one waiting when they were not shown one.
    pub digest: Option<String>,
    /// An admin's explicit override of a deploy freeze.
    pub override_freeze: bool,
    /// The signed decision link the person came from, if any: spent by this decision.
    pub link: Option<String>,
}

impl Ops {
    /// Checks the decision against the environment's approval policy as it stands and the
    /// exact digest waiting there, and records it. The decision, its audit entry and (when it
    /// completes the gate) the run's transition commit together before this returns. Two
    /// people deciding at once are serialised by the run's version: the later one is checked
    /// again, with the first in view.
    pub async fn decide_gate(
        &self,
        who: &Acting,
        request: DecideGate,
    ) -> Result<GateOutcome, OpError> {
        // Only people who could decide some gate learn whether this run exists.
        if !who
            .principal
            .grants
            .iter()
            .any(|g| g.role >= Role::ReleaseManager)
        {
            return Err(OpError::Forbidden(Role::ReleaseManager));
        }
        let comment = request.comment.trim();
        if request.verdict == Verdict::Reject && comment.is_empty() {
            return Err(OpError::Invalid {
                message: "comment: a rejection needs a reason".into(),
                fields: vec![shipgate_pipeline::FieldError {
                    field: "comment".into(),
                    message: "is required when rejecting".into(),
                }],
            });
        }
        let id = request.run;
        let run = self
            .store
            .get_run(id.get())
            .await?
            .ok_or_else(|| OpError::run_not_found(id))?;
        let environment = request.environment.as_str();
        let position = run
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Deploy)
            .position(|s| s.environment.as_deref() == Some(environment))
            .ok_or_else(|| {
                OpError::NotFound(format!("run {id} has no environment `{environment}`"))
            })?;
        who.require(Action::DecideGate {
            pipeline: &run.run.pipeline,
            environment,
        })?;
        for _ in 0..5 {
            match self.try_decide_gate(who, &request, comment, position).await {
                Err(OpError::Store(StoreError::RunChanged(_))) => continue,
                Ok(outcome) => {
                    self.engine.wake();
                    return Ok(outcome);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::RunChanged(id.get()).into())
    }

    async fn try_decide_gate(
        &self,
        who: &Acting,
        request: &DecideGate,
        comment: &str,
        position: usize,
    ) -> Result<GateOutcome, OpError> {
        let id = request.run;
        let at = self.store.gate_context(id.get(), position).await?;
        // The state machine says whether this run is at that gate at all, and if not, why.
        transition(&at.state, RunEvent::Approved(position)).map_err(|t| {
            OpError::Conflict(format!(
                "run {id}, environment `{}`: {t}",
                request.environment
            ))
        })?;
        let actor = who.audit();
        let person = actor
            .actor
            .parse::<Actor>()
            .map_err(|e| StoreError::Corrupt(format!("the caller: {e}")))?
            .person();
        let now = self.store.now_ms();
        let freeze = active_freeze(&at.environment.deploy.freeze, now);
        let decision = Decision {
            verdict: request.verdict,
            comment,
            digest: request.digest.as_deref().unwrap_or(&at.candidate.digest),
            environment: &request.environment,
            override_freeze: request.override_freeze,
        };
        let decider = Decider {
            principal: &who.principal,
            person: &person,
        };
        let outcome = gate::decide(
            &at.environment.deploy.approval,
            &at.candidate,
            &at.given,
            &decider,
            &decision,
            freeze.as_ref(),
            now,
        )
        .map_err(refused)?;
        let link = match &request.link {
            None => None,
            Some(token) => Some(self.spendable_link(id, position, token, now).await?),
        };
        let word = verdict_word(request.verdict);
        let overridden = freeze
            .as_ref()
            .filter(|_| request.override_freeze && request.verdict == Verdict::Approve);
        let (approvals, required) = match outcome {
            GateOutcome::Waiting {
                approvals,
                required,
            } => (approvals, required),
            _ => (
                at.given.len() + 1,
                usize::from(at.environment.deploy.approval.required_approvals),
            ),
        };
        let audit = AuditEntry {
            action: format!("gate.{word}"),
            target: format!("run:{id}/{}", at.environment.name),
            detail: serde_json::json!({
                "comment": comment,
                "image_digest": at.candidate.digest,
                "approvals": approvals,
                "required": required,
                "freeze_overridden": overridden.map(|f| f.name.clone()),
                "via_link": link.is_some(),
            })
            .to_string(),
            ..actor.clone()
        };
        let event = match outcome {
            GateOutcome::Waiting { .. } => None,
            GateOutcome::Approved => Some(RunEvent::Approved(position)),
            GateOutcome::Rejected => Some(RunEvent::Rejected(position)),
        };
        let detail = format!(
            "{word} by {}{}",
            actor.actor,
            if comment.is_empty() {
                String::new()
            } else {
                format!(": {comment}")
            }
        );
        let record = GateRecord {
            run_id: id.get(),
            version: at.version,
            environment: &at.environment.name,
            verdict: request.verdict,
            actor: &actor.actor,
            person: &person,
            comment,
            digest: &at.candidate.digest,
            link_nonce: link.as_ref().map(|l| l.nonce.as_str()),
            audit: &audit,
            event: event.map(|e| (e, detail)),
        };
        self.store
            .record_gate_decision(&record)
            .await
            .map_err(|e| match e {
                StoreError::Transition(t) => OpError::Conflict(format!(
                    "run {id}, environment `{}`: {t}",
                    request.environment
                )),
                other => other.into(),
            })?;
        Ok(outcome)
    }

    /// A decision link for this gate that is genuine, current and not used yet.
    async fn spendable_link(
        &self,
        id: RunId,
        position: usize,
        token: &str,
        now: i64,
    ) -> Result<GateLink, OpError> {
        let key = self.store.signing_key(KEY_NAME).await?;
        let link = GateLink::verify(token, &key, now)
            .and_then(|l| l.for_gate(id.get(), position))
            .map_err(|e| refused(GateRefusal::LinkInvalid(e.to_string())))?;
        if self.store.link_spent(&link.nonce).await? {
            return Err(refused(GateRefusal::LinkUsed));
        }
        Ok(link)
    }
}

/// The gate policy's refusal, as the kind of error the doors answer with.
fn refused(why: GateRefusal) -> OpError {
    let message = why.to_string();
    match why {
        GateRefusal::SelfApproval
        | GateRefusal::NotAnApprover { .. }
        | GateRefusal::NotPermitted { .. }
        | GateRefusal::OverrideNeedsAdmin
        | GateRefusal::AlreadyApproved
        | GateRefusal::LinkInvalid(_) => OpError::Denied(message),
        GateRefusal::ReasonRequired | GateRefusal::OverrideNeedsReason => {
            OpError::invalid("comment", message)
        }
        GateRefusal::WrongEnvironment { .. }
        | GateRefusal::DigestMismatch { .. }
        | GateRefusal::Expired
        | GateRefusal::Frozen { .. }
        | GateRefusal::LinkUsed => OpError::Conflict(message),
    }
}
