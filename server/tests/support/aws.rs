//! AWS for the tests: moto's server, extended with ECS rollouts by
//! `tests/peers/moto_ecs.py`, started per test on a free port. Resources are created in it
//! through the real AWS SDK, as an operator would create them.
#![allow(dead_code)]

use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, KeyValuePair, LaunchType,
    NetworkConfiguration, NetworkMode, PortMapping,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shipgate::aws::Cloud;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const REGION: &str = "us-east-1";
/// The account moto serves requests signed with plain (not assumed-role) keys from.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

pub fn credentials() -> aws_sdk_ecs::config::Credentials {
    aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "shipgate-tests")
}

/// One moto server, stopped when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/moto_ecs.py")
}

impl Moto {
    pub async fn start() -> Moto {
        let mut child = Command::new("python3")
            .arg(peer_script())
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "python3 runs tests/peers/moto_ecs.py (the test command installs moto[server])",
            );
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout)
                .read_line(&mut line)
                .expect("moto prints its address");
            line
        })
        .await
        .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from moto: {line:?}"))
            .to_owned();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&url)
            .credentials_provider(credentials())
            .load()
            .await;
        Moto {
            child,
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            url,
        }
    }

    pub fn cloud(&self) -> Cloud {
        Cloud::with_endpoint(&self.url, credentials())
    }

    /// A plain JSON request to the peer's control API (`/_shipgate/…`, `/moto-api/…`).
    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let authority = self.url.trim_start_matches("http://");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("moto reachable");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(
            head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
            "{method} {path}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or(Value::Null)
    }

    /// Every ECS/ECR call moto received for `action`, oldest first.
    pub async fn calls(&self, action: &str) -> Vec<Value> {
        let all = self
            .control("GET", &format!("/_shipgate/calls?action={action}"), None)
            .await;
        all["calls"].as_array().cloned().unwrap_or_default()
    }

    /// The next UpdateService of a service ends as `outcome` after `polls` looks.
    pub async fn script_rollout(&self, cluster: &str, service: &str, outcome: &str, polls: u32) {
        self.control(
            "POST",
            "/_shipgate/rollout",
            Some(
                json!({"cluster": cluster, "service": service, "outcome": outcome, "polls": polls}),
            ),
        )
        .await;
    }

    /// The next `times` calls of `action` fail with AWS error `code`.
    pub async fn fault(&self, action: &str, code: &str, message: &str, status: u16, times: i64) {
        self.control("POST", "/_shipgate/fault", Some(json!({"action": action, "code": code, "message": message, "status": status, "times": times})))
            .await;
    }

    /// A cluster with a Fargate service running a one-container task (plus a sidecar, so
    /// the render must pick the right container). Returns the live task definition ARN.
    pub async fn create_service(&self, cluster: &str, service: &str, container: &str) -> String {
        self.create_service_with(
            &self.ecs.clone(),
            DEFAULT_ACCOUNT,
            cluster,
            service,
            container,
        )
        .await
    }

    /// An ECS client acting as `role_arn` (assumed through moto's STS). Moto places what it
    /// creates in the role's account, as AWS would.
    pub async fn assumed_ecs(&self, role_arn: &str) -> aws_sdk_ecs::Client {
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(credentials())
            .load()
            .await;
        let role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("tests")
            .configure(&base)
            .build()
            .await;
        let config = base
            .into_builder()
            .credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(role))
            .build();
        aws_sdk_ecs::Client::new(&config)
    }

    /// As [`Moto::create_service`], through `ecs` in `account`.
    pub async fn create_service_with(
        &self,
        ecs: &aws_sdk_ecs::Client,
        account: &str,
        cluster: &str,
        service: &str,
        container: &str,
    ) -> String {
        ecs.create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .expect("create cluster");
        let registered = ecs
            .register_task_definition()
            .family(service)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .execution_role_arn("arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
            .container_definitions(
                ContainerDefinition::builder()
                    .name(container)
                    .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world:previous")
                    .essential(true)
                    .memory(512)
                    .environment(
                        KeyValuePair::builder()
                            .name("MODE")
                            .value("production")
                            .build(),
                    )
                    .port_mappings(PortMapping::builder().container_port(8080).build())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("log-router")
                    .image("fluent-bit:3")
                    .essential(false)
                    .memory(64)
                    .build(),
            )
            .send()
            .await
            .expect("register task definition");
        let arn = registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("arn");
        let network = self
            .control(
                "GET",
                &format!("/_shipgate/network?account={account}"),
                None,
            )
            .await;
        let strings = |v: &Value| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        ecs.create_service()
            .cluster(cluster)
            .service_name(service)
            .task_definition(&arn)
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .set_subnets(Some(strings(&network["subnets"])))
                            .set_security_groups(Some(strings(&network["securityGroups"])))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("create service");
        arn
    }

    /// Pushes an image manifest under `tag`, as CI would; returns its digest.
    pub async fn push_image(&self, repository: &str, tag: &str) -> String {
        let _ = self
            .ecr
            .create_repository()
            .repository_name(repository)
            .send()
            .await;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": format!("sha256:{}", hex::encode(Sha256::digest(tag.as_bytes())))},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": "sha256:59bf1c3509f33515622619af21ed55bbe26d24913cedbca106468a5fb37a50c3"}]
        })
        .to_string();
        let digest = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(manifest.as_bytes()))
        );
        self.ecr
            .put_image()
            .repository_name(repository)
            .image_manifest(&manifest)
            .image_tag(tag)
            .image_digest(&digest)
            .send()
            .await
            .expect("put image");
        digest
    }

    /// Makes the scan of `repository:tag` report `counts` (e.g. `{"HIGH": 1}`).
    pub async fn scan_findings(&self, repository: &str, tag: &str, counts: Value) {
        let findings = json!({
            "imageScanFindings": {"findings": [], "findingSeverityCounts": counts},
            "registryId": "123456789012",
            "repositoryName": repository,
            "imageId": {"imageTag": tag},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."}
        });
        self.control(
            "POST",
            "/moto-api/static/ecr/scan-finding-results",
            Some(json!({"results": [findings], "region": REGION})),
        )
        .await;
        self.ecr
            .start_image_scan()
            .repository_name(repository)
            .image_id(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_tag(tag)
                    .build(),
            )
            .send()
            .await
            .expect("start image scan");
    }
}
