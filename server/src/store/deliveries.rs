//! Webhook deliveries. Recording a delivery and starting the runs it causes happen in one
//! transaction, so a delivery is never acknowledged without its runs, nor twice with two.

use super::{Arg, BeginWrite, Store, StoreResult, bind_all, on_pool};
use shipgate_pipeline::read::{DeliveryOutcome, DeliveryRecord, Page};
use shipgate_pipeline::reconcile::{ExistingClaim, LatePush, late_push};
use shipgate_pipeline::{DeliverySource, Promotion, Recovery, RunState, StageKind, StageStatus};
use std::collections::HashMap;
use std::time::Instant;

pub use shipgate_pipeline::delivery::{CiIntent, DeliveryIntent, PushIntent};

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub intent: DeliveryIntent,
    /// The body exactly as received and signed; shared, not copied, on its way to the store.
    pub payload: bytes::Bytes,
    pub received_at: i64,
    pub received: Instant,
    /// `webhook` for what GitHub sent; `recovered` for what Shipgate found itself.
    pub source: DeliverySource,
    /// For a recovered push: how it was found, which the run it starts records.
    pub recovery: Option<Recovery>,
    /// The webhook that sent it (`X-GitHub-Hook-ID`), remembered per repository so that
    /// deliveries that never arrive can be read back from that hook's log.
    pub hook_id: Option<i64>,
}

/// What became of a delivery. `duplicate` is set for a redelivery, which reports the
/// outcome recorded the first time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    pub delivery_id: String,
    pub outcome: DeliveryOutcome,
    pub reason: String,
    pub run_ids: Vec<i64>,
    pub duplicate: bool,
}

/// A pipeline of the pushed repository, with its environments' promotion modes in order.
#[derive(Clone)]
pub(super) struct TrackingPipeline {
    pub(super) name: String,
    pub(super) branch: String,
    pub(super) environments: Vec<(String, Promotion)>,
}

/// Folds the joined pipeline/environment rows (ordered by pipeline) into pipelines.
pub(super) fn group_tracking(
    rows: Vec<(String, String, Option<String>, Option<String>)>,
) -> Vec<TrackingPipeline> {
    let mut out: Vec<TrackingPipeline> = Vec::new();
    for (name, branch, env, promotion) in rows {
        if out.last().is_none_or(|p| p.name != name) {
            out.push(TrackingPipeline {
                name,
                branch,
                environments: Vec::new(),
            });
        }
        if let (Some(env), Some(promotion)) = (env, promotion) {
            let promotion = Promotion::parse(&promotion).unwrap_or(Promotion::Manual);
            out.last_mut()
                .expect("pushed above")
                .environments
                .push((env, promotion));
        }
    }
    out
}

/// `($1, $2, …), ($k, …)` for `rows` rows; `columns[c]` is the bind (0-based, within the
/// row) that column `c` takes, so one bind can fill two columns.
pub(super) fn placeholders(rows: usize, columns: &[usize]) -> String {
    let binds_per_row = columns.iter().max().map_or(0, |m| m + 1);
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| format!("${}", r * binds_per_row + c + 1))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One stage row of a new run: Source succeeded at `at`, the rest as the state machine says.
pub(super) struct NewStage<'a> {
    pub(super) kind: StageKind,
    pub(super) environment: Option<&'a str>,
    pub(super) promotion: Option<Promotion>,
    pub(super) status: StageStatus,
    pub(super) at: Option<i64>,
    pub(super) detail: String,
}

