//! Rollback runs: a redeploy of a task-definition revision that ran before, as a run of
//! its own (kind `rollback`) with no build and an automatic deploy. A person starts one
//! from the services page; the engine starts one after a failed deploy in an environment
//! that asks for it. Both write the whole run (run, stages, queued deploy) with
//! [`RollbackPlan::write`], keyed by the run's delivery id, so the automatic one can
//! commit in the same transaction as the failure that caused it, and a second attempt finds the first.

use super::deploys::{self, DeployRow};
use super::{AuditEntry, Store, StoreError, StoreResult, Tx, audit, on_pool, on_tx};
use futures::FutureExt;
use shipgate_pipeline::deploy_step::DeployStep;
use shipgate_pipeline::rollout::short_task_definition;
use shipgate_pipeline::{EnvironmentSpec, Promotion, RunStatus, StageStatus};
use shipgate_pipeline::{RunEvent, RunState};

/// Why a rollback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackRefusal {
    #[error("run {run} has no deploy to environment position {position}")]
    NoSuchDeploy { run: i64, position: i64 },
    #[error(
        "run {run}'s deploy to `{environment}` did not succeed, so there is nothing proven to roll back to"
    )]
    NotSucceeded { run: i64, environment: String },
    #[error("run {run}'s deploy to `{environment}` recorded no task-definition revision")]
    NoRevision { run: i64, environment: String },
    #[error("a reason is required for a rollback")]
    ReasonRequired,
}

/// What a rollback puts back: a task-definition revision, and the image it runs.
#[derive(Debug, Clone, Copy)]
pub struct Restore<'a> {
    pub task_definition: &'a str,
    pub image: &'a str,
}

/// Which rollback this is, and when: its delivery (unique per rollback) and the time it was
/// planned, on the store's clock.
#[derive(Debug, Clone)]
pub struct Occasion {
    pub delivery: String,
    pub at: i64,
}

/// Everything a rollback run is made from.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub pipeline: String,
    /// Unique per rollback: a second write with the same one writes nothing.
    pub delivery: String,
    /// The commit the restored revision was built from (or, when unknown, the failed one's).
    pub commit_of_run: i64,
    pub target: DeployRow,
    /// What the stages say: why, and what is restored.
    pub why: String,
    /// When it was planned (the store's clock): the time its rows are written with.
    pub at: i64,
}

impl RollbackPlan {
    /// A rollback of a service to `restore`, copying the target and
    /// its settings from `environment` as the pipeline defines it now (or from `like`, the
    /// deploy being undone, when the environment is gone).
    pub fn new(
        pipeline: &str,
        occasion: Occasion,
        commit_of_run: i64,
        like: &DeployRow,
        environment: Option<&EnvironmentSpec>,
        restore: Restore<'_>,
        why: String,
    ) -> RollbackPlan {
        let Occasion { delivery, at } = occasion;
        let Restore {
            task_definition,
            image,
        } = restore;
        let mut target = match environment {
            Some(env) => DeployRow::queued(0, 0, env, image.to_owned(), at),
            None => DeployRow {
                run_id: 0,
                position: 0,
                image: image.to_owned(),
                step: DeployStep::Queued,
                queued_at: at,
                ..like.clone()
            },
        };
        target.task_definition = Some(task_definition.to_owned());
        RollbackPlan {
            pipeline: pipeline.to_owned(),
            delivery,
            commit_of_run,
            target,
            why,
            at,
        }
    }

    /// Writes the run in `tx`: a run row copied from the commit's run, its three stages, and
    /// its deploy, queued with the revision already chosen (so the engine registers
    /// nothing). Each write does nothing when the run already exists. Returns the run's id.
    /// `None` (and nothing written) if the commit's run is gone.
    pub(crate) async fn write(&self, tx: &mut Tx) -> StoreResult<Option<i64>> {
        let now = self.at;
        let t = &self.target;
        let revision =
            short_task_definition(t.task_definition.as_deref().unwrap_or_default()).to_owned();
        let stages = [
            (0, "source", None, StageStatus::Succeeded, self.why.clone()),
            (
                1,
                "build",
                None,
                StageStatus::Succeeded,
                format!("no build: a rollback redeploys revision {revision}"),
            ),
            (
                2,
                "deploy",
                Some(t.environment.as_str()),
                StageStatus::Pending,
                String::new(),
            ),
        ];
        on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO runs (pipeline_name, delivery_id, status, repository, branch, commit_sha, commit_message, commit_author, pusher,
                   compare_url, commit_url, commit_timestamp, created_at, updated_at, authors, kind)
                 SELECT $1, $2, $3, repository, branch, commit_sha, commit_message, commit_author, pusher, compare_url, commit_url,
                   commit_timestamp, $4, $4, authors, 'rollback'
                 FROM runs WHERE id = $5 ON CONFLICT (pipeline_name, delivery_id) DO NOTHING",
            )
            .bind(self.pipeline.as_str())
            .bind(self.delivery.as_str())
            .bind(RunStatus::Running.as_str())
            .bind(now)
            .bind(self.commit_of_run)
            .execute(&mut *conn)
            .await?;
            let found: Option<(i64,)> =
                sqlx::query_as("SELECT id FROM runs WHERE pipeline_name = $1 AND delivery_id = $2")
                    .bind(self.pipeline.as_str())
                    .bind(self.delivery.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            let Some((run_id,)) = found else {
                return Ok(None);
            };
            for (position, kind, environment, status, detail) in &stages {
                let at = (*status != StageStatus::Pending).then_some(now);
                sqlx::query(
                    "INSERT INTO stage_runs (run_id, position, kind, environment, promotion, status, started_at, finished_at, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (run_id, position) DO NOTHING",
                )
                .bind(run_id)
                .bind(*position as i64)
                .bind(*kind)
                .bind(*environment)
                .bind((*kind == "deploy").then(|| Promotion::Auto.as_str()))
                .bind(status.as_str())
                .bind(at)
                .bind(detail.as_str())
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO deploys (run_id, position, environment, region, cluster, service, container, settings, image, step, task_definition, queued_at)
                 VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (run_id, position) DO NOTHING",
            )
            .bind(run_id)
            .bind(t.environment.as_str())
            .bind(t.region.as_str())
            .bind(t.cluster.as_str())
            .bind(t.service.as_str())
            .bind(t.container.as_str())
            .bind(t.settings_text())
            .bind(t.image.as_str())
            .bind(DeployStep::Queued.as_str())
            .bind(t.task_definition.as_deref())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(Some(run_id))
        })
    }
}

