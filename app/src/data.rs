//! Server functions: thin readers that ask the server's [`Dashboard`] for data.

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::TokenSpec;
#[cfg(feature = "ssr")]
use shipgate_pipeline::read::{AuditFilter, AuditRecord, CreatedToken, RunFilter, TokenRecord};
use shipgate_pipeline::read::{
    DeliveryRecord, Page, PendingGate, PipelineImages, PipelineRecord, RunDetail, RunSummary,
    ServiceRecord,
};

/// What the dashboard needs from the server. The server implements it over its store and
/// provides it as `Arc<dyn Dashboard>` in the Leptos context.
#[cfg(feature = "ssr")]
pub trait Dashboard: Send + Sync + 'static {
    fn runs(
        &self,
        filter: RunFilter,
    ) -> futures::future::BoxFuture<'_, Result<Page<RunSummary>, String>>;
    fn run(&self, id: i64) -> futures::future::BoxFuture<'_, Result<Option<RunDetail>, String>>;
    /// What a live page compares to know it is out of date: run `id`'s fingerprint (`None`
    /// if there is no such run), or with no id the runs list's. The same value the
    /// `/events/…` streams watch.
    fn live_fingerprint(
        &self,
        run: Option<i64>,
    ) -> futures::future::BoxFuture<'_, Result<Option<String>, String>>;
    fn pipelines(&self) -> futures::future::BoxFuture<'_, Result<Vec<PipelineRecord>, String>>;
    fn pipeline(
        &self,
        name: String,
    ) -> futures::future::BoxFuture<'_, Result<Option<PipelineRecord>, String>>;
    /// The audit log, filtered (actor, action or `prefix.`, target), newest first.
    fn audit(
        &self,
        filter: AuditFilter,
    ) -> futures::future::BoxFuture<'_, Result<Page<AuditRecord>, String>>;
    /// Every API token, newest first, revoked ones included; never a secret.
    fn tokens(&self) -> futures::future::BoxFuture<'_, Result<Vec<TokenRecord>, String>>;
    fn deliveries(
        &self,
        before: Option<i64>,
    ) -> futures::future::BoxFuture<'_, Result<Page<DeliveryRecord>, String>>;
    /// Every pipeline environment's ECS service, from Shipgate's deploy records (no AWS calls).
    fn services(&self) -> futures::future::BoxFuture<'_, Result<Vec<ServiceRecord>, String>>;
    /// The images a pipeline's builds found; `None` picks the first pipeline. `Ok(None)`
    /// if the pipeline does not exist (or there are no pipelines).
    fn images(
        &self,
        pipeline: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<Option<PipelineImages>, String>>;

    // Changes. Each is one use-case on the server, which checks that `by` may make it,
    // records it (audited as `by`, from `ip`) and wakes the engine. The server function only
    // finds out who is calling and passes the request on.

    /// Cancels a live run.
    fn cancel_run(
        &self,
        id: i64,
        reason: String,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<(), Refused>>;
    /// Starts a new run of the run's commit; returns the new run's id.
    fn retry_run(
        &self,
        id: i64,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<i64, Refused>>;
    /// Redeploys what run `id` deployed to `environment`, as a new run of kind `rollback`;
    /// returns the new run's id.
    fn roll_back(
        &self,
        id: i64,
        environment: String,
        reason: String,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<i64, Refused>>;
    /// Every run waiting at a gate, longest-waiting first.
    fn pending_gates(&self) -> futures::future::BoxFuture<'_, Result<Vec<PendingGate>, String>>;
    /// Approves or rejects a gate, as the form asked.
    fn decide_gate(
        &self,
        id: i64,
        form: GateForm,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<(), Refused>>;
    /// Makes an API token. The result is the only time anyone sees its secret.
    fn create_token(
        &self,
        spec: TokenSpec,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<CreatedToken, String>>;
    /// Revokes a token at once; revoking a revoked token changes nothing.
    fn revoke_token(
        &self,
        id: i64,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<TokenRecord, String>>;

    // Linking pipelines to AWS (admins).

    /// The ECS clusters of `region`, with their services and containers, as AWS reports them
    /// to `role_arn` (an environment's deploy role) or to Shipgate itself (briefly cached).
    fn discover_ecs(
        &self,
        region: String,
        role_arn: Option<String>,
        by: Principal,
    ) -> futures::future::BoxFuture<'_, Result<shipgate_pipeline::discovery::EcsDiscovery, Refused>>;
    /// The GitHub repositories the token can see; `None` when no token is configured.
    fn discover_github(
        &self,
        by: Principal,
    ) -> futures::future::BoxFuture<
        '_,
        Result<Option<shipgate_pipeline::discovery::GitHubDiscovery>, Refused>,
    >;
    /// The ECR repositories of `region`.
    fn discover_ecr(
        &self,
        region: String,
        by: Principal,
    ) -> futures::future::BoxFuture<'_, Result<shipgate_pipeline::discovery::EcrDiscovery, Refused>>;
    /// A pipeline's setup kit and its last Verify (admins); `None` if there is no such pipeline.
    fn setup(
        &self,
        name: String,
        by: Principal,
    ) -> futures::future::BoxFuture<'_, Result<Option<crate::setup::SetupView>, Refused>>;
    /// Runs Verify on a pipeline (admins), waiting for the engine's answer up to its time
    /// limit; the result is stored either way.
    fn verify(
        &self,
        name: String,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<(), Refused>>;
    /// Each pipeline's problems from its last Verify, and when that Verify finished.
    fn verify_problems(&self) -> futures::future::BoxFuture<'_, Result<VerifyProblems, String>>;
    /// Deletes a pipeline's definition; its runs stay, as history.
    fn delete_pipeline(
        &self,
        name: String,
        by: Principal,
        ip: Option<String>,
    ) -> futures::future::BoxFuture<'_, Result<(), Refused>>;
}

/// Each pipeline's problem count from its last Verify, and when that Verify finished.
#[cfg(feature = "ssr")]
pub type VerifyProblems = std::collections::BTreeMap<String, (i64, i64)>;

/// Why the server did not make a change: a sentence for the person who asked.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The caller lacks the role, or the policy refuses them (answered 403).
    Forbidden(String),
    /// What the change is about does not exist (answered 404).
    NotFound(String),
    /// Anything else: what does not exist, what the run's state does not allow, what to fix
    /// in the form, or that it failed on the server's side.
    Other(String),
}

/// The refusal as a server function's error, with its status.
#[cfg(feature = "ssr")]
pub(crate) fn refused(why: Refused) -> ServerFnError {
    match why {
        Refused::Forbidden(message) => {
            crate::access::set_status(http::StatusCode::FORBIDDEN);
            ServerFnError::new(format!("forbidden: {message}"))
        }
        Refused::NotFound(message) => {
            crate::access::set_status(http::StatusCode::NOT_FOUND);
            ServerFnError::new(message)
        }
        Refused::Other(message) => ServerFnError::new(message),
    }
}

/// A release manager's answer at a gate.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// A gate decision as the run page's form sent it.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateForm {
    pub environment: String,
    pub decision: Decision,
    pub comment: String,
    /// The image the page showed; refused if another is waiting now.
    pub digest: Option<String>,
    pub override_freeze: bool,
    /// The signed decision link from a notification that the page was opened with.
    pub link: Option<String>,
}

#[cfg(feature = "ssr")]
use crate::access::{caller, client_ip, require};
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::{Action, Principal};

#[cfg(feature = "ssr")]
pub(crate) fn dashboard() -> Result<std::sync::Arc<dyn Dashboard>, ServerFnError> {
    use_context::<std::sync::Arc<dyn Dashboard>>()
        .ok_or_else(|| ServerFnError::new("the dashboard is not available"))
}

#[server]
pub async fn list_runs(
    pipeline: Option<String>,
    status: Option<String>,
    before: Option<i64>,
) -> Result<Page<RunSummary>, ServerFnError> {
    require(Action::View)?;
    let status = match status.filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse()
                .map_err(|e: shipgate_pipeline::UnknownStatus| ServerFnError::new(e.to_string()))?,
        ),
        None => None,
    };
    let filter = RunFilter {
        pipeline: pipeline.filter(|p| !p.is_empty()),
        status,
        before,
        limit: None,
    };
    dashboard()?.runs(filter).await.map_err(ServerFnError::new)
}

#[server]
pub async fn get_run(id: i64) -> Result<Option<RunDetail>, ServerFnError> {
    require(Action::View)?;
    dashboard()?.run(id).await.map_err(ServerFnError::new)
}

/// How run `run` (or, with none, the runs list) looks now, as its live stream sees it: a
/// page takes it before it reads the data, and subscribes with it (`?seen=`).
#[server]
pub async fn live_fingerprint(run: Option<i64>) -> Result<Option<String>, ServerFnError> {
    require(Action::View)?;
    dashboard()?
        .live_fingerprint(run)
        .await
        .map_err(ServerFnError::new)
}

#[server]
pub async fn list_pipelines() -> Result<Vec<PipelineRecord>, ServerFnError> {
    let me = require(Action::View)?;
    let admin = me.may(&Action::Administer);
    Ok(dashboard()?
        .pipelines()
        .await
        .map_err(ServerFnError::new)?
        .into_iter()
        .map(|p| p.for_reader(admin))
        .collect())
}

#[server]
pub async fn get_pipeline(name: String) -> Result<Option<PipelineRecord>, ServerFnError> {
    let me = require(Action::View)?;
    let admin = me.may(&Action::Administer);
    Ok(dashboard()?
        .pipeline(name)
        .await
        .map_err(ServerFnError::new)?
        .map(|p| p.for_reader(admin)))
}

/// The gates waiting for a decision that the caller may make, longest-waiting first.
#[server]
pub async fn list_my_gates() -> Result<Vec<PendingGate>, ServerFnError> {
    let me = require(Action::View)?;
    let all = dashboard()?
        .pending_gates()
        .await
        .map_err(ServerFnError::new)?;
    Ok(all
        .into_iter()
        .filter(|g| {
            me.may(&Action::DecideGate {
                pipeline: &g.run.pipeline,
                environment: &g.environment,
            })
        })
        .collect())
}

#[server]
pub async fn list_deliveries(before: Option<i64>) -> Result<Page<DeliveryRecord>, ServerFnError> {
    require(Action::View)?;
    dashboard()?
        .deliveries(before)
        .await
        .map_err(ServerFnError::new)
}

#[server]
pub async fn list_services() -> Result<Vec<ServiceRecord>, ServerFnError> {
    require(Action::View)?;
    dashboard()?.services().await.map_err(ServerFnError::new)
}

#[server]
pub async fn get_images(pipeline: Option<String>) -> Result<Option<PipelineImages>, ServerFnError> {
    require(Action::View)?;
    dashboard()?
        .images(pipeline.filter(|p| !p.is_empty()))
        .await
        .map_err(ServerFnError::new)
}

/// Cancels a live run; needs the deployer role for its pipeline.
#[server]
pub async fn cancel_run(id: i64, reason: String) -> Result<(), ServerFnError> {
    dashboard()?
        .cancel_run(id, reason, caller()?, client_ip())
        .await
        .map_err(refused)
}

/// Starts a new run of a run that ended unsuccessfully, and goes to it; needs the deployer
/// role for its pipeline.
#[server]
pub async fn retry_run(id: i64) -> Result<i64, ServerFnError> {
    let new_id = dashboard()?
        .retry_run(id, caller()?, client_ip())
        .await
        .map_err(refused)?;
    // A form posted without JavaScript gets a 302; the hydrated page navigates.
    leptos_axum::redirect(&format!("/runs/{new_id}"));
    Ok(new_id)
}

/// Rolls `environment` back to what run `id` deployed there (its task-definition revision,
/// as it was), as a new run of kind `rollback`, and goes to it. A rollback changes what runs
/// in an environment, so it needs the release-manager role there when the environment's
/// promotion is manual, and the deployer role for the pipeline when it is automatic.
#[server]
pub async fn roll_back(id: i64, environment: String, reason: String) -> Result<i64, ServerFnError> {
    let new_id = dashboard()?
        .roll_back(id, environment, reason, caller()?, client_ip())
        .await
        .map_err(refused)?;
    leptos_axum::redirect(&format!("/runs/{new_id}"));
    Ok(new_id)
}

/// Approves the gate of `environment` for the image `digest` that the page showed; needs the
/// release-manager role there. `override_freeze` (a checkbox, so present or absent) is an
/// admin's override of a deploy freeze, with `comment` saying why. `link` is the signed
/// decision link from a notification, when the page was opened from one: it is spent.
#[server]
pub async fn approve_gate(
    id: i64,
    environment: String,
    comment: String,
    digest: Option<String>,
    override_freeze: Option<String>,
    link: Option<String>,
) -> Result<(), ServerFnError> {
    let form = GateForm {
        environment,
        decision: Decision::Approve,
        comment,
        digest,
        override_freeze: override_freeze.is_some(),
        link,
    };
    decide(id, form).await
}

/// Rejects the gate of `environment`, which ends the run; needs the release-manager role
/// there, and a comment saying why.
#[server]
pub async fn reject_gate(
    id: i64,
    environment: String,
    comment: String,
    digest: Option<String>,
    link: Option<String>,
) -> Result<(), ServerFnError> {
    decide(
        id,
        GateForm {
            environment,
            decision: Decision::Reject,
            comment,
            digest,
            override_freeze: false,
            link,
        },
    )
    .await
}

#[cfg(feature = "ssr")]
async fn decide(id: i64, mut form: GateForm) -> Result<(), ServerFnError> {
    form.digest = form
        .digest
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    form.link = form
        .link
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    dashboard()?
        .decide_gate(id, form, caller()?, client_ip())
        .await
        .map_err(refused)
}
