//! An admin asks what AWS holds in a region (ECS clusters, services and containers; ECR
//! repositories), and which repositories the GitHub token can see, to link a pipeline to
//! what exists rather than to what was typed.
//!
//! Answers are kept per region for a short while: the pipeline form asks again on every
//! step (a region chosen, then a cluster, then a service), and a large account takes many
//! calls to read, so the steps of one form share one reading. A failure is never kept: the
//! next ask tries AWS again.

use super::{Acting, OpError};
use crate::aws::{Cloud, DiscoverError, DiscoverLimits};
use crate::outbound::{Outbound, SendError};
use shipgate_pipeline::access::Action;
use shipgate_pipeline::discovery::{EcrDiscovery, EcsDiscovery, GitHubDiscovery, Region, RoleArn};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a region's answer is reused.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(30);

/// Readings by region (and, for ECS, the role read as), each with when it was taken.
#[derive(Default)]
struct Kept {
    ecs: HashMap<(Region, Option<RoleArn>), (Instant, EcsDiscovery)>,
    ecr: HashMap<Region, (Instant, EcrDiscovery)>,
    github: Option<(Instant, GitHubDiscovery)>,
}

/// The discovery use-cases, over the AWS adapter and a short-lived cache shared by every
/// door of this process.
#[derive(Clone)]
pub struct Discovery {
    cloud: Arc<Cloud>,
    /// GitHub's REST API, when a token is configured.
    github: Option<Arc<Outbound>>,
    limits: DiscoverLimits,
    ttl: Duration,
    kept: Arc<Mutex<Kept>>,
}

impl Discovery {
    pub fn new(cloud: Arc<Cloud>) -> Discovery {
        Discovery::with_limits(cloud, DiscoverLimits::default(), DISCOVERY_TTL)
    }

    /// A discovery with its own deadline, page size and cache time (tests make them small).
    pub fn with_limits(cloud: Arc<Cloud>, limits: DiscoverLimits, ttl: Duration) -> Discovery {
        Discovery {
            cloud,
            github: None,
            limits,
            ttl,
            kept: Arc::default(),
        }
    }

    /// This discovery, also listing what `github` (with its token) can see, if it has one.
    pub fn with_github(self, github: Arc<Outbound>) -> Discovery {
        Discovery {
            github: github.has_github().then_some(github),
            ..self
        }
    }

    /// The GitHub repositories the token can see; `None` when no token is configured (the
    /// repository is typed in then).
    pub async fn github(&self, who: &Acting) -> Result<Option<GitHubDiscovery>, OpError> {
        who.require(Action::Administer)?;
        let Some(github) = &self.github else {
            return Ok(None);
        };
        if let Some(found) = self.fresh(|k| k.github.clone()) {
            return Ok(Some(found));
        }
        let found = github.repositories().await.map_err(|e| match e {
            SendError::NoGitHub => OpError::Failed(e.to_string()),
            SendError::Retry(m) | SendError::Refused(m) => OpError::Upstream {
                message: format!("listing the GitHub token's repositories failed: {m}"),
                slow: false,
            },
        })?;
        self.lock().github = Some((Instant::now(), found.clone()));
        Ok(Some(found))
    }

    /// The ECS clusters of `region`, with their services and containers; as `role_arn`
    /// when given (an environment in another account).
    pub async fn ecs(
        &self,
        who: &Acting,
        region: &str,
        role_arn: Option<&str>,
    ) -> Result<EcsDiscovery, OpError> {
        let region = checked(who, region)?;
        let role = role_arn
            .map(|r| r.parse::<RoleArn>())
            .transpose()
            .map_err(|m| OpError::invalid("role_arn", m))?;
        let key = (region, role);
        if let Some(found) = self.fresh(|k| k.ecs.get(&key).cloned()) {
            return Ok(found);
        }
        let found = self
            .cloud
            .discover_ecs(&key.0, key.1.as_ref(), self.limits)
            .await
            .map_err(failed)?;
        self.lock().ecs.insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }

    /// The ECR repositories of `region`.
    pub async fn ecr(&self, who: &Acting, region: &str) -> Result<EcrDiscovery, OpError> {
        let region = checked(who, region)?;
        if let Some(found) = self.fresh(|k| k.ecr.get(&region).cloned()) {
            return Ok(found);
        }
        let found = self
            .cloud
            .discover_ecr(&region, self.limits)
            .await
            .map_err(failed)?;
        self.lock()
            .ecr
            .insert(region, (Instant::now(), found.clone()));
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic while holding the lock leaves nothing half-written worth refusing.
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn fresh<T>(&self, get: impl FnOnce(&Kept) -> Option<(Instant, T)>) -> Option<T> {
        get(&self.lock())
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, t)| t)
    }
}

/// The caller may administer, and `region` is a region code.
fn checked(who: &Acting, region: &str) -> Result<Region, OpError> {
    who.require(Action::Administer)?;
    region.parse().map_err(|m| OpError::invalid("region", m))
}

fn failed(e: DiscoverError) -> OpError {
    OpError::Upstream {
        slow: matches!(e, DiscoverError::Slow { .. }),
        message: e.to_string(),
    }
}
