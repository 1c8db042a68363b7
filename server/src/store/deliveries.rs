//! Webhook deliveries. Recording a delivery and starting the runs it causes happen in one
//! transaction, so a delivery is never acknowledged without its runs, nor twice with two.

use super::{Arg, Store, StoreResult, bind_all, now_ms, on_pool};
use shipgate_pipeline::read::{Commit, DeliveryOutcome, DeliveryRecord, Page};
use shipgate_pipeline::{Promotion, RunState, StageKind, StageStatus};
use std::time::Instant;

/// A push to a branch, reduced to what a run records about its Source stage.
#[derive(Debug, Clone)]
pub struct PushIntent {
    pub repository: String,
    pub branch: String,
    pub commit: Commit,
}

/// What a delivery asks of Shipgate, decided from the event and payload alone.
#[derive(Debug, Clone)]
pub enum DeliveryIntent {
    Ping,
    /// A branch push; whether it starts runs depends on the pipelines at the time it is stored.
    Push(PushIntent),
    Ignore(String),
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub intent: DeliveryIntent,
    pub payload: Vec<u8>,
    pub received_at: i64,
    pub received: Instant,
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

#[derive(sqlx::FromRow)]
struct TrackingPipeline {
    name: String,
    branch: String,
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
        branches.iter().map(|b| format!("`{b}`")).collect::<Vec<_>>().join(", ")
    )
}

fn created_reason(started: &[(i64, String)]) -> String {
    let list = started.iter().map(|(id, name)| format!("#{id} on pipeline `{name}`")).collect::<Vec<_>>().join(", ");
    if started.len() == 1 { format!("started run {list}") } else { format!("started runs {list}") }
}

