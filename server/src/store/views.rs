//! Read-only views for the dashboard's services and images pages: what ECS and ECR last
//! reported (the engine's inventory), joined with Shipgate's own deploys and builds.
//! Nothing here calls AWS.

use super::inventory::{IMAGES_KEPT, ServiceKey};
use super::{Store, StoreResult, on_pool};
use shipgate_pipeline::inventory::{LiveService, runs_image};
use shipgate_pipeline::read::{
    EnvironmentImage, ImageRecord, PipelineImages, ServiceDeploy, ServiceRecord, image_digest,
};
use std::collections::HashMap;

/// How many of a service's deploys the services page lists.
pub const SERVICE_HISTORY: i64 = 10;
/// How many distinct images the images page lists, and how many build rows it reads for them.
pub const IMAGES_SHOWN: usize = 100;
const IMAGE_ROWS: i64 = 300;

/// Where a deploy went: region, cluster, service.
type Target = ServiceKey;

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
    async fn last_success(
        &self,
        (region, cluster, service): &Target,
    ) -> StoreResult<Option<ServiceDeploy>> {
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
    async fn recent_deploys(
        &self,
        (region, cluster, service): &Target,
        limit: i64,
    ) -> StoreResult<Vec<ServiceDeploy>> {
        let rows: Vec<ServiceDeployRow> = on_pool!(self, |pool| {
            sqlx::query_as(&format!(
                "{SERVICE_DEPLOYS} ORDER BY d.queued_at DESC, d.run_id DESC LIMIT $4"
            ))
            .bind(region.clone())
            .bind(cluster.clone())
            .bind(service.clone())
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(ServiceDeploy::from).collect())
    }

    /// The deploy that registered `task_definition` on a service, if Shipgate made it.
    async fn deploy_of_task_definition(
        &self,
        (region, cluster, service): &Target,
        task_definition: &str,
    ) -> StoreResult<Option<ServiceDeploy>> {
        let row: Option<ServiceDeployRow> = on_pool!(self, |pool| {
            sqlx::query_as(&format!("{SERVICE_DEPLOYS} AND d.task_definition = $4 ORDER BY d.queued_at DESC, d.run_id DESC LIMIT 1"))
                .bind(region.clone())
                .bind(cluster.clone())
                .bind(service.clone())
                .bind(task_definition.to_owned())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(ServiceDeploy::from))
    }

    /// The deploy behind what a service runs now by ECS's report, if Shipgate made it.
    async fn live_deploy(
        &self,
        target: &Target,
        live: Option<&LiveService>,
    ) -> StoreResult<Option<ServiceDeploy>> {
        match live.and_then(|l| l.task_definition.as_deref()) {
            Some(td) => self.deploy_of_task_definition(target, td).await,
            None => Ok(None),
        }
    }

    /// Every pipeline environment's ECS service, in pipeline and promotion order: what ECS
    /// last reported, what Shipgate last deployed there, and its recent deploys.
    pub async fn service_records(&self) -> StoreResult<Vec<ServiceRecord>> {
        let pipelines = self.list_pipelines().await?;
        let snapshots = self.service_snapshots().await?;
        type Found = (
            Option<ServiceDeploy>,
            Option<ServiceDeploy>,
            Vec<ServiceDeploy>,
        );
        let mut looked: HashMap<Target, Found> = HashMap::new();
        let mut records = Vec::new();
        for p in pipelines {
            for e in p.spec.environments {
                let target = (e.region.clone(), e.cluster.clone(), e.service.clone());
                let live = snapshots.get(&target).cloned();
                if !looked.contains_key(&target) {
                    let found = (
                        self.live_deploy(&target, live.as_ref()).await?,
                        self.last_success(&target).await?,
                        self.recent_deploys(&target, SERVICE_HISTORY).await?,
                    );
                    looked.insert(target.clone(), found);
                }
                let (live_deploy, current, recent) = looked[&target].clone();
                records.push(ServiceRecord {
                    pipeline: p.spec.name.clone(),
                    environment: e.name,
                    promotion: e.promotion,
                    region: e.region,
                    cluster: e.cluster,
                    service: e.service,
                    container: e.container,
                    live,
                    live_deploy,
                    current,
                    recent,
                });
            }
        }
        Ok(records)
    }

    /// A pipeline's images, newest first and once per digest: the last ECR listing of its
    /// repository merged with the images its builds found, each marked with the
    /// environments that run it. `None` if there is no such pipeline.
    pub async fn pipeline_images(&self, name: &str) -> StoreResult<Option<PipelineImages>> {
        let Some(pipeline) = self.get_pipeline(name).await? else {
            return Ok(None);
        };
        let spec = pipeline.spec;
        let (listing, listed) = self
            .registry(spec.ecr_region(), &spec.ecr_repository, IMAGES_KEPT as i64)
            .await?;
        let listed_ok = listing.as_ref().is_some_and(|l| l.observed_at.is_some());
        let repository_uri = listing.as_ref().and_then(|l| l.repository_uri.clone());

        let mut images: Vec<ImageRecord> = Vec::new();
        let mut by_digest: HashMap<String, usize> = HashMap::new();
        for image in listed {
            by_digest.insert(image.digest.clone(), images.len());
            images.push(ImageRecord {
                digest: image.digest,
                uri: repository_uri.clone(),
                tags: image.tags,
                size: image.size,
                pushed_at: image.pushed_at,
                scan_status: None,
                scan_counts: None,
                runs: Vec::new(),
                live_in: Vec::new(),
                in_registry: Some(true),
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
        for row in rows.into_iter().take(IMAGE_ROWS as usize) {
            let i = *by_digest
                .entry(row.image_digest.clone())
                .or_insert_with(|| {
                    images.push(ImageRecord {
                        digest: row.image_digest.clone(),
                        uri: None,
                        tags: Vec::new(),
                        size: None,
                        pushed_at: None,
                        scan_status: None,
                        scan_counts: None,
                        runs: Vec::new(),
                        live_in: Vec::new(),
                        // The repository was listed and this image was not among its newest
                        // IMAGES_KEPT: deleted from ECR, or too old to be kept.
                        in_registry: listed_ok.then_some(false),
                    });
                    images.len() - 1
                });
            // Builds come newest first: the first to mention the image sets its scan.
            let image = &mut images[i];
            if !image.tags.contains(&row.image_tag) {
                image.tags.push(row.image_tag);
            }
            image.runs.push(row.run_id);
            image.uri = image.uri.take().or(row.image_uri);
            image.size = image.size.or(row.image_size);
            image.pushed_at = image.pushed_at.or(row.image_pushed_at);
            if image.scan_status.is_none() {
                image.scan_status = row.scan_status;
                image.scan_counts = row.scan_counts.and_then(|c| serde_json::from_str(&c).ok());
            }
        }

        let snapshots = self.service_snapshots().await?;
        let mut environments = Vec::new();
        for e in &spec.environments {
            let target = (e.region.clone(), e.cluster.clone(), e.service.clone());
            let live = snapshots.get(&target).filter(|l| l.observed_at.is_some());
            let environment = match live {
                // ECS's own report: the image in the pipeline's container, whoever put it there.
                Some(live) => {
                    let image = live.image_of(&e.container).map(str::to_owned);
                    let digest = image.as_deref().and_then(|reference| {
                        images
                            .iter()
                            .find(|i| {
                                runs_image(
                                    reference,
                                    i.uri.as_deref().or(repository_uri.as_deref()),
                                    &i.digest,
                                    &i.tags,
                                )
                            })
                            .map(|i| i.digest.clone())
                            .or_else(|| {
                                reference
                                    .contains('@')
                                    .then(|| image_digest(reference).to_owned())
                            })
                    });
                    let by = self.live_deploy(&target, Some(live)).await?;
                    EnvironmentImage {
                        environment: e.name.clone(),
                        image,
                        digest,
                        run_id: by.as_ref().map(|d| d.run_id),
                        since: by.as_ref().and_then(|d| d.finished_at),
                        observed_at: live.observed_at,
                    }
                }
                // Not looked up yet: Shipgate's last successful deploy.
                None => {
                    let current = self.last_success(&target).await?;
                    EnvironmentImage {
                        environment: e.name.clone(),
                        image: current.as_ref().map(|d| d.image.clone()),
                        digest: current.as_ref().map(|d| d.digest().to_owned()),
                        run_id: current.as_ref().map(|d| d.run_id),
                        since: current.as_ref().and_then(|d| d.finished_at),
                        observed_at: None,
                    }
                }
            };
            environments.push(environment);
        }
        for image in &mut images {
            image.live_in = environments
                .iter()
                .filter(|e| e.digest.as_deref() == Some(image.digest.as_str()))
                .map(|e| e.environment.clone())
                .collect();
        }

        images.sort_by(|a, b| {
            b.pushed_at
                .cmp(&a.pushed_at)
                .then_with(|| a.digest.cmp(&b.digest))
        });
        if images.len() > IMAGES_SHOWN {
            images.truncate(IMAGES_SHOWN);
            more = true;
        }
        more |= listing
            .as_ref()
            .and_then(|l| l.image_count)
            .is_some_and(|n| n > IMAGES_KEPT as i64);
        Ok(Some(PipelineImages {
            pipeline: spec.name,
            ecr_repository: spec.ecr_repository,
            listing,
            environments,
            images,
            more,
        }))
    }
}

impl Store {
    /// What a run page shows, in a few numbers: it changes whenever the page would.
    /// `None` if there is no such run.
    pub async fn run_fingerprint(&self, id: i64) -> StoreResult<Option<String>> {
        let row: Option<(i64, i64, i64, i64, i64, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.version, r.updated_at,
                    CAST((SELECT COUNT(*) + COALESCE(SUM(COALESCE(d.running_count, 0) + 1000 * COALESCE(d.pending_count, 0) + 1000000 * COALESCE(d.failed_tasks, 0) + LENGTH(d.events) + LENGTH(d.step)), 0) FROM deploys d WHERE d.run_id = r.id) AS BIGINT),
                    CAST((SELECT COALESCE(MAX(b.checks), -1) FROM builds b WHERE b.run_id = r.id) AS BIGINT),
                    CAST((SELECT COUNT(*) FROM gate_decisions g WHERE g.run_id = r.id) AS BIGINT),
                    CAST((SELECT COALESCE(SUM(gb.attempts), 0) FROM gate_briefs gb WHERE gb.run_id = r.id) AS BIGINT),
                    CAST((SELECT COUNT(*) + COALESCE(SUM(o.attempts), 0) FROM outbox o WHERE o.run_id = r.id) AS BIGINT)
                 FROM runs r WHERE r.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(a, b, c, d, e, f, g)| format!("{a}.{b}.{c}.{d}.{e}.{f}.{g}")))
    }

    /// What a live page watches: run `id`'s fingerprint (`None` if there is no such run), or,
    /// with no id, the runs list's.
    pub async fn live_fingerprint(&self, run: Option<i64>) -> StoreResult<Option<String>> {
        match run {
            Some(id) => self.run_fingerprint(id).await,
            None => self.runs_fingerprint().await.map(Some),
        }
    }

    /// What the runs list shows: the newest run and the latest change to any run.
    pub async fn runs_fingerprint(&self) -> StoreResult<String> {
        let (newest, changed): (i64, i64) = on_pool!(self, |pool| {
            // One aggregate per subquery: SQLite answers a lone MAX from an index (the primary
            // key, `runs_by_updated`), but scans the table for two in one SELECT.
            sqlx::query_as("SELECT COALESCE((SELECT MAX(id) FROM runs), 0), COALESCE((SELECT MAX(updated_at) FROM runs), 0)").fetch_one(pool).await?
        });
        Ok(format!("{newest}.{changed}"))
    }
}
