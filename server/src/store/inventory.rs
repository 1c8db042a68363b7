//! The engine's record of what AWS reports: ECS service snapshots and ECR listings, plus
//! the chore row that lets replicas share the periodic refresh.

use super::{BeginWrite, Store, StoreResult, on_pool};
use shipgate_pipeline::inventory::{LiveService, RegistryImage, RegistryListing};
use std::collections::{BTreeMap, HashMap};

/// An ECS service's identity: region, cluster, service name.
pub type ServiceKey = (String, String, String);

/// The name of the chore that refreshes service snapshots and ECR listings.
pub const INVENTORY: &str = "inventory";

/// How many images of a repository are kept (the newest); the images page shows fewer.
pub const IMAGES_KEPT: usize = 500;

/// Rows per INSERT when a listing is stored (six binds each, far below either driver's limit).
const INSERT_CHUNK: usize = 200;

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    region: String,
    cluster: String,
    service: String,
    status: Option<String>,
    task_definition: Option<String>,
    container_images: String,
    desired_count: Option<i64>,
    running_count: Option<i64>,
    pending_count: Option<i64>,
    deployments: Option<i64>,
    observed_at: Option<i64>,
    error: Option<String>,
    checked_at: i64,
}

#[derive(sqlx::FromRow)]
struct ListingRow {
    region: String,
    repository: String,
    repository_uri: Option<String>,
    image_count: Option<i64>,
    observed_at: Option<i64>,
    error: Option<String>,
    checked_at: i64,
}

#[derive(sqlx::FromRow)]
struct ImageRow {
    digest: String,
    tags: String,
    size_bytes: Option<i64>,
    pushed_at: Option<i64>,
}

