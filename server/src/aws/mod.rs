//! The engine's only door to AWS. Everything it hands back is Shipgate's own vocabulary
//! ([`ServiceView`], [`ImageFound`], [`CloudError`]), so the engine and the store never
//! see an SDK type. Endpoints, credentials and retries come from the SDK's standard
//! configuration (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, …), which is also how the
//! tests point it at moto.

mod discover;
mod inspect;
mod render;

pub use discover::{DiscoverError, DiscoverLimits};
pub use inspect::{Identity, RepositoryFacts, ServiceFacts, Simulation};
pub use render::{RenderError, render_revision};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStrategy as SdkStrategy, Tag,
    TaskDefinitionField,
};
use shipgate_pipeline::brief::{ContainerShape, TaskShape};
use shipgate_pipeline::cloud::{self, CloudProblem};
use shipgate_pipeline::deploy_step::deployment_of;
use shipgate_pipeline::inventory::RegistryImage;
use shipgate_pipeline::rollout::{DeploymentView, RolloutState, ServiceEvent, ServiceView};
use shipgate_pipeline::{DeploySettings, DeployStrategy};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::Mutex;

/// An AWS call that did not do what was asked, in words a person can act on.
///
/// It shows as `<code>: <action>: <what happened>`, one line with no SDK internals: that
/// text is what stages, pages and the API show, and what [`shipgate_pipeline::cloud::explain`]
/// reads back. The SDK's whole error chain is kept apart, in `chain`, for the debug log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CloudError {
    /// AWS's own error code (`AccessDeniedException`), or Shipgate's for a call that got no
    /// AWS answer ([`cloud::NO_CREDENTIALS`], [`cloud::UNREACHABLE`]).
    pub code: String,
    pub message: String,
    pub problem: CloudProblem,
    /// Throttling, 5xx and unreachable endpoints are worth another try later; the rest
    /// (AccessDenied, a missing service…) will fail the same way until someone fixes them.
    pub retryable: bool,
    /// Every error in the SDK's chain, outermost first, each in its own words.
    pub chain: String,
}

impl CloudError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        let problem = CloudProblem::of_code(code, false);
        let message = message.into();
        CloudError {
            code: code.into(),
            chain: message.clone(),
            message,
            problem,
            retryable: problem.retryable(),
        }
    }
}

/// The `Display` of every error in `err`'s source chain, outermost first, joined by `: `
/// (never a `Debug` dump, which is what `DisplayErrorContext` ends with).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // Wrappers often repeat their source's text; keep each distinct text once.
        if !texts.iter().any(|t| t.contains(&text)) {
            texts.push(text);
        }
        next = e.source();
    }
    texts
}

/// Whether the credential chain failed somewhere in `err`'s sources.
fn credentials_failed(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<CredentialsError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Turns any SDK error into a [`CloudError`], keeping AWS's own code and message, and
/// sorting it into the [`CloudProblem`] a person acts on.
fn cloud_error<E>(action: &str, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let chain = error_chain(&err).join(": ");
    let (code, problem, message) = match &err {
        SdkError::ServiceError(context) => {
            let code = err.code().unwrap_or("UnknownError").to_owned();
            let server_side = context.raw().status().is_server_error();
            let problem = CloudProblem::of_code(&code, server_side);
            let message = format!("{action}: {}", err.message().unwrap_or("no message"));
            (code, problem, message)
        }
        _ if credentials_failed(&err)
            || error_chain(&err)
                .iter()
                .any(|t| t.contains("loading credentials")) =>
        {
            // The innermost reason is the last provider's (often instance metadata's).
            let last = error_chain(&err).pop().unwrap_or_default();
            (
                cloud::NO_CREDENTIALS.to_owned(),
                CloudProblem::NoCredentials,
                format!(
                    "{action}: no AWS credentials found (looked in {}; the last said: {last})",
                    cloud::CREDENTIAL_CHAIN
                ),
            )
        }
        SdkError::TimeoutError(_) => (
            cloud::UNREACHABLE.to_owned(),
            CloudProblem::Unreachable,
            format!("{action}: AWS did not answer in time"),
        ),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            let reason = error_chain(&err).pop().unwrap_or_default();
            (
                cloud::UNREACHABLE.to_owned(),
                CloudProblem::Unreachable,
                format!("{action}: no answer from the AWS endpoint ({reason})"),
            )
        }
        _ => (
            "RequestFailed".to_owned(),
            CloudProblem::Refused,
            format!("{action}: {}", error_chain(&err).join(": ")),
        ),
    };
    CloudError {
        code,
        message,
        problem,
        retryable: problem.retryable(),
        chain,
    }
}

