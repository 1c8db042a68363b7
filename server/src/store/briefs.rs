//! Gate briefs: what the engine gathered for a release manager when a gate opened.

use super::{Store, StoreError, StoreResult, on_pool};
use shipgate_pipeline::brief::GateBrief;

impl Store {
    /// The brief gathered for a run's gate at `position`, and how many times it was tried.
    pub async fn gate_brief(
        &self,
        run_id: i64,
        position: i64,
    ) -> StoreResult<Option<(GateBrief, i64)>> {
        let row: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT brief, attempts FROM gate_briefs WHERE run_id = $1 AND position = $2",
            )
            .bind(run_id)
            .bind(position)
            .fetch_optional(pool)
            .await?
        });
        row.map(|(json, attempts)| Ok((parse(&json)?, attempts)))
            .transpose()
    }

    /// Stores (or replaces) a run's brief for the gate at `position`.
    pub async fn save_gate_brief(
        &self,
        run_id: i64,
        position: i64,
        brief: &GateBrief,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(brief)
            .map_err(|e| StoreError::Corrupt(format!("a gate brief does not serialize: {e}")))?;
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO gate_briefs (run_id, position, brief, attempts, gathered_at) VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (run_id, position) DO UPDATE SET brief = excluded.brief, attempts = gate_briefs.attempts + 1, gathered_at = excluded.gathered_at",
            )
            .bind(run_id)
            .bind(position)
            .bind(json)
            .bind(self.now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every brief of a run, in gate order.
    pub(crate) async fn run_briefs(&self, run_id: i64) -> StoreResult<Vec<GateBrief>> {
        let rows: Vec<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT brief FROM gate_briefs WHERE run_id = $1 ORDER BY position")
                .bind(run_id)
                .fetch_all(pool)
                .await?
        });
        rows.iter().map(|(json,)| parse(json)).collect()
    }
}

fn parse(json: &str) -> StoreResult<GateBrief> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("a stored gate brief: {e}")))
}
