//! The Deploy stage of one environment: take the ECS service (one deploy per service at a
//! time), register the rendered revision, UpdateService, and follow the deployment until
//! ECS says how it ended.

use super::{Engine, EngineError, crash_point};
use crate::aws::{CloudError, ServiceTarget};
use crate::store::deploys::{self, DeployChange, DeployRow};
use crate::store::leases::ASLEEP;
use crate::store::rollback::{Occasion, Restore, RollbackPlan};
use crate::store::{StoreError, Tx};
use futures::FutureExt;
use shipgate_pipeline::deploy_step::{
    DeployFacts, DeployOutcome, DeployStep, StepAction, next_step,
};
use shipgate_pipeline::read::RunDetail;
use shipgate_pipeline::rollout::short_task_definition;
use shipgate_pipeline::{PipelineSpec, RunEvent, RunKind};
use tracing::info;

/// What one pass over a deploy led to.
enum Next {
    /// Go on to the next step now.
    Continue,
    /// Look again at this time.
    WakeAt(i64),
}

impl Engine {
    /// The run's next environment is ready: queue its deploy with the built digest, and
    /// start it if the service is free.
    pub(super) async fn start_deploy(
        &self,
        run: &RunDetail,
        pipeline: Option<&PipelineSpec>,
        env: usize,
    ) -> Result<i64, EngineError> {
        let id = run.run.id;
        let existing = self
            .store
            .get_deploys(id)
            .await?
            .into_iter()
            .find(|d| d.position == env as i64);
        let row = match existing {
            Some(row) => row,
            None => {
                let build = self.store.get_build(id).await?;
                let image = build.as_ref().and_then(|b| {
                    Some(format!(
                        "{}@{}",
                        b.image_uri.as_ref()?,
                        b.image_digest.as_ref()?
                    ))
                });
                let target = pipeline.and_then(|p| p.environments.get(env));
                let (Some(image), Some(target)) = (image, target) else {
                    // Nothing safe to deploy: say why on the stage, through the state machine.
                    let why = if target.is_none() {
                        format!(
                            "pipeline `{}` no longer has environment {}",
                            run.run.pipeline,
                            env + 1
                        )
                    } else {
                        "the build recorded no image digest".to_owned()
                    };
                    self.store
                        .apply_event(id, RunEvent::DeployStarted(env), None)
                        .await?;
                    self.store
                        .apply_event(id, RunEvent::DeployFailed(env), Some(&why))
                        .await?;
                    return Ok(self.store.now_ms());
                };
                let row = DeployRow::queued(id, env as i64, target, image, self.store.now_ms());
                self.store.queue_deploy(&row).await?;
                row
            }
        };
        if !self.store.take_service(&row).await? {
            let holder = self.store.service_holder(&row).await?;
            info!(environment = %row.environment, ?holder, "service busy; deploy waits its turn");
            return Ok(self.store.now_ms() + self.settings.poll.as_millis());
        }
        let now = self.store.now_ms();
        let deadline = now + row.settings.deploy_timeout.as_millis();
        // The stage starts and the deploy leaves the queue in one transaction.
        let row = &row;
        let start = move |mut tx: Tx| {
            async move {
                deploys::start(&mut tx, row, now, deadline).await?;
                Ok::<_, StoreError>(tx)
            }
            .boxed()
        };
        let detail = format!(
            "deploying {} to {}/{} ({})",
            row.image, row.cluster, row.service, row.region
        );
        self.store
            .apply_event_with(id, RunEvent::DeployStarted(env), Some(&detail), start)
            .await?;
        crash_point("after_deploy_started");
        self.deploy_step(id, env).await
    }

    /// Drives a running deploy as far as it can go now.
    pub(super) async fn deploy_step(&self, id: i64, env: usize) -> Result<i64, EngineError> {
        loop {
            // Renew the lease before every step that may call AWS: a process that was
            // paused past its lease (and so lost the run to another replica) stops here
            // instead of acting alongside the new holder.
            if !self
                .store
                .claim_run(id, &self.settings.owner, self.settings.lease.as_millis())
                .await?
            {
                return Ok(ASLEEP);
            }
            let Some(row) = self
                .store
                .get_deploys(id)
                .await?
                .into_iter()
                .find(|d| d.position == env as i64)
            else {
                return Ok(ASLEEP);
            };
            match self.deploy_once(&row, env).await? {
                Next::Continue => continue,
                Next::WakeAt(at) => return Ok(at),
            }
        }
    }