impl Store {
    /// A deploy that can be rolled back to: it succeeded and recorded its revision.
    pub async fn restorable_deploy(
        &self,
        run_id: i64,
        position: i64,
    ) -> StoreResult<Result<DeployRow, RollbackRefusal>> {
        let Some(row) = self
            .get_deploys(run_id)
            .await?
            .into_iter()
            .find(|d| d.position == position)
        else {
            return Ok(Err(RollbackRefusal::NoSuchDeploy {
                run: run_id,
                position,
            }));
        };
        if row.outcome.as_deref() != Some("succeeded") {
            return Ok(Err(RollbackRefusal::NotSucceeded {
                run: run_id,
                environment: row.environment,
            }));
        }
        if row.task_definition.is_none() {
            return Ok(Err(RollbackRefusal::NoRevision {
                run: run_id,
                environment: row.environment,
            }));
        }
        Ok(Ok(row))
    }

    /// The latest successful deploy that registered `task_definition`, if Shipgate made it.
    pub async fn deploy_of_revision(
        &self,
        task_definition: &str,
    ) -> StoreResult<Option<DeployRow>> {
        let found: Option<(i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT run_id, position FROM deploys WHERE task_definition = $1 AND outcome = 'succeeded' ORDER BY finished_at DESC LIMIT 1")
                .bind(task_definition)
                .fetch_optional(pool)
                .await?
        });
        let Some((run_id, position)) = found else {
            return Ok(None);
        };
        Ok(self
            .get_deploys(run_id)
            .await?
            .into_iter()
            .find(|d| d.position == position))
    }

    /// A person rolls an environment back to what run `run_id`'s deploy at `position` put
    /// there. Returns the rollback run's id.
    pub async fn roll_back(
        &self,
        run_id: i64,
        position: i64,
        reason: &str,
        actor: &AuditEntry,
    ) -> StoreResult<i64> {
        let refuse = |why| StoreError::RollbackRefused(why);
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(refuse(RollbackRefusal::ReasonRequired));
        }
        let restored = self
            .restorable_deploy(run_id, position)
            .await?
            .map_err(refuse)?;
        let (run, _) = self
            .run_and_stages(run_id)
            .await?
            .ok_or(StoreError::RunNotFound(run_id))?;
        let pipeline = self.get_pipeline(&run.pipeline).await?;
        let environment = pipeline.as_ref().and_then(|p| {
            p.spec
                .environments
                .iter()
                .find(|e| e.name == restored.environment)
        });
        let revision = restored.task_definition.clone().unwrap_or_default();
        let why = format!(
            "rollback of `{}` by {} to {}, as deployed by run #{run_id}: {reason}",
            restored.environment,
            actor.actor,
            short_task_definition(&revision)
        );
        // The wall clock's milliseconds tell two rollbacks apart; they are a name, not a time.
        let delivery = format!("rollback:{run_id}:{position}:{}", crate::clock::wall_ms());
        let plan = RollbackPlan::new(
            &run.pipeline,
            Occasion {
                delivery,
                at: self.now_ms(),
            },
            run_id,
            &restored,
            environment,
            Restore {
                task_definition: &revision,
                image: &restored.image,
            },
            why,
        );
        self.start_rollback(&plan, actor).await
    }

    /// Writes a rollback run and its audit entry; returns the new run's id.
    pub async fn start_rollback(
        &self,
        plan: &RollbackPlan,
        actor: &AuditEntry,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let id = plan.write(&mut tx).await?.ok_or(sqlx::Error::RowNotFound)?;
        audit::append(
            &mut tx,
            &AuditEntry {
                action: "run.rollback".into(),
                target: format!("pipeline:{}", plan.pipeline),
                detail: plan.why.clone(),
                ..actor.clone()
            },
            self.now_ms(),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Ends a deploy: the run's transition, the deploy's outcome and the service lock's
    /// release commit together.
    /// With `undo`, the rollback run that undoes the deploy is written in the same transaction.
    pub async fn finish_deploy(
        &self,
        d: &DeployRow,
        event: RunEvent,
        outcome: &str,
        detail: &str,
        error: Option<&str>,
        undo: Option<&RollbackPlan>,
    ) -> StoreResult<RunState> {
        let now = self.now_ms();
        let also = move |mut tx: Tx| {
            async move {
                deploys::finish(&mut tx, d, outcome, error, now).await?;
                deploys::release_lock(&mut tx, d).await?;
                if let Some(plan) = undo {
                    plan.write(&mut tx).await?;
                }
                Ok::<_, StoreError>(tx)
            }
            .boxed()
        };
        self.apply_event_with(d.run_id, event, Some(detail), also)
            .await
    }
}
