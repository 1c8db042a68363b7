//! Deploys and the ECS service locks they take: one row per environment of a run, moved
//! through its [`DeployStep`]s, each stored before the AWS call it names.

use super::{Arg, BeginWrite, Store, StoreError, StoreResult, Tx, bind_all, on_pool, on_tx};
use shipgate_pipeline::deploy_step::DeployStep;
use shipgate_pipeline::read::DeployInfo;
use shipgate_pipeline::rollout::ServiceView;
use shipgate_pipeline::{DeploySettings, EnvironmentSpec};

/// A deploy as stored, decoded once when read: its step and settings are typed, so a row
/// the engine cannot read is an error naming the run, never a silent default.
#[derive(Debug, Clone)]
pub struct DeployRow {
    pub run_id: i64,
    pub position: i64,
    pub environment: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub settings: DeploySettings,
    pub image: String,
    pub step: DeployStep,
    pub previous_task_definition: Option<String>,
    pub task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub deadline_at: Option<i64>,
    pub register_attempted_at: Option<i64>,
    pub desired_count: Option<i64>,
    pub running_count: Option<i64>,
    pub pending_count: Option<i64>,
    pub failed_tasks: Option<i64>,
    pub service_arn: Option<String>,
    pub events: String,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A deploy row as the database has it (step and settings as text).
#[derive(Debug, sqlx::FromRow)]
struct DeployRecord {
    run_id: i64,
    position: i64,
    environment: String,
    region: String,
    cluster: String,
    service: String,
    container: String,
    settings: String,
    image: String,
    step: String,
    previous_task_definition: Option<String>,
    task_definition: Option<String>,
    deployment_id: Option<String>,
    deadline_at: Option<i64>,
    register_attempted_at: Option<i64>,
    desired_count: Option<i64>,
    running_count: Option<i64>,
    pending_count: Option<i64>,
    failed_tasks: Option<i64>,
    service_arn: Option<String>,
    events: String,
    outcome: Option<String>,
    error: Option<String>,
    queued_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl TryFrom<DeployRecord> for DeployRow {
    type Error = StoreError;
    fn try_from(r: DeployRecord) -> StoreResult<DeployRow> {
        let corrupt = |what: String| {
            StoreError::Corrupt(format!(
                "run {} deploy to `{}`: {what}",
                r.run_id, r.environment
            ))
        };
        let step = r
            .step
            .parse::<DeployStep>()
            .map_err(|e| corrupt(e.to_string()))?;
        let settings = serde_json::from_str(&r.settings)
            .map_err(|e| corrupt(format!("unreadable settings `{}`: {e}", r.settings)))?;
        Ok(DeployRow {
            run_id: r.run_id,
            position: r.position,
            environment: r.environment,
            region: r.region,
            cluster: r.cluster,
            service: r.service,
            container: r.container,
            settings,
            image: r.image,
            step,
            previous_task_definition: r.previous_task_definition,
            task_definition: r.task_definition,
            deployment_id: r.deployment_id,
            deadline_at: r.deadline_at,
            register_attempted_at: r.register_attempted_at,
            desired_count: r.desired_count,
            running_count: r.running_count,
            pending_count: r.pending_count,
            failed_tasks: r.failed_tasks,
            service_arn: r.service_arn,
            events: r.events,
            outcome: r.outcome,
            error: r.error,
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
    }
}

impl DeployRow {
    /// A deploy of `image` to `target` (environment `position` of the run), not started yet.
    /// The target and its settings are copied, so later edits to the pipeline leave it be.
    pub fn queued(
        run_id: i64,
        position: i64,
        target: &EnvironmentSpec,
        image: String,
        queued_at: i64,
    ) -> DeployRow {
        DeployRow {
            run_id,
            position,
            environment: target.name.clone(),
            region: target.region.clone(),
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            container: target.container.clone(),
            settings: target.deploy.clone(),
            image,
            step: DeployStep::Queued,
            previous_task_definition: None,
            task_definition: None,
            deployment_id: None,
            deadline_at: None,
            register_attempted_at: None,
            desired_count: None,
            running_count: None,
            pending_count: None,
            failed_tasks: None,
            service_arn: None,
            events: "[]".into(),
            outcome: None,
            error: None,
            queued_at,
            started_at: None,
            finished_at: None,
        }
    }

    /// The settings as stored: the JSON [`DeployRow::queued`] has always written.
    pub(crate) fn settings_text(&self) -> String {
        serde_json::to_string(&self.settings).unwrap_or_else(|_| "{}".into())
    }
}

impl From<DeployRow> for DeployInfo {
    fn from(d: DeployRow) -> Self {
        DeployInfo {
            position: d.position,
            environment: d.environment,
            region: d.region,
            cluster: d.cluster,
            service: d.service,
            container: d.container,
            image: d.image,
            step: d.step.as_str().to_owned(),
            previous_task_definition: d.previous_task_definition,
            task_definition: d.task_definition,
            deployment_id: d.deployment_id,
            desired: d.desired_count,
            running: d.running_count,
            pending: d.pending_count,
            failed: d.failed_tasks,
            events: serde_json::from_str(&d.events).unwrap_or_default(),
            outcome: d.outcome,
            error: d.error,
            queued_at: d.queued_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
        }
    }
}

/// What a step of the engine records on the deploy as it moves it (see [`Store::advance_deploy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployChange {
    /// The revision live before this deploy, to restore on a rollback.
    PreviousTaskDefinition(String),
    /// The revision this deploy puts on the service.
    TaskDefinition(String),
    /// A registration is about to be sent (at this time).
    RegisterAttempted(i64),
    /// The ECS deployment that UpdateService started.
    DeploymentId(String),
}

const DEPLOY_COLUMNS: &str = "run_id, position, environment, region, cluster, service, container, settings, image, step, \
    previous_task_definition, task_definition, deployment_id, deadline_at, register_attempted_at, desired_count, running_count, pending_count, failed_tasks, \
    service_arn, events, outcome, error, queued_at, started_at, finished_at";

impl Store {
    pub async fn get_deploys(&self, run_id: i64) -> StoreResult<Vec<DeployRow>> {
        let rows: Vec<DeployRecord> = on_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {DEPLOY_COLUMNS} FROM deploys WHERE run_id = $1 ORDER BY position"
            ))
            .bind(run_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(DeployRow::try_from).collect()
    }

    /// Queues a run's deploy to one environment, with the target and settings as they are
    /// now: a pipeline edited later does not change a deploy already under way.
    pub async fn queue_deploy(&self, row: &DeployRow) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO deploys (run_id, position, environment, region, cluster, service, container, settings, image, step, queued_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (run_id, position) DO NOTHING",
            )
            .bind(row.run_id)
            .bind(row.position)
            .bind(row.environment.clone())
            .bind(row.region.clone())
            .bind(row.cluster.clone())
            .bind(row.service.clone())
            .bind(row.container.clone())
            .bind(row.settings_text())
            .bind(row.image.clone())
            .bind(DeployStep::Queued.as_str())
            .bind(row.queued_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes the ECS service for this deploy, unless another deploy holds it or an older
    /// queued deploy of the same service is waiting (deploys go out in the order queued).
    pub async fn take_service(&self, d: &DeployRow) -> StoreResult<bool> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let older: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM deploys WHERE region = $1 AND cluster = $2 AND service = $3 AND step = $4
                   AND (queued_at < $5 OR (queued_at = $5 AND run_id < $6))",
            )
            .bind(d.region.clone())
            .bind(d.cluster.clone())
            .bind(d.service.clone())
            .bind(DeployStep::Queued.as_str())
            .bind(d.queued_at)
            .bind(d.run_id)
            .fetch_one(&mut *tx)
            .await?;
            if older.0 > 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO service_locks (region, cluster, service, run_id, position, taken_at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (region, cluster, service) DO NOTHING",
            )
            .bind(d.region.clone())
            .bind(d.cluster.clone())
            .bind(d.service.clone())
            .bind(d.run_id)
            .bind(d.position)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let holder: Option<(i64, i64)> =
                sqlx::query_as("SELECT run_id, position FROM service_locks WHERE region = $1 AND cluster = $2 AND service = $3")
                    .bind(d.region.clone())
                    .bind(d.cluster.clone())
                    .bind(d.service.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(holder == Some((d.run_id, d.position)))
        })
    }

