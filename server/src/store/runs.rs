//! Runs and their stages: the lists the dashboard pages through, and the one write path
//! the engine uses to move a run, which goes through the pure state machine.

use super::deliveries::{group_tracking, initial_stages, placeholders};
use super::{
    Arg, AuditEntry, BeginWrite, BoxedWrite, Store, StoreError, StoreResult, Tx, append_audit,
    audit, bind_all, deploys, nothing_else, on_pool, on_tx, parse_text,
};
use futures::FutureExt;
use shipgate_pipeline::freeze::active_freeze;
use shipgate_pipeline::notice::happenings;
use shipgate_pipeline::read::{
    BuildInfo, Commit, DEFAULT_PAGE, GateDecision, GateStatus, MAX_PAGE, Page, PendingGate,
    PushedCommit, RunDetail, RunFilter, RunRecovered, RunSummary, StageRecord, gate_opened_at,
};
use shipgate_pipeline::{
    DeployState, Promotion, RunEvent, RunState, RunStatus, StageKind, StageStatus, transition,
};

pub use shipgate_pipeline::run_rules::Refusal;
use shipgate_pipeline::run_rules::{may_cancel, may_retry};

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    pipeline_name: String,
    delivery_id: String,
    status: String,
    kind: String,
    repository: String,
    branch: String,
    commit_sha: String,
    commit_message: String,
    commit_author: String,
    pusher: String,
    compare_url: String,
    commit_url: String,
    commit_timestamp: String,
    created_at: i64,
    updated_at: i64,
    recovered_by: Option<String>,
    recovered_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    #[sqlx(flatten)]
    run: RunRow,
    environment: Option<String>,
    waiting_since: i64,
}

const RUN_COLUMNS: &str = "id, pipeline_name, delivery_id, status, kind, repository, branch, commit_sha, commit_message, commit_author, \
                           pusher, compare_url, commit_url, commit_timestamp, created_at, updated_at, recovered_by, recovered_at";

