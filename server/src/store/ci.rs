//! CI reports as webhooks delivered them, until the engine applies them to their runs.

use super::{Store, StoreResult, on_pool};

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

impl Store {
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
            sqlx::query("UPDATE ci_reports SET applied_at = $1 WHERE id = $2")
                .bind(self.now_ms())
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Live runs of `commit` in the repository (lowercase `owner/name`), with their pipeline.
    pub async fn live_runs_for_commit(
        &self,
        repository_key: &str,
        sha: &str,
    ) -> StoreResult<Vec<(i64, String)>> {
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
}