    /// Which run holds a service, for the "waiting for" message.
    pub async fn service_holder(&self, d: &DeployRow) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT run_id FROM service_locks WHERE region = $1 AND cluster = $2 AND service = $3")
                .bind(d.region.clone())
                .bind(d.cluster.clone())
                .bind(d.service.clone())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|r| r.0))
    }

    /// Moves a deploy from one step to the next, recording `change`, but only from the step
    /// expected: a second process that read the same row cannot also move it.
    pub(crate) async fn advance_deploy(
        &self,
        d: &DeployRow,
        from: DeployStep,
        to: DeployStep,
        change: DeployChange,
    ) -> StoreResult<bool> {
        let (column, value) = match change {
            DeployChange::PreviousTaskDefinition(td) => ("previous_task_definition", Arg::Text(td)),
            DeployChange::TaskDefinition(td) => ("task_definition", Arg::Text(td)),
            DeployChange::RegisterAttempted(at) => ("register_attempted_at", Arg::Int(at)),
            DeployChange::DeploymentId(id) => ("deployment_id", Arg::Text(id)),
        };
        let sql = format!(
            "UPDATE deploys SET step = $1, {column} = $2 WHERE run_id = $3 AND position = $4 AND step = $5"
        );
        let args = [
            Arg::Text(to.as_str().to_owned()),
            value,
            Arg::Int(d.run_id),
            Arg::Int(d.position),
            Arg::Text(from.as_str().to_owned()),
        ];
        let done = on_pool!(self, |pool| bind_all!(sqlx::query(&sql), &args)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done == 1)
    }

    /// Stores what the latest look at the service showed.
    pub async fn record_rollout(
        &self,
        d: &DeployRow,
        view: &ServiceView,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let ours = d
            .deployment_id
            .as_deref()
            .and_then(|id| view.deployments.iter().find(|x| x.id == id));
        let counts = |f: fn(&shipgate_pipeline::rollout::DeploymentView) -> i32| {
            ours.map(|o| i64::from(f(o)))
        };
        let events = serde_json::to_string(&view.events).unwrap_or_else(|_| "[]".into());
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE deploys SET desired_count = $1, running_count = $2, pending_count = $3, failed_tasks = $4, events = $5, error = $6, service_arn = $7
                 WHERE run_id = $8 AND position = $9",
            )
            .bind(counts(|o| o.desired).or(Some(i64::from(view.desired))))
            .bind(counts(|o| o.running).or(Some(i64::from(view.running))))
            .bind(counts(|o| o.pending).or(Some(i64::from(view.pending))))
            .bind(counts(|o| o.failed))
            .bind(events)
            .bind(error.map(str::to_owned))
            .bind(view.arn.clone())
            .bind(d.run_id)
            .bind(d.position)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn note_deploy_error(&self, d: &DeployRow, error: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE deploys SET error = $1 WHERE run_id = $2 AND position = $3")
                .bind(error.to_owned())
                .bind(d.run_id)
                .bind(d.position)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Cleans up after a run that ended some other way (cancelled, or a crash between the
    /// run's end and the deploy's): the deploy is closed and its service freed.
    pub async fn close_deploy(&self, d: &DeployRow, outcome: &str) -> StoreResult<()> {
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE deploys SET step = $1, outcome = COALESCE(outcome, $2), finished_at = COALESCE(finished_at, $3) WHERE run_id = $4 AND position = $5")
                .bind(DeployStep::Done.as_str())
                .bind(outcome.to_owned())
                .bind(now)
                .bind(d.run_id)
                .bind(d.position)
                .execute(&mut *conn)
                .await?;
        });
        release_lock(&mut tx, d).await?;
        tx.commit().await
    }
}

