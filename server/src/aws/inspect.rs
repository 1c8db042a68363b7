//! What Verify reads from AWS: who Shipgate is, the cluster, service, live task definition
//! and repository a pipeline names, which roles exist, and what IAM says Shipgate may
//! write. Read calls only: Verify never calls a write action to find out.

use super::{Cloud, CloudError, ServiceTarget, cloud_error};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
use shipgate_pipeline::verify::Decision;

/// Who Shipgate's calls are made as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub arn: String,
    pub account: String,
}

/// A service as Verify needs it, with its live task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFacts {
    pub arn: String,
    pub status: String,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`; `None` when ECS reports none (it means ECS).
    pub controller: Option<String>,
    pub circuit_breaker: bool,
    pub task_definition: String,
    /// The live task definition, or why it could not be read.
    pub task: Result<TaskFacts, CloudError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFacts {
    pub family: Option<String>,
    pub containers: Vec<String>,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
}

/// An ECR repository's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFacts {
    pub uri: String,
    pub arn: String,
    pub immutable_tags: bool,
    pub scan_on_push: bool,
}

/// IAM's verdicts on one action: each resource and its decision.
pub type Simulation = Vec<(String, Decision)>;

impl Cloud {
    /// GetCallerIdentity, as Shipgate itself (`role_arn` `None`) or as an environment's
    /// role, which also proves the role can be assumed.
    pub async fn caller_identity(
        &self,
        region: &str,
        role_arn: Option<&str>,
    ) -> Result<Identity, CloudError> {
        let sts = self.clients(region, role_arn).await.sts;
        let out = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| cloud_error("sts:GetCallerIdentity", e))?;
        Ok(Identity {
            arn: out.arn.unwrap_or_default(),
            account: out.account.unwrap_or_default(),
        })
    }

    /// The cluster's status (`ACTIVE`, `INACTIVE`…), or `None` when ECS has no such cluster.
    pub async fn cluster_status(
        &self,
        target: &ServiceTarget,
    ) -> Result<Option<String>, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let out = ecs
            .describe_clusters()
            .clusters(&target.cluster)
            .send()
            .await
            .map_err(|e| cloud_error("ecs:DescribeClusters", e))?;
        Ok(out
            .clusters
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|c| c.status.unwrap_or_default()))
    }

    /// The service and its live task definition, or `None` when the cluster has no such
    /// service.
    pub async fn service_facts(
        &self,
        target: &ServiceTarget,
    ) -> Result<Option<ServiceFacts>, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let out = ecs
            .describe_services()
            .cluster(&target.cluster)
            .services(&target.service)
            .send()
            .await
            .map_err(|e| cloud_error("ecs:DescribeServices", e))?;
        let Some(service) = out.services.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        let task_definition = service.task_definition.clone().unwrap_or_default();
        let task = match ecs
            .describe_task_definition()
            .task_definition(&task_definition)
            .send()
            .await
        {
            Ok(out) => {
                let td = out
                    .task_definition
                    .unwrap_or_else(|| aws_sdk_ecs::types::TaskDefinition::builder().build());
                Ok(TaskFacts {
                    family: td.family,
                    containers: td
                        .container_definitions
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.name)
                        .collect(),
                    task_role_arn: td.task_role_arn,
                    execution_role_arn: td.execution_role_arn,
                })
            }
            Err(e) => Err(cloud_error("ecs:DescribeTaskDefinition", e)),
        };
        Ok(Some(ServiceFacts {
            arn: service.service_arn.unwrap_or_default(),
            status: service.status.unwrap_or_default(),
            controller: service
                .deployment_controller
                .map(|c| c.r#type.as_str().to_owned()),
            circuit_breaker: service
                .deployment_configuration
                .and_then(|c| c.deployment_circuit_breaker)
                .is_some_and(|b| b.enable),
            task_definition,
            task,
        }))
    }

    /// ListTaskDefinitions for one family, one result: only to prove the permission.
    pub async fn try_list_task_definitions(
        &self,
        target: &ServiceTarget,
        family: &str,
    ) -> Result<(), CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        ecs.list_task_definitions()
            .family_prefix(family)
            .max_results(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ecs:ListTaskDefinitions", e))
    }

    /// ListClusters and ListServices, one result each: what the pipeline form's discovery
    /// calls, to prove the permissions.
    pub async fn try_discovery_lists(
        &self,
        target: &ServiceTarget,
    ) -> [(&'static str, Result<(), CloudError>); 2] {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let clusters = ecs
            .list_clusters()
            .max_results(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ecs:ListClusters", e));
        let services = ecs
            .list_services()
            .cluster(&target.cluster)
            .max_results(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| cloud_error("ecs:ListServices", e));
        [
            ("ecs:ListClusters", clusters),
            ("ecs:ListServices", services),
        ]
    }

    /// The repository's settings, or `None` when ECR has no such repository.
    pub async fn repository_facts(
        &self,
        region: &str,
        repository: &str,
    ) -> Result<Option<RepositoryFacts>, CloudError> {
        let ecr = self.clients(region, None).await.ecr;
        let out = match ecr
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("RepositoryNotFoundException") => return Ok(None),
            Err(e) => return Err(cloud_error("ecr:DescribeRepositories", e)),
        };
        Ok(out
            .repositories
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(|r| RepositoryFacts {
                uri: r.repository_uri.unwrap_or_default(),
                arn: r.repository_arn.unwrap_or_default(),
                immutable_tags: r
                    .image_tag_mutability
                    .is_some_and(|m| m.as_str().starts_with("IMMUTABLE")),
                scan_on_push: r
                    .image_scanning_configuration
                    .is_some_and(|c| c.scan_on_push),
            }))
    }

    /// Whether an IAM role exists (GetRole), by name or ARN, in the account Shipgate
    /// reaches as `via_role` (an environment's role) or as itself.
    pub async fn role_exists(
        &self,
        region: &str,
        via_role: Option<&str>,
        role: &str,
    ) -> Result<bool, CloudError> {
        let name = role.rsplit('/').next().unwrap_or(role);
        let iam = self.clients(region, via_role).await.iam;
        match iam.get_role().role_name(name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
            Err(e) => Err(cloud_error("iam:GetRole", e)),
        }
    }

    /// IAM's verdict on `action` for each of `resources`, for `principal`'s policies, with
    /// the request context Shipgate's real calls carry (a role passed to ECS tasks, a
    /// task definition tagged as it is registered). Asked in the principal's account:
    /// through `via_role` for an environment's role.
    pub async fn simulate(
        &self,
        region: &str,
        via_role: Option<&str>,
        principal: &str,
        action: &str,
        resources: &[String],
    ) -> Result<Simulation, CloudError> {
        let iam = self.clients(region, via_role).await.iam;
        let context = |key: &str, value: &str| {
            ContextEntry::builder()
                .context_key_name(key)
                .context_key_values(value)
                .context_key_type(ContextKeyTypeEnum::String)
                .build()
        };
        let out = iam
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .action_names(action)
            .set_resource_arns(Some(resources.to_vec()))
            .context_entries(context("iam:PassedToService", "ecs-tasks.amazonaws.com"))
            .context_entries(context("ecs:CreateAction", "RegisterTaskDefinition"))
            .send()
            .await
            .map_err(|e| cloud_error("iam:SimulatePrincipalPolicy", e))?;
        let mut verdicts = Vec::new();
        for result in out.evaluation_results.unwrap_or_default() {
            let specific = result.resource_specific_results.unwrap_or_default();
            if specific.is_empty() {
                verdicts.push((
                    result.eval_resource_name.unwrap_or_else(|| "*".into()),
                    decision(result.eval_decision.as_str()),
                ));
            } else {
                for r in specific {
                    verdicts.push((
                        r.eval_resource_name,
                        decision(r.eval_resource_decision.as_str()),
                    ));
                }
            }
        }
        Ok(verdicts)
    }
}

/// An unknown decision word is not an allow.
fn decision(word: &str) -> Decision {
    Decision::parse(word).unwrap_or(Decision::ImplicitDeny)
}
