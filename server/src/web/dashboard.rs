//! The store, seen through the dashboard's [`Dashboard`] trait.

use crate::engine::EngineHandle;
use crate::ops::{Acting, DecideGate, OpError, Ops};
use crate::store::access::NewToken;
use crate::store::{AuditEntry, Store};
use futures::FutureExt;
use futures::future::BoxFuture;
use shipgate_app::Dashboard;
use shipgate_app::data::{Decision, GateForm, Refused};
use shipgate_pipeline::RunId;
use shipgate_pipeline::access::{Principal, TokenSpec};
use shipgate_pipeline::discovery::{EcrDiscovery, EcsDiscovery, GitHubDiscovery};
use shipgate_pipeline::gate::Verdict;
use shipgate_pipeline::read::{
    AuditFilter, AuditRecord, CreatedToken, DeliveryRecord, Page, PendingGate, PipelineImages,
    PipelineRecord, RunDetail, RunFilter, RunSummary, ServiceRecord, TokenRecord,
};

/// The dashboard's reads and changes, over the store; changes wake the engine, as the REST
/// API's do.
pub struct StoreDashboard {
    pub store: Store,
    pub engine: EngineHandle,
    pub discovery: crate::ops::Discovery,
    /// What the setup kit is generated with (this server's public URL, webhook secret).
    pub kit: shipgate_pipeline::setup_kit::KitSettings,
}

/// Store errors reach the page as a short message; details stay in the server log.
fn shown(e: crate::store::StoreError) -> String {
    tracing::error!(error = %e, "dashboard query failed");
    "the database query failed; the server log has the details".to_owned()
}

/// A use-case's refusal, for the person who asked; a failure on our side is logged in full
/// and shown as one sentence.
fn refused(e: OpError) -> Refused {
    match e {
        OpError::Forbidden(_) | OpError::Denied(_) => Refused::Forbidden(e.to_string()),
        OpError::NotFound(m) | OpError::Conflict(m) | OpError::Invalid { message: m, .. } => {
            Refused::Other(m)
        }
        OpError::Unavailable(m) | OpError::Upstream { message: m, .. } => Refused::Other(m),
        OpError::Failed(detail) => {
            tracing::error!(error = %detail, "dashboard change failed");
            Refused::Other(
                "the change failed on the server; the server log has the details".to_owned(),
            )
        }
        OpError::Store(e) => Refused::Other(shown(e)),
    }
}

/// An audit entry with the caller as actor; the store fills in what was done.
fn actor(by: &Principal, ip: Option<String>) -> AuditEntry {
    Acting::new(by.clone(), ip).audit()
}

impl StoreDashboard {
    fn ops(&self) -> Ops {
        Ops::new(self.store.clone(), self.engine.clone())
    }
}