/// Starts a queued deploy (in the transaction of its stage's start): it leaves the queue
/// and its deadline runs from `now`.
pub(crate) async fn start(
    tx: &mut Tx,
    d: &DeployRow,
    now: i64,
    deadline_at: i64,
) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE deploys SET step = $1, started_at = $2, deadline_at = $3 WHERE run_id = $4 AND position = $5 AND step = $6")
            .bind(DeployStep::Registering.as_str())
            .bind(now)
            .bind(deadline_at)
            .bind(d.run_id)
            .bind(d.position)
            .bind(DeployStep::Queued.as_str())
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Ends a deploy with its outcome (in the transaction of the run's transition).
pub(crate) async fn finish(
    tx: &mut Tx,
    d: &DeployRow,
    outcome: &str,
    error: Option<&str>,
    now: i64,
) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE deploys SET step = $1, outcome = $2, error = $3, finished_at = $4 WHERE run_id = $5 AND position = $6")
            .bind(DeployStep::Done.as_str())
            .bind(outcome)
            .bind(error)
            .bind(now)
            .bind(d.run_id)
            .bind(d.position)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Frees the service a deploy holds (nothing if it holds none).
pub(crate) async fn release_lock(tx: &mut Tx, d: &DeployRow) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query("DELETE FROM service_locks WHERE region = $1 AND cluster = $2 AND service = $3 AND run_id = $4 AND position = $5")
            .bind(d.region.as_str())
            .bind(d.cluster.as_str())
            .bind(d.service.as_str())
            .bind(d.run_id)
            .bind(d.position)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Closes a run's deploys still queued, as `outcome`, and frees every service lock the run
/// holds: for a run that ends while none of its deploys is under way.
pub(crate) async fn abandon_queued(
    tx: &mut Tx,
    run_id: i64,
    outcome: &str,
    now: i64,
) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query("UPDATE deploys SET step = $1, outcome = $2, finished_at = $3 WHERE run_id = $4 AND step = $5")
            .bind(DeployStep::Done.as_str())
            .bind(outcome)
            .bind(now)
            .bind(run_id)
            .bind(DeployStep::Queued.as_str())
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM service_locks WHERE run_id = $1")
            .bind(run_id)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}
