//! What the deploy engine keeps: leases on runs, build and deploy progress, service locks,
//! CI reports and gate decisions. Every AWS call the engine makes is bracketed by writes
//! here (the step it is about to take, then what came back), which is what lets a restarted
//! process pick up exactly where a killed one stopped.

use super::{BeginWrite, Arg, Stmt, Store, StoreError, StoreResult, now_ms, on_pool};
use shipgate_pipeline::read::{BuildInfo, DeployInfo, GateDecision};
use shipgate_pipeline::rollout::ServiceView;
use shipgate_pipeline::{EnvironmentSpec, RunEvent, RunState};

/// A run's wake time when nothing but a person or a webhook can move it.
pub const ASLEEP: i64 = i64::MAX / 2;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BuildRow {
    pub run_id: i64,
    pub image_tag: String,
    pub deadline_at: i64,
    pub checks: i64,
    pub ci_name: Option<String>,
    pub ci_status: Option<String>,
    pub ci_conclusion: Option<String>,
    pub ci_url: Option<String>,
    pub image_uri: Option<String>,
    pub image_digest: Option<String>,
    pub image_size: Option<i64>,
    pub image_pushed_at: Option<i64>,
    pub scan_deadline_at: Option<i64>,
    pub scan_status: Option<String>,
    pub scan_counts: Option<String>,
    pub last_error: Option<String>,
}

