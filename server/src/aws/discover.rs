//! What an account holds in one region, for linking pipelines to it: ECS clusters, their
//! services and each service's containers, and ECR repositories.
//!
//! Large accounts are read page by page (ListClusters, ListServices, DescribeRepositories)
//! and described in the chunks AWS accepts (DescribeClusters 100, DescribeServices 10). The
//! whole discovery runs against one deadline: a person is waiting on a page, so an answer
//! that would come after it is replaced by one that names the call AWS was slow to answer.

use super::{Cloud, CloudError, cloud_error};
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use futures::stream::{self, StreamExt, TryStreamExt};
use shipgate_pipeline::discovery::{
    ClusterFound, DeploymentController, EcrDiscovery, EcsDiscovery, Region, RepositoryFound,
    RoleArn, ServiceFound,
};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How many clusters are described in one DescribeClusters call (AWS's limit).
const CLUSTERS_PER_DESCRIBE: usize = 100;
/// How many services are described in one DescribeServices call (AWS's limit).
const SERVICES_PER_DESCRIBE: usize = 10;
/// How many calls one discovery has in flight at once: enough that a few hundred services
/// are read in seconds, few enough not to be throttled by ECS's per-account rate.
const IN_FLIGHT: usize = 8;

/// How a discovery reads: its deadline and the page size it asks list calls for.
#[derive(Debug, Clone, Copy)]
pub struct DiscoverLimits {
    /// The whole discovery's time, every call included.
    pub deadline: Duration,
    /// `maxResults` of ListClusters and ListServices (1-100).
    pub page_size: i32,
}

impl Default for DiscoverLimits {
    fn default() -> Self {
        DiscoverLimits {
            deadline: Duration::from_secs(10),
            page_size: 100,
        }
    }
}

/// Why a discovery has no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoverError {
    /// AWS answered with a refusal or a failure, or could not be reached.
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// The deadline passed while `call` was waiting for AWS.
    #[error(
        "AWS did not answer {call} in time: discovery gives up after {} s. AWS may be throttling this account, or the endpoint is slow to reach; try again in a moment.",
        limit.as_secs_f32()
    )]
    Slow { call: &'static str, limit: Duration },
}

/// One discovery's deadline, shared by every call it makes.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    fn new(limit: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            limit,
        }
    }

    /// Runs one SDK call, named `call` in any error, until the deadline.
    async fn call<T, E>(
        &self,
        call: &'static str,
        request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<T, DiscoverError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match tokio::time::timeout_at(self.at, request).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(err)) => Err(cloud_error(call, err).into()),
            Err(_) => Err(DiscoverError::Slow {
                call,
                limit: self.limit,
            }),
        }
    }
}

/// The last segment of an ECS ARN: a cluster's or service's name.
fn name_of(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_owned()
}

impl Cloud {
    /// Every active ECS cluster in `region` with its active services, each with the
    /// container names of the task definition it runs; read as `role` when one is given
    /// (the role an environment deploys as, in its own account), as deploys read them.
    pub async fn discover_ecs(
        &self,
        region: &Region,
        role: Option<&RoleArn>,
        limits: DiscoverLimits,
    ) -> Result<EcsDiscovery, DiscoverError> {
        let deadline = Deadline::new(limits.deadline);
        let ecs = self
            .clients(region.as_str(), role.map(RoleArn::as_str))
            .await
            .ecs;

        let mut cluster_arns = Vec::new();
        let mut next = None;
        loop {
            let page = deadline
                .call(
                    "ecs:ListClusters",
                    ecs.list_clusters()
                        .max_results(limits.page_size)
                        .set_next_token(next.take())
                        .send(),
                )
                .await?;
            cluster_arns.extend(page.cluster_arns.unwrap_or_default());
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }

        let mut clusters: Vec<(String, String)> = Vec::new();
        for chunk in cluster_arns.chunks(CLUSTERS_PER_DESCRIBE) {
            let out = deadline
                .call(
                    "ecs:DescribeClusters",
                    ecs.describe_clusters()
                        .set_clusters(Some(chunk.to_vec()))
                        .send(),
                )
                .await?;
            clusters.extend(
                out.clusters
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| c.status.as_deref().is_none_or(|s| s == "ACTIVE"))
                    .filter_map(|c| {
                        let arn = c.cluster_arn?;
                        let name = c.cluster_name.unwrap_or_else(|| name_of(&arn));
                        Some((name, arn))
                    }),
            );
        }

