//! Reading an ECS rollout truthfully. The engine polls the service and hands what it saw
//! to [`judge`], which decides whether *our* deployment (the one Shipgate's UpdateService
//! created) has ended, and how. Kept pure so every shape ECS can report is table-tested,
//! above all the one that matters most: a circuit-breaker rollback is never a success.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    InProgress,
    Completed,
    Failed,
}

/// One entry of a service's `deployments`, in ECS's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub id: String,
    /// `PRIMARY` (the newest), `ACTIVE` (being replaced) or `INACTIVE`.
    pub status: String,
    pub rollout_state: Option<RolloutState>,
    pub rollout_reason: Option<String>,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub at: i64,
    pub message: String,
}

/// A service as one DescribeServices call saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<DeploymentView>,
    /// Newest first, as ECS lists them.
    pub events: Vec<ServiceEvent>,
}

impl ServiceView {
    pub fn primary(&self) -> Option<&DeploymentView> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    InProgress,
    Succeeded,
    Failed(String),
    RolledBack(String),
}

/// Where deployment `id`, which put `task_definition` on the service, stands.
pub fn judge(service: &ServiceView, id: &str, task_definition: &str) -> Verdict {
    let primary = service.primary();
    let Some(ours) = service.deployments.iter().find(|d| d.id == id) else {
        // ECS drops a deployment from the list once it is replaced and drained. If the
        // service runs something else now, ours was rolled back (or replaced): not a success.
        return match primary {
            Some(p) if p.task_definition != task_definition => Verdict::RolledBack(format!(
                "deployment {id} is gone and the service runs {} again",
                short_task_definition(&p.task_definition)
            )),
            Some(_) => Verdict::InProgress,
            None => Verdict::Failed(format!(
                "deployment {id} is gone and the service has no primary deployment"
            )),
        };
    };
    let reason = || ours.rollout_reason.clone().unwrap_or_default();
    match ours.rollout_state {
        Some(RolloutState::Failed) => match primary.filter(|p| p.id != ours.id) {
            Some(p) => Verdict::RolledBack(join(
                &reason(),
                &format!(
                    "ECS rolled back to {}",
                    short_task_definition(&p.task_definition)
                ),
            )),
            None => Verdict::Failed(if reason().is_empty() {
                format!("deployment {id} failed")
            } else {
                reason()
            }),
        },
        Some(RolloutState::Completed) if ours.running >= ours.desired => Verdict::Succeeded,
        // Without a rollout state (older deployment controllers), steady state is the only
        // signal: ours is primary, fully running, and nothing else is left.
        None if ours.status == "PRIMARY"
            && ours.running >= ours.desired
            && ours.pending == 0
            && service.deployments.len() == 1 =>
        {
            Verdict::Succeeded
        }
        _ if ours.status != "PRIMARY" => match primary {
            Some(p) if p.task_definition != task_definition => Verdict::RolledBack(format!(
                "deployment {id} was replaced by {} running {}",
                p.id,
                short_task_definition(&p.task_definition)
            )),
            _ => Verdict::InProgress,
        },
        _ => Verdict::InProgress,
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_owned()
    } else {
        format!("{a} {b}")
    }
}

/// `family:revision` from a task definition ARN, which is what people recognise.
pub fn short_task_definition(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:4";
    const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:5";

    fn dep(
        id: &str,
        status: &str,
        state: Option<RolloutState>,
        td: &str,
        running: i32,
    ) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            rollout_state: state,
            rollout_reason: state.map(|s| format!("reason {s:?}")),
            task_definition: td.into(),
            desired: 2,
            running,
            pending: 2 - running,
            failed: 0,
        }
    }

    fn service(deployments: Vec<DeploymentView>) -> ServiceView {
        ServiceView {
            arn: "arn:aws:ecs:us-east-1:123456789012:service/stg/api".into(),
            status: "ACTIVE".into(),
            task_definition: NEW.into(),
            desired: 2,
            running: 2,
            pending: 0,
            deployments,
            events: vec![],
        }
    }

    #[test]
    fn every_shape_of_a_rollout_gets_a_truthful_verdict() {
        use RolloutState::*;
        let cases: Vec<(&str, Vec<DeploymentView>, &str)> = vec![
            (
                "just started, old still active",
                vec![
                    dep("new", "PRIMARY", Some(InProgress), NEW, 0),
                    dep("old", "ACTIVE", Some(Completed), OLD, 2),
                ],
                "in_progress",
            ),
            (
                "completed with every task running",
                vec![dep("new", "PRIMARY", Some(Completed), NEW, 2)],
                "succeeded",
            ),
            (
                "completed but tasks still starting",
                vec![dep("new", "PRIMARY", Some(Completed), NEW, 1)],
                "in_progress",
            ),
            (
                "failed without rollback",
                vec![
                    dep("new", "PRIMARY", Some(Failed), NEW, 0),
                    dep("old", "ACTIVE", Some(Completed), OLD, 2),
                ],
                "failed",
            ),
            (
                "circuit breaker rolled back",
                vec![
                    dep("rb", "PRIMARY", Some(InProgress), OLD, 0),
                    dep("new", "ACTIVE", Some(Failed), NEW, 0),
                ],
                "rolled_back",
            ),
            (
                "rolled back and the failed one drained",
                vec![dep("rb", "PRIMARY", Some(Completed), OLD, 2)],
                "rolled_back",
            ),
            (
                "replaced by someone else's deployment",
                vec![
                    dep("other", "PRIMARY", Some(InProgress), OLD, 0),
                    dep("new", "ACTIVE", Some(InProgress), NEW, 1),
                ],
                "rolled_back",
            ),
            (
                "no rollout state, steady",
                vec![dep("new", "PRIMARY", None, NEW, 2)],
                "succeeded",
            ),
            (
                "no rollout state, old still draining",
                vec![
                    dep("new", "PRIMARY", None, NEW, 2),
                    dep("old", "ACTIVE", None, OLD, 1),
                ],
                "in_progress",
            ),
            ("nothing primary at all", vec![], "failed"),
        ];
        for (name, deployments, want) in cases {
            let verdict = judge(&service(deployments), "new", NEW);
            let got = match &verdict {
                Verdict::InProgress => "in_progress",
                Verdict::Succeeded => "succeeded",
                Verdict::Failed(_) => "failed",
                Verdict::RolledBack(_) => "rolled_back",
            };
            assert_eq!(got, want, "{name}: {verdict:?}");
        }
    }

    #[test]
    fn a_rollback_names_what_the_service_went_back_to() {
        let s = service(vec![
            dep("rb", "PRIMARY", Some(RolloutState::InProgress), OLD, 0),
            dep("new", "ACTIVE", Some(RolloutState::Failed), NEW, 0),
        ]);
        assert_eq!(
            judge(&s, "new", NEW),
            Verdict::RolledBack("reason Failed ECS rolled back to api:4".into())
        );
    }
}