impl From<BuildRow> for BuildInfo {
    fn from(b: BuildRow) -> Self {
        BuildInfo {
            image_tag: b.image_tag,
            deadline_at: b.deadline_at,
            ci_name: b.ci_name,
            ci_status: b.ci_status,
            ci_conclusion: b.ci_conclusion,
            ci_url: b.ci_url,
            image_uri: b.image_uri,
            image_digest: b.image_digest,
            image_size: b.image_size,
            image_pushed_at: b.image_pushed_at,
            scan_status: b.scan_status,
            scan_counts: b.scan_counts.and_then(|c| serde_json::from_str(&c).ok()),
            last_error: b.last_error,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeployRow {
    pub run_id: i64,
    pub position: i64,
    pub environment: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    pub settings: String,
    pub image: String,
    pub step: String,
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

impl DeployRow {
    /// A deploy of `image` to `target` (environment `position` of the run), not started yet.
    /// The target and its settings are copied, so later edits to the pipeline leave it be.
    pub fn queued(run_id: i64, position: i64, target: &EnvironmentSpec, image: String, queued_at: i64) -> DeployRow {
        DeployRow {
            run_id,
            position,
            environment: target.name.clone(),
            region: target.region.clone(),
            cluster: target.cluster.clone(),
            service: target.service.clone(),
            container: target.container.clone(),
            settings: serde_json::to_string(&target.deploy).unwrap_or_else(|_| "{}".into()),
            image,
            step: step::QUEUED.into(),
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
            step: d.step,
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

/// The steps of a deploy, in order. Each is stored before the AWS call it names.
pub mod step {
    pub const QUEUED: &str = "queued";
    pub const REGISTERING: &str = "registering";
    pub const UPDATING: &str = "updating";
    pub const FOLLOWING: &str = "following";
    pub const DONE: &str = "done";
}

/// A CI result for a commit, as a webhook reported it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CiReport {
    pub id: i64,
    pub repository_key: String,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct DecisionRow {
    environment: String,
    decision: String,
    actor: String,
    person: Option<String>,
    comment: String,
    image_digest: Option<String>,
    at: i64,
}

const BUILD_COLUMNS: &str = "run_id, image_tag, deadline_at, checks, ci_name, ci_status, ci_conclusion, ci_url, image_uri, image_digest, \
    image_size, image_pushed_at, scan_deadline_at, scan_status, scan_counts, last_error";
const DEPLOY_COLUMNS: &str = "run_id, position, environment, region, cluster, service, container, settings, image, step, \
    previous_task_definition, task_definition, deployment_id, deadline_at, register_attempted_at, desired_count, running_count, pending_count, failed_tasks, \
    service_arn, events, outcome, error, queued_at, started_at, finished_at";

impl Store {
    /// Runs the engine should look at now, oldest wake first.
    pub async fn due_runs(&self, now: i64, limit: i64) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id FROM runs WHERE status IN ('running', 'awaiting_approval') AND wake_at <= $1 AND lease_until < $1
                 ORDER BY wake_at, id LIMIT $2",
            )
                .bind(now)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The earliest time any live run wants the engine, so it can sleep until then. (A run
    /// at a gate wants it when the gate expires.)
    pub async fn next_wake(&self) -> StoreResult<Option<i64>> {
        let row: (Option<i64>,) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT MIN(wake_at) FROM runs WHERE status IN ('running', 'awaiting_approval')").fetch_one(pool).await?
        });
        Ok(row.0)
    }

    /// Takes (or renews) `owner`'s lease on a run. Only one process holds a run at a time;
    /// a lease that runs out (its holder died) can be taken by anyone.
    pub async fn claim_run(&self, id: i64, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = now_ms();
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE runs SET lease_owner = $1, lease_until = $2
                 WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
            )
            .bind(owner.to_owned())
            .bind(now + ttl_ms)
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives a run back, asking to be woken at `wake_at` (unless something woke it since).
    pub async fn release_run(&self, id: i64, owner: &str, wake_at: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE runs SET lease_owner = NULL, lease_until = 0,
                     wake_at = CASE WHEN wake_at = 0 THEN 0 ELSE $1 END
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(wake_at)
            .bind(id)
            .bind(owner.to_owned())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks a run as worth looking at now (and clears the flag the engine reads on release).
    pub async fn wake_run(&self, id: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE runs SET wake_at = 0 WHERE id = $1").bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Clears the wake flag before the engine looks, so a wake during the look is not lost.
    pub async fn begin_look(&self, id: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE runs SET wake_at = 1 WHERE id = $1 AND wake_at = 0").bind(id).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn get_build(&self, run_id: i64) -> StoreResult<Option<BuildRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(&format!("SELECT {BUILD_COLUMNS} FROM builds WHERE run_id = $1")).bind(run_id).fetch_optional(pool).await?
        }))
    }

    /// Starts tracking a run's build (once; a second call keeps the first).
    pub async fn start_build(&self, run_id: i64, image_tag: &str, deadline_at: i64) -> StoreResult<BuildRow> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO builds (run_id, image_tag, deadline_at) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING")
                .bind(run_id)
                .bind(image_tag.to_owned())
                .bind(deadline_at)
                .execute(pool)
                .await?;
        });
        self.get_build(run_id).await?.ok_or(StoreError::RunNotFound(run_id))
    }

    pub async fn note_build_check(&self, run_id: i64, error: Option<&str>) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE builds SET checks = checks + 1, last_error = $1 WHERE run_id = $2")
                .bind(error.map(str::to_owned))
                .bind(run_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn record_image(&self, run_id: i64, uri: &str, digest: &str, size: Option<i64>, pushed_at: Option<i64>, scan_deadline: Option<i64>) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE builds SET image_uri = $1, image_digest = $2, image_size = $3, image_pushed_at = $4, scan_deadline_at = $5, last_error = NULL
                 WHERE run_id = $6",
            )
            .bind(uri.to_owned())
            .bind(digest.to_owned())
            .bind(size)
            .bind(pushed_at)
            .bind(scan_deadline)
            .bind(run_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn record_scan(&self, run_id: i64, status: &str, counts: Option<&str>) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE builds SET scan_status = $1, scan_counts = $2 WHERE run_id = $3")
                .bind(status.to_owned())
                .bind(counts.map(str::to_owned))
                .bind(run_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn record_ci(&self, run_id: i64, report: &CiReport) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE builds SET ci_name = $1, ci_status = $2, ci_conclusion = $3, ci_url = $4 WHERE run_id = $5")
                .bind(report.name.clone())
                .bind(report.status.clone())
                .bind(report.conclusion.clone())
                .bind(report.url.clone())
                .bind(run_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn get_deploys(&self, run_id: i64) -> StoreResult<Vec<DeployRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(&format!("SELECT {DEPLOY_COLUMNS} FROM deploys WHERE run_id = $1 ORDER BY position"))
                .bind(run_id)
                .fetch_all(pool)
                .await?
        }))
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
            .bind(row.settings.clone())
            .bind(row.image.clone())
            .bind(step::QUEUED)
            .bind(row.queued_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes the ECS service for this deploy, unless another deploy holds it or an older
    /// queued deploy of the same service is waiting (deploys go out in the order queued).
    pub async fn take_service(&self, d: &DeployRow) -> StoreResult<bool> {
        let now = now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let older: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM deploys WHERE region = $1 AND cluster = $2 AND service = $3 AND step = $4
                   AND (queued_at < $5 OR (queued_at = $5 AND run_id < $6))",
            )
            .bind(d.region.clone())
            .bind(d.cluster.clone())
            .bind(d.service.clone())
            .bind(step::QUEUED)
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

    /// Moves a deploy from one step to the next, but only from the step expected: a second
    /// process that read the same row cannot also move it.
    pub(crate) async fn advance_deploy(&self, d: &DeployRow, from: &str, to: &str, set: &[(&str, Arg)]) -> StoreResult<bool> {
        let mut sql = String::from("UPDATE deploys SET step = $1");
        let mut args = vec![Arg::Text(to.to_owned())];
        for (column, value) in set {
            args.push(value.clone());
            sql.push_str(&format!(", {column} = ${}", args.len()));
        }
        args.push(Arg::Int(d.run_id));
        args.push(Arg::Int(d.position));
        args.push(Arg::Text(from.to_owned()));
        let n = args.len();
        sql.push_str(&format!(" WHERE run_id = ${} AND position = ${} AND step = ${}", n - 2, n - 1, n));
        let done = on_pool!(self, |pool| super::bind_all!(sqlx::query(&sql), &args).execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Stores what the latest look at the service showed.
    pub async fn record_rollout(&self, d: &DeployRow, view: &ServiceView, error: Option<&str>) -> StoreResult<()> {
        let ours = d.deployment_id.as_deref().and_then(|id| view.deployments.iter().find(|x| x.id == id));
        let counts = |f: fn(&shipgate_pipeline::rollout::DeploymentView) -> i32| ours.map(|o| i64::from(f(o)));
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

    /// Ends a deploy: the run's transition, the deploy's outcome and the service lock's
    /// release commit together.
    /// With `undo`, the rollback run that undoes the deploy is written in the same transaction.
    pub async fn finish_deploy(&self, d: &DeployRow, event: RunEvent, outcome: &str, detail: &str, error: Option<&str>, undo: Option<&super::rollback::RollbackPlan>) -> StoreResult<RunState> {
        let now = now_ms();
        let mut also = vec![
            Stmt::new(
                "UPDATE deploys SET step = $1, outcome = $2, error = $3, finished_at = $4 WHERE run_id = $5 AND position = $6",
                vec![
                    Arg::Text(step::DONE.into()),
                    Arg::Text(outcome.into()),
                    Arg::MaybeText(error.map(str::to_owned)),
                    Arg::Int(now),
                    Arg::Int(d.run_id),
                    Arg::Int(d.position),
                ],
            ),
            release_lock(d),
        ];
        also.extend(undo.iter().flat_map(|plan| plan.statements()));
        self.apply_event_with(d.run_id, event, Some(detail), &also).await
    }

    /// Cleans up after a run that ended some other way (cancelled, or a crash between the
    /// run's end and the deploy's): the deploy is closed and its service freed.
    pub async fn close_deploy(&self, d: &DeployRow, outcome: &str) -> StoreResult<()> {
        let now = now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE deploys SET step = $1, outcome = COALESCE(outcome, $2), finished_at = COALESCE(finished_at, $3) WHERE run_id = $4 AND position = $5")
                .bind(step::DONE)
                .bind(outcome.to_owned())
                .bind(now)
                .bind(d.run_id)
                .bind(d.position)
                .execute(&mut *tx)
                .await?;
            let lock = release_lock(d);
            super::bind_all!(sqlx::query(&lock.sql), &lock.args).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// CI reports not yet applied to their runs, oldest first.
    pub async fn unapplied_ci_reports(&self, limit: i64) -> StoreResult<Vec<CiReport>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, repository_key, head_sha, name, status, conclusion, url FROM ci_reports WHERE applied_at IS NULL ORDER BY id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn mark_ci_applied(&self, id: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE ci_reports SET applied_at = $1 WHERE id = $2").bind(now_ms()).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Live runs of `commit` in the repository (lowercase `owner/name`), with their pipeline.
    pub async fn live_runs_for_commit(&self, repository_key: &str, sha: &str) -> StoreResult<Vec<(i64, String)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, pipeline_name FROM runs WHERE commit_sha = $1 AND LOWER(repository) = $2 AND status IN ('running', 'awaiting_approval')",
            )
            .bind(sha.to_owned())
            .bind(repository_key.to_owned())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Writes a stage's detail without changing its status: what a waiting stage waits for.
    pub async fn note_stage(&self, run_id: i64, position: i64, detail: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE stage_runs SET detail = $1 WHERE run_id = $2 AND position = $3").bind(detail).bind(run_id).bind(position).execute(pool).await?;
        });
        Ok(())
    }

    /// The named signing key, made (32 random bytes) the first time any replica asks.
    pub async fn signing_key(&self, name: &str) -> StoreResult<Vec<u8>> {
        let select = "SELECT secret FROM signing_keys WHERE name = $1";
        // Read first: the key exists after its first use, and reading takes no write lock.
        let found: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(select).bind(name).fetch_optional(pool).await?);
        let secret = match found {
            Some((secret,)) => secret,
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| StoreError::Corrupt(format!("no randomness for a signing key: {e}")))?;
                // Two replicas may race to make it: the first insert wins and both read it back.
                let (secret,): (String,) = on_pool!(self, |pool| {
                    sqlx::query("INSERT INTO signing_keys (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                        .bind(name)
                        .bind(hex::encode(fresh))
                        .bind(now_ms())
                        .execute(pool)
                        .await?;
                    sqlx::query_as(select).bind(name).fetch_one(pool).await?
                });
                secret
            }
        };
        hex::decode(secret).map_err(|e| StoreError::Corrupt(format!("signing key `{name}`: {e}")))
    }

    /// The other runs of `pipeline` waiting at the gate of `environment`.
    pub async fn waiting_at_gate(&self, pipeline: &str, environment: &str) -> StoreResult<Vec<i64>> {
        let rows: Vec<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.id FROM runs r JOIN stage_runs s ON s.run_id = r.id
                 WHERE r.pipeline_name = $1 AND r.status = 'awaiting_approval'
                   AND s.kind = 'deploy' AND s.environment = $2 AND s.status = 'awaiting_approval'
                 ORDER BY r.id",
            )
            .bind(pipeline)
            .bind(environment)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub(crate) async fn engine_details(&self, run_id: i64) -> StoreResult<(Option<BuildInfo>, Vec<DeployInfo>, Vec<GateDecision>)> {
        let build = self.get_build(run_id).await?.map(BuildInfo::from);
        let deploys = self.get_deploys(run_id).await?.into_iter().map(DeployInfo::from).collect();
        let decisions: Vec<DecisionRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT environment, decision, actor, person, comment, image_digest, at FROM gate_decisions WHERE run_id = $1 ORDER BY id")
                .bind(run_id)
                .fetch_all(pool)
                .await?
        });
        let decisions = decisions
            .into_iter()
            .map(|d| GateDecision { environment: d.environment, decision: d.decision, actor: d.actor, person: d.person, comment: d.comment, image_digest: d.image_digest, at: d.at })
            .collect();
        Ok((build, deploys, decisions))
    }
}

fn release_lock(d: &DeployRow) -> Stmt {
    Stmt::new(
        "DELETE FROM service_locks WHERE region = $1 AND cluster = $2 AND service = $3 AND run_id = $4 AND position = $5",
        vec![Arg::Text(d.region.clone()), Arg::Text(d.cluster.clone()), Arg::Text(d.service.clone()), Arg::Int(d.run_id), Arg::Int(d.position)],
    )
}
