//! Verify's records: each pipeline's newest request and report, and the signature
//! refusals and deliveries the webhook checks read.

use super::{AuditEntry, BeginWrite, Store, StoreError, StoreResult, append_audit, on_pool};
use shipgate_pipeline::verify::{VerifyReport, VerifyStatus, WebhookSeen};
use std::collections::BTreeMap;

/// A pipeline's Verify as stored.
pub type Verification = VerifyStatus;

/// A request an engine took: which pipeline, and which request (its time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyClaim {
    pub pipeline: String,
    pub requested_at: i64,
}

#[derive(sqlx::FromRow)]
struct CheckRow {
    requested_at: i64,
    requested_by: String,
    report_for: Option<i64>,
    report: Option<String>,
}

/// The events that tell Shipgate a CI run ended.
const CI_EVENTS: &str = "('workflow_run', 'check_suite')";

impl Store {
    /// Records that someone asked for a Verify of `pipeline`, audited, and returns the
    /// request's time (the report that answers it carries it as `report_for`).
    pub async fn request_verification(
        &self,
        pipeline: &str,
        actor: &AuditEntry,
    ) -> StoreResult<i64> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM pipelines WHERE name = $1")
                .bind(pipeline.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::PipelineNotFound(pipeline.to_owned()));
            }
            sqlx::query(
                "INSERT INTO pipeline_checks (pipeline, requested_at, requested_by) VALUES ($1, $2, $3)
                 ON CONFLICT (pipeline) DO UPDATE SET requested_at = excluded.requested_at, requested_by = excluded.requested_by",
            )
            .bind(pipeline.to_owned())
            .bind(now)
            .bind(actor.actor.clone())
            .execute(&mut *tx)
            .await?;
            append_audit!(
                &mut *tx,
                &AuditEntry {
                    action: "pipeline.verify".into(),
                    target: format!("pipeline:{pipeline}"),
                    detail: String::new(),
                    ..actor.clone()
                },
                now
            )?;
            tx.commit().await?;
            Ok(now)
        })
    }

    /// Takes the oldest unanswered request that no live engine holds: never claimed for
    /// this request, or claimed before `stale_before` by a process that did not finish.
    /// Of several engines asking at once, one gets each request.
    pub async fn claim_verification(
        &self,
        owner: &str,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<VerifyClaim>> {
        let candidates: Vec<(String, i64)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT pipeline, requested_at FROM pipeline_checks
             WHERE (report_for IS NULL OR report_for < requested_at)
               AND (claimed_at IS NULL OR claimed_at < requested_at OR claimed_at < $1)
             ORDER BY requested_at"
        )
        .bind(stale_before)
        .fetch_all(pool)
        .await?);
        for (pipeline, requested_at) in candidates {
            let taken = on_pool!(self, |pool| sqlx::query(
                "UPDATE pipeline_checks SET claimed_by = $1, claimed_at = $2
                 WHERE pipeline = $3 AND requested_at = $4
                   AND (claimed_at IS NULL OR claimed_at < requested_at OR claimed_at < $5)"
            )
            .bind(owner.to_owned())
            .bind(now)
            .bind(pipeline.clone())
            .bind(requested_at)
            .bind(stale_before)
            .execute(pool)
            .await?
            .rows_affected());
            if taken == 1 {
                return Ok(Some(VerifyClaim {
                    pipeline,
                    requested_at,
                }));
            }
        }
        Ok(None)
    }

    /// Stores a finished report for the request it answers, unless a report for a newer
    /// request is already there.
    pub async fn finish_verification(
        &self,
        claim: &VerifyClaim,
        report: &VerifyReport,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(report)
            .map_err(|e| StoreError::Corrupt(format!("verify report: {e}")))?;
        on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE pipeline_checks SET report = $1, problems = $2, finished_at = $3, report_for = $4
             WHERE pipeline = $5 AND (report_for IS NULL OR report_for <= $4)"
        )
        .bind(json)
        .bind(report.problems() as i64)
        .bind(report.finished_at)
        .bind(claim.requested_at)
        .bind(claim.pipeline.clone())
        .execute(pool)
        .await
        .map(|_| ())?
        });
        Ok(())
    }

    /// A pipeline's Verify, if one was ever asked for.
    pub async fn verification(&self, pipeline: &str) -> StoreResult<Option<Verification>> {
        let row: Option<CheckRow> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT requested_at, requested_by, report_for, report FROM pipeline_checks WHERE pipeline = $1"
        )
        .bind(pipeline.to_owned())
        .fetch_optional(pool)
        .await?
        });
        row.map(|r| {
            let report = r
                .report
                .as_deref()
                .map(serde_json::from_str::<VerifyReport>)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("verify report of {pipeline}: {e}")))?;
            Ok(Verification {
                requested_at: r.requested_at,
                requested_by: r.requested_by,
                pending: r.report_for.is_none_or(|f| f < r.requested_at),
                report,
            })
        })
        .transpose()
    }

    /// How many problems each pipeline's newest report found, and when it finished: the
    /// Pipelines page's badges.
    pub async fn verification_problems(&self) -> StoreResult<BTreeMap<String, (i64, i64)>> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT pipeline, problems, finished_at FROM pipeline_checks WHERE finished_at IS NOT NULL AND problems IS NOT NULL"
        )
        .fetch_all(pool)
        .await?
        });
        Ok(rows.into_iter().map(|(p, n, at)| (p, (n, at))).collect())
    }

    /// Counts a delivery refused for a bad signature against the repository its payload
    /// names (unverified, so only for Verify's hint). Only a repository some pipeline
    /// links is counted, so strangers' requests add no rows. The count starts again after
    /// a good delivery, so it says how many failed since the secret last worked.
    pub async fn record_rejection(&self, repository: &str) -> StoreResult<()> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO webhook_rejections (repository, first_at, last_at, refused)
             SELECT $1, $2, $2, 1 WHERE EXISTS (SELECT 1 FROM pipelines WHERE repository_key = $3)
             ON CONFLICT (repository) DO UPDATE SET last_at = excluded.last_at,
                 refused = CASE WHEN webhook_rejections.last_at < (SELECT COALESCE(MAX(received_at), 0) FROM webhook_deliveries WHERE repository = $1)
                                THEN 1 ELSE webhook_rejections.refused + 1 END"
        )
        .bind(repository.to_owned())
        .bind(now)
        .bind(repository.to_ascii_lowercase())
        .execute(pool)
        .await
        .map(|_| ())?
        });
        Ok(())
    }

    /// What intake has stored from `repository`, and the signature refusals newer than it.
    pub async fn webhook_seen(&self, repository: &str) -> StoreResult<WebhookSeen> {
        let last: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT event, received_at FROM webhook_deliveries WHERE repository = $1 ORDER BY received_at DESC LIMIT 1"
        )
        .bind(repository.to_owned())
        .fetch_optional(pool)
        .await?
        });
        let ci: Option<(String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(&format!(
            "SELECT event, received_at FROM webhook_deliveries WHERE repository = $1 AND event IN {CI_EVENTS} ORDER BY received_at DESC LIMIT 1"
        ))
        .bind(repository.to_owned())
        .fetch_optional(pool)
        .await?
        });
        let refused: Option<(i64, i64)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT last_at, refused FROM webhook_rejections WHERE repository = $1"
        )
        .bind(repository.to_owned())
        .fetch_optional(pool)
        .await?);
        let last_good = last.as_ref().map_or(i64::MIN, |(_, at)| *at);
        Ok(WebhookSeen {
            rejected: refused.filter(|(at, _)| *at > last_good),
            last_delivery: last,
            last_ci_event: ci,
        })
    }

    /// The newest run of a pipeline: its number, commit and branch (for the image check).
    pub async fn newest_run_commit(
        &self,
        pipeline: &str,
    ) -> StoreResult<Option<(i64, String, String)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT id, commit_sha, branch FROM runs WHERE pipeline_name = $1 ORDER BY id DESC LIMIT 1"
        )
        .bind(pipeline.to_owned())
        .fetch_optional(pool)
        .await?
        }))
    }
}
