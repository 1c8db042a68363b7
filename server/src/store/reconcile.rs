//! Head reconcile's bookkeeping: which engine reconciles which pipeline (a lease, as runs
//! have), each pipeline's last branch ETag and head, whether GitHub could be reached, and
//! how far each hook's delivery log has been read back.

use super::{Arg, Store, StoreResult, bind_all, on_pool};
use shipgate_pipeline::BuildSettings;
use shipgate_pipeline::reconcile::ReconcileHealth;
use std::collections::{HashMap, HashSet};

/// A pipeline this engine holds for one reconcile pass, with what the pass needs.
#[derive(Debug, Clone)]
pub struct ReconcileTarget {
    pub pipeline: String,
    pub repository: String,
    pub branch: String,
    /// The branch's ETag and head as last read.
    pub etag: Option<String>,
    pub head_sha: Option<String>,
    /// The commit and commit time of the pipeline's newest run (rollbacks aside).
    pub newest_sha: Option<String>,
    pub newest_committed: Option<String>,
    /// The hook to read back deliveries from: configured, else learned.
    pub hook_id: Option<i64>,
    pub hook_etag: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    name: String,
    repository: String,
    branch: String,
    settings: String,
    etag: Option<String>,
    head_sha: Option<String>,
    newest_sha: Option<String>,
    newest_committed: Option<String>,
    hook_id: Option<i64>,
    hook_etag: Option<String>,
}

#[derive(sqlx::FromRow)]
struct HealthRow {
    pipeline: String,
    last_ok_at: Option<i64>,
    checked_at: Option<i64>,
    error: Option<String>,
    head_sha: Option<String>,
    recovered_runs: i64,
}