    async fn deploy_once(&self, row: &DeployRow, env: usize) -> Result<Next, EngineError> {
        let target = target_of(row);
        let deadline = row.deadline_at.unwrap_or(i64::MAX);
        let view = match self.cloud.describe_service(&target).await {
            Ok(view) => view,
            Err(e) => return self.cloud_trouble(row, env, e, deadline).await,
        };
        self.trouble.cleared(&deploy_subject(row));
        let mut row = row.clone();
        loop {
            let action = next_step(
                &facts(&row),
                &view,
                self.store.now_ms(),
                self.settings.poll.as_millis(),
            );
            let (from, to, change) = match action {
                StepAction::Park => return Ok(Next::WakeAt(ASLEEP)),
                StepAction::RecordPrevious { live } => {
                    // Recorded, then the same look goes on with it.
                    self.store
                        .advance_deploy(
                            &row,
                            DeployStep::Registering,
                            DeployStep::Registering,
                            DeployChange::PreviousTaskDefinition(live.clone()),
                        )
                        .await?;
                    row.previous_task_definition = Some(live);
                    continue;
                }
                StepAction::UseRevision { revision } => (
                    DeployStep::Registering,
                    DeployStep::Updating,
                    DeployChange::TaskDefinition(revision),
                ),
                StepAction::FindRegistered { previous } => {
                    // A crash after a registration but before it was stored leaves a tagged
                    // revision behind: adopt it rather than registering a second one.
                    match self
                        .cloud
                        .find_registered_revision(
                            &target,
                            family_of(&previous),
                            row.run_id,
                            &row.environment,
                        )
                        .await
                    {
                        Ok(Some(arn)) => {
                            info!(%arn, "adopting the revision registered before a restart");
                            crash_point("after_register");
                            (
                                DeployStep::Registering,
                                DeployStep::Updating,
                                DeployChange::TaskDefinition(arn),
                            )
                        }
                        Ok(None) => match self.register(&row, &target, &previous).await? {
                            Ok(arn) => (
                                DeployStep::Registering,
                                DeployStep::Updating,
                                DeployChange::TaskDefinition(arn),
                            ),
                            Err(e) => return self.cloud_trouble(&row, env, e, deadline).await,
                        },
                        Err(e) => return self.cloud_trouble(&row, env, e, deadline).await,
                    }
                }
                StepAction::Register { previous } => {
                    match self.register(&row, &target, &previous).await? {
                        Ok(arn) => (
                            DeployStep::Registering,
                            DeployStep::Updating,
                            DeployChange::TaskDefinition(arn),
                        ),
                        Err(e) => return self.cloud_trouble(&row, env, e, deadline).await,
                    }
                }
                StepAction::RecordDeployment { id } => {
                    // The UpdateService went through before a crash.
                    crash_point("after_update");
                    info!(deployment = %id, task_definition = %row.task_definition.as_deref().unwrap_or_default(), "service updated");
                    (
                        DeployStep::Updating,
                        DeployStep::Following,
                        DeployChange::DeploymentId(id),
                    )
                }
                StepAction::UpdateService { revision } => match self
                    .cloud
                    .update_service(&target, &revision, &row.settings)
                    .await
                {
                    Ok(id) => {
                        crash_point("after_update");
                        info!(deployment = %id, task_definition = %revision, "service updated");
                        (
                            DeployStep::Updating,
                            DeployStep::Following,
                            DeployChange::DeploymentId(id),
                        )
                    }
                    Err(e) => return self.cloud_trouble(&row, env, e, deadline).await,
                },
                StepAction::WaitUntil(at) => {
                    self.store.record_rollout(&row, &view, None).await?;
                    return Ok(Next::WakeAt(at));
                }
                StepAction::Finish { outcome, detail } => {
                    self.store.record_rollout(&row, &view, None).await?;
                    return self.finish(&row, env, outcome, detail).await;
                }
            };
            self.store.advance_deploy(&row, from, to, change).await?;
            return Ok(Next::Continue);
        }
    }

    /// Registers the new revision, noting the attempt first: a crash after the call but
    /// before its answer is stored is then found by the next look ([`StepAction::FindRegistered`]).
    async fn register(
        &self,
        row: &DeployRow,
        target: &ServiceTarget,
        previous: &str,
    ) -> Result<Result<String, CloudError>, EngineError> {
        self.store
            .advance_deploy(
                row,
                DeployStep::Registering,
                DeployStep::Registering,
                DeployChange::RegisterAttempted(self.store.now_ms()),
            )
            .await?;
        crash_point("before_register");
        let registered = self
            .cloud
            .register_revision(
                target,
                previous,
                &row.container,
                &row.image,
                row.run_id,
                &row.environment,
            )
            .await;
        if registered.is_ok() {
            crash_point("after_register");
        }
        Ok(registered)
    }