impl TryFrom<RunRow> for RunSummary {
    type Error = StoreError;
    fn try_from(r: RunRow) -> StoreResult<RunSummary> {
        Ok(RunSummary {
            id: r.id,
            status: parse_text("run status", &r.status)?,
            kind: parse_text("run kind", &r.kind)?,
            pipeline: r.pipeline_name,
            repository: r.repository,
            branch: r.branch,
            commit: Commit {
                sha: r.commit_sha,
                message: r.commit_message,
                author: r.commit_author,
                pusher: r.pusher,
                compare_url: r.compare_url,
                url: r.commit_url,
                timestamp: r.commit_timestamp,
            },
            delivery_id: r.delivery_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            recovered: match r.recovered_by {
                Some(by) => Some(RunRecovered {
                    by: parse_text("recovery", &by)?,
                    at: r.recovered_at.unwrap_or(r.created_at),
                }),
                None => None,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct StageRow {
    position: i64,
    kind: String,
    environment: Option<String>,
    promotion: Option<String>,
    status: String,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    detail: String,
}

impl TryFrom<StageRow> for StageRecord {
    type Error = StoreError;
    fn try_from(s: StageRow) -> StoreResult<StageRecord> {
        Ok(StageRecord {
            position: s.position,
            kind: parse_text("stage kind", &s.kind)?,
            promotion: match s.promotion {
                Some(p) => Some(
                    Promotion::parse(&p)
                        .ok_or_else(|| StoreError::Corrupt(format!("promotion `{p}`")))?,
                ),
                None => None,
            },
            environment: s.environment,
            status: parse_text("stage status", &s.status)?,
            started_at: s.started_at,
            finished_at: s.finished_at,
            detail: s.detail,
        })
    }
}

/// Rebuilds the state machine's view of a run from its stage rows.
pub(crate) fn state_of(status: &str, stages: &[StageRecord]) -> StoreResult<RunState> {
    let build = stages
        .iter()
        .find(|s| s.kind == StageKind::Build)
        .ok_or_else(|| StoreError::Corrupt("run without a build stage".into()))?;
    Ok(RunState {
        status: parse_text("run status", status)?,
        build: build.status,
        deploys: stages
            .iter()
            .filter(|s| s.kind == StageKind::Deploy)
            .map(|s| DeployState {
                promotion: s.promotion.unwrap_or(Promotion::Manual),
                status: s.status,
            })
            .collect(),
    })
}

impl Store {
    /// Runs newest first, keyset-paginated on the id so that every page costs the same,
    /// however deep. Only the filters given appear in the SQL, so the matching index is used.
    pub async fn list_runs(&self, filter: &RunFilter) -> StoreResult<Page<RunSummary>> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(p) = &filter.pipeline {
            args.push(Arg::Text(p.clone()));
            conditions.push(format!("pipeline_name = ${}", args.len()));
        }
        if let Some(s) = filter.status {
            args.push(Arg::Text(s.as_str().to_owned()));
            conditions.push(format!("status = ${}", args.len()));
        }
        if let Some(before) = filter.before {
            args.push(Arg::Int(before));
            conditions.push(format!("id < ${}", args.len()));
        }
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut rows: Vec<RunRow> = on_pool!(self, |pool| bind_all!(sqlx::query_as(&sql), &args)
            .fetch_all(pool)
            .await?);
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        Ok(Page {
            items: rows
                .into_iter()
                .map(RunSummary::try_from)
                .collect::<StoreResult<_>>()?,
            next,
        })
    }

    pub async fn get_run(&self, id: i64) -> StoreResult<Option<RunDetail>> {
        let Some((run, stages)) = self.run_and_stages(id).await? else {
            return Ok(None);
        };
        let (build, deploys, decisions) = self.engine_details(id).await?;
        let gate = if run.status == RunStatus::AwaitingApproval {
            self.gate_status(&run, &stages, &decisions, build.as_ref())
                .await?
        } else {
            None
        };
        let messages = self.run_messages(id).await?;
        let briefs = self.run_briefs(id).await?;
        let commits = self.run_commits(id).await?;
        Ok(Some(RunDetail {
            run,
            stages,
            commits,
            build,
            deploys,
            decisions,
            gate,
            messages,
            briefs,
        }))
    }

    /// The commits a run ships, oldest first.
    async fn run_commits(&self, id: i64) -> StoreResult<Vec<PushedCommit>> {
        let json: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT commits FROM runs WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await?);
        json.map_or(Ok(Vec::new()), |(json,)| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError::Corrupt(format!("commits of run {id}: {e}")))
        })
    }

    /// Every run waiting at a gate, longest-waiting first. (At most one gate per run waits.)
    pub async fn pending_gates(&self) -> StoreResult<Vec<PendingGate>> {
        let sql = format!(
            "SELECT {columns}, s.environment, COALESCE(b.finished_at, r.created_at) AS waiting_since
             FROM runs r
             JOIN stage_runs s ON s.run_id = r.id AND s.kind = 'deploy' AND s.status = 'awaiting_approval'
             LEFT JOIN stage_runs b ON b.run_id = r.id AND b.position = s.position - 1
             WHERE r.status = 'awaiting_approval'
             ORDER BY COALESCE(b.finished_at, r.created_at), r.id",
            columns = RUN_COLUMNS.split(", ").map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ")
        );
        let rows: Vec<PendingRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await?);
        rows.into_iter()
            .map(|row| {
                Ok(PendingGate {
                    run: RunSummary::try_from(row.run)?,
                    environment: row.environment.unwrap_or_default(),
                    waiting_since: row.waiting_since,
                })
            })
            .collect()
    }

    /// Where a waiting gate stands: approvals so far against the environment's policy as it
    /// is now, when it expires, and whether a freeze is on.
    async fn gate_status(
        &self,
        run: &RunSummary,
        stages: &[StageRecord],
        decisions: &[GateDecision],
        build: Option<&BuildInfo>,
    ) -> StoreResult<Option<GateStatus>> {
        let deploys: Vec<&StageRecord> = stages
            .iter()
            .filter(|s| s.kind == StageKind::Deploy)
            .collect();
        let Some(position) = deploys
            .iter()
            .position(|s| s.status == StageStatus::AwaitingApproval)
        else {
            return Ok(None);
        };
        let Some(pipeline) = self.get_pipeline(&run.pipeline).await? else {
            return Ok(None);
        };
        let Some(environment) = pipeline.spec.environments.get(position) else {
            return Ok(None);
        };
        let digest = build.and_then(|b| b.image_digest.as_deref());
        let policy = &environment.deploy.approval;
        Ok(Some(GateStatus {
            environment: environment.name.clone(),
            approved_by: decisions
                .iter()
                .filter(|d| {
                    d.environment == environment.name
                        && d.decision == "approved"
                        && d.image_digest.as_deref() == digest
                })
                .map(|d| d.who().to_owned())
                .collect(),
            required_approvals: policy.required_approvals,
            expires_at: policy.expires_at(gate_opened_at(stages, position, run.created_at)),
            allow_self_approval: policy.allow_self_approval,
            frozen: active_freeze(&environment.deploy.freeze, self.now_ms())
                .map(|f| (f.name, f.until)),
        }))
    }