impl Dashboard for StoreDashboard {
    fn runs(&self, filter: RunFilter) -> BoxFuture<'_, Result<Page<RunSummary>, String>> {
        async move { self.store.list_runs(&filter).await.map_err(shown) }.boxed()
    }

    fn run(&self, id: i64) -> BoxFuture<'_, Result<Option<RunDetail>, String>> {
        async move { self.store.get_run(id).await.map_err(shown) }.boxed()
    }

    fn live_fingerprint(&self, run: Option<i64>) -> BoxFuture<'_, Result<Option<String>, String>> {
        async move { self.store.live_fingerprint(run).await.map_err(shown) }.boxed()
    }

    fn pipelines(&self) -> BoxFuture<'_, Result<Vec<PipelineRecord>, String>> {
        async move { self.store.list_pipelines().await.map_err(shown) }.boxed()
    }

    fn pipeline(&self, name: String) -> BoxFuture<'_, Result<Option<PipelineRecord>, String>> {
        async move { self.store.get_pipeline(&name).await.map_err(shown) }.boxed()
    }

    fn audit(&self, filter: AuditFilter) -> BoxFuture<'_, Result<Page<AuditRecord>, String>> {
        async move { self.store.search_audit(&filter).await.map_err(shown) }.boxed()
    }

    fn tokens(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, String>> {
        async move { self.store.list_tokens().await.map_err(shown) }.boxed()
    }

    fn pending_gates(&self) -> BoxFuture<'_, Result<Vec<PendingGate>, String>> {
        async move { self.store.pending_gates().await.map_err(shown) }.boxed()
    }

    fn deliveries(
        &self,
        before: Option<i64>,
    ) -> BoxFuture<'_, Result<Page<DeliveryRecord>, String>> {
        async move {
            self.store
                .list_deliveries(before, shipgate_pipeline::read::DEFAULT_PAGE)
                .await
                .map_err(shown)
        }
        .boxed()
    }

    fn services(&self) -> BoxFuture<'_, Result<Vec<ServiceRecord>, String>> {
        async move { self.store.service_records().await.map_err(shown) }.boxed()
    }

    fn images(
        &self,
        pipeline: Option<String>,
    ) -> BoxFuture<'_, Result<Option<PipelineImages>, String>> {
        async move {
            let name = match pipeline {
                Some(name) => name,
                None => match self
                    .store
                    .list_pipelines()
                    .await
                    .map_err(shown)?
                    .into_iter()
                    .next()
                {
                    Some(first) => first.spec.name,
                    None => return Ok(None),
                },
            };
            self.store.pipeline_images(&name).await.map_err(shown)
        }
        .boxed()
    }

    fn cancel_run(
        &self,
        id: i64,
        reason: String,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<(), Refused>> {
        async move {
            self.ops()
                .cancel_run(&Acting::new(by, ip), RunId::new(id), &reason)
                .await
                .map_err(refused)?;
            Ok(())
        }
        .boxed()
    }

    fn retry_run(
        &self,
        id: i64,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<i64, Refused>> {
        async move {
            Ok(self
                .ops()
                .retry_run(&Acting::new(by, ip), RunId::new(id))
                .await
                .map_err(refused)?
                .get())
        }
        .boxed()
    }

    fn roll_back(
        &self,
        id: i64,
        environment: String,
        reason: String,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<i64, Refused>> {
        async move {
            Ok(self
                .ops()
                .roll_back(&Acting::new(by, ip), RunId::new(id), &environment, &reason)
                .await
                .map_err(refused)?
                .get())
        }
        .boxed()
    }

    fn decide_gate(
        &self,
        id: i64,
        form: GateForm,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<(), Refused>> {
        async move {
            let GateForm {
                environment,
                decision,
                comment,
                digest,
                override_freeze,
                link,
            } = form;
            let verdict = match decision {
                Decision::Approve => Verdict::Approve,
                Decision::Reject => Verdict::Reject,
            };
            let request = DecideGate {
                run: RunId::new(id),
                environment,
                verdict,
                comment,
                digest,
                override_freeze,
                link,
            };
            self.ops()
                .decide_gate(&Acting::new(by, ip), request)
                .await
                .map_err(refused)?;
            Ok(())
        }
        .boxed()
    }

    fn create_token(
        &self,
        spec: TokenSpec,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<CreatedToken, String>> {
        async move {
            let new = NewToken::from_spec(spec, self.store.now_ms());
            let (token, token_record) = self
                .store
                .create_token(&new, &actor(&by, ip))
                .await
                .map_err(shown)?;
            Ok(CreatedToken {
                token,
                token_record,
            })
        }
        .boxed()
    }

    fn revoke_token(
        &self,
        id: i64,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<TokenRecord, String>> {
        async move {
            self.store
                .revoke_token(id, &actor(&by, ip))
                .await
                .map_err(shown)?
                .ok_or_else(|| format!("token {id} does not exist"))
        }
        .boxed()
    }

    fn discover_ecs(
        &self,
        region: String,
        role_arn: Option<String>,
        by: Principal,
    ) -> BoxFuture<'_, Result<EcsDiscovery, Refused>> {
        async move {
            self.discovery
                .ecs(&Acting::new(by, None), &region, role_arn.as_deref())
                .await
                .map_err(refused)
        }
        .boxed()
    }

    fn discover_github(
        &self,
        by: Principal,
    ) -> BoxFuture<'_, Result<Option<GitHubDiscovery>, Refused>> {
        async move {
            self.discovery
                .github(&Acting::new(by, None))
                .await
                .map_err(refused)
        }
        .boxed()
    }

    fn discover_ecr(
        &self,
        region: String,
        by: Principal,
    ) -> BoxFuture<'_, Result<EcrDiscovery, Refused>> {
        async move {
            self.discovery
                .ecr(&Acting::new(by, None), &region)
                .await
                .map_err(refused)
        }
        .boxed()
    }

    fn setup(
        &self,
        name: String,
        by: Principal,
    ) -> BoxFuture<'_, Result<Option<shipgate_app::setup::SetupView>, Refused>> {
        async move {
            match self
                .ops()
                .setup(&Acting::new(by, None), &name, &self.kit)
                .await
            {
                Ok(setup) => Ok(Some(shipgate_app::setup::SetupView {
                    pipeline: setup.pipeline.spec.name,
                    kit: setup.kit,
                    verify: setup.verification,
                })),
                Err(OpError::NotFound(_)) => Ok(None),
                Err(e) => Err(refused(e)),
            }
        }
        .boxed()
    }

    fn verify(
        &self,
        name: String,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<(), Refused>> {
        async move {
            match self
                .ops()
                .verify(&Acting::new(by, ip), &name, crate::ops::VERIFY_WAIT)
                .await
            {
                Ok(_) => Ok(()),
                Err(OpError::NotFound(m)) => Err(Refused::NotFound(m)),
                Err(e) => Err(refused(e)),
            }
        }
        .boxed()
    }

    fn verify_problems(&self) -> BoxFuture<'_, Result<shipgate_app::data::VerifyProblems, String>> {
        async move { self.store.verification_problems().await.map_err(shown) }.boxed()
    }

    fn delete_pipeline(
        &self,
        name: String,
        by: Principal,
        ip: Option<String>,
    ) -> BoxFuture<'_, Result<(), Refused>> {
        async move {
            self.ops()
                .delete_pipeline(&Acting::new(by, ip), &name)
                .await
                .map_err(refused)
        }
        .boxed()
    }
}
