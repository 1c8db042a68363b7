//! What the deploy engine keeps, by aggregate: [`super::leases`], [`super::builds`],
//! [`super::deploys`] (with service locks), [`super::ci`] and [`super::keys`]; this module
//! keeps their old paths, and the reads that join them. Every AWS call the engine makes is
//! bracketed by writes there (the step it is about to take, then what came back), which is
//! what lets a restarted process pick up exactly where a killed one stopped.

pub use super::builds::BuildRow;
pub use super::ci::CiReport;
pub use super::deploys::{DeployChange, DeployRow};
pub use super::leases::ASLEEP;
pub use shipgate_pipeline::deploy_step::DeployStep;

use super::{Store, StoreResult, on_pool};
use shipgate_pipeline::read::{BuildInfo, DeployInfo, GateDecision};

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

impl Store {
    /// Writes a stage's detail without changing its status: what a waiting stage waits for.
    pub async fn note_stage(&self, run_id: i64, position: i64, detail: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("UPDATE stage_runs SET detail = $1 WHERE run_id = $2 AND position = $3")
                .bind(detail)
                .bind(run_id)
                .bind(position)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The other runs of `pipeline` waiting at the gate of `environment`.
    pub async fn waiting_at_gate(
        &self,
        pipeline: &str,
        environment: &str,
    ) -> StoreResult<Vec<i64>> {
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

    pub(crate) async fn engine_details(
        &self,
        run_id: i64,
    ) -> StoreResult<(Option<BuildInfo>, Vec<DeployInfo>, Vec<GateDecision>)> {
        let build = self.get_build(run_id).await?.map(BuildInfo::from);
        let deploys = self
            .get_deploys(run_id)
            .await?
            .into_iter()
            .map(DeployInfo::from)
            .collect();
        let decisions: Vec<DecisionRow> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT environment, decision, actor, person, comment, image_digest, at FROM gate_decisions WHERE run_id = $1 ORDER BY id")
                .bind(run_id)
                .fetch_all(pool)
                .await?
        });
        let decisions = decisions
            .into_iter()
            .map(|d| GateDecision {
                environment: d.environment,
                decision: d.decision,
                actor: d.actor,
                person: d.person,
                comment: d.comment,
                image_digest: d.image_digest,
                at: d.at,
            })
            .collect();
        Ok((build, deploys, decisions))
    }
}
