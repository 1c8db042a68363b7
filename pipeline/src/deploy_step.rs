//! The deploy step machine: where one environment's deploy stands (stored before each AWS
//! call it names), and, from what the deploy row and ECS say, what to do next. Like
//! [`crate::machine::transition`] it is pure: the engine only performs the action chosen
//! here and records it, so a restarted process makes the same choice a killed one would.

use crate::machine::RunEvent;
use crate::rollout::{ServiceView, Verdict, judge, short_task_definition};
use crate::settings::Span;
use std::fmt;
use std::str::FromStr;

/// The steps of a deploy, in order. The stored text (`as_str`) is the database's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployStep {
    /// Waiting for its ECS service (one deploy per service at a time).
    Queued,
    /// Recording the live revision and registering (or adopting) the new one.
    Registering,
    /// Calling UpdateService with the new revision.
    Updating,
    /// Following the deployment until ECS says how it ended.
    Following,
    Done,
}

impl DeployStep {
    pub const ALL: [DeployStep; 5] = [
        DeployStep::Queued,
        DeployStep::Registering,
        DeployStep::Updating,
        DeployStep::Following,
        DeployStep::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeployStep::Queued => "queued",
            DeployStep::Registering => "registering",
            DeployStep::Updating => "updating",
            DeployStep::Following => "following",
            DeployStep::Done => "done",
        }
    }
}

impl fmt::Display for DeployStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Stored text that names no deploy step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deploy step `{0}`")]
pub struct UnknownStep(pub String);

impl FromStr for DeployStep {
    type Err = UnknownStep;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeployStep::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_owned()))
    }
}

/// How a deploy ended, as stored in its `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    Succeeded,
    Failed,
    RolledBack,
    TimedOut,
}

impl DeployOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeployOutcome::Succeeded => "succeeded",
            DeployOutcome::Failed => "failed",
            DeployOutcome::RolledBack => "rolled_back",
            DeployOutcome::TimedOut => "timed_out",
        }
    }

    /// The run's event for this outcome at environment `env` (a timeout is a failure).
    pub fn event(self, env: usize) -> RunEvent {
        match self {
            DeployOutcome::Succeeded => RunEvent::DeploySucceeded(env),
            DeployOutcome::Failed | DeployOutcome::TimedOut => RunEvent::DeployFailed(env),
            DeployOutcome::RolledBack => RunEvent::DeployRolledBack(env),
        }
    }
}

/// What the deploy row says, as far as the next step depends on it.
#[derive(Debug, Clone, Copy)]
pub struct DeployFacts<'a> {
    pub step: DeployStep,
    /// The revision that was live before this deploy, once recorded.
    pub previous_task_definition: Option<&'a str>,
    /// The revision to deploy: registered by this deploy, or a rollback's own.
    pub task_definition: Option<&'a str>,
    /// A registration was sent (it may have gone through before a crash).
    pub register_attempted: bool,
    pub deployment_id: Option<&'a str>,
    /// When the deploy gives up (`i64::MAX` without one).
    pub deadline_at: i64,
    pub deploy_timeout: Span,
    pub cluster: &'a str,
    pub service: &'a str,
}

/// The one thing to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Record the revision live on the service now as the one to restore; stay registering.
    RecordPrevious {
        live: String,
    },
    /// The deploy brings its revision (a rollback): register nothing, go on to updating.
    UseRevision {
        revision: String,
    },
    /// A registration was sent before: look for the revision it tagged and adopt it, or
    /// register one if there is none.
    FindRegistered {
        previous: String,
    },
    /// Register a revision made from `previous` with the new image.
    Register {
        previous: String,
    },
    /// The service already has a deployment of our revision (UpdateService went through
    /// before a crash): record it instead of updating again.
    RecordDeployment {
        id: String,
    },
    UpdateService {
        revision: String,
    },
    /// Record what the service shows, then end the deploy.
    Finish {
        outcome: DeployOutcome,
        detail: String,
    },
    /// Record what the service shows, then look again at this time.
    WaitUntil(i64),
    /// Nothing the engine can do (queued behind its service, or done).
    Park,
}