    /// A run and its stages: all a state transition needs.
    pub(crate) async fn run_and_stages(
        &self,
        id: i64,
    ) -> StoreResult<Option<(RunSummary, Vec<StageRecord>)>> {
        let (run, stages): (Option<RunRow>, Vec<StageRow>) = on_pool!(self, |pool| {
            let run = sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            let stages = sqlx::query_as(
                "SELECT position, kind, environment, promotion, status, started_at, finished_at, detail
                 FROM stage_runs WHERE run_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            (run, stages)
        });
        let Some(run) = run else { return Ok(None) };
        Ok(Some((
            run.try_into()?,
            stages
                .into_iter()
                .map(StageRecord::try_from)
                .collect::<StoreResult<_>>()?,
        )))
    }

    /// Applies `event` to run `id` through the state machine and stores the result.
    /// Two writers racing on the same run cannot both succeed: the update is conditional
    /// on the version read, and the loser gets [`StoreError::RunChanged`].
    pub async fn apply_event(
        &self,
        id: i64,
        event: RunEvent,
        detail: Option<&str>,
    ) -> StoreResult<RunState> {
        self.apply_event_with(id, event, detail, nothing_else).await
    }

    /// [`Store::apply_event`], plus `also`: store functions that write in the transition's
    /// transaction, so they commit or fail together with it (a deploy row reaching its end, a
    /// service lock released, a gate decision). `also` gets the transaction and hands it back.
    pub(crate) async fn apply_event_with<'a>(
        &self,
        id: i64,
        event: RunEvent,
        detail: Option<&str>,
        also: impl FnOnce(Tx) -> BoxedWrite<'a> + Send,
    ) -> StoreResult<RunState> {
        self.apply_event_if(id, event, detail, also, |_, _| Ok(()), None)
            .await
    }

    /// [`Store::apply_event_with`], if `allow` accepts the run as it stands. `allow` sees the
    /// same state the transition is computed from, so a check made there cannot be
    /// outdated by a writer in between: that writer bumps the version, and this write fails.
    /// With `expected_version`, the run must still be at that version (the caller's checks
    /// were made against it).
    pub(crate) async fn apply_event_if<'a>(
        &self,
        id: i64,
        event: RunEvent,
        detail: Option<&str>,
        also: impl FnOnce(Tx) -> BoxedWrite<'a> + Send,
        allow: impl FnOnce(&RunState, &[StageRecord]) -> StoreResult<()> + Send,
        expected_version: Option<i64>,
    ) -> StoreResult<RunState> {
        // The version is read before the state: if the run moves in between, the conditional
        // update below fails rather than storing a transition computed from a newer state.
        let version: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT version FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let (version,) = version.ok_or(StoreError::RunNotFound(id))?;
        if expected_version.is_some_and(|expected| expected != version) {
            return Err(StoreError::RunChanged(id));
        }
        let (run, stages) = self
            .run_and_stages(id)
            .await?
            .ok_or(StoreError::RunNotFound(id))?;
        let before = state_of(run.status.as_str(), &stages)?;
        allow(&before, &stages)?;
        let after = transition(&before, event)?;
        let now = self.now_ms();
        // Stage rows in the order the state machine models them: build, then each deploy.
        let modelled: Vec<(i64, StageStatus, StageStatus)> = {
            let build = stages
                .iter()
                .find(|s| s.kind == StageKind::Build)
                .map(|s| s.position);
            let deploys = stages
                .iter()
                .filter(|s| s.kind == StageKind::Deploy)
                .map(|s| s.position);
            build
                .into_iter()
                .chain(deploys)
                .zip(
                    std::iter::once((before.build, after.build)).chain(
                        before
                            .deploys
                            .iter()
                            .zip(&after.deploys)
                            .map(|(b, a)| (b.status, a.status)),
                    ),
                )
                .map(|(pos, (b, a))| (pos, b, a))
                .collect()
        };
        let target = match event {
            RunEvent::BuildStarted | RunEvent::BuildSucceeded | RunEvent::BuildFailed => {
                modelled.first().map(|m| m.0)
            }
            RunEvent::DeployStarted(e)
            | RunEvent::DeploySucceeded(e)
            | RunEvent::DeployFailed(e)
            | RunEvent::DeployRolledBack(e)
            | RunEvent::Approved(e)
            | RunEvent::Rejected(e)
            | RunEvent::Superseded(e)
            | RunEvent::Expired(e) => modelled.get(e + 1).map(|m| m.0),
            // A cancellation's detail (who, and why) goes on the first stage it stopped.
            RunEvent::Cancelled => modelled
                .iter()
                .find(|(_, was, now)| was != now)
                .map(|m| m.0),
        };
        // What the change tells people (notifiers, GitHub), recorded with it.
        let told = happenings(&before, &after);
        let deploy_stages: Vec<&StageRecord> = stages
            .iter()
            .filter(|s| s.kind == StageKind::Deploy)
            .collect();
        let mut tx = self.begin_write().await?;
        on_tx!(&mut tx, |conn| {
            // A changed run is worth another look by the engine straight away (wake_at = 0).
            let updated = sqlx::query("UPDATE runs SET status = $1, version = version + 1, updated_at = $2, wake_at = 0 WHERE id = $3 AND version = $4")
                .bind(after.status.as_str())
                .bind(now)
                .bind(id)
                .bind(version)
                .execute(&mut *conn)
                .await?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::RunChanged(id));
            }
            for (position, was, now_status) in &modelled {
                if was == now_status {
                    continue;
                }
                let started = *now_status == StageStatus::Running;
                let detail = if Some(*position) == target {
                    detail.unwrap_or("")
                } else {
                    ""
                };
                let finished = now_status.is_terminal();
                sqlx::query(
                    "UPDATE stage_runs SET status = $1,
                        started_at = CASE WHEN $2 = 1 AND started_at IS NULL THEN $3 ELSE started_at END,
                        finished_at = CASE WHEN $4 = 1 THEN $3 ELSE finished_at END,
                        detail = CASE WHEN $5 = '' THEN detail ELSE $5 END
                     WHERE run_id = $6 AND position = $7",
                )
                .bind(now_status.as_str())
                .bind(i64::from(started))
                .bind(now)
                .bind(i64::from(finished))
                .bind(detail.to_owned())
                .bind(id)
                .bind(*position)
                .execute(&mut *conn)
                .await?;
            }
        });
        let mut tx = also(tx).await?;
        on_tx!(&mut tx, |conn| {
            for notice in &told {
                let stage = notice.environment.and_then(|env| deploy_stages.get(env));
                sqlx::query("INSERT INTO run_events (run_id, happening, position, environment, detail, at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(id)
                    .bind(notice.happening.as_str())
                    .bind(notice.environment.map(|e| e as i64))
                    .bind(stage.and_then(|s| s.environment.clone()))
                    .bind(if stage.map(|s| s.position) == target || notice.environment.is_none() { detail.unwrap_or("") } else { "" })
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
            }
        });
        tx.commit().await?;
        Ok(after)
    }
}