/// An image found in ECR under the run's tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFound {
    pub digest: String,
    /// `registry/repository`, to which `@digest` is appended to pin the image.
    pub repository_uri: String,
    pub size_bytes: Option<i64>,
    pub pushed_at: Option<i64>,
}

/// How many images a listing reads from one repository before it stops paging.
pub const MAX_LISTED: usize = 10_000;

/// A repository's newest images, as [`Cloud::list_images`] read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub repository_uri: Option<String>,
    /// Newest first.
    pub images: Vec<RegistryImage>,
    /// How many images were read: the repository's size, up to [`MAX_LISTED`].
    pub total: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanResult {
    /// No result yet (not started, or in progress).
    Pending,
    /// Finished: finding counts by lowercase severity.
    Complete(BTreeMap<String, i64>),
    /// The scan itself failed or is unsupported for this image.
    Failed(String),
}

/// Where a service lives, and as whom to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceTarget {
    pub region: String,
    pub role_arn: Option<String>,
    pub cluster: String,
    pub service: String,
}

/// The tags that tie a task-definition revision to the run and environment that made it.
/// A restarted engine finds its own registration by them instead of registering twice.
pub const RUN_TAG: &str = "shipgate:run";
pub const ENVIRONMENT_TAG: &str = "shipgate:environment";

#[derive(Clone)]
struct Clients {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
    /// Verify's: who Shipgate is (GetCallerIdentity), here or as an environment's role.
    sts: aws_sdk_sts::Client,
    /// Verify's: roles that exist (GetRole) and what Shipgate may write (SimulatePrincipalPolicy).
    iam: aws_sdk_iam::Client,
}

/// AWS clients per region and role, built on first use.
pub struct Cloud {
    clients: Mutex<HashMap<(String, Option<String>), Clients>>,
    /// Set only by tests that run several AWS stand-ins in one process; the binary takes
    /// its credentials from the SDK's standard chain.
    fixed: Option<(String, aws_sdk_ecs::config::Credentials)>,
    /// Where calls go instead of AWS's own endpoints (`aws_endpoint_url`).
    endpoint: Option<String>,
}

impl Default for Cloud {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Cloud {
    /// AWS itself, or the stand-in at `endpoint`, with the SDK's standard credential chain.
    pub fn new(endpoint: Option<String>) -> Self {
        Cloud {
            clients: Mutex::new(HashMap::new()),
            fixed: None,
            endpoint,
        }
    }

    /// A cloud at `endpoint_url` with fixed credentials (an AWS stand-in such as moto).
    pub fn with_endpoint(
        endpoint_url: &str,
        credentials: aws_sdk_ecs::config::Credentials,
    ) -> Self {
        Cloud {
            clients: Mutex::new(HashMap::new()),
            fixed: Some((endpoint_url.to_owned(), credentials)),
            endpoint: None,
        }
    }