/// The next step of a deploy, given its row, the service as ECS describes it now, the time,
/// and the poll interval.
pub fn next_step(row: &DeployFacts<'_>, view: &ServiceView, now: i64, poll_ms: i64) -> StepAction {
    match row.step {
        DeployStep::Queued | DeployStep::Done => StepAction::Park,
        DeployStep::Registering => match (row.previous_task_definition, row.task_definition) {
            (None, _) => StepAction::RecordPrevious {
                live: view.task_definition.clone(),
            },
            (Some(_), Some(revision)) => StepAction::UseRevision {
                revision: revision.to_owned(),
            },
            (Some(previous), None) if row.register_attempted => StepAction::FindRegistered {
                previous: previous.to_owned(),
            },
            (Some(previous), None) => StepAction::Register {
                previous: previous.to_owned(),
            },
        },
        DeployStep::Updating => {
            let revision = row.task_definition.unwrap_or_default();
            match deployment_of(view, revision) {
                Some(id) => StepAction::RecordDeployment { id },
                None => StepAction::UpdateService {
                    revision: revision.to_owned(),
                },
            }
        }
        DeployStep::Following => {
            let td = row.task_definition.unwrap_or_default();
            let deployment = row.deployment_id.unwrap_or_default();
            let (outcome, detail) = match judge(view, deployment, td) {
                Verdict::Succeeded => {
                    let ours = view.deployments.iter().find(|d| d.id == deployment);
                    let (running, desired) =
                        ours.map_or((view.running, view.desired), |d| (d.running, d.desired));
                    (
                        DeployOutcome::Succeeded,
                        format!(
                            "{} running {running}/{desired} on {}/{}",
                            short_task_definition(td),
                            row.cluster,
                            row.service
                        ),
                    )
                }
                Verdict::Failed(why) => (DeployOutcome::Failed, why),
                Verdict::RolledBack(why) => (DeployOutcome::RolledBack, why),
                Verdict::InProgress if now >= row.deadline_at => {
                    let why = format!(
                        "the deployment did not finish within {} (running {}/{})",
                        row.deploy_timeout, view.running, view.desired
                    );
                    (DeployOutcome::TimedOut, why)
                }
                Verdict::InProgress => return StepAction::WaitUntil(now.saturating_add(poll_ms)),
            };
            StepAction::Finish { outcome, detail }
        }
    }
}