impl Store {
    /// A person cancels a live run: the run and its open stages end as cancelled, and the
    /// audit entry (`actor` with action `run.cancel`) commits in the same transaction.
    ///
    /// Refused once the run has ended, and while a deploy is rolling out: an UpdateService
    /// cannot be taken back, so cancelling then would only hide the rollout. A deploy still
    /// queued behind a busy service leaves the queue (and frees any lock already taken for
    /// it), or it would hold up every later deploy of that service.
    pub async fn cancel_run(
        &self,
        id: i64,
        reason: &str,
        actor: &AuditEntry,
    ) -> StoreResult<RunState> {
        let reason = reason.trim();
        let refuse = |why| StoreError::RunRefused {
            run: id,
            action: "cancelled",
            why,
        };
        let audit = AuditEntry {
            action: "run.cancel".into(),
            target: format!("run:{id}"),
            detail: reason.to_owned(),
            ..actor.clone()
        };
        let now = self.now_ms();
        let audit = &audit;
        // No deploy of this run is under way (checked below, on the state this write is
        // conditional on), so a lock it holds is one taken for a deploy not started.
        let also = move |mut tx: Tx| {
            async move {
                deploys::abandon_queued(&mut tx, id, StageStatus::Cancelled.as_str(), now).await?;
                audit::append(&mut tx, audit, now).await?;
                Ok::<_, StoreError>(tx)
            }
            .boxed()
        };
        let detail = if reason.is_empty() {
            format!("cancelled by {}", actor.actor)
        } else {
            format!("cancelled by {}: {reason}", actor.actor)
        };
        self.apply_event_if(
            id,
            RunEvent::Cancelled,
            Some(&detail),
            also,
            |state, stages| may_cancel(state.status, stages).map_err(refuse),
            None,
        )
        .await
    }

