//! A run's build as the engine follows it: CI's report, the image in ECR and its scan.

use super::ci::CiReport;
use super::{Store, StoreError, StoreResult, on_pool};
use shipgate_pipeline::read::BuildInfo;

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

const BUILD_COLUMNS: &str = "run_id, image_tag, deadline_at, checks, ci_name, ci_status, ci_conclusion, ci_url, image_uri, image_digest, \
    image_size, image_pushed_at, scan_deadline_at, scan_status, scan_counts, last_error";

impl Store {
    pub async fn get_build(&self, run_id: i64) -> StoreResult<Option<BuildRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "SELECT {BUILD_COLUMNS} FROM builds WHERE run_id = $1"
            ))
            .bind(run_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Starts tracking a run's build (once; a second call keeps the first).
    pub async fn start_build(
        &self,
        run_id: i64,
        image_tag: &str,
        deadline_at: i64,
    ) -> StoreResult<BuildRow> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO builds (run_id, image_tag, deadline_at) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING")
                .bind(run_id)
                .bind(image_tag.to_owned())
                .bind(deadline_at)
                .execute(pool)
                .await?;
        });
        self.get_build(run_id)
            .await?
            .ok_or(StoreError::RunNotFound(run_id))
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

    pub async fn record_image(
        &self,
        run_id: i64,
        uri: &str,
        digest: &str,
        size: Option<i64>,
        pushed_at: Option<i64>,
        scan_deadline: Option<i64>,
    ) -> StoreResult<()> {
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

    pub async fn record_scan(
        &self,
        run_id: i64,
        status: &str,
        counts: Option<&str>,
    ) -> StoreResult<()> {
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
}