/// The deployment on the service that runs `task_definition`, the primary one first.
pub fn deployment_of(view: &ServiceView, task_definition: &str) -> Option<String> {
    let mut matching: Vec<_> = view
        .deployments
        .iter()
        .filter(|d| d.task_definition == task_definition)
        .collect();
    matching.sort_by_key(|d| d.status != "PRIMARY");
    matching.first().map(|d| d.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{DeploymentView, RolloutState};
    use DeployStep::*;

    const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/api:4";
    const NEW: &str = "arn:aws:ecs:eu-west-1:1:task-definition/api:5";

    fn facts(step: DeployStep) -> DeployFacts<'static> {
        DeployFacts {
            step,
            previous_task_definition: None,
            task_definition: None,
            register_attempted: false,
            deployment_id: None,
            deadline_at: 10_000,
            deploy_timeout: Span::millis(600_000),
            cluster: "prod",
            service: "api",
        }
    }

    fn deployment(id: &str, status: &str, td: &str, state: Option<RolloutState>) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            rollout_state: state,
            rollout_reason: None,
            task_definition: td.into(),
            desired: 2,
            running: 2,
            pending: 0,
            failed: 0,
        }
    }

    fn service(deployments: Vec<DeploymentView>) -> ServiceView {
        ServiceView {
            arn: "arn:svc".into(),
            status: "ACTIVE".into(),
            task_definition: OLD.into(),
            desired: 2,
            running: 2,
            pending: 0,
            deployments,
            events: vec![],
        }
    }

    #[test]
    fn every_step_reads_back_from_its_stored_text_and_unknown_text_is_refused() {
        for step in DeployStep::ALL {
            assert_eq!(step.as_str().parse::<DeployStep>(), Ok(step));
        }
        let texts: Vec<&str> = DeployStep::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            texts,
            ["queued", "registering", "updating", "following", "done"]
        );
        assert_eq!(
            "Following".parse::<DeployStep>(),
            Err(UnknownStep("Following".into()))
        );
        assert_eq!("".parse::<DeployStep>(), Err(UnknownStep(String::new())));
    }

    /// A row: the case, the previous revision recorded, the rollback's own revision, whether a
    /// registration was attempted, and the action expected.
    type RegisteringCase<'a> = (&'a str, Option<&'a str>, Option<&'a str>, bool, StepAction);

    #[test]
    fn registering_records_the_live_revision_then_registers_or_adopts_or_uses_its_own() {
        let view = service(vec![]);
        let table: [RegisteringCase; 5] = [
            (
                "nothing recorded yet",
                None,
                None,
                false,
                StepAction::RecordPrevious { live: OLD.into() },
            ),
            (
                "a rollback's revision is not recorded before the live one",
                None,
                Some(NEW),
                false,
                StepAction::RecordPrevious { live: OLD.into() },
            ),
            (
                "a rollback brings its revision",
                Some(OLD),
                Some(NEW),
                false,
                StepAction::UseRevision {
                    revision: NEW.into(),
                },
            ),
            (
                "first registration",
                Some(OLD),
                None,
                false,
                StepAction::Register {
                    previous: OLD.into(),
                },
            ),
            (
                "a registration was sent before a restart",
                Some(OLD),
                None,
                true,
                StepAction::FindRegistered {
                    previous: OLD.into(),
                },
            ),
        ];
        for (case, previous, own, attempted, expected) in table {
            let row = DeployFacts {
                previous_task_definition: previous,
                task_definition: own,
                register_attempted: attempted,
                ..facts(Registering)
            };
            assert_eq!(next_step(&row, &view, 0, 1_000), expected, "{case}");
        }
    }

    #[test]
    fn updating_records_a_deployment_of_our_revision_already_there_instead_of_updating_again() {
        let row = DeployFacts {
            task_definition: Some(NEW),
            ..facts(Updating)
        };
        let table = [
            (
                "no deployment of ours",
                service(vec![deployment("ecs-old", "PRIMARY", OLD, None)]),
                StepAction::UpdateService {
                    revision: NEW.into(),
                },
            ),
            (
                "ours went through",
                service(vec![
                    deployment("ecs-old", "ACTIVE", OLD, None),
                    deployment("ecs-new", "PRIMARY", NEW, None),
                ]),
                StepAction::RecordDeployment {
                    id: "ecs-new".into(),
                },
            ),
            (
                "the primary one of ours is preferred",
                service(vec![
                    deployment("ecs-a", "ACTIVE", NEW, None),
                    deployment("ecs-b", "PRIMARY", NEW, None),
                ]),
                StepAction::RecordDeployment { id: "ecs-b".into() },
            ),
        ];
        for (case, view, expected) in table {
            assert_eq!(next_step(&row, &view, 0, 1_000), expected, "{case}");
        }
    }

    #[test]
    fn following_finishes_with_the_rollout_verdict_or_waits_until_the_deadline() {
        let row = DeployFacts {
            previous_task_definition: Some(OLD),
            task_definition: Some(NEW),
            deployment_id: Some("ecs-new"),
            ..facts(Following)
        };
        let done = service(vec![deployment(
            "ecs-new",
            "PRIMARY",
            NEW,
            Some(RolloutState::Completed),
        )]);
        let going = service(vec![deployment(
            "ecs-new",
            "PRIMARY",
            NEW,
            Some(RolloutState::InProgress),
        )]);
        let failed = service(vec![deployment(
            "ecs-new",
            "PRIMARY",
            NEW,
            Some(RolloutState::Failed),
        )]);
        assert_eq!(
            next_step(&row, &done, 0, 1_000),
            StepAction::Finish {
                outcome: DeployOutcome::Succeeded,
                detail: "api:5 running 2/2 on prod/api".into()
            }
        );
        assert_eq!(
            next_step(&row, &going, 500, 1_000),
            StepAction::WaitUntil(1_500),
            "in progress before the deadline"
        );
        assert_eq!(
            next_step(&row, &going, 10_000, 1_000),
            StepAction::Finish {
                outcome: DeployOutcome::TimedOut,
                detail: "the deployment did not finish within 10m (running 2/2)".into()
            },
            "in progress at the deadline"
        );
        assert!(
            matches!(
                next_step(&row, &failed, 0, 1_000),
                StepAction::Finish {
                    outcome: DeployOutcome::Failed,
                    ..
                }
            ),
            "a failed rollout"
        );
    }

    #[test]
    fn a_queued_or_finished_deploy_is_parked() {
        for step in [Queued, Done] {
            assert_eq!(
                next_step(&facts(step), &service(vec![]), 0, 1_000),
                StepAction::Park,
                "{step}"
            );
        }
    }

    #[test]
    fn each_outcome_has_its_stored_text_and_run_event() {
        let table = [
            (
                DeployOutcome::Succeeded,
                "succeeded",
                RunEvent::DeploySucceeded(1),
            ),
            (DeployOutcome::Failed, "failed", RunEvent::DeployFailed(1)),
            (
                DeployOutcome::RolledBack,
                "rolled_back",
                RunEvent::DeployRolledBack(1),
            ),
            (
                DeployOutcome::TimedOut,
                "timed_out",
                RunEvent::DeployFailed(1),
            ),
        ];
        for (outcome, text, event) in table {
            assert_eq!((outcome.as_str(), outcome.event(1)), (text, event));
        }
    }
}
