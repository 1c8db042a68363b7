//! What AWS itself reports about the things pipelines point at: each environment's ECS
//! service and each pipeline's ECR repository. The engine refreshes these on a timer (it
//! is the only part of Shipgate that talks to AWS) and the pages read them from the store,
//! so a page load never waits on AWS and never depends on its rate limits.

use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An ECS service as the last DescribeServices saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveService {
    /// `ACTIVE`, `DRAINING`, `INACTIVE`; `None` if AWS never answered.
    pub status: Option<String>,
    pub task_definition: Option<String>,
    /// Each container's image in the live task definition, by container name.
    pub images: BTreeMap<String, String>,
    pub desired: Option<i64>,
    pub running: Option<i64>,
    pub pending: Option<i64>,
    /// Deployments ECS lists (more than one while a rollout is under way).
    pub deployments: Option<i64>,
    /// When AWS last answered; `None` if it never did.
    pub observed_at: Option<Millis>,
    /// Why the latest look failed (AWS's code and message), if it did. The other fields
    /// then still hold what the last successful look saw.
    pub error: Option<String>,
    /// When Shipgate last tried to look.
    pub checked_at: Millis,
}

impl LiveService {
    /// The image the service runs in `container`, if the container exists.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.images.get(container).map(String::as_str)
    }
}

/// One image in an ECR repository, once per digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryImage {
    pub digest: String,
    /// Every tag ECR lists for the digest; empty for an untagged image.
    pub tags: Vec<String>,
    pub size: Option<i64>,
    pub pushed_at: Option<Millis>,
}

/// The outcome of the last listing of an ECR repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryListing {
    pub region: String,
    pub repository: String,
    /// `registry/repository`, to which `@digest` or `:tag` is appended.
    pub repository_uri: Option<String>,
    /// How many images the repository held when it was listed (Shipgate keeps the newest).
    pub image_count: Option<i64>,
    pub observed_at: Option<Millis>,
    pub error: Option<String>,
    pub checked_at: Millis,
}

/// Whether the image reference a service runs (`repo@sha256:…` or `repo:tag`) is the
/// image `digest` of `repository_uri`, which ECR lists under `tags`. A reference by tag can
/// only be matched through the tag's current digest, which is what ECR lists.
pub fn runs_image(
    reference: &str,
    repository_uri: Option<&str>,
    digest: &str,
    tags: &[String],
) -> bool {
    if reference.contains('@') {
        return image_digest(reference) == digest;
    }
    let Some((repository, tag)) = split_tag(reference) else {
        return false;
    };
    repository_uri.is_some_and(|uri| uri == repository) && tags.iter().any(|t| t == tag)
}

/// `(repository, tag)` of `registry/repo:tag`. The registry may carry a port
/// (`host:5000/repo`), so the tag is what follows the last `:` after the last `/`.
fn split_tag(reference: &str) -> Option<(&str, &str)> {
    let (repository, tag) = reference.rsplit_once(':')?;
    (!tag.contains('/')).then_some((repository, tag))
}

/// `sha256:…` from a pinned image reference (`repository@sha256:…`); the whole text if it
/// is not pinned.
pub fn image_digest(image: &str) -> &str {
    image.rsplit_once('@').map_or(image, |(_, digest)| digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world";

    #[test]
    fn which_reference_runs_which_image() {
        let tags = vec!["v1".to_owned(), "latest".to_owned()];
        let cases: &[(&str, Option<&str>, &str, bool)] = &[
            // Pinned by digest: the digest decides, whatever the repository.
            (&format!("{URI}@sha256:aa"), Some(URI), "sha256:aa", true),
            (&format!("{URI}@sha256:aa"), Some(URI), "sha256:bb", false),
            // By tag: same repository and a tag ECR lists for that digest.
            (&format!("{URI}:v1"), Some(URI), "sha256:aa", true),
            (&format!("{URI}:v2"), Some(URI), "sha256:aa", false),
            ("docker.io/library/nginx:v1", Some(URI), "sha256:aa", false),
            (&format!("{URI}:v1"), None, "sha256:aa", false),
            // No tag at all (an implicit `latest`) is not guessed at.
            (URI, Some(URI), "sha256:aa", false),
            (
                "registry.local:5000/hello-world",
                Some("registry.local:5000/hello-world"),
                "sha256:aa",
                false,
            ),
            (
                "registry.local:5000/hello-world:latest",
                Some("registry.local:5000/hello-world"),
                "sha256:aa",
                true,
            ),
        ];
        for (reference, uri, digest, expected) in cases {
            assert_eq!(
                runs_image(reference, *uri, digest, &tags),
                *expected,
                "{reference} vs {digest}"
            );
        }
    }

    #[test]
    fn a_service_names_its_containers_images() {
        let live = LiveService {
            status: Some("ACTIVE".into()),
            task_definition: Some("arn:aws:ecs:us-east-1:1:task-definition/hello:7".into()),
            images: BTreeMap::from([
                ("app".to_owned(), format!("{URI}@sha256:aa")),
                ("log-router".to_owned(), "fluent-bit:3".to_owned()),
            ]),
            desired: Some(2),
            running: Some(2),
            pending: Some(0),
            deployments: Some(1),
            observed_at: Some(1),
            error: None,
            checked_at: 1,
        };
        assert_eq!(
            live.image_of("app"),
            Some(format!("{URI}@sha256:aa").as_str())
        );
        assert_eq!(live.image_of("web"), None);
    }
}