    /// A person retries a run that ended unsuccessfully: a new run of the same pipeline and
    /// commit, with fresh stages as a push would create them from the pipeline as it is now.
    /// Returns the new run's id. The audit entry (`run.retry` on the old run, naming the new
    /// one) commits with it.
    ///
    /// The new run's delivery is `retry:<old id>`: runs need one, no GitHub delivery caused
    /// this one, and the uniqueness of (pipeline, delivery) then makes a second retry of the
    /// same run fail even when two replicas race.
    pub async fn retry_run(&self, id: i64, actor: &AuditEntry) -> StoreResult<i64> {
        let refuse = |why| StoreError::RunRefused {
            run: id,
            action: "retried",
            why,
        };
        let delivery = format!("retry:{id}");
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let old: Option<RunRow> =
                sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let old = RunSummary::try_from(old.ok_or(StoreError::RunNotFound(id))?)?;
            may_retry(old.kind, old.status).map_err(refuse)?;
            let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT p.name, p.branch, e.name, e.promotion FROM pipelines p
                 LEFT JOIN environments e ON e.pipeline_id = p.id
                 WHERE p.name = $1 ORDER BY e.position",
            )
            .bind(old.pipeline.as_str())
            .fetch_all(&mut *tx)
            .await?;
            let Some(pipeline) = group_tracking(rows).into_iter().next() else {
                return Err(refuse(Refusal::PipelineGone(old.pipeline)));
            };
            let state = RunState::new(pipeline.environments.iter().map(|(_, m)| *m));
            let c = &old.commit;
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO runs (pipeline_name, delivery_id, status, repository, branch, commit_sha, commit_message,
                   commit_author, pusher, compare_url, commit_url, commit_timestamp, created_at, updated_at, authors, commits, kind)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, (SELECT authors FROM runs WHERE id = $14),
                         (SELECT commits FROM runs WHERE id = $14), 'retry')
                 ON CONFLICT (pipeline_name, delivery_id) DO NOTHING RETURNING id",
            )
            .bind(old.pipeline.as_str())
            .bind(delivery.as_str())
            .bind(state.status.as_str())
            .bind(old.repository.as_str())
            .bind(old.branch.as_str())
            .bind(c.sha.as_str())
            .bind(c.message.as_str())
            .bind(c.author.as_str())
            .bind(c.pusher.as_str())
            .bind(c.compare_url.as_str())
            .bind(c.url.as_str())
            .bind(c.timestamp.as_str())
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((new_id,)) = inserted else {
                let (by,): (i64,) = sqlx::query_as(
                    "SELECT id FROM runs WHERE pipeline_name = $1 AND delivery_id = $2",
                )
                .bind(old.pipeline.as_str())
                .bind(delivery.as_str())
                .fetch_one(&mut *tx)
                .await?;
                return Err(refuse(Refusal::AlreadyRetried(by)));
            };
            let mut stages = initial_stages(&state, &pipeline, now, &c.sha);
            stages[0].detail = format!("commit {}, retrying run {id}", c.sha);
            let sql = format!(
                "INSERT INTO stage_runs (run_id, position, kind, environment, promotion, status, started_at, finished_at, detail) VALUES {}",
                placeholders(stages.len(), &[0, 1, 2, 3, 4, 5, 6, 6, 7])
            );
            let mut q = sqlx::query(&sql);
            for (position, stage) in stages.iter().enumerate() {
                q = q
                    .bind(new_id)
                    .bind(position as i64)
                    .bind(stage.kind.as_str())
                    .bind(stage.environment)
                    .bind(stage.promotion.map(Promotion::as_str))
                    .bind(stage.status.as_str())
                    .bind(stage.at)
                    .bind(stage.detail.as_str());
            }
            q.execute(&mut *tx).await?;
            let audit = AuditEntry {
                action: "run.retry".into(),
                target: format!("run:{id}"),
                detail: format!("retried as run {new_id}"),
                ..actor.clone()
            };
            append_audit!(&mut *tx, &audit, self.now_ms())?;
            tx.commit().await?;
            Ok(new_id)
        })
    }
}

/// Moves run `run_id`'s version on without a transition, if it is still `version`: a
/// write that others deciding about the run must see (a gate approval that is not yet
/// enough). [`StoreError::RunChanged`] if someone moved the run in between.
pub(crate) async fn bump_version_if(
    tx: &mut Tx,
    run_id: i64,
    version: i64,
    now: i64,
) -> StoreResult<()> {
    let bumped = on_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE runs SET version = version + 1, updated_at = $1 WHERE id = $2 AND version = $3",
        )
        .bind(now)
        .bind(run_id)
        .bind(version)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if bumped != 1 {
        return Err(StoreError::RunChanged(run_id));
    }
    Ok(())
}

/// The state machine's view of a run read from the store.
pub fn runs_state(run: &RunDetail) -> StoreResult<RunState> {
    state_of(run.run.status.as_str(), &run.stages)
}
