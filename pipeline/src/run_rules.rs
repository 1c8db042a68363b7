//! Whether a person may cancel or retry a run, as pure rules over the run as it stands. The
//! store applies them inside the write they guard, so the state they judge cannot be
//! outdated by a writer in between.

use crate::read::StageRecord;
use crate::status::{RunKind, RunStatus, StageKind, StageStatus};

/// Why a person's request to cancel or retry a run was refused. Each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("it has already ended as {}", .0.as_str().replace('_', " "))]
    Ended(RunStatus),
    /// ECS is replacing the service's tasks, and nothing Shipgate could do stops that: a
    /// cancelled run would only stop watching a rollout that goes on regardless.
    #[error(
        "its deploy to `{0}` is rolling out on ECS, and Shipgate cannot take back an UpdateService; \
         wait for the rollout to end, or roll the service back"
    )]
    Deploying(String),
    #[error("it is still {}; only a run that ended unsuccessfully can be retried", .0.as_str().replace('_', " "))]
    Live(RunStatus),
    #[error(
        "it succeeded; only a run that ended unsuccessfully can be retried (push again to deploy the commit again)"
    )]
    Succeeded,
    #[error("it was superseded by a newer run, which ships the newer commit")]
    Superseded,
    /// Each run is retried at most once, so a form sent twice does not start two runs.
    #[error("it was already retried as run {0}; retry that one instead")]
    AlreadyRetried(i64),
    #[error("its pipeline `{0}` no longer exists")]
    PipelineGone(String),
    #[error("it is a rollback; roll back again from the service page instead")]
    IsRollback,
}

/// A run may be cancelled while it is live and no deploy of it is rolling out. (A deploy
/// still queued behind a busy service is not rolling out: cancelling takes it off the queue.)
pub fn may_cancel(status: RunStatus, stages: &[StageRecord]) -> Result<(), Refusal> {
    if status.is_terminal() {
        return Err(Refusal::Ended(status));
    }
    match stages
        .iter()
        .find(|s| s.kind == StageKind::Deploy && s.status == StageStatus::Running)
    {
        Some(deploying) => Err(Refusal::Deploying(
            deploying.environment.clone().unwrap_or_default(),
        )),
        None => Ok(()),
    }
}

/// A run may be retried once it ended without success, unless it is a rollback (which is
/// redone from the service, against what runs there now).
pub fn may_retry(kind: RunKind, status: RunStatus) -> Result<(), Refusal> {
    if kind == RunKind::Rollback {
        return Err(Refusal::IsRollback);
    }
    match status {
        RunStatus::Running | RunStatus::AwaitingApproval => Err(Refusal::Live(status)),
        RunStatus::Succeeded => Err(Refusal::Succeeded),
        RunStatus::Superseded => Err(Refusal::Superseded),
        RunStatus::Failed
        | RunStatus::RolledBack
        | RunStatus::Rejected
        | RunStatus::Cancelled
        | RunStatus::Expired => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(kind: StageKind, status: StageStatus, environment: Option<&str>) -> StageRecord {
        StageRecord {
            position: 0,
            kind,
            environment: environment.map(str::to_owned),
            promotion: None,
            status,
            started_at: None,
            finished_at: None,
            detail: String::new(),
        }
    }

    #[test]
    fn a_live_run_may_be_cancelled_unless_a_deploy_is_rolling_out() {
        let queued = [
            stage(StageKind::Build, StageStatus::Succeeded, None),
            stage(StageKind::Deploy, StageStatus::Pending, Some("staging")),
        ];
        let rolling = [
            stage(StageKind::Build, StageStatus::Succeeded, None),
            stage(StageKind::Deploy, StageStatus::Running, Some("staging")),
        ];
        let table: [(RunStatus, &[StageRecord], Result<(), Refusal>); 6] = [
            (RunStatus::Running, &queued, Ok(())),
            (RunStatus::AwaitingApproval, &queued, Ok(())),
            (
                RunStatus::Running,
                &rolling,
                Err(Refusal::Deploying("staging".into())),
            ),
            (
                RunStatus::Succeeded,
                &queued,
                Err(Refusal::Ended(RunStatus::Succeeded)),
            ),
            (
                RunStatus::Cancelled,
                &queued,
                Err(Refusal::Ended(RunStatus::Cancelled)),
            ),
            (
                RunStatus::Failed,
                &rolling,
                Err(Refusal::Ended(RunStatus::Failed)),
            ),
        ];
        for (status, stages, expected) in table {
            assert_eq!(may_cancel(status, stages), expected, "{status:?}");
        }
    }

    #[test]
    fn only_a_run_that_ended_without_success_may_be_retried_and_never_a_rollback() {
        use RunStatus as S;
        let table = [
            (RunKind::Push, S::Failed, Ok(())),
            (RunKind::Push, S::RolledBack, Ok(())),
            (RunKind::Push, S::Rejected, Ok(())),
            (RunKind::Push, S::Cancelled, Ok(())),
            (RunKind::Push, S::Expired, Ok(())),
            (RunKind::Retry, S::Failed, Ok(())),
            (RunKind::Push, S::Running, Err(Refusal::Live(S::Running))),
            (
                RunKind::Push,
                S::AwaitingApproval,
                Err(Refusal::Live(S::AwaitingApproval)),
            ),
            (RunKind::Push, S::Succeeded, Err(Refusal::Succeeded)),
            (RunKind::Push, S::Superseded, Err(Refusal::Superseded)),
            (RunKind::Rollback, S::Failed, Err(Refusal::IsRollback)),
        ];
        for (kind, status, expected) in table {
            assert_eq!(may_retry(kind, status), expected, "{kind:?} {status:?}");
        }
    }
}
