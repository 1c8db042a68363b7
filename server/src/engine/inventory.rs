//! The inventory: what ECS runs on each environment's service and what each pipeline's ECR
//! repository holds, looked up on a timer and whenever a deploy ends. The services and
//! images pages read the result from the store, so they show the truth of AWS (including
//! changes made outside Shipgate) without calling AWS per page view. Replicas share the
//! chore through the store: one refresh per interval, whichever process claims it.

use super::{Engine, EngineError};
use crate::aws::ServiceTarget;
use crate::store::inventory::{IMAGES_KEPT, INVENTORY, ServiceKey};
use futures::StreamExt;
use shipgate_pipeline::inventory::{LiveService, RegistryListing};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tracing::debug;

/// AWS calls in flight at once during a refresh.
const CONCURRENCY: usize = 4;

/// What one refresh looked at, and how many of those looks failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InventoryReport {
    pub services: usize,
    pub services_failed: usize,
    pub repositories: usize,
    pub repositories_failed: usize,
}

impl Engine {
    /// Refreshes the inventory if it is due and no other replica took this turn.
    pub async fn inventory_tick(&self) -> Result<Option<InventoryReport>, EngineError> {
        let now = self.store.now_ms();
        if !self
            .store
            .claim_chore(INVENTORY, now, now + self.settings.inventory.as_millis())
            .await?
        {
            return Ok(None);
        }
        Ok(Some(self.refresh_inventory().await?))
    }

    /// Looks at every service and repository the pipelines name, once each, and stores what
    /// AWS said. A failed look is stored too (AWS's code and message), beside the last good one.
    pub async fn refresh_inventory(&self) -> Result<InventoryReport, EngineError> {
        let pipelines = self.store.list_pipelines().await?;
        let mut services: BTreeMap<ServiceKey, ServiceTarget> = BTreeMap::new();
        let mut repositories: BTreeSet<(String, String)> = BTreeSet::new();
        for p in &pipelines {
            repositories.insert((
                p.spec.ecr_region().to_owned(),
                p.spec.ecr_repository.clone(),
            ));
            for e in &p.spec.environments {
                let key = (e.region.clone(), e.cluster.clone(), e.service.clone());
                services.entry(key).or_insert_with(|| ServiceTarget {
                    region: e.region.clone(),
                    role_arn: e.deploy.role_arn.clone(),
                    cluster: e.cluster.clone(),
                    service: e.service.clone(),
                });
            }
        }
        let known = self.store.service_snapshots().await?;
        let service_results: Vec<Result<bool, EngineError>> = futures::stream::iter(services)
            .map(|(key, target)| {
                let known = &known;
                async move { self.look_at_service(&key, &target, known).await }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let repository_results: Vec<Result<bool, EngineError>> =
            futures::stream::iter(repositories)
                .map(|(region, repository)| async move {
                    self.list_repository(&region, &repository).await
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let mut report = InventoryReport::default();
        for r in service_results {
            report.services += 1;
            report.services_failed += usize::from(!r?);
        }
        for r in repository_results {
            report.repositories += 1;
            report.repositories_failed += usize::from(!r?);
        }
        debug!(?report, "inventory refreshed");
        Ok(report)
    }

    /// Looks again at the services whose deploys ended since the last call.
    pub async fn recheck_services(&self) -> Result<usize, EngineError> {
        let due = std::mem::take(
            &mut *self
                .recheck
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if due.is_empty() {
            return Ok(0);
        }
        let known = self.store.service_snapshots().await?;
        for (key, target) in &due {
            self.look_at_service(key, target, &known).await?;
        }
        Ok(due.len())
    }

    /// Stores what ECS says about one service; `Ok(false)` if AWS refused or failed.
    async fn look_at_service(
        &self,
        key: &ServiceKey,
        target: &ServiceTarget,
        known: &HashMap<ServiceKey, LiveService>,
    ) -> Result<bool, EngineError> {
        let checked_at = self.store.now_ms();
        let view = match self.cloud.describe_service(target).await {
            Ok(view) => {
                self.trouble.cleared(&service_subject(target));
                view
            }
            Err(e) => {
                let text = e.to_string();
                // The error is on the services page; the log says it once, not every refresh.
                self.trouble.failed(&service_subject(target), &e);
                self.store
                    .note_service_error(key, &text, checked_at)
                    .await?;
                return Ok(false);
            }
        };
        // A task definition revision never changes, so its images are read once per revision.
        let previous = known.get(key).filter(|k| {
            k.task_definition.as_deref() == Some(view.task_definition.as_str())
                && !k.images.is_empty()
        });
        let images = match previous {
            Some(k) => k.images.clone(),
            None if view.task_definition.is_empty() => BTreeMap::new(),
            None => match self
                .cloud
                .container_images(target, &view.task_definition)
                .await
            {
                Ok(images) => images,
                Err(e) => {
                    self.store
                        .note_service_error(key, &e.to_string(), checked_at)
                        .await?;
                    return Ok(false);
                }
            },
        };
        let live = LiveService {
            status: Some(view.status),
            task_definition: (!view.task_definition.is_empty()).then_some(view.task_definition),
            images,
            desired: Some(i64::from(view.desired)),
            running: Some(i64::from(view.running)),
            pending: Some(i64::from(view.pending)),
            deployments: Some(view.deployments.len() as i64),
            observed_at: Some(self.store.now_ms()),
            error: None,
            checked_at,
        };
        self.store.save_service_snapshot(key, &live).await?;
        Ok(true)
    }

    /// Stores a repository's newest images; `Ok(false)` if AWS refused or failed.
    async fn list_repository(&self, region: &str, repository: &str) -> Result<bool, EngineError> {
        let checked_at = self.store.now_ms();
        match self
            .cloud
            .list_images(region, repository, IMAGES_KEPT)
            .await
        {
            Ok(found) => {
                self.trouble
                    .cleared(&format!("repository {region}/{repository}"));
                let listing = RegistryListing {
                    region: region.to_owned(),
                    repository: repository.to_owned(),
                    repository_uri: found.repository_uri,
                    image_count: Some(found.total as i64),
                    observed_at: Some(self.store.now_ms()),
                    error: None,
                    checked_at,
                };
                self.store
                    .save_registry_listing(&listing, &found.images)
                    .await?;
                Ok(true)
            }
            Err(e) => {
                let text = e.to_string();
                self.trouble
                    .failed(&format!("repository {region}/{repository}"), &e);
                self.store
                    .note_registry_error(region, repository, &text, checked_at)
                    .await?;
                Ok(false)
            }
        }
    }
}

/// What the log calls a service's AWS failures.
fn service_subject(target: &ServiceTarget) -> String {
    format!(
        "service {}/{} ({})",
        target.cluster, target.service, target.region
    )
}
