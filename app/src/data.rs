//! Server functions: thin readers that ask the server's [`Dashboard`] for data.

use leptos::prelude::*;
use shipgate_pipeline::read::{DeliveryRecord, Page, PipelineImages, PipelineRecord, RunDetail, RunSummary, ServiceRecord};
#[cfg(feature = "ssr")]
use shipgate_pipeline::read::RunFilter;

/// What the dashboard needs from the server. The server implements it over its store and
/// provides it as `Arc<dyn Dashboard>` in the Leptos context.
#[cfg(feature = "ssr")]
pub trait Dashboard: Send + Sync + 'static {
    fn runs(&self, filter: RunFilter) -> futures::future::BoxFuture<'_, Result<Page<RunSummary>, String>>;
    fn run(&self, id: i64) -> futures::future::BoxFuture<'_, Result<Option<RunDetail>, String>>;
    fn pipelines(&self) -> futures::future::BoxFuture<'_, Result<Vec<PipelineRecord>, String>>;
    fn pipeline(&self, name: String) -> futures::future::BoxFuture<'_, Result<Option<PipelineRecord>, String>>;
    fn deliveries(&self, before: Option<i64>) -> futures::future::BoxFuture<'_, Result<Page<DeliveryRecord>, String>>;
    /// Every pipeline environment's ECS service, from Shipgate's deploy records (no AWS calls).
    fn services(&self) -> futures::future::BoxFuture<'_, Result<Vec<ServiceRecord>, String>>;
    /// The images a pipeline's builds found; `None` picks the first pipeline. `Ok(None)`
    /// if the pipeline does not exist (or there are no pipelines).
    fn images(&self, pipeline: Option<String>) -> futures::future::BoxFuture<'_, Result<Option<PipelineImages>, String>>;
}

#[cfg(feature = "ssr")]
fn dashboard() -> Result<std::sync::Arc<dyn Dashboard>, ServerFnError> {
    use_context::<std::sync::Arc<dyn Dashboard>>().ok_or_else(|| ServerFnError::new("the dashboard is not available"))
}

#[server]
pub async fn list_runs(pipeline: Option<String>, status: Option<String>, before: Option<i64>) -> Result<Page<RunSummary>, ServerFnError> {
    let status = match status.filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse().map_err(|e: shipgate_pipeline::UnknownStatus| ServerFnError::new(e.to_string()))?),
        None => None,
    };
    let filter = RunFilter { pipeline: pipeline.filter(|p| !p.is_empty()), status, before, limit: None };
    dashboard()?.runs(filter).await.map_err(ServerFnError::new)
}

#[server]
pub async fn get_run(id: i64) -> Result<Option<RunDetail>, ServerFnError> {
    dashboard()?.run(id).await.map_err(ServerFnError::new)
}

#[server]
pub async fn list_pipelines() -> Result<Vec<PipelineRecord>, ServerFnError> {
    dashboard()?.pipelines().await.map_err(ServerFnError::new)
}

#[server]
pub async fn get_pipeline(name: String) -> Result<Option<PipelineRecord>, ServerFnError> {
    dashboard()?.pipeline(name).await.map_err(ServerFnError::new)
}

#[server]
pub async fn list_deliveries(before: Option<i64>) -> Result<Page<DeliveryRecord>, ServerFnError> {
    dashboard()?.deliveries(before).await.map_err(ServerFnError::new)
}

#[server]
pub async fn list_services() -> Result<Vec<ServiceRecord>, ServerFnError> {
    dashboard()?.services().await.map_err(ServerFnError::new)
}

#[server]
pub async fn get_images(pipeline: Option<String>) -> Result<Option<PipelineImages>, ServerFnError> {
    dashboard()?.images(pipeline.filter(|p| !p.is_empty())).await.map_err(ServerFnError::new)
}