fn in_list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Takes every pipeline that is due (or all, with `all`: at start-up) and that no other
    /// engine holds, until `until`. Of several replicas asking at once, each pipeline goes
    /// to exactly one. Costs three statements whatever the number of pipelines.
    pub async fn claim_reconciles(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        all: bool,
    ) -> StoreResult<Vec<ReconcileTarget>> {
        let rows: Vec<TargetRow> = on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO reconcile_state (pipeline) SELECT name FROM pipelines
                 WHERE name NOT IN (SELECT pipeline FROM reconcile_state)
                 ON CONFLICT (pipeline) DO NOTHING",
            )
            .execute(pool)
            .await?;
            sqlx::query(
                "UPDATE reconcile_state SET claimed_by = $1, claimed_until = $2
                 WHERE claimed_until < $3 AND (next_at <= $3 OR $4 = 1)
                   AND pipeline IN (SELECT name FROM pipelines)",
            )
            .bind(owner)
            .bind(until)
            .bind(now)
            .bind(i64::from(all))
            .execute(pool)
            .await?;
            sqlx::query_as(
                "SELECT p.name, p.repository, p.branch, p.settings, s.etag, s.head_sha,
                        (SELECT r.commit_sha FROM runs r WHERE r.pipeline_name = p.name AND r.kind <> 'rollback'
                          ORDER BY r.id DESC LIMIT 1) AS newest_sha,
                        (SELECT r.commit_timestamp FROM runs r WHERE r.pipeline_name = p.name AND r.kind <> 'rollback'
                          ORDER BY r.id DESC LIMIT 1) AS newest_committed,
                        h.hook_id, h.etag AS hook_etag
                 FROM reconcile_state s
                 JOIN pipelines p ON p.name = s.pipeline
                 LEFT JOIN github_hooks h ON h.repository_key = p.repository_key
                 WHERE s.claimed_by = $1 AND s.claimed_until = $2
                 ORDER BY p.name",
            )
            .bind(owner)
            .bind(until)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| {
                let configured = serde_json::from_str::<BuildSettings>(&r.settings)
                    .ok()
                    .and_then(|s| s.github_hook_id)
                    .and_then(|id| i64::try_from(id).ok());
                ReconcileTarget {
                    pipeline: r.name,
                    repository: r.repository,
                    branch: r.branch,
                    etag: r.etag,
                    head_sha: r.head_sha,
                    newest_sha: r.newest_sha,
                    newest_committed: r.newest_committed,
                    hook_id: configured.or(r.hook_id),
                    hook_etag: r.hook_etag,
                }
            })
            .collect())
    }

    /// Releases pipelines whose branch did not change (GitHub answered 304), all in one
    /// statement, due again at `next_at`.
    pub async fn reconciled_unchanged(
        &self,
        owner: &str,
        pipelines: &[String],
        now: i64,
        next_at: i64,
    ) -> StoreResult<()> {
        for chunk in pipelines.chunks(500) {
            let sql = format!(
                "UPDATE reconcile_state SET checked_at = $1, last_ok_at = $1, error = NULL, error_since = NULL,
                        next_at = $2, claimed_by = NULL, claimed_until = 0
                 WHERE claimed_by = $3 AND pipeline IN ({})",
                in_list(4, chunk.len())
            );
            let mut args = vec![
                Arg::Int(now),
                Arg::Int(next_at),
                Arg::Text(owner.to_owned()),
            ];
            args.extend(chunk.iter().map(|p| Arg::Text(p.clone())));
            on_pool!(self, |pool| bind_all!(sqlx::query(&sql), &args)
                .execute(pool)
                .await
                .map(|_| ())?);
        }
        Ok(())
    }

    /// Releases a pipeline whose branch was read anew: its ETag and head are kept, so the
    /// next read is conditional. `recovered` counts a run reconcile started.
    #[allow(clippy::too_many_arguments)]
    pub async fn reconciled_head(
        &self,
        owner: &str,
        pipeline: &str,
        etag: Option<&str>,
        head: &str,
        recovered: bool,
        now: i64,
        next_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE reconcile_state SET etag = $1, head_sha = $2, checked_at = $3, last_ok_at = $3,
                    error = NULL, error_since = NULL, next_at = $4, claimed_by = NULL, claimed_until = 0,
                    recovered_runs = recovered_runs + $5
             WHERE pipeline = $6 AND claimed_by = $7"
        )
        .bind(etag)
        .bind(head)
        .bind(now)
        .bind(next_at)
        .bind(i64::from(recovered))
        .bind(pipeline)
        .bind(owner)
        .execute(pool)
        .await
        .map(|_| ())?
        });
        Ok(())
    }

    /// Releases a pipeline whose reconcile failed, with the reason. Returns the reason
    /// stored before, so the engine logs a failure once when it starts or changes, not at
    /// every pass.
    pub async fn reconcile_failed(
        &self,
        owner: &str,
        pipeline: &str,
        error: &str,
        now: i64,
        next_at: i64,
    ) -> StoreResult<Option<String>> {
        on_pool!(self, |pool| {
            let before: Option<(Option<String>,)> =
                sqlx::query_as("SELECT error FROM reconcile_state WHERE pipeline = $1")
                    .bind(pipeline)
                    .fetch_optional(pool)
                    .await?;
            sqlx::query(
                "UPDATE reconcile_state SET error = $1, error_since = COALESCE(error_since, $2), checked_at = $2,
                        next_at = $3, claimed_by = NULL, claimed_until = 0
                 WHERE pipeline = $4 AND claimed_by = $5",
            )
            .bind(error)
            .bind(now)
            .bind(next_at)
            .bind(pipeline)
            .bind(owner)
            .execute(pool)
            .await?;
            Ok(before.and_then(|(e,)| e))
        })
    }

    /// Makes a pipeline due now (it was just created or changed).
    pub async fn reconcile_soon(&self, pipeline: &str) -> StoreResult<()> {
        on_pool!(self, |pool| sqlx::query(
            "UPDATE reconcile_state SET next_at = 0, etag = NULL WHERE pipeline = $1"
        )
        .bind(pipeline)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Whether the pipeline already has (or listed) a run for this commit.
    pub async fn commit_has_run(&self, pipeline: &str, sha: &str) -> StoreResult<bool> {
        let found: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT CAST(1 AS BIGINT) FROM commit_claims WHERE pipeline_name = $1 AND commit_sha = $2
             UNION ALL SELECT CAST(1 AS BIGINT) FROM runs WHERE pipeline_name = $1 AND commit_sha = $2 LIMIT 1"
        )
        .bind(pipeline)
        .bind(sha)
        .fetch_optional(pool)
        .await?
        });
        Ok(found.is_some())
    }

    /// How reconcile fares, per pipeline.
    pub async fn reconcile_health(&self) -> StoreResult<HashMap<String, ReconcileHealth>> {
        let rows: Vec<HealthRow> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT pipeline, last_ok_at, checked_at, error, head_sha, recovered_runs FROM reconcile_state
             WHERE checked_at IS NOT NULL"
        )
        .fetch_all(pool)
        .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.pipeline,
                    ReconcileHealth {
                        last_ok_at: r.last_ok_at,
                        checked_at: r.checked_at,
                        error: r.error,
                        head_sha: r.head_sha,
                        recovered_runs: r.recovered_runs,
                    },
                )
            })
            .collect())
    }

    /// Which of these delivery ids are stored.
    pub async fn stored_deliveries(&self, ids: &[String]) -> StoreResult<HashSet<String>> {
        let mut stored = HashSet::new();
        for chunk in ids.chunks(500) {
            if chunk.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id IN ({})",
                in_list(1, chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|id| Arg::Text(id.clone())).collect();
            let rows: Vec<(String,)> =
                on_pool!(self, |pool| bind_all!(sqlx::query_as(&sql), &args)
                    .fetch_all(pool)
                    .await?);
            stored.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(stored)
    }

    /// Remembers a configured hook for a repository, so its log is read even before a
    /// delivery names it.
    pub async fn hook_read(
        &self,
        repository: &str,
        hook_id: i64,
        etag: Option<&str>,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO github_hooks (repository_key, hook_id, seen_at, etag, scanned_at, error)
             VALUES ($1, $2, $3, $4, $3, $5)
             ON CONFLICT (repository_key) DO UPDATE SET hook_id = excluded.hook_id,
                 etag = COALESCE(excluded.etag, github_hooks.etag), scanned_at = excluded.scanned_at, error = excluded.error"
        )
        .bind(repository.to_ascii_lowercase())
        .bind(hook_id)
        .bind(now)
        .bind(etag)
        .bind(error)
        .execute(pool)
        .await
        .map(|_| ())?
        });
        Ok(())
    }
}