    /// The rollout ended: the run moves on, and a failed deploy is undone if its environment
    /// asks for that (ECS left the failed revision in place).
    async fn finish(
        &self,
        row: &DeployRow,
        env: usize,
        outcome: DeployOutcome,
        detail: String,
    ) -> Result<Next, EngineError> {
        let event = outcome.event(env);
        let outcome = outcome.as_str();
        info!(outcome, %detail, "deploy ended");
        let error = (outcome != "succeeded").then_some(detail.as_str());
        let undo = match event {
            RunEvent::DeployFailed(_) if row.settings.auto_rollback => {
                self.auto_rollback_plan(row, &detail).await?
            }
            _ => None,
        };
        self.store
            .finish_deploy(row, event, outcome, &detail, error, undo.as_ref())
            .await?;
        if let Some(plan) = &undo {
            info!(rollback = %plan.delivery, "rolling back automatically");
            self.handle.wake();
        }
        self.deploy_ended(row);
        Ok(Next::WakeAt(self.store.now_ms()))
    }

    /// An AWS call failed. Throttling and outages are retried until the deploy's deadline;
    /// anything else (AccessDenied, a missing service or container) ends the deploy now,
    /// with AWS's own words on the stage.
    async fn cloud_trouble(
        &self,
        row: &DeployRow,
        env: usize,
        error: CloudError,
        deadline: i64,
    ) -> Result<Next, EngineError> {
        let text = error.to_string();
        self.trouble.failed(&deploy_subject(row), &error);
        if error.retryable && self.store.now_ms() < deadline {
            self.store.note_deploy_error(row, &text).await?;
            return Ok(Next::WakeAt(
                self.store.now_ms() + self.settings.poll.as_millis(),
            ));
        }
        self.store
            .finish_deploy(
                row,
                RunEvent::DeployFailed(env),
                "failed",
                &text,
                Some(&text),
                None,
            )
            .await?;
        self.trouble.forget(&deploy_subject(row));
        self.deploy_ended(row);
        Ok(Next::WakeAt(self.store.now_ms()))
    }
}

/// What the log calls a deploy's AWS failures.
fn deploy_subject(row: &DeployRow) -> String {
    format!("run {} deploy to {}", row.run_id, row.environment)
}

impl Engine {
    /// The rollback that undoes a failed deploy: back to the revision that was live before
    /// it, unless there was none, or it is the failed revision itself.
    async fn auto_rollback_plan(
        &self,
        row: &DeployRow,
        why: &str,
    ) -> Result<Option<RollbackPlan>, EngineError> {
        let (Some(previous), Some(failed)) = (
            row.previous_task_definition.as_deref(),
            row.task_definition.as_deref(),
        ) else {
            return Ok(None);
        };
        if previous == failed {
            return Ok(None);
        }
        let Some(run) = self.store.get_run(row.run_id).await? else {
            return Ok(None);
        };
        if run.run.kind == RunKind::Rollback {
            // A rollback that fails is not rolled back in turn: a person has to look.
            return Ok(None);
        }
        let restored = self.store.deploy_of_revision(previous).await?;
        let image = restored.as_ref().map_or_else(
            || format!("the image of {}", short_task_definition(previous)),
            |d| d.image.clone(),
        );
        let pipeline = self.store.get_pipeline(&run.run.pipeline).await?;
        let environment = pipeline.as_ref().and_then(|p| {
            p.spec
                .environments
                .iter()
                .find(|e| e.name == row.environment)
        });
        let why = format!(
            "automatic rollback of `{}` after run #{} failed: {why}; restoring {}",
            row.environment,
            row.run_id,
            short_task_definition(previous)
        );
        let delivery = format!("auto-rollback:{}:{}", row.run_id, row.position);
        let commit_of = restored.as_ref().map_or(row.run_id, |d| d.run_id);
        Ok(Some(RollbackPlan::new(
            &run.run.pipeline,
            Occasion {
                delivery,
                at: self.store.now_ms(),
            },
            commit_of,
            row,
            environment,
            Restore {
                task_definition: previous,
                image: &image,
            },
            why,
        )))
    }
}

/// The ECS service a deploy acts on, and as whom.
pub(super) fn target_of(row: &DeployRow) -> ServiceTarget {
    ServiceTarget {
        region: row.region.clone(),
        role_arn: row.settings.role_arn.clone(),
        cluster: row.cluster.clone(),
        service: row.service.clone(),
    }
}

/// What [`next_step`] needs to know of a deploy row.
fn facts(row: &DeployRow) -> DeployFacts<'_> {
    DeployFacts {
        step: row.step,
        previous_task_definition: row.previous_task_definition.as_deref(),
        task_definition: row.task_definition.as_deref(),
        register_attempted: row.register_attempted_at.is_some(),
        deployment_id: row.deployment_id.as_deref(),
        deadline_at: row.deadline_at.unwrap_or(i64::MAX),
        deploy_timeout: row.settings.deploy_timeout,
        cluster: &row.cluster,
        service: &row.service,
    }
}

/// The family of a task definition ARN (`…:task-definition/api:5` → `api`).
fn family_of(arn: &str) -> &str {
    let tail = short_task_definition(arn);
    tail.rsplit_once(':').map_or(tail, |(family, _)| family)
}
