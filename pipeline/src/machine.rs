//! The run state machine. Every change to a run's status goes through [`transition`],
//! which is pure: the engine loads a [`RunState`], applies a [`RunEvent`], and stores the
//! result only if the transition was legal. Keeping it free of I/O is what lets the table
//! tests below cover every edge.
//!
//! The Source stage is not modelled: a run exists only once its commit is known, so Source
//! has always succeeded.

use crate::status::Promotion;
use crate::status::{RunStatus, StageStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: RunStatus,
    pub build: StageStatus,
    pub deploys: Vec<DeployState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployState {
    pub promotion: Promotion,
    pub status: StageStatus,
}

/// Something that happened to a run. Deploy events carry the environment's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "environment", rename_all = "snake_case")]
pub enum RunEvent {
    BuildStarted,
    BuildSucceeded,
    BuildFailed,
    DeployStarted(usize),
    DeploySucceeded(usize),
    DeployFailed(usize),
    DeployRolledBack(usize),
    Approved(usize),
    Rejected(usize),
    /// A newer run reached the same gate (and the pipeline supersedes rather than queues).
    Superseded(usize),
    /// Nobody decided before the gate's expiry.
    Expired(usize),
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the run has already ended as {0}")]
    RunFinished(RunStatus),
    #[error("the pipeline has no environment at position {0}")]
    UnknownEnvironment(usize),
    #[error("the build stage is {0}; it must be pending or running")]
    BuildNotInProgress(StageStatus),
    #[error("the build has not succeeded yet")]
    BuildNotSucceeded,
    #[error("environment {env} cannot start: an earlier environment has not succeeded")]
    EarlierEnvironmentNotDone { env: usize },
    #[error("the deploy to environment {env} is {status}; it must be {expected}")]
    DeployNot {
        env: usize,
        status: StageStatus,
        expected: StageStatus,
    },
}

impl RunState {
    /// A fresh run: Source succeeded, Build and every Deploy pending.
    pub fn new(promotions: impl IntoIterator<Item = Promotion>) -> Self {
        RunState {
            status: RunStatus::Running,
            build: StageStatus::Pending,
            deploys: promotions
                .into_iter()
                .map(|promotion| DeployState {
                    promotion,
                    status: StageStatus::Pending,
                })
                .collect(),
        }
    }

    /// The environment the engine may start deploying now, if any.
    pub fn ready_deploy(&self) -> Option<usize> {
        if self.status != RunStatus::Running || self.build != StageStatus::Succeeded {
            return None;
        }
        let next = self
            .deploys
            .iter()
            .position(|d| d.status != StageStatus::Succeeded)?;
        (self.deploys[next].status == StageStatus::Pending).then_some(next)
    }
}

/// Applies `event` to `state`, returning the new state or why the event is not legal now.
pub fn transition(state: &RunState, event: RunEvent) -> Result<RunState, TransitionError> {
    if state.status.is_terminal() {
        return Err(TransitionError::RunFinished(state.status));
    }
    let mut next = state.clone();
    match event {
        RunEvent::BuildStarted => {
            expect_build(state, &[StageStatus::Pending])?;
            next.build = StageStatus::Running;
        }
        RunEvent::BuildSucceeded => {
            expect_build(state, &[StageStatus::Pending, StageStatus::Running])?;
            next.build = StageStatus::Succeeded;
            open_environment(&mut next, 0);
        }
        RunEvent::BuildFailed => {
            expect_build(state, &[StageStatus::Pending, StageStatus::Running])?;
            next.build = StageStatus::Failed;
            end_run(&mut next, RunStatus::Failed, 0);
        }
        RunEvent::DeployStarted(env) => {
            expect_deploy(state, env, StageStatus::Pending)?;
            if state.build != StageStatus::Succeeded {
                return Err(TransitionError::BuildNotSucceeded);
            }
            if state.deploys[..env]
                .iter()
                .any(|d| d.status != StageStatus::Succeeded)
            {
                return Err(TransitionError::EarlierEnvironmentNotDone { env });
            }
            next.deploys[env].status = StageStatus::Running;
        }
        RunEvent::DeploySucceeded(env) => {
            expect_deploy(state, env, StageStatus::Running)?;
            next.deploys[env].status = StageStatus::Succeeded;
            if env + 1 == next.deploys.len() {
                next.status = RunStatus::Succeeded;
            } else {
                open_environment(&mut next, env + 1);
            }
        }
        RunEvent::DeployFailed(env) | RunEvent::DeployRolledBack(env) => {
            expect_deploy(state, env, StageStatus::Running)?;
            let (stage, run) = match event {
                RunEvent::DeployFailed(_) => (StageStatus::Failed, RunStatus::Failed),
                _ => (StageStatus::RolledBack, RunStatus::RolledBack),
            };
            next.deploys[env].status = stage;
            end_run(&mut next, run, env + 1);
        }
        RunEvent::Approved(env) => {
            expect_deploy(state, env, StageStatus::AwaitingApproval)?;
            next.deploys[env].status = StageStatus::Pending;
            next.status = RunStatus::Running;
        }
        RunEvent::Rejected(env) => {
            expect_deploy(state, env, StageStatus::AwaitingApproval)?;
            next.deploys[env].status = StageStatus::Rejected;
            end_run(&mut next, RunStatus::Rejected, env + 1);
        }
        RunEvent::Superseded(env) | RunEvent::Expired(env) => {
            expect_deploy(state, env, StageStatus::AwaitingApproval)?;
            let (stage, run) = match event {
                RunEvent::Superseded(_) => (StageStatus::Superseded, RunStatus::Superseded),
                _ => (StageStatus::Expired, RunStatus::Expired),
            };
            next.deploys[env].status = stage;
            end_run(&mut next, run, env + 1);
        }
        RunEvent::Cancelled => {
            if !state.build.is_terminal() {
                next.build = StageStatus::Cancelled;
            }
            for d in &mut next.deploys {
                if !d.status.is_terminal() {
                    d.status = StageStatus::Cancelled;
                }
            }
            next.status = RunStatus::Cancelled;
        }
    }
    Ok(next)
}

fn expect_build(state: &RunState, allowed: &[StageStatus]) -> Result<(), TransitionError> {
    if allowed.contains(&state.build) {
        Ok(())
    } else {
        Err(TransitionError::BuildNotInProgress(state.build))
    }
}

fn expect_deploy(
    state: &RunState,
    env: usize,
    expected: StageStatus,
) -> Result<(), TransitionError> {
    let deploy = state
        .deploys
        .get(env)
        .ok_or(TransitionError::UnknownEnvironment(env))?;
    if deploy.status == expected {
        Ok(())
    } else {
        Err(TransitionError::DeployNot {
            env,
            status: deploy.status,
            expected,
        })
    }
}

/// The previous step succeeded: a manual environment now waits at its gate; an automatic
/// one stays pending, which [`RunState::ready_deploy`] reports as ready to start.
fn open_environment(state: &mut RunState, env: usize) {
    if let Some(deploy) = state.deploys.get_mut(env) {
        if deploy.promotion == Promotion::Manual {
            deploy.status = StageStatus::AwaitingApproval;
            state.status = RunStatus::AwaitingApproval;
        }
    } else {
        state.status = RunStatus::Succeeded;
    }
}

/// Ends the run; environments from `first_unreached` on will never run.
fn end_run(state: &mut RunState, status: RunStatus, first_unreached: usize) {
    state.status = status;
    for d in state.deploys.iter_mut().skip(first_unreached) {
        d.status = StageStatus::Skipped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Promotion::{Auto, Manual};
    use RunEvent::*;
    use StageStatus as S;

    /// States of a staging (auto) → production (manual) run, by name, as `(run, build, [staging, production])`.
    fn named(name: &str) -> RunState {
        let (status, build, staging, production) = match name {
            "fresh" => (RunStatus::Running, S::Pending, S::Pending, S::Pending),
            "building" => (RunStatus::Running, S::Running, S::Pending, S::Pending),
            "built" => (RunStatus::Running, S::Succeeded, S::Pending, S::Pending),
            "deploying_staging" => (RunStatus::Running, S::Succeeded, S::Running, S::Pending),
            "at_gate" => (
                RunStatus::AwaitingApproval,
                S::Succeeded,
                S::Succeeded,
                S::AwaitingApproval,
            ),
            "approved" => (RunStatus::Running, S::Succeeded, S::Succeeded, S::Pending),
            "deploying_production" => (RunStatus::Running, S::Succeeded, S::Succeeded, S::Running),
            "succeeded" => (
                RunStatus::Succeeded,
                S::Succeeded,
                S::Succeeded,
                S::Succeeded,
            ),
            "build_failed" => (RunStatus::Failed, S::Failed, S::Skipped, S::Skipped),
            "staging_failed" => (RunStatus::Failed, S::Succeeded, S::Failed, S::Skipped),
            "staging_rolled_back" => (
                RunStatus::RolledBack,
                S::Succeeded,
                S::RolledBack,
                S::Skipped,
            ),
            "production_failed" => (RunStatus::Failed, S::Succeeded, S::Succeeded, S::Failed),
            "production_rolled_back" => (
                RunStatus::RolledBack,
                S::Succeeded,
                S::Succeeded,
                S::RolledBack,
            ),
            "rejected" => (RunStatus::Rejected, S::Succeeded, S::Succeeded, S::Rejected),
            "superseded" => (
                RunStatus::Superseded,
                S::Succeeded,
                S::Succeeded,
                S::Superseded,
            ),
            "expired" => (RunStatus::Expired, S::Succeeded, S::Succeeded, S::Expired),
            "cancelled_fresh" => (
                RunStatus::Cancelled,
                S::Cancelled,
                S::Cancelled,
                S::Cancelled,
            ),
            "cancelled_building" => (
                RunStatus::Cancelled,
                S::Cancelled,
                S::Cancelled,
                S::Cancelled,
            ),
            "cancelled_at_staging" => (
                RunStatus::Cancelled,
                S::Succeeded,
                S::Cancelled,
                S::Cancelled,
            ),
            "cancelled_at_gate" => (
                RunStatus::Cancelled,
                S::Succeeded,
                S::Succeeded,
                S::Cancelled,
            ),
            other => panic!("no state named {other}"),
        };
        RunState {
            status,
            build,
            deploys: vec![
                DeployState {
                    promotion: Auto,
                    status: staging,
                },
                DeployState {
                    promotion: Manual,
                    status: production,
                },
            ],
        }
    }

    const LIVE: &[&str] = &[
        "fresh",
        "building",
        "built",
        "deploying_staging",
        "at_gate",
        "approved",
        "deploying_production",
    ];
    const ENDED: &[&str] = &[
        "succeeded",
        "build_failed",
        "staging_failed",
        "staging_rolled_back",
        "production_failed",
        "production_rolled_back",
        "rejected",
        "superseded",
        "expired",
        "cancelled_fresh",
        "cancelled_at_staging",
        "cancelled_at_gate",
    ];

    fn events() -> Vec<RunEvent> {
        let mut all = vec![BuildStarted, BuildSucceeded, BuildFailed, Cancelled];
        for env in 0..3 {
            all.extend([
                DeployStarted(env),
                DeploySucceeded(env),
                DeployFailed(env),
                DeployRolledBack(env),
                Approved(env),
                Rejected(env),
                Superseded(env),
                Expired(env),
            ]);
        }
        all
    }

    /// Every legal edge from a live state. Any (live state, event) pair not listed must be refused.
    const LEGAL: &[(&str, RunEvent, &str)] = &[
        ("fresh", BuildStarted, "building"),
        ("fresh", BuildSucceeded, "built"),
        ("fresh", BuildFailed, "build_failed"),
        ("fresh", Cancelled, "cancelled_fresh"),
        ("building", BuildSucceeded, "built"),
        ("building", BuildFailed, "build_failed"),
        ("building", Cancelled, "cancelled_building"),
        ("built", DeployStarted(0), "deploying_staging"),
        ("built", Cancelled, "cancelled_at_staging"),
        ("deploying_staging", DeploySucceeded(0), "at_gate"),
        ("deploying_staging", DeployFailed(0), "staging_failed"),
        (
            "deploying_staging",
            DeployRolledBack(0),
            "staging_rolled_back",
        ),
        ("deploying_staging", Cancelled, "cancelled_at_staging"),
        ("at_gate", Approved(1), "approved"),
        ("at_gate", Rejected(1), "rejected"),
        ("at_gate", Superseded(1), "superseded"),
        ("at_gate", Expired(1), "expired"),
        ("at_gate", Cancelled, "cancelled_at_gate"),
        ("approved", DeployStarted(1), "deploying_production"),
        ("approved", Cancelled, "cancelled_at_gate"),
        ("deploying_production", DeploySucceeded(1), "succeeded"),
        ("deploying_production", DeployFailed(1), "production_failed"),
        (
            "deploying_production",
            DeployRolledBack(1),
            "production_rolled_back",
        ),
        ("deploying_production", Cancelled, "cancelled_at_gate"),
    ];

    #[test]
    fn every_legal_edge_reaches_its_state() {
        for (from, event, to) in LEGAL {
            assert_eq!(
                transition(&named(from), *event).as_ref(),
                Ok(&named(to)),
                "{from} --{event:?}-->"
            );
        }
    }

    #[test]
    fn every_other_event_on_a_live_run_is_refused_and_changes_nothing() {
        let mut refused = 0;
        for from in LIVE {
            for event in events() {
                if LEGAL.iter().any(|(f, e, _)| f == from && *e == event) {
                    continue;
                }
                let result = transition(&named(from), event);
                assert!(
                    result.is_err(),
                    "{from} --{event:?}--> should be refused, got {result:?}"
                );
                refused += 1;
            }
        }
        // 7 live states x 28 events, less the 24 legal edges.
        assert_eq!(refused, LIVE.len() * events().len() - LEGAL.len());
    }

    #[test]
    fn every_event_on_an_ended_run_is_refused_naming_the_outcome() {
        for from in ENDED {
            let state = named(from);
            for event in events() {
                assert_eq!(
                    transition(&state, event),
                    Err(TransitionError::RunFinished(state.status)),
                    "{from} {event:?}"
                );
            }
        }
    }

    #[test]
    fn refusals_name_the_reason() {
        let cases: &[(&str, RunEvent, TransitionError)] = &[
            (
                "fresh",
                DeployStarted(0),
                TransitionError::BuildNotSucceeded,
            ),
            (
                "building",
                BuildStarted,
                TransitionError::BuildNotInProgress(S::Running),
            ),
            (
                "built",
                DeployStarted(1),
                TransitionError::EarlierEnvironmentNotDone { env: 1 },
            ),
            (
                "built",
                DeployStarted(2),
                TransitionError::UnknownEnvironment(2),
            ),
            (
                "deploying_staging",
                Approved(1),
                TransitionError::DeployNot {
                    env: 1,
                    status: S::Pending,
                    expected: S::AwaitingApproval,
                },
            ),
            (
                "at_gate",
                DeployStarted(1),
                TransitionError::DeployNot {
                    env: 1,
                    status: S::AwaitingApproval,
                    expected: S::Pending,
                },
            ),
            (
                "approved",
                Superseded(1),
                TransitionError::DeployNot {
                    env: 1,
                    status: S::Pending,
                    expected: S::AwaitingApproval,
                },
            ),
            (
                "deploying_staging",
                Expired(1),
                TransitionError::DeployNot {
                    env: 1,
                    status: S::Pending,
                    expected: S::AwaitingApproval,
                },
            ),
        ];
        for (from, event, err) in cases {
            assert_eq!(
                transition(&named(from), *event).as_ref(),
                Err(err),
                "{from} {event:?}"
            );
        }
    }

    #[test]
    fn only_a_ready_environment_is_offered_to_the_engine() {
        let expect = [
            ("fresh", None),
            ("building", None),
            ("built", Some(0)),
            ("deploying_staging", None),
            ("at_gate", None),
            ("approved", Some(1)),
            ("deploying_production", None),
            ("succeeded", None),
        ];
        for (name, ready) in expect {
            assert_eq!(named(name).ready_deploy(), ready, "{name}");
        }
    }

    #[test]
    fn a_manual_first_environment_gates_right_after_the_build() {
        let state = RunState::new([Manual]);
        let built = transition(&state, BuildSucceeded).unwrap();
        assert_eq!(built.status, RunStatus::AwaitingApproval);
        assert_eq!(built.deploys[0].status, S::AwaitingApproval);
    }

    #[test]
    fn an_all_auto_pipeline_runs_to_success_without_a_gate() {
        let mut state = RunState::new([Auto, Auto, Auto]);
        for event in [
            BuildStarted,
            BuildSucceeded,
            DeployStarted(0),
            DeploySucceeded(0),
            DeployStarted(1),
            DeploySucceeded(1),
            DeployStarted(2),
        ] {
            state = transition(&state, event).unwrap();
            assert_eq!(state.status, RunStatus::Running, "after {event:?}");
        }
        state = transition(&state, DeploySucceeded(2)).unwrap();
        assert_eq!(state.status, RunStatus::Succeeded);
    }

    #[test]
    fn a_new_run_matches_the_fresh_state() {
        assert_eq!(RunState::new([Auto, Manual]), named("fresh"));
    }
}