    async fn clients(&self, region: &str, role_arn: Option<&str>) -> Clients {
        let key = (region.to_owned(), role_arn.map(str::to_owned));
        let mut cache = self.clients.lock().await;
        if let Some(c) = cache.get(&key) {
            return c.clone();
        }
        // The SDK retries throttling and 5xx itself, with jittered backoff; past that the
        // engine tries again on its next look at the run.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(4)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some((endpoint, credentials)) = &self.fixed {
            loader = loader
                .endpoint_url(endpoint)
                .credentials_provider(credentials.clone());
        }
        let mut config = loader.load().await;
        if let Some(role) = role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("shipgate")
                .configure(&config)
                .build()
                .await;
            config = config
                .into_builder()
                .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                    provider,
                ))
                .build();
        }
        let clients = Clients {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
        };
        cache.insert(key, clients.clone());
        clients
    }

    /// Looks for `repository:tag` in ECR. `Ok(None)` means not pushed yet.
    pub async fn find_image(
        &self,
        region: &str,
        repository: &str,
        tag: &str,
    ) -> Result<Option<ImageFound>, CloudError> {
        let ecr = self.clients(region, None).await.ecr;
        let found = ecr
            .describe_images()
            .repository_name(repository)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_tag(tag)
                    .build(),
            )
            .send()
            .await;
        let images = match found {
            Ok(out) => out.image_details.unwrap_or_default(),
            Err(err) if err.code() == Some("ImageNotFoundException") => return Ok(None),
            // CI may create the repository with its first push, so this is worth waiting on
            // (until the build timeout, whose message then says what was missing).
            Err(err) if err.code() == Some("RepositoryNotFoundException") => {
                return Err(CloudError {
                    retryable: true,
                    ..CloudError::new(
                        "RepositoryNotFoundException",
                        format!("ECR repository `{repository}` does not exist in {region}"),
                    )
                });
            }
            Err(err) => return Err(cloud_error("ecr:DescribeImages", err)),
        };
        let Some(image) = images.into_iter().next() else {
            return Ok(None);
        };
        let digest = image.image_digest.ok_or_else(|| {
            CloudError::new("InvalidResponse", "ECR listed the image without a digest")
        })?;
        let repos = ecr
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
            .map_err(|e| cloud_error("ecr:DescribeRepositories", e))?;
        let repository_uri = repos
            .repositories
            .unwrap_or_default()
            .into_iter()
            .find_map(|r| r.repository_uri)
            .ok_or_else(|| {
                CloudError::new(
                    "InvalidResponse",
                    format!("ECR returned no URI for `{repository}`"),
                )
            })?;
        Ok(Some(ImageFound {
            digest,
            repository_uri,
            size_bytes: image.image_size_in_bytes,
            pushed_at: image
                .image_pushed_at
                .map(|t| t.to_millis().unwrap_or_default()),
        }))
    }

    pub async fn scan_result(
        &self,
        region: &str,
        repository: &str,
        digest: &str,
    ) -> Result<ScanResult, CloudError> {
        let ecr = self.clients(region, None).await.ecr;
        let out = ecr
            .describe_image_scan_findings()
            .repository_name(repository)
            .image_id(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) if err.code() == Some("ScanNotFoundException") => {
                return Ok(ScanResult::Pending);
            }
            Err(err) => return Err(cloud_error("ecr:DescribeImageScanFindings", err)),
        };
        let status = out
            .image_scan_status
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        match status.as_str() {
            "COMPLETE" | "ACTIVE" => {
                let counts = out
                    .image_scan_findings
                    .and_then(|f| f.finding_severity_counts)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(severity, n)| (severity.as_str().to_ascii_lowercase(), i64::from(n)))
                    .collect();
                Ok(ScanResult::Complete(counts))
            }
            "FAILED"
            | "UNSUPPORTED_IMAGE"
            | "SCAN_ELIGIBILITY_EXPIRED"
            | "FINDINGS_UNAVAILABLE" => {
                let why = out
                    .image_scan_status
                    .and_then(|s| s.description)
                    .unwrap_or_default();
                Ok(ScanResult::Failed(
                    format!("{status} {why}").trim().to_owned(),
                ))
            }
            _ => Ok(ScanResult::Pending),
        }
    }

    /// The service as ECS sees it now. A missing service or cluster is an error that names it.
    pub async fn describe_service(
        &self,
        target: &ServiceTarget,
    ) -> Result<ServiceView, CloudError> {
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
        if let Some(failure) = out.failures.unwrap_or_default().into_iter().next() {
            let reason = failure.reason.unwrap_or_default();
            return Err(CloudError::new(
                "ServiceNotFoundException",
                format!(
                    "service `{}` in cluster `{}` ({}): {reason}",
                    target.service, target.cluster, target.region
                ),
            ));
        }
        let service = out
            .services
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| {
                CloudError::new(
                    "ServiceNotFoundException",
                    format!(
                        "service `{}` was not found in cluster `{}`",
                        target.service, target.cluster
                    ),
                )
            })?;
        if service.status.as_deref() == Some("INACTIVE") {
            return Err(CloudError::new(
                "ServiceNotActiveException",
                format!(
                    "service `{}` in cluster `{}` is INACTIVE (deleted)",
                    target.service, target.cluster
                ),
            ));
        }
        Ok(service_view(service))
    }

    async fn describe_task_definition(
        &self,
        target: &ServiceTarget,
        task_definition: &str,
    ) -> Result<Option<aws_sdk_ecs::types::TaskDefinition>, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let described = ecs
            .describe_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| cloud_error("ecs:DescribeTaskDefinition", e))?;
        Ok(described.task_definition)
    }

    /// Each container's image in a task definition, by container name.
    pub async fn container_images(
        &self,
        target: &ServiceTarget,
        task_definition: &str,
    ) -> Result<BTreeMap<String, String>, CloudError> {
        Ok(self
            .describe_task_definition(target, task_definition)
            .await?
            .and_then(|t| t.container_definitions)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| Some((c.name?, c.image?)))
            .collect())
    }

    /// The parts of a task definition a release manager checks (cpu, memory, and each
    /// container's image, cpu, memory, environment and ports).
    pub async fn task_shape(
        &self,
        target: &ServiceTarget,
        task_definition: &str,
    ) -> Result<TaskShape, CloudError> {
        let td = self
            .describe_task_definition(target, task_definition)
            .await?
            .ok_or_else(|| {
                CloudError::new(
                    "ClientException",
                    format!("task definition {task_definition} was not described"),
                )
            })?;
        let containers = td
            .container_definitions
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let mut environment: Vec<(String, String)> = c
                    .environment
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|kv| Some((kv.name?, kv.value.unwrap_or_default())))
                    .collect();
                // Secrets are shown by where they come from, never by value (ECS never has it).
                environment.extend(
                    c.secrets
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| (s.name, format!("secret from {}", s.value_from))),
                );
                environment.sort();
                let ports = c
                    .port_mappings
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        let container = p.container_port?;
                        let protocol = p
                            .protocol
                            .map_or_else(|| "tcp".to_owned(), |p| p.as_str().to_owned());
                        Some(match p.host_port.filter(|h| *h != container && *h != 0) {
                            Some(host) => format!("{container}→{host}/{protocol}"),
                            None => format!("{container}/{protocol}"),
                        })
                    })
                    .collect();
                ContainerShape {
                    name: c.name.unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    cpu: (c.cpu != 0).then_some(i64::from(c.cpu)),
                    memory: c.memory.map(i64::from),
                    environment,
                    ports,
                }
            })
            .collect();
        let arn = td
            .task_definition_arn
            .unwrap_or_else(|| task_definition.to_owned());
        Ok(TaskShape {
            revision: shipgate_pipeline::rollout::short_task_definition(&arn).to_owned(),
            cpu: td.cpu,
            memory: td.memory,
            containers,
        })
    }

    /// The newest `keep` images of an ECR repository (at most [`MAX_LISTED`] are read).
    pub async fn list_images(
        &self,
        region: &str,
        repository: &str,
        keep: usize,
    ) -> Result<Listing, CloudError> {
        let ecr = self.clients(region, None).await.ecr;
        let repos = match ecr
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.code() == Some("RepositoryNotFoundException") => {
                return Err(CloudError::new(
                    "RepositoryNotFoundException",
                    format!("ECR repository `{repository}` does not exist in {region}"),
                ));
            }
            Err(err) => return Err(cloud_error("ecr:DescribeRepositories", err)),
        };
        let repository_uri = repos
            .repositories
            .unwrap_or_default()
            .into_iter()
            .find_map(|r| r.repository_uri);
        let mut images = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = ecr
                .describe_images()
                .repository_name(repository)
                .max_results(1000)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| cloud_error("ecr:DescribeImages", e))?;
            images.extend(
                page.image_details
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|d| {
                        Some(RegistryImage {
                            digest: d.image_digest?,
                            tags: d.image_tags.unwrap_or_default(),
                            size: d.image_size_in_bytes,
                            pushed_at: d.image_pushed_at.and_then(|t| t.to_millis().ok()),
                        })
                    }),
            );
            next = page.next_token;
            if next.is_none() || images.len() >= MAX_LISTED {
                break;
            }
        }
        let total = images.len();
        images.sort_by(|a, b| {
            b.pushed_at
                .cmp(&a.pushed_at)
                .then_with(|| a.digest.cmp(&b.digest))
        });
        images.truncate(keep);
        Ok(Listing {
            repository_uri,
            images,
            total,
        })
    }

    /// A revision this run already registered for this environment, if a crash came
    /// between the registration and the store remembering it.
    pub async fn find_registered_revision(
        &self,
        target: &ServiceTarget,
        family: &str,
        run_id: i64,
        environment: &str,
    ) -> Result<Option<String>, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let listed = ecs
            .list_task_definitions()
            .family_prefix(family)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .max_results(10)
            .send()
            .await
            .map_err(|e| cloud_error("ecs:ListTaskDefinitions", e))?;
        for arn in listed.task_definition_arns.unwrap_or_default() {
            let described = ecs
                .describe_task_definition()
                .task_definition(&arn)
                .include(TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| cloud_error("ecs:DescribeTaskDefinition", e))?;
            let tags = described.tags.unwrap_or_default();
            let has = |k: &str, v: &str| {
                tags.iter()
                    .any(|t| t.key.as_deref() == Some(k) && t.value.as_deref() == Some(v))
            };
            if has(RUN_TAG, &run_id.to_string()) && has(ENVIRONMENT_TAG, environment) {
                return Ok(Some(arn));
            }
        }
        Ok(None)
    }

    /// Registers a revision of `current` that differs only in `container`'s image, tagged
    /// with the run, and returns its ARN.
    pub async fn register_revision(
        &self,
        target: &ServiceTarget,
        current: &str,
        container: &str,
        image: &str,
        run_id: i64,
        environment: &str,
    ) -> Result<String, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let described = ecs
            .describe_task_definition()
            .task_definition(current)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| cloud_error("ecs:DescribeTaskDefinition", e))?;
        let definition = described.task_definition.ok_or_else(|| {
            CloudError::new(
                "InvalidResponse",
                format!("ECS returned no task definition for {current}"),
            )
        })?;
        let mut tags: Vec<Tag> = described
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter(|t| !matches!(t.key.as_deref(), Some(RUN_TAG | ENVIRONMENT_TAG)))
            .collect();
        tags.push(
            Tag::builder()
                .key(RUN_TAG)
                .value(run_id.to_string())
                .build(),
        );
        tags.push(
            Tag::builder()
                .key(ENVIRONMENT_TAG)
                .value(environment)
                .build(),
        );
        let request = render_revision(
            ecs.register_task_definition(),
            &definition,
            container,
            image,
            tags,
        )
        .map_err(|e| CloudError::new("InvalidTaskDefinition", e.to_string()))?;
        let out = request
            .send()
            .await
            .map_err(|e| cloud_error("ecs:RegisterTaskDefinition", e))?;
        out.task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| {
                CloudError::new("InvalidResponse", "RegisterTaskDefinition returned no ARN")
            })
    }

    /// Points the service at `task_definition` and returns the id of the deployment ECS started.
    pub async fn update_service(
        &self,
        target: &ServiceTarget,
        task_definition: &str,
        settings: &DeploySettings,
    ) -> Result<String, CloudError> {
        let ecs = self
            .clients(&target.region, target.role_arn.as_deref())
            .await
            .ecs;
        let out = ecs
            .update_service()
            .cluster(&target.cluster)
            .service(&target.service)
            .task_definition(task_definition)
            .deployment_configuration(deployment_configuration(settings))
            .send()
            .await
            .map_err(|e| cloud_error("ecs:UpdateService", e))?;
        let view = out.service.map(service_view).ok_or_else(|| {
            CloudError::new("InvalidResponse", "UpdateService returned no service")
        })?;
        deployment_of(&view, task_definition).ok_or_else(|| {
            CloudError::new(
                "InvalidResponse",
                format!("UpdateService started no deployment of {task_definition}"),
            )
        })
    }
}