impl Store {
    /// Takes the chore if it is due, moving its next turn to `next_due`. Of several
    /// replicas asking at once, exactly one gets `true`.
    pub async fn claim_chore(&self, name: &str, now: i64, next_due: i64) -> StoreResult<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("UPDATE engine_chores SET due_at = $1 WHERE name = $2 AND due_at <= $3")
                .bind(next_due)
                .bind(name)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Every service snapshot, by service.
    pub async fn service_snapshots(&self) -> StoreResult<HashMap<ServiceKey, LiveService>> {
        let rows: Vec<SnapshotRow> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT * FROM service_snapshots"
        )
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                let images: BTreeMap<String, String> =
                    serde_json::from_str(&r.container_images).unwrap_or_default();
                let live = LiveService {
                    status: r.status,
                    task_definition: r.task_definition,
                    images,
                    desired: r.desired_count,
                    running: r.running_count,
                    pending: r.pending_count,
                    deployments: r.deployments,
                    observed_at: r.observed_at,
                    error: r.error,
                    checked_at: r.checked_at,
                };
                ((r.region, r.cluster, r.service), live)
            })
            .collect())
    }

    /// Records what a DescribeServices saw (`live.error` is `None`), replacing the snapshot.
    pub async fn save_service_snapshot(
        &self,
        (region, cluster, service): &ServiceKey,
        live: &LiveService,
    ) -> StoreResult<()> {
        let images = serde_json::to_string(&live.images).unwrap_or_else(|_| "{}".into());
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO service_snapshots (region, cluster, service, status, task_definition, container_images, desired_count,
                     running_count, pending_count, deployments, observed_at, error, checked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)
                 ON CONFLICT (region, cluster, service) DO UPDATE SET status = excluded.status, task_definition = excluded.task_definition,
                     container_images = excluded.container_images, desired_count = excluded.desired_count,
                     running_count = excluded.running_count, pending_count = excluded.pending_count, deployments = excluded.deployments,
                     observed_at = excluded.observed_at, error = NULL, checked_at = excluded.checked_at",
            )
            .bind(region.as_str())
            .bind(cluster.as_str())
            .bind(service.as_str())
            .bind(live.status.as_deref())
            .bind(live.task_definition.as_deref())
            .bind(images)
            .bind(live.desired)
            .bind(live.running)
            .bind(live.pending)
            .bind(live.deployments)
            .bind(live.observed_at)
            .bind(live.checked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records why a look at a service failed, keeping what the last good look saw.
    pub async fn note_service_error(
        &self,
        (region, cluster, service): &ServiceKey,
        error: &str,
        checked_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO service_snapshots (region, cluster, service, error, checked_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (region, cluster, service) DO UPDATE SET error = excluded.error, checked_at = excluded.checked_at",
            )
            .bind(region.as_str())
            .bind(cluster.as_str())
            .bind(service.as_str())
            .bind(error)
            .bind(checked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Replaces a repository's stored images with a fresh listing, in one transaction, so
    /// a page never sees half of one listing and half of the previous.
    pub async fn save_registry_listing(
        &self,
        listing: &RegistryListing,
        images: &[RegistryImage],
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM registry_images WHERE region = $1 AND repository = $2")
                .bind(listing.region.as_str())
                .bind(listing.repository.as_str())
                .execute(&mut *tx)
                .await?;
            for chunk in images.chunks(INSERT_CHUNK) {
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO registry_images (region, repository, digest, tags, size_bytes, pushed_at) ",
                );
                insert.push_values(chunk, |mut row, image| {
                    row.push_bind(listing.region.as_str())
                        .push_bind(listing.repository.as_str())
                        .push_bind(image.digest.as_str())
                        .push_bind(
                            serde_json::to_string(&image.tags).unwrap_or_else(|_| "[]".into()),
                        )
                        .push_bind(image.size)
                        .push_bind(image.pushed_at);
                });
                insert.build().execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO registry_listings (region, repository, repository_uri, image_count, observed_at, error, checked_at)
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)
                 ON CONFLICT (region, repository) DO UPDATE SET repository_uri = excluded.repository_uri, image_count = excluded.image_count,
                     observed_at = excluded.observed_at, error = NULL, checked_at = excluded.checked_at",
            )
            .bind(listing.region.as_str())
            .bind(listing.repository.as_str())
            .bind(listing.repository_uri.as_deref())
            .bind(listing.image_count)
            .bind(listing.observed_at)
            .bind(listing.checked_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records why listing a repository failed, keeping the images the last good listing saw.
    pub async fn note_registry_error(
        &self,
        region: &str,
        repository: &str,
        error: &str,
        checked_at: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO registry_listings (region, repository, error, checked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (region, repository) DO UPDATE SET error = excluded.error, checked_at = excluded.checked_at",
            )
            .bind(region)
            .bind(repository)
            .bind(error)
            .bind(checked_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A repository's last listing and its newest `limit` images, newest first.
    pub async fn registry(
        &self,
        region: &str,
        repository: &str,
        limit: i64,
    ) -> StoreResult<(Option<RegistryListing>, Vec<RegistryImage>)> {
        let (listing, images): (Option<ListingRow>, Vec<ImageRow>) = on_pool!(self, |pool| {
            let listing = sqlx::query_as(
                "SELECT * FROM registry_listings WHERE region = $1 AND repository = $2",
            )
            .bind(region)
            .bind(repository)
            .fetch_optional(pool)
            .await?;
            let images = sqlx::query_as(
                "SELECT digest, tags, size_bytes, pushed_at FROM registry_images WHERE region = $1 AND repository = $2
                 ORDER BY COALESCE(pushed_at, 0) DESC, digest LIMIT $3",
            )
            .bind(region)
            .bind(repository)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            (listing, images)
        });
        let listing = listing.map(|l| RegistryListing {
            region: l.region,
            repository: l.repository,
            repository_uri: l.repository_uri,
            image_count: l.image_count,
            observed_at: l.observed_at,
            error: l.error,
            checked_at: l.checked_at,
        });
        let images = images
            .into_iter()
            .map(|i| RegistryImage {
                digest: i.digest,
                tags: serde_json::from_str(&i.tags).unwrap_or_default(),
                size: i.size_bytes,
                pushed_at: i.pushed_at,
            })
            .collect();
        Ok((listing, images))
    }
}