impl Store {
    /// Records a batch of deliveries in one transaction (one fsync for all of them).
    /// Returns one result per delivery, in order.
    pub async fn record_deliveries(&self, batch: &[NewDelivery]) -> StoreResult<Vec<Recorded>> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut results = Vec::with_capacity(batch.len());
            for d in batch {
                // A redelivery: count it and answer as the first time.
                let seen: Option<(String, String)> = sqlx::query_as(
                    "UPDATE webhook_deliveries SET redeliveries = redeliveries + 1 WHERE delivery_id = $1 RETURNING outcome, reason",
                )
                .bind(d.delivery_id.clone())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((outcome, reason)) = seen {
                    let run_ids: Vec<(i64,)> = sqlx::query_as("SELECT id FROM runs WHERE delivery_id = $1 ORDER BY id")
                        .bind(d.delivery_id.clone())
                        .fetch_all(&mut *tx)
                        .await?;
                    results.push(Recorded {
                        delivery_id: d.delivery_id.clone(),
                        outcome: DeliveryOutcome::parse(&outcome).unwrap_or(DeliveryOutcome::Ignored),
                        reason,
                        run_ids: run_ids.into_iter().map(|(id,)| id).collect(),
                        duplicate: true,
                    });
                    continue;
                }

                let now = now_ms();
                let mut started: Vec<(i64, String)> = Vec::new();
                let (outcome, reason) = match &d.intent {
                    DeliveryIntent::Ping => (DeliveryOutcome::Pong, "ping answered".to_owned()),
                    DeliveryIntent::Ignore(reason) => (DeliveryOutcome::Ignored, reason.clone()),
                    DeliveryIntent::Push(push) => {
                        let tracking: Vec<TrackingPipeline> =
                            sqlx::query_as("SELECT name, branch FROM pipelines WHERE repository_key = $1 ORDER BY name")
                                .bind(push.repository.to_ascii_lowercase())
                                .fetch_all(&mut *tx)
                                .await?;
                        for pipeline in tracking.iter().filter(|p| p.branch == push.branch) {
                            let envs: Vec<(String, String)> = sqlx::query_as(
                                "SELECT e.name, e.promotion FROM environments e JOIN pipelines p ON p.id = e.pipeline_id
                                 WHERE p.name = $1 ORDER BY e.position",
                            )
                            .bind(pipeline.name.clone())
                            .fetch_all(&mut *tx)
                            .await?;
                            let promotions = envs.iter().map(|(_, p)| Promotion::parse(p).unwrap_or(Promotion::Manual));
                            let state = RunState::new(promotions);
                            let c = &push.commit;
                            let (run_id,): (i64,) = sqlx::query_as(
                                "INSERT INTO runs (pipeline_name, delivery_id, status, repository, branch, commit_sha, commit_message,
                                   commit_author, pusher, compare_url, commit_url, commit_timestamp, created_at, updated_at)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
                            )
                            .bind(pipeline.name.clone())
                            .bind(d.delivery_id.clone())
                            .bind(state.status.as_str())
                            .bind(push.repository.clone())
                            .bind(push.branch.clone())
                            .bind(c.sha.clone())
                            .bind(c.message.clone())
                            .bind(c.author.clone())
                            .bind(c.pusher.clone())
                            .bind(c.compare_url.clone())
                            .bind(c.url.clone())
                            .bind(c.timestamp.clone())
                            .bind(now)
                            .fetch_one(&mut *tx)
                            .await?;
                            let mut stages: Vec<(StageKind, Option<&str>, Option<&str>, StageStatus, Option<i64>)> = vec![
                                (StageKind::Source, None, None, StageStatus::Succeeded, Some(now)),
                                (StageKind::Build, None, None, state.build, None),
                            ];
                            for ((name, _), deploy) in envs.iter().zip(&state.deploys) {
                                stages.push((StageKind::Deploy, Some(name), Some(deploy.promotion.as_str()), deploy.status, None));
                            }
                            for (position, (kind, env, promotion, status, at)) in stages.into_iter().enumerate() {
                                sqlx::query(
                                    "INSERT INTO stage_runs (run_id, position, kind, environment, promotion, status, started_at, finished_at, detail)
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                                )
                                .bind(run_id)
                                .bind(position as i64)
                                .bind(kind.as_str())
                                .bind(env.map(str::to_owned))
                                .bind(promotion.map(str::to_owned))
                                .bind(status.as_str())
                                .bind(at)
                                .bind(if kind == StageKind::Source { format!("commit {}", c.sha) } else { String::new() })
                                .execute(&mut *tx)
                                .await?;
                            }
                            started.push((run_id, pipeline.name.clone()));
                        }
                        if started.is_empty() {
                            (DeliveryOutcome::Ignored, push_reason(push, &tracking))
                        } else {
                            (DeliveryOutcome::RunCreated, created_reason(&started))
                        }
                    }
                };
                sqlx::query(
                    "INSERT INTO webhook_deliveries (delivery_id, event, action, repository, git_ref, outcome, reason, received_at, processing_us, payload)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(d.delivery_id.clone())
                .bind(d.event.clone())
                .bind(d.action.clone())
                .bind(d.repository.clone())
                .bind(d.git_ref.clone())
                .bind(outcome.as_str())
                .bind(reason.clone())
                .bind(d.received_at)
                .bind(d.received.elapsed().as_micros() as i64)
                .bind(d.payload.as_slice())
                .execute(&mut *tx)
                .await?;
                results.push(Recorded {
                    delivery_id: d.delivery_id.clone(),
                    outcome,
                    reason,
                    run_ids: started.into_iter().map(|(id, _)| id).collect(),
                    duplicate: false,
                });
            }
            tx.commit().await?;
            Ok(results)
        })
    }

    /// Deliveries newest first; `before` is the previous page's `next` cursor.
    pub async fn list_deliveries(&self, before: Option<i64>, limit: u32) -> StoreResult<Page<DeliveryRecord>> {
        let limit = limit.clamp(1, shipgate_pipeline::read::MAX_PAGE);
        let mut sql = String::from(
            "SELECT id, delivery_id, event, action, repository, git_ref, outcome, reason, received_at, processing_us, redeliveries
             FROM webhook_deliveries",
        );
        let mut args = Vec::new();
        if let Some(before) = before {
            sql.push_str(" WHERE id < $1");
            args.push(Arg::Int(before));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let (mut rows, links): (Vec<DeliveryRow>, Vec<(String, i64)>) = on_pool!(self, |pool| {
            let rows: Vec<DeliveryRow> = bind_all!(sqlx::query_as(&sql), &args).fetch_all(pool).await?;
            let ids: Vec<&str> = rows.iter().filter(|r| r.outcome == "run_created").map(|r| r.delivery_id.as_str()).collect();
            let links = if ids.is_empty() {
                Vec::new()
            } else {
                let placeholders = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let q = format!("SELECT delivery_id, id FROM runs WHERE delivery_id IN ({placeholders}) ORDER BY id");
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
        let items = rows
            .into_iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    run_ids: links.iter().filter(|(d, _)| *d == r.delivery_id).map(|(_, id)| *id).collect(),
                    outcome: DeliveryOutcome::parse(&r.outcome)
                        .ok_or_else(|| super::StoreError::Corrupt(format!("delivery outcome `{}`", r.outcome)))?,
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
            let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT payload FROM webhook_deliveries WHERE delivery_id = $1")
                .bind(delivery_id.to_owned())
                .fetch_optional(pool)
                .await?;
            Ok(row.map(|(p,)| p))
        })
    }

    pub async fn count_deliveries_and_runs(&self) -> StoreResult<(i64, i64)> {
        on_pool!(self, |pool| {
            let (d,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries").fetch_one(pool).await?;
            let (r,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs").fetch_one(pool).await?;
            Ok((d, r))
        })
    }
}
