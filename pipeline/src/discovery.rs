//! What AWS reports an account holds, for linking a pipeline to it: ECS clusters with their
//! services and containers, and ECR repositories. The AWS adapter fills these in; the REST
//! API serves them as they are, and the dashboard's pipeline form picks from them, so that a
//! cluster, service or container is chosen from what exists instead of typed.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A string checked once by `$check` (a `fn(&str) -> Result<(), String>`), then carried as
/// its own type: parsed from text and from JSON, shown and serialized as the text.
macro_rules! checked_text {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<$name, String> {
                $check(s).map(|()| $name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;

            fn try_from(s: String) -> Result<$name, String> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(r: $name) -> String {
                r.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_text!(
    /// An AWS region code, checked once (`us-east-1`, `eu-central-2`, `us-gov-west-1`):
    /// discovery is asked per region, and a region that cannot exist is refused before any
    /// call.
    Region,
    crate::spec::check_region
);

checked_text!(
    /// An IAM role to assume for a discovery: an environment in another account is read as
    /// the role it deploys as, so the form lists that account's clusters, not Shipgate's own.
    RoleArn,
    crate::spec::check_role_arn
);

/// The ECS clusters of one region, each with its services, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsDiscovery {
    pub clusters: Vec<ClusterFound>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterFound {
    pub name: String,
    pub arn: String,
    pub services: Vec<ServiceFound>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFound {
    pub name: String,
    pub arn: String,
    /// The task definition the service runs now (an ARN).
    pub task_definition: String,
    /// The container names of that task definition, in its order.
    pub containers: Vec<String>,
    /// `FARGATE`, `EC2` or `EXTERNAL`; none for a service placed by a capacity provider
    /// strategy.
    pub launch_type: Option<String>,
    pub deployment_controller: DeploymentController,
}

/// Who rolls a service's tasks over. Shipgate deploys through ECS's own deployments
/// (`UpdateService`), which services handed to CodeDeploy or to an external controller
/// refuse, so those can be seen but not linked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeploymentController {
    #[serde(rename = "ECS")]
    Ecs,
    #[serde(rename = "CODE_DEPLOY")]
    CodeDeploy,
    #[serde(rename = "EXTERNAL")]
    External,
}

impl DeploymentController {
    /// AWS's name for it; a service that names none is deployed by ECS.
    pub fn parse(s: Option<&str>) -> Option<DeploymentController> {
        match s {
            None | Some("ECS") => Some(DeploymentController::Ecs),
            Some("CODE_DEPLOY") => Some(DeploymentController::CodeDeploy),
            Some("EXTERNAL") => Some(DeploymentController::External),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentController::Ecs => "ECS",
            DeploymentController::CodeDeploy => "CODE_DEPLOY",
            DeploymentController::External => "EXTERNAL",
        }
    }

    /// Whether Shipgate can deploy a service with this controller.
    pub fn supported(self) -> bool {
        self == DeploymentController::Ecs
    }
}

impl fmt::Display for DeploymentController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ServiceFound {
    /// Why this service cannot be linked, when it cannot.
    pub fn unsupported(&self) -> Option<String> {
        (!self.deployment_controller.supported()).then(|| {
            format!(
                "not supported yet: its deployments are run by {} (deployment controller {}), and Shipgate deploys through ECS rolling deployments",
                match self.deployment_controller {
                    DeploymentController::CodeDeploy => "CodeDeploy",
                    _ => "an external controller",
                },
                self.deployment_controller
            )
        })
    }
}

impl EcsDiscovery {
    pub fn cluster(&self, name: &str) -> Option<&ClusterFound> {
        self.clusters
            .iter()
            .find(|c| c.name == name || c.arn == name)
    }

    /// The service `service` of cluster `cluster` (each by name or ARN).
    pub fn service(&self, cluster: &str, service: &str) -> Option<&ServiceFound> {
        self.cluster(cluster)?
            .services
            .iter()
            .find(|s| s.name == service || s.arn == service)
    }
}

/// The ECR repositories of one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcrDiscovery {
    pub repositories: Vec<RepositoryFound>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryFound {
    pub name: String,
    /// `registry/name`, what images are pulled by.
    pub uri: String,
    /// `MUTABLE` or `IMMUTABLE` (AWS's words).
    pub tag_mutability: String,
    pub scan_on_push: bool,
}

/// The GitHub repositories Shipgate's token can see, for the form's repository field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubDiscovery {
    pub repositories: Vec<GitHubRepository>,
    /// The token sees more repositories than were read (the list stops at a limit, most
    /// recently pushed first); others can still be typed in.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitHubRepository {
    /// `owner/name`.
    pub full_name: String,
    pub default_branch: String,
    pub private: bool,
}

impl GitHubDiscovery {
    pub fn repository(&self, full_name: &str) -> Option<&GitHubRepository> {
        self.repositories
            .iter()
            .find(|r| r.full_name.eq_ignore_ascii_case(full_name))
    }
}

/// A discovery the dashboard asked for: what AWS reported, or why it could not be read, in
/// one sentence for the page. (A refusal of the caller is not a lookup result: it stays an
/// error of the server function.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lookup<T> {
    Found(T),
    Failed(String),
}

impl<T> Lookup<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Lookup::Found(t) => Some(t),
            Lookup::Failed(_) => None,
        }
    }

    pub fn failure(&self) -> Option<&str> {
        match self {
            Lookup::Found(_) => None,
            Lookup::Failed(why) => Some(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_checked_once_and_serializes_as_its_code() {
        let region: Region = "eu-central-1".parse().unwrap();
        assert_eq!(region.as_str(), "eu-central-1");
        assert!("mars".parse::<Region>().is_err());
        assert!("us-east-1 ".parse::<Region>().is_err());
        assert!("us-gov-west-1".parse::<Region>().is_ok());
        assert_eq!(
            serde_json::to_value(&region).unwrap(),
            serde_json::json!("eu-central-1")
        );
        assert!(serde_json::from_value::<Region>(serde_json::json!("nowhere")).is_err());
    }

    #[test]
    fn a_role_to_discover_as_must_be_an_iam_role_arn() {
        let role: RoleArn = "arn:aws:iam::222222222222:role/deployer".parse().unwrap();
        assert_eq!(role.as_str(), "arn:aws:iam::222222222222:role/deployer");
        for bad in ["deployer", "arn:aws:iam::222222222222:user/ci", ""] {
            let why = bad.parse::<RoleArn>().unwrap_err();
            assert!(why.contains("is not an IAM role ARN"), "{bad}: {why}");
        }
        assert!(serde_json::from_value::<RoleArn>(serde_json::json!("deployer")).is_err());
    }

    #[test]
    fn a_github_repository_is_found_whatever_the_case_it_is_typed_in() {
        let found = GitHubDiscovery {
            repositories: vec![GitHubRepository {
                full_name: "Codertocat/Hello-World".into(),
                default_branch: "main".into(),
                private: false,
            }],
            truncated: false,
        };
        assert!(found.repository("codertocat/hello-world").is_some());
        assert!(found.repository("codertocat/other").is_none());
    }

    #[test]
    fn only_ecs_controlled_services_are_supported_and_the_others_say_why() {
        let service = |controller| ServiceFound {
            name: "api".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:service/stg/api".into(),
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3".into(),
            containers: vec!["app".into()],
            launch_type: Some("FARGATE".into()),
            deployment_controller: controller,
        };
        assert_eq!(service(DeploymentController::Ecs).unsupported(), None);
        let why = service(DeploymentController::CodeDeploy)
            .unsupported()
            .unwrap();
        assert!(why.starts_with("not supported yet"), "{why}");
        assert!(why.contains("CodeDeploy"), "{why}");
        assert!(
            service(DeploymentController::External)
                .unsupported()
                .unwrap()
                .contains("EXTERNAL")
        );
        assert_eq!(
            DeploymentController::parse(None),
            Some(DeploymentController::Ecs)
        );
        assert_eq!(DeploymentController::parse(Some("SOMETHING_NEW")), None);
        assert_eq!(
            serde_json::to_value(DeploymentController::CodeDeploy).unwrap(),
            serde_json::json!("CODE_DEPLOY")
        );
    }

    #[test]
    fn services_are_found_by_name_or_arn() {
        let found = EcsDiscovery {
            clusters: vec![ClusterFound {
                name: "stg".into(),
                arn: "arn:aws:ecs:us-east-1:123456789012:cluster/stg".into(),
                services: vec![ServiceFound {
                    name: "api".into(),
                    arn: "arn:aws:ecs:us-east-1:123456789012:service/stg/api".into(),
                    task_definition: String::new(),
                    containers: vec![],
                    launch_type: None,
                    deployment_controller: DeploymentController::Ecs,
                }],
            }],
        };
        assert!(found.service("stg", "api").is_some());
        assert!(
            found
                .service(
                    "arn:aws:ecs:us-east-1:123456789012:cluster/stg",
                    "arn:aws:ecs:us-east-1:123456789012:service/stg/api"
                )
                .is_some()
        );
        assert!(found.service("stg", "web").is_none());
        assert!(found.service("prod", "api").is_none());
    }
}
