//! Which runs the engine looks at, and when: wake times, and the lease that keeps one
//! process at a time on a run.

use super::{Store, StoreResult, on_pool};

/// A run's wake time when nothing but a person or a webhook can move it.
pub const ASLEEP: i64 = i64::MAX / 2;

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
            sqlx::query_as(
                "SELECT MIN(wake_at) FROM runs WHERE status IN ('running', 'awaiting_approval')",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(row.0)
    }

    /// Takes (or renews) `owner`'s lease on a run. Only one process holds a run at a time;
    /// a lease that runs out (its holder died) can be taken by anyone.
    pub async fn claim_run(&self, id: i64, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = self.now_ms();
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
            sqlx::query("UPDATE runs SET wake_at = 0 WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Clears the wake flag before the engine looks, so a wake during the look is not lost.
    pub async fn begin_look(&self, id: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE runs SET wake_at = 1 WHERE id = $1 AND wake_at = 0")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