fn deployment_configuration(settings: &DeploySettings) -> DeploymentConfiguration {
    let strategy = match settings.strategy {
        DeployStrategy::Rolling => SdkStrategy::Rolling,
        DeployStrategy::BlueGreen => SdkStrategy::BlueGreen,
        DeployStrategy::Linear => SdkStrategy::Linear,
        DeployStrategy::Canary => SdkStrategy::Canary,
    };
    let mut config = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(settings.circuit_breaker)
                .rollback(settings.circuit_breaker)
                .build(),
        )
        .set_minimum_healthy_percent(settings.minimum_healthy_percent.map(i32::from))
        .set_maximum_percent(settings.maximum_percent.map(i32::from))
        .set_bake_time_in_minutes(settings.bake_time_minutes.map(i32::from));
    // Rolling is ECS's default; sending it explicitly only to services that asked for
    // something else keeps requests valid for regions or endpoints without strategies.
    if settings.strategy != DeployStrategy::Rolling {
        config = config.strategy(strategy);
    }
    config.build()
}

fn service_view(s: aws_sdk_ecs::types::Service) -> ServiceView {
    let millis = |t: Option<&aws_sdk_ecs::primitives::DateTime>| {
        t.and_then(|t| t.to_millis().ok()).unwrap_or_default()
    };
    ServiceView {
        arn: s.service_arn.unwrap_or_default(),
        status: s.status.unwrap_or_default(),
        task_definition: s.task_definition.unwrap_or_default(),
        desired: s.desired_count,
        running: s.running_count,
        pending: s.pending_count,
        deployments: s
            .deployments
            .unwrap_or_default()
            .into_iter()
            .map(|d| DeploymentView {
                id: d.id.unwrap_or_default(),
                status: d.status.unwrap_or_default(),
                rollout_state: d.rollout_state.as_ref().and_then(|r| match r.as_str() {
                    "IN_PROGRESS" => Some(RolloutState::InProgress),
                    "COMPLETED" => Some(RolloutState::Completed),
                    "FAILED" => Some(RolloutState::Failed),
                    _ => None,
                }),
                rollout_reason: d.rollout_state_reason,
                task_definition: d.task_definition.unwrap_or_default(),
                desired: d.desired_count,
                running: d.running_count,
                pending: d.pending_count,
                failed: d.failed_tasks,
            })
            .collect(),
        events: s
            .events
            .unwrap_or_default()
            .into_iter()
            .take(10)
            .map(|e| ServiceEvent {
                at: millis(e.created_at.as_ref()),
                message: e.message.unwrap_or_default(),
            })
            .collect(),
    }
}