        // Each cluster's services, a few clusters at a time.
        let services: Vec<Vec<aws_sdk_ecs::types::Service>> = stream::iter(clusters.clone())
            .map(|(_, arn)| {
                let ecs = ecs.clone();
                async move {
                    let mut arns = Vec::new();
                    let mut next = None;
                    loop {
                        let page = deadline
                            .call(
                                "ecs:ListServices",
                                ecs.list_services()
                                    .cluster(&arn)
                                    .max_results(limits.page_size)
                                    .set_next_token(next.take())
                                    .send(),
                            )
                            .await?;
                        arns.extend(page.service_arns.unwrap_or_default());
                        next = page.next_token;
                        if next.is_none() {
                            break;
                        }
                    }
                    let mut described = Vec::new();
                    for chunk in arns.chunks(SERVICES_PER_DESCRIBE) {
                        let out = deadline
                            .call(
                                "ecs:DescribeServices",
                                ecs.describe_services()
                                    .cluster(&arn)
                                    .set_services(Some(chunk.to_vec()))
                                    .send(),
                            )
                            .await?;
                        described.extend(
                            out.services
                                .unwrap_or_default()
                                .into_iter()
                                .filter(|s| s.status.as_deref().is_none_or(|s| s == "ACTIVE")),
                        );
                    }
                    Ok::<_, DiscoverError>(described)
                }
            })
            .buffered(IN_FLIGHT)
            .try_collect()
            .await?;

        // Each task definition in use is read once, however many services run it.
        let task_definitions: BTreeSet<String> = services
            .iter()
            .flatten()
            .filter_map(|s| s.task_definition.clone())
            .collect();
        let containers: BTreeMap<String, Vec<String>> = stream::iter(task_definitions)
            .map(|arn| {
                let ecs = ecs.clone();
                async move {
                    let out = deadline
                        .call(
                            "ecs:DescribeTaskDefinition",
                            ecs.describe_task_definition().task_definition(&arn).send(),
                        )
                        .await?;
                    let names = out
                        .task_definition
                        .and_then(|t| t.container_definitions)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.name)
                        .collect();
                    Ok::<_, DiscoverError>((arn, names))
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect()
            .await?;

        let mut found: Vec<ClusterFound> = clusters
            .into_iter()
            .zip(services)
            .map(|((name, arn), services)| {
                let mut services: Vec<ServiceFound> = services
                    .into_iter()
                    .filter_map(|s| {
                        let arn = s.service_arn?;
                        let task_definition = s.task_definition.unwrap_or_default();
                        Some(ServiceFound {
                            name: s.service_name.unwrap_or_else(|| name_of(&arn)),
                            arn,
                            containers: containers
                                .get(&task_definition)
                                .cloned()
                                .unwrap_or_default(),
                            task_definition,
                            launch_type: s.launch_type.map(|l| l.as_str().to_owned()),
                            // A controller Shipgate does not know is one it cannot deploy with.
                            deployment_controller: DeploymentController::parse(
                                s.deployment_controller
                                    .as_ref()
                                    .map(|c| c.r#type().as_str()),
                            )
                            .unwrap_or(DeploymentController::External),
                        })
                    })
                    .collect();
                services.sort_by(|a, b| a.name.cmp(&b.name));
                ClusterFound {
                    name,
                    arn,
                    services,
                }
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(EcsDiscovery { clusters: found })
    }

    /// Every ECR repository in `region`.
    pub async fn discover_ecr(
        &self,
        region: &Region,
        limits: DiscoverLimits,
    ) -> Result<EcrDiscovery, DiscoverError> {
        let deadline = Deadline::new(limits.deadline);
        let ecr = self.clients(region.as_str(), None).await.ecr;
        let mut repositories = Vec::new();
        let mut next = None;
        loop {
            let page = deadline
                .call(
                    "ecr:DescribeRepositories",
                    ecr.describe_repositories()
                        .max_results(1000)
                        .set_next_token(next.take())
                        .send(),
                )
                .await?;
            repositories.extend(
                page.repositories
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| {
                        Some(RepositoryFound {
                            name: r.repository_name?,
                            uri: r.repository_uri.unwrap_or_default(),
                            tag_mutability: r
                                .image_tag_mutability
                                .map_or_else(|| "MUTABLE".to_owned(), |m| m.as_str().to_owned()),
                            scan_on_push: r
                                .image_scanning_configuration
                                .is_some_and(|c| c.scan_on_push),
                        })
                    }),
            );
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        repositories.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(EcrDiscovery { repositories })
    }
}
