//! Read-only views over the engine's records, for the dashboard: what each ECS service runs
//! according to Shipgate's own deploys, and the images each pipeline's builds found.
//! Nothing here calls AWS; the pages show what Shipgate recorded, and say so.

use super::{Store, StoreResult, on_pool};
use shipgate_pipeline::read::{EnvironmentImage, ImageRecord, PipelineImages, ServiceDeploy, ServiceRecord};
use std::collections::HashMap;

/// How many of a service's deploys the services page lists.
pub const SERVICE_HISTORY: i64 = 10;
/// How many distinct images the images page lists, and how many build rows it reads for them.
pub const IMAGES_SHOWN: usize = 100;
const IMAGE_ROWS: i64 = 300;

/// Where a deploy went: region, cluster, service.
type Target = (String, String, String);

#[derive(sqlx::FromRow)]
struct ServiceDeployRow {
    run_id: i64,
    pipeline_name: String,
    environment: String,
    commit_sha: String,
    image: String,
    task_definition: Option<String>,
    step: String,
    outcome: Option<String>,
    error: Option<String>,
    desired_count: Option<i64>,
    running_count: Option<i64>,
    pending_count: Option<i64>,
    failed_tasks: Option<i64>,
    queued_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl From<ServiceDeployRow> for ServiceDeploy {
    fn from(d: ServiceDeployRow) -> Self {
        ServiceDeploy {
            run_id: d.run_id,
            pipeline: d.pipeline_name,
            environment: d.environment,
            commit_sha: d.commit_sha,
            image: d.image,
            task_definition: d.task_definition,
            step: d.step,
            outcome: d.outcome,
            error: d.error,
            desired: d.desired_count,
            running: d.running_count,
            pending: d.pending_count,
            failed: d.failed_tasks,
            queued_at: d.queued_at,
            started_at: d.started_at,
            finished_at: d.finished_at,
        }
    }
}

/// Deploys to one service (`$1` region, `$2` cluster, `$3` service); served by `deploys_by_service`.
const SERVICE_DEPLOYS: &str = "SELECT d.run_id, r.pipeline_name, d.environment, r.commit_sha, d.image, d.task_definition, d.step, \
    d.outcome, d.error, d.desired_count, d.running_count, d.pending_count, d.failed_tasks, d.queued_at, d.started_at, d.finished_at \
    FROM deploys d JOIN runs r ON r.id = d.run_id WHERE d.region = $1 AND d.cluster = $2 AND d.service = $3";

#[derive(sqlx::FromRow)]
struct ImageRow {
    run_id: i64,
    image_tag: String,
    image_uri: Option<String>,
    image_digest: String,
    image_size: Option<i64>,
    image_pushed_at: Option<i64>,
    scan_status: Option<String>,
    scan_counts: Option<String>,
}

impl Store {
    /// The latest deploy to a service that succeeded: what Shipgate last put there.
    async fn last_success(&self, (region, cluster, service): &Target) -> StoreResult<Option<ServiceDeploy>> {
        let row: Option<ServiceDeployRow> = on_pool!(self, |pool| {
            sqlx::query_as(&format!("{SERVICE_DEPLOYS} AND d.outcome = $4 ORDER BY d.finished_at DESC, d.run_id DESC LIMIT 1"))
                .bind(region.clone())
                .bind(cluster.clone())
                .bind(service.clone())
                .bind("succeeded")
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(ServiceDeploy::from))
    }

    /// A service's most recent deploys, whatever became of them, newest first.
    async fn recent_deploys(&self, (region, cluster, service): &Target, limit: i64) -> StoreResult<Vec<ServiceDeploy>> {
        let rows: Vec<ServiceDeployRow> = on_pool!(self, |pool| {
            sqlx::query_as(&format!("{SERVICE_DEPLOYS} ORDER BY d.queued_at DESC, d.run_id DESC LIMIT $4"))
                .bind(region.clone())
                .bind(cluster.clone())
                .bind(service.clone())
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(ServiceDeploy::from).collect())
    }

    /// Every pipeline environment's ECS service, in pipeline and promotion order, with what
    /// Shipgate last deployed there and its recent deploys.
    pub async fn service_records(&self) -> StoreResult<Vec<ServiceRecord>> {
        let pipelines = self.list_pipelines().await?;
        let mut looked: HashMap<Target, (Option<ServiceDeploy>, Vec<ServiceDeploy>)> = HashMap::new();
        let mut records = Vec::new();
        for p in pipelines {
            for e in p.spec.environments {
                let target = (e.region.clone(), e.cluster.clone(), e.service.clone());
                if !looked.contains_key(&target) {
                    let found = (self.last_success(&target).await?, self.recent_deploys(&target, SERVICE_HISTORY).await?);
                    looked.insert(target.clone(), found);
                }
                let (current, recent) = looked[&target].clone();
                records.push(ServiceRecord {
                    pipeline: p.spec.name.clone(),
                    environment: e.name,
                    promotion: e.promotion,
                    region: e.region,
                    cluster: e.cluster,
                    service: e.service,
                    container: e.container,
                    current,
                    recent,
                });
            }
        }
        Ok(records)
    }

    /// The images a pipeline's builds found in ECR, newest first and once per digest, each
    /// marked with the environments whose last successful deploy was that digest. `None`
    /// if there is no such pipeline.
    pub async fn pipeline_images(&self, name: &str) -> StoreResult<Option<PipelineImages>> {
        let Some(pipeline) = self.get_pipeline(name).await? else { return Ok(None) };
        let mut environments = Vec::new();
        for e in &pipeline.spec.environments {
            let current = self.last_success(&(e.region.clone(), e.cluster.clone(), e.service.clone())).await?;
            environments.push(EnvironmentImage {
                environment: e.name.clone(),
                digest: current.as_ref().map(|d| d.digest().to_owned()),
                run_id: current.as_ref().map(|d| d.run_id),
                since: current.as_ref().and_then(|d| d.finished_at),
            });
        }
        let rows: Vec<ImageRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT b.run_id, b.image_tag, b.image_uri, b.image_digest, b.image_size, b.image_pushed_at, b.scan_status, b.scan_counts
                 FROM builds b JOIN runs r ON r.id = b.run_id
                 WHERE r.pipeline_name = $1 AND b.image_digest IS NOT NULL
                 ORDER BY COALESCE(b.image_pushed_at, r.created_at) DESC, b.run_id DESC LIMIT $2",
            )
            .bind(name.to_owned())
            .bind(IMAGE_ROWS + 1)
            .fetch_all(pool)
            .await?
        });
        let mut more = rows.len() as i64 > IMAGE_ROWS;
        let mut images: Vec<ImageRecord> = Vec::new();
        let mut by_digest: HashMap<String, usize> = HashMap::new();
        for row in rows.into_iter().take(IMAGE_ROWS as usize) {
            if let Some(&i) = by_digest.get(&row.image_digest) {
                // An older build that found the same image: it adds a tag and a run.
                let image = &mut images[i];
                if !image.tags.contains(&row.image_tag) {
                    image.tags.push(row.image_tag);
                }
                image.runs.push(row.run_id);
                image.uri = image.uri.take().or(row.image_uri);
                image.size = image.size.or(row.image_size);
                image.pushed_at = image.pushed_at.or(row.image_pushed_at);
                continue;
            }
            by_digest.insert(row.image_digest.clone(), images.len());
            let live_in = environments
                .iter()
                .filter(|e| e.digest.as_deref() == Some(row.image_digest.as_str()))
                .map(|e| e.environment.clone())
                .collect();
            images.push(ImageRecord {
                digest: row.image_digest,
                uri: row.image_uri,
                tags: vec![row.image_tag],
                size: row.image_size,
                pushed_at: row.image_pushed_at,
                scan_status: row.scan_status,
                scan_counts: row.scan_counts.and_then(|c| serde_json::from_str(&c).ok()),
                runs: vec![row.run_id],
                live_in,
            });
        }
        if images.len() > IMAGES_SHOWN {
            images.truncate(IMAGES_SHOWN);
            more = true;
        }
        Ok(Some(PipelineImages {
            pipeline: pipeline.spec.name,
            ecr_repository: pipeline.spec.ecr_repository,
            environments,
            images,
            more,
        }))
    }
}
