//! The store, seen through the dashboard's [`Dashboard`] trait.

use crate::store::Store;
use futures::future::BoxFuture;
use futures::FutureExt;
use shipgate_app::Dashboard;
use shipgate_pipeline::read::{DeliveryRecord, Page, PipelineImages, PipelineRecord, RunDetail, RunFilter, RunSummary, ServiceRecord};

pub struct StoreDashboard(pub Store);

/// Store errors reach the page as a short message; details stay in the server log.
fn shown(e: crate::store::StoreError) -> String {
    tracing::error!(error = %e, "dashboard query failed");
    "the database query failed; the server log has the details".to_owned()
}

impl Dashboard for StoreDashboard {
    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Page<RunSummary>, String>> {
        async move { self.0.list_runs(&filter).await.map_err(shown) }.boxed()
    }

    fn run(&self, id: i64) -> BoxFuture<'_, Result<Option<RunDetail>, String>> {
        async move { self.0.get_run(id).await.map_err(shown) }.boxed()
    }

    fn pipelines(&self) -> BoxFuture<'_, Result<Vec<PipelineRecord>, String>> {
        async move { self.0.list_pipelines().await.map_err(shown) }.boxed()
    }

    fn pipeline(&self, name: String) -> BoxFuture<'_, Result<Option<PipelineRecord>, String>> {
        async move { self.0.get_pipeline(&name).await.map_err(shown) }.boxed()
    }

    fn deliveries(&self, before: Option<i64>) -> BoxFuture<'_, Result<Page<DeliveryRecord>, String>> {
        async move { self.0.list_deliveries(before, shipgate_pipeline::read::DEFAULT_PAGE).await.map_err(shown) }.boxed()
    }

    fn services(&self) -> BoxFuture<'_, Result<Vec<ServiceRecord>, String>> {
        async move { self.0.service_records().await.map_err(shown) }.boxed()
    }

    fn images(&self, pipeline: Option<String>) -> BoxFuture<'_, Result<Option<PipelineImages>, String>> {
        async move {
            let name = match pipeline {
                Some(name) => name,
                None => match self.0.list_pipelines().await.map_err(shown)?.into_iter().next() {
                    Some(first) => first.spec.name,
                    None => return Ok(None),
                },
            };
            self.0.pipeline_images(&name).await.map_err(shown)
        }
        .boxed()
    }
}