pub(super) fn initial_stages<'a>(
    state: &RunState,
    pipeline: &'a TrackingPipeline,
    now: i64,
    sha: &str,
) -> Vec<NewStage<'a>> {
    let mut stages = vec![
        NewStage {
            kind: StageKind::Source,
            environment: None,
            promotion: None,
            status: StageStatus::Succeeded,
            at: Some(now),
            detail: format!("commit {sha}"),
        },
        NewStage {
            kind: StageKind::Build,
            environment: None,
            promotion: None,
            status: state.build,
            at: None,
            detail: String::new(),
        },
    ];
    for ((name, promotion), deploy) in pipeline.environments.iter().zip(&state.deploys) {
        stages.push(NewStage {
            kind: StageKind::Deploy,
            environment: Some(name),
            promotion: Some(*promotion),
            status: deploy.status,
            at: None,
            detail: String::new(),
        });
    }
    stages
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    delivery_id: String,
    event: String,
    action: Option<String>,
    repository: Option<String>,
    git_ref: Option<String>,
    outcome: String,
    reason: String,
    received_at: i64,
    processing_us: i64,
    redeliveries: i64,
    source: String,
}

fn push_reason(push: &PushIntent, tracking: &[TrackingPipeline]) -> String {
    if tracking.is_empty() {
        return format!("{} is not linked to any pipeline", push.repository);
    }
    let mut branches: Vec<&str> = tracking.iter().map(|p| p.branch.as_str()).collect();
    branches.sort_unstable();
    branches.dedup();
    format!(
        "branch `{}` of {} is not tracked; its pipelines track {}",
        push.branch,
        push.repository,
        branches
            .iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn created_reason(started: &[TrackingPipeline]) -> String {
    let list = started
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ");
    if started.len() == 1 {
        format!("started a run on pipeline {list}")
    } else {
        format!("started a run on each of pipelines {list}")
    }
}

/// The push a delivery planned to start runs carries: only pushes start runs.
fn push_of(d: &NewDelivery) -> &PushIntent {
    match &d.intent {
        DeliveryIntent::Push(push) => push,
        _ => unreachable!("only pushes start runs"),
    }
}

impl Store {
    /// Records a batch of deliveries in one transaction (one fsync for all of them).
    /// Returns one result per delivery, in order.
    ///
    /// A batch costs a handful of statements whatever its size: one multi-row insert each
    /// for deliveries (its `ON CONFLICT DO NOTHING` is also the redelivery check), runs and
    /// stages, plus one pipeline lookup per repository. Only redeliveries cost more.
    pub async fn record_deliveries(&self, batch: &[NewDelivery]) -> StoreResult<Vec<Recorded>> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;

            // What each delivery would do if it is new.
            let mut tracking_by_repo: HashMap<String, Vec<TrackingPipeline>> = HashMap::new();
            let mut plans = Vec::with_capacity(batch.len());
            for d in batch {
                plans.push(match &d.intent {
                    DeliveryIntent::Ping => (
                        DeliveryOutcome::Pong,
                        "ping answered".to_owned(),
                        Vec::new(),
                    ),
                    DeliveryIntent::Ignore(reason) => {
                        (DeliveryOutcome::Ignored, reason.clone(), Vec::new())
                    }
                    DeliveryIntent::Ci(ci) => {
                        let short = ci.head_sha.get(..7).unwrap_or(&ci.head_sha);
                        let state = match &ci.conclusion {
                            Some(c) => format!("{} ({c})", ci.status),
                            None => ci.status.clone(),
                        };
                        (
                            DeliveryOutcome::CiRecorded,
                            format!("CI `{}` {state} for commit {short}", ci.name),
                            Vec::new(),
                        )
                    }
                    DeliveryIntent::Push(push) => {
                        let key = push.repository.to_ascii_lowercase();
                        if !tracking_by_repo.contains_key(&key) {
                            let rows: Vec<(String, String, Option<String>, Option<String>)> =
                                sqlx::query_as(
                                    "SELECT p.name, p.branch, e.name, e.promotion FROM pipelines p
                                 LEFT JOIN environments e ON e.pipeline_id = p.id
                                 WHERE p.repository_key = $1 ORDER BY p.name, e.position",
                                )
                                .bind(key.as_str())
                                .fetch_all(&mut *tx)
                                .await?;
                            tracking_by_repo.insert(key.clone(), group_tracking(rows));
                        }
                        let tracking = &tracking_by_repo[&key];
                        let starts: Vec<TrackingPipeline> = tracking
                            .iter()
                            .filter(|p| p.branch == push.branch)
                            .cloned()
                            .collect();
                        if starts.is_empty() {
                            (
                                DeliveryOutcome::Ignored,
                                push_reason(push, tracking),
                                starts,
                            )
                        } else {
                            let started = created_reason(&starts);
                            let reason = match d.recovery {
                                Some(Recovery::Reconcile) => format!(
                                    "no webhook arrived: reconcile found commit {} at the head of `{}` and {started}",
                                    push.commit.short_sha(),
                                    push.branch
                                ),
                                Some(Recovery::HookDelivery) => format!(
                                    "read back from the hook's delivery log (the webhook never reached Shipgate); {started}"
                                ),
                                None => started,
                            };
                            (DeliveryOutcome::RunCreated, reason, starts)
                        }
                    }
                });
            }

            // The first occurrence of each delivery id in the batch is a candidate; the rest
            // are redeliveries of it, answered after it has been written.
            let mut seen = std::collections::HashSet::new();
            let candidates: Vec<usize> = (0..batch.len())
                .filter(|&i| seen.insert(batch[i].delivery_id.as_str()))
                .collect();
            let sql = format!(
                "INSERT INTO webhook_deliveries (delivery_id, event, action, repository, git_ref, outcome, reason, received_at, processing_us, payload, source)
                 VALUES {} ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                placeholders(candidates.len(), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            );
            let mut q = sqlx::query_as::<_, (String,)>(&sql);
            for &i in &candidates {
                let (d, (outcome, reason, _)) = (&batch[i], &plans[i]);
                q = q
                    .bind(d.delivery_id.as_str())
                    .bind(d.event.as_str())
                    .bind(d.action.as_deref())
                    .bind(d.repository.as_deref())
                    .bind(d.git_ref.as_deref())
                    .bind(outcome.as_str())
                    .bind(reason.as_str())
                    .bind(d.received_at)
                    .bind(d.received.elapsed().as_micros() as i64)
                    .bind(d.payload.as_ref())
                    .bind(d.source.as_str());
            }
            let inserted: std::collections::HashSet<String> = q
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id,)| id)
                .collect();
            let fresh: Vec<usize> = candidates
                .into_iter()
                .filter(|&i| inserted.contains(&batch[i].delivery_id))
                .collect();

            // CI results, for the engine to apply.
            let now = self.now_ms();
            let mut joined_runs: HashMap<(String, String), i64> = HashMap::new();
            let reports: Vec<(&NewDelivery, &CiIntent)> = fresh
                .iter()
                .filter_map(|&i| match &batch[i].intent {
                    DeliveryIntent::Ci(ci) => Some((&batch[i], ci)),
                    _ => None,
                })
                .collect();
            if !reports.is_empty() {
                let sql = format!(
                    "INSERT INTO ci_reports (delivery_id, repository_key, head_sha, name, status, conclusion, url, received_at) VALUES {}",
                    placeholders(reports.len(), &[0, 1, 2, 3, 4, 5, 6, 7])
                );
                let mut q = sqlx::query(&sql);
                for (d, ci) in &reports {
                    q = q
                        .bind(d.delivery_id.as_str())
                        .bind(ci.repository.to_ascii_lowercase())
                        .bind(ci.head_sha.as_str())
                        .bind(ci.name.as_str())
                        .bind(ci.status.as_str())
                        .bind(ci.conclusion.as_deref())
                        .bind(ci.url.as_str())
                        .bind(d.received_at);
                }
                q.execute(&mut *tx).await?;
            }

            // The webhook each repository delivers through, for reading back lost deliveries.
            let mut hooks: HashMap<String, i64> = HashMap::new();
            for &i in &fresh {
                if let (Some(repo), Some(hook)) = (&batch[i].repository, batch[i].hook_id) {
                    hooks.insert(repo.to_ascii_lowercase(), hook);
                }
            }
            if !hooks.is_empty() {
                let sql = format!(
                    "INSERT INTO github_hooks (repository_key, hook_id, seen_at) VALUES {}
                     ON CONFLICT (repository_key) DO UPDATE SET hook_id = excluded.hook_id, seen_at = excluded.seen_at",
                    placeholders(hooks.len(), &[0, 1, 2])
                );
                let mut q = sqlx::query(&sql);
                for (repo, hook) in &hooks {
                    q = q.bind(repo.as_str()).bind(*hook).bind(now);
                }
                q.execute(&mut *tx).await?;
            }

            // Each push claims its commit on each pipeline it would start a run on. The
            // claim is what keeps one push to one run when it is told twice over different
            // paths (its webhook, late, after reconcile found the head; two replicas'
            // reconciles): whichever writer comes second finds the first's claim.
            let wanted: Vec<(usize, &TrackingPipeline)> = fresh
                .iter()
                .flat_map(|&i| plans[i].2.iter().map(move |p| (i, p)))
                .collect();
            let mut won: std::collections::HashSet<(String, String)> = Default::default();
            for chunk in wanted.chunks(1000) {
                let sql = format!(
                    "INSERT INTO commit_claims (pipeline_name, commit_sha, delivery_id, reconciled) VALUES {}
                     ON CONFLICT (pipeline_name, commit_sha) DO NOTHING RETURNING pipeline_name, delivery_id",
                    placeholders(chunk.len(), &[0, 1, 2, 3])
                );
                let mut q = sqlx::query_as::<_, (String, String)>(&sql);
                for (i, pipeline) in chunk {
                    let d = &batch[*i];
                    q = q
                        .bind(pipeline.name.as_str())
                        .bind(push_of(d).commit.sha.as_str())
                        .bind(d.delivery_id.as_str())
                        .bind(i64::from(d.recovery == Some(Recovery::Reconcile)));
                }
                won.extend(q.fetch_all(&mut *tx).await?);
            }
            // What each push that lost its claim does instead: a late push joins the run
            // reconcile started; a reconcile that lost starts nothing; a commit pushed again
            // starts a run as any push does.
            let mut new_runs: Vec<(usize, &TrackingPipeline, RunState)> = Vec::new();
            let mut instead: HashMap<usize, Vec<String>> = HashMap::new();
            for (i, pipeline) in wanted {
                let d = &batch[i];
                let push = push_of(d);
                let state = RunState::new(pipeline.environments.iter().map(|(_, m)| *m));
                if won.contains(&(pipeline.name.clone(), d.delivery_id.clone())) {
                    if d.recovery == Some(Recovery::Reconcile) {
                        // The commits reconcile lists under the head are claimed for this
                        // run too, so their own pushes, read back later, join it.
                        let listed: Vec<&str> = push
                            .commits
                            .iter()
                            .map(|c| c.sha.as_str())
                            .filter(|sha| *sha != push.commit.sha)
                            .collect();
                        for shas in listed.chunks(500) {
                            let sql = format!(
                                "INSERT INTO commit_claims (pipeline_name, commit_sha, delivery_id, reconciled) VALUES {}
                                 ON CONFLICT (pipeline_name, commit_sha) DO NOTHING",
                                placeholders(shas.len(), &[0, 1, 2, 3])
                            );
                            let mut q = sqlx::query(&sql);
                            for sha in shas {
                                q = q
                                    .bind(pipeline.name.as_str())
                                    .bind(*sha)
                                    .bind(d.delivery_id.as_str())
                                    .bind(1_i64);
                            }
                            q.execute(&mut *tx).await?;
                        }
                    }
                    new_runs.push((i, pipeline, state));
                    continue;
                }
                let (holder, reconciled, joined): (String, i64, Option<String>) = sqlx::query_as(
                    "SELECT delivery_id, reconciled, joined_by FROM commit_claims WHERE pipeline_name = $1 AND commit_sha = $2",
                )
                .bind(pipeline.name.as_str())
                .bind(push.commit.sha.as_str())
                .fetch_one(&mut *tx)
                .await?;
                // `None` when the claim's run is one this batch is about to make.
                let run_id: Option<(i64,)> = sqlx::query_as(
                    "SELECT id FROM runs WHERE pipeline_name = $1 AND delivery_id = $2",
                )
                .bind(pipeline.name.as_str())
                .bind(holder.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let short = push.commit.short_sha();
                if d.recovery == Some(Recovery::Reconcile) {
                    let which =
                        run_id.map_or_else(|| "a run".to_owned(), |(id,)| format!("run #{id}"));
                    instead.entry(i).or_default().push(format!(
                        "commit {short} already has {which} on pipeline `{}`",
                        pipeline.name
                    ));
                    continue;
                }
                let Some((run_id,)) = run_id else {
                    new_runs.push((i, pipeline, state));
                    continue;
                };
                let existing = ExistingClaim {
                    reconciled: reconciled != 0,
                    joined: joined.is_some(),
                };
                match late_push(existing) {
                    LatePush::JoinRecovered => {
                        sqlx::query("UPDATE commit_claims SET joined_by = $1 WHERE pipeline_name = $2 AND commit_sha = $3")
                            .bind(d.delivery_id.as_str())
                            .bind(pipeline.name.as_str())
                            .bind(push.commit.sha.as_str())
                            .execute(&mut *tx)
                            .await?;
                        // The late push knows who pushed, which reconcile could not: the
                        // run's self-approval rule hears of it now.
                        let (authors,): (String,) =
                            sqlx::query_as("SELECT authors FROM runs WHERE id = $1")
                                .bind(run_id)
                                .fetch_one(&mut *tx)
                                .await?;
                        let mut authors: Vec<String> =
                            serde_json::from_str(&authors).unwrap_or_default();
                        authors.extend(push.authors.iter().cloned());
                        authors.sort();
                        authors.dedup();
                        sqlx::query("UPDATE runs SET authors = $1, pusher = CASE WHEN pusher = '' THEN $2 ELSE pusher END WHERE id = $3")
                            .bind(serde_json::to_string(&authors).expect("strings serialize"))
                            .bind(push.commit.pusher.as_str())
                            .bind(run_id)
                            .execute(&mut *tx)
                            .await?;
                        joined_runs.insert((pipeline.name.clone(), d.delivery_id.clone()), run_id);
                        instead.entry(i).or_default().push(format!(
                            "joined run #{run_id} on pipeline `{}`, which reconcile started for commit {short} before this push arrived",
                            pipeline.name
                        ));
                    }
                    LatePush::NewRun => new_runs.push((i, pipeline, state)),
                }
            }
            let mut run_ids: HashMap<(String, String), i64> = HashMap::new();
            let mut stage_rows: Vec<(i64, i64, NewStage<'_>)> = Vec::new();
            for chunk in new_runs.chunks(1000) {
                let sql = format!(
                    "INSERT INTO runs (pipeline_name, delivery_id, status, repository, branch, commit_sha, commit_message,
                       commit_author, pusher, compare_url, commit_url, commit_timestamp, created_at, updated_at, authors,
                       commits, recovered_by, recovered_at)
                     VALUES {} RETURNING id, pipeline_name, delivery_id",
                    placeholders(chunk.len(), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 12, 13, 14, 15, 16])
                );
                let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql);
                for (i, pipeline, state) in chunk {
                    let DeliveryIntent::Push(push) = &batch[*i].intent else {
                        unreachable!("only pushes start runs")
                    };
                    let c = &push.commit;
                    q = q
                        .bind(pipeline.name.as_str())
                        .bind(batch[*i].delivery_id.as_str())
                        .bind(state.status.as_str())
                        .bind(push.repository.as_str())
                        .bind(push.branch.as_str())
                        .bind(c.sha.as_str())
                        .bind(c.message.as_str())
                        .bind(c.author.as_str())
                        .bind(c.pusher.as_str())
                        .bind(c.compare_url.as_str())
                        .bind(c.url.as_str())
                        .bind(c.timestamp.as_str())
                        .bind(now)
                        .bind(serde_json::to_string(&push.authors).expect("strings serialize"))
                        .bind(serde_json::to_string(&push.commits).expect("commits serialize"))
                        .bind(batch[*i].recovery.map(Recovery::as_str))
                        .bind(batch[*i].recovery.map(|_| batch[*i].received_at));
                }
                for (id, pipeline, delivery) in q.fetch_all(&mut *tx).await? {
                    run_ids.insert((pipeline, delivery), id);
                }
            }
            for (i, pipeline, state) in &new_runs {
                let DeliveryIntent::Push(push) = &batch[*i].intent else {
                    unreachable!("only pushes start runs")
                };
                let id = *run_ids
                    .get(&(pipeline.name.clone(), batch[*i].delivery_id.clone()))
                    .ok_or_else(|| {
                        super::StoreError::Corrupt("an inserted run was not returned".into())
                    })?;
                for (position, stage) in initial_stages(state, pipeline, now, &push.commit.sha)
                    .into_iter()
                    .enumerate()
                {
                    stage_rows.push((id, position as i64, stage));
                }
            }
            for chunk in stage_rows.chunks(2000) {
                let sql = format!(
                    "INSERT INTO stage_runs (run_id, position, kind, environment, promotion, status, started_at, finished_at, detail) VALUES {}",
                    placeholders(chunk.len(), &[0, 1, 2, 3, 4, 5, 6, 6, 7])
                );
                let mut q = sqlx::query(&sql);
                for (run_id, position, stage) in chunk {
                    q = q
                        .bind(*run_id)
                        .bind(*position)
                        .bind(stage.kind.as_str())
                        .bind(stage.environment)
                        .bind(stage.promotion.map(Promotion::as_str))
                        .bind(stage.status.as_str())
                        .bind(stage.at)
                        .bind(stage.detail.as_str());
                }
                q.execute(&mut *tx).await?;
            }

            // Answers, in order. Redeliveries (earlier, or earlier in this batch) are counted
            // and answered with the outcome recorded the first time.
            let fresh: std::collections::HashSet<usize> = fresh.into_iter().collect();
            let mut results = Vec::with_capacity(batch.len());
            for (i, (d, (outcome, reason, starts))) in batch.iter().zip(plans).enumerate() {
                if fresh.contains(&i) {
                    let key = |p: &TrackingPipeline| (p.name.clone(), d.delivery_id.clone());
                    let started: Vec<i64> = starts
                        .iter()
                        .filter_map(|p| run_ids.get(&key(p)).copied())
                        .collect();
                    let joined: Vec<i64> = starts
                        .iter()
                        .filter_map(|p| joined_runs.get(&key(p)).copied())
                        .collect();
                    let (mut outcome, mut reason) = (outcome, reason);
                    if let Some(notes) = instead.remove(&i) {
                        // The plan written with the delivery changed: some of its pipelines
                        // already had the commit's run.
                        (outcome, reason) = if !started.is_empty() {
                            (outcome, format!("{reason}; {}", notes.join("; ")))
                        } else if !joined.is_empty() {
                            (DeliveryOutcome::JoinedRun, notes.join("; "))
                        } else {
                            (DeliveryOutcome::Ignored, notes.join("; "))
                        };
                        sqlx::query("UPDATE webhook_deliveries SET outcome = $1, reason = $2 WHERE delivery_id = $3")
                            .bind(outcome.as_str())
                            .bind(reason.as_str())
                            .bind(d.delivery_id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    let run_ids = started.into_iter().chain(joined).collect();
                    results.push(Recorded {
                        delivery_id: d.delivery_id.clone(),
                        outcome,
                        reason,
                        run_ids,
                        duplicate: false,
                    });
                    continue;
                }
                let (outcome, reason): (String, String) = sqlx::query_as(
                    "UPDATE webhook_deliveries SET redeliveries = redeliveries + 1 WHERE delivery_id = $1 RETURNING outcome, reason",
                )
                .bind(d.delivery_id.as_str())
                .fetch_one(&mut *tx)
                .await?;
                let ids: Vec<(i64,)> =
                    sqlx::query_as("SELECT id FROM runs WHERE delivery_id = $1 ORDER BY id")
                        .bind(d.delivery_id.as_str())
                        .fetch_all(&mut *tx)
                        .await?;
                results.push(Recorded {
                    delivery_id: d.delivery_id.clone(),
                    outcome: DeliveryOutcome::parse(&outcome).unwrap_or(DeliveryOutcome::Ignored),
                    reason,
                    run_ids: ids.into_iter().map(|(id,)| id).collect(),
                    duplicate: true,
                });
            }
            tx.commit().await?;
            Ok(results)
        })
    }

    /// Deliveries newest first; `before` is the previous page's `next` cursor.
    pub async fn list_deliveries(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Page<DeliveryRecord>> {
        let limit = limit.clamp(1, shipgate_pipeline::read::MAX_PAGE);
        let mut sql = String::from(
            "SELECT id, delivery_id, event, action, repository, git_ref, outcome, reason, received_at, processing_us, redeliveries, source
             FROM webhook_deliveries",
        );
        let mut args = Vec::new();
        if let Some(before) = before {
            sql.push_str(" WHERE id < $1");
            args.push(Arg::Int(before));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let (mut rows, links): (Vec<DeliveryRow>, Vec<(String, i64)>) = on_pool!(self, |pool| {
            let rows: Vec<DeliveryRow> = bind_all!(sqlx::query_as(&sql), &args)
                .fetch_all(pool)
                .await?;
            let ids: Vec<&str> = rows
                .iter()
                .filter(|r| r.outcome == "run_created" || r.outcome == "joined_run")
                .map(|r| r.delivery_id.as_str())
                .collect();
            let links = if ids.is_empty() {
                Vec::new()
            } else {
                let placeholders = (1..=ids.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // A late push that joined a recovered run links to it through its claim.
                let q = format!(
                    "SELECT delivery_id, id FROM runs WHERE delivery_id IN ({placeholders})
                     UNION ALL
                     SELECT c.joined_by, r.id FROM commit_claims c
                       JOIN runs r ON r.pipeline_name = c.pipeline_name AND r.delivery_id = c.delivery_id
                      WHERE c.joined_by IN ({placeholders})
                     ORDER BY 2"
                );
                let args: Vec<Arg> = ids.iter().map(|s| Arg::Text((*s).to_owned())).collect();
                bind_all!(sqlx::query_as(&q), &args).fetch_all(pool).await?
            };
            (rows, links)
        });
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id)
        } else {
            None
        };
        let items =
            rows.into_iter()
                .map(|r| {
                    Ok(DeliveryRecord {
                        run_ids: links
                            .iter()
                            .filter(|(d, _)| *d == r.delivery_id)
                            .map(|(_, id)| *id)
                            .collect(),
                        outcome: DeliveryOutcome::parse(&r.outcome).ok_or_else(|| {
                            super::StoreError::Corrupt(format!("delivery outcome `{}`", r.outcome))
                        })?,
                        source: r.source.parse().map_err(
                            |e: shipgate_pipeline::UnknownStatus| {
                                super::StoreError::Corrupt(e.to_string())
                            },
                        )?,
                        delivery_id: r.delivery_id,
                        event: r.event,
                        action: r.action,
                        repository: r.repository,
                        git_ref: r.git_ref,
                        reason: r.reason,
                        received_at: r.received_at,
                        processing_us: r.processing_us,
                        redeliveries: r.redeliveries,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    /// The body of a stored delivery, exactly as it was signed.
    pub async fn delivery_payload(&self, delivery_id: &str) -> StoreResult<Option<Vec<u8>>> {
        on_pool!(self, |pool| {
            let row: Option<(Vec<u8>,)> =
                sqlx::query_as("SELECT payload FROM webhook_deliveries WHERE delivery_id = $1")
                    .bind(delivery_id.to_owned())
                    .fetch_optional(pool)
                    .await?;
            Ok(row.map(|(p,)| p))
        })
    }

    pub async fn count_deliveries_and_runs(&self) -> StoreResult<(i64, i64)> {
        on_pool!(self, |pool| {
            let (d,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries")
                .fetch_one(pool)
                .await?;
            let (r,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs")
                .fetch_one(pool)
                .await?;
            Ok((d, r))
        })
    }
}
