//! Gathering what a release manager decides on when a run reaches a gate: the commits
//! since the version live in the environment (GitHub compare) and how the environment's
//! task definition would change. A part that fails is gathered again on later looks (a few
//! times), and the page says what failed meanwhile; the gate itself never waits for it.

use super::{Engine, EngineError};
use crate::aws::{ScanResult, ServiceTarget};
use crate::outbound::SendError;
use shipgate_pipeline::brief::{CommitLine, CommitList, GateBrief, Gathered, LiveVersion, diff};
use shipgate_pipeline::read::RunDetail;
use shipgate_pipeline::{EnvironmentSpec, PipelineSpec};
use std::collections::BTreeMap;
use tracing::info;

/// A brief with a failed part is gathered at most this many times.
const MAX_BRIEF_ATTEMPTS: i64 = 5;

impl Engine {
    /// Makes sure the gate at `position` has a brief. Returns when to try again, if a part
    /// failed and may yet work.
    pub(super) async fn brief_step(
        &self,
        run: &RunDetail,
        pipeline: &PipelineSpec,
        position: usize,
        environment: &EnvironmentSpec,
    ) -> Result<Option<i64>, EngineError> {
        let id = run.run.id;
        let attempts = match self.store.gate_brief(id, position as i64).await? {
            Some((brief, attempts)) if !brief.incomplete() || attempts >= MAX_BRIEF_ATTEMPTS => {
                return Ok(None);
            }
            Some((_, attempts)) => attempts,
            None => 0,
        };
        let brief = self.gather_brief(run, pipeline, environment).await?;
        info!(environment = %environment.name, incomplete = brief.incomplete(), "gate brief gathered");
        self.store
            .save_gate_brief(id, position as i64, &brief)
            .await?;
        Ok((brief.incomplete() && attempts + 1 < MAX_BRIEF_ATTEMPTS)
            .then(|| self.store.now_ms() + self.backoff(attempts + 1)))
    }

    async fn gather_brief(
        &self,
        run: &RunDetail,
        pipeline: &PipelineSpec,
        environment: &EnvironmentSpec,
    ) -> Result<GateBrief, EngineError> {
        let target = ServiceTarget {
            region: environment.region.clone(),
            role_arn: environment.deploy.role_arn.clone(),
            cluster: environment.cluster.clone(),
            service: environment.service.clone(),
        };
        let candidate = run.build.as_ref().and_then(|b| {
            Some(format!(
                "{}@{}",
                b.image_uri.as_ref()?,
                b.image_digest.as_ref()?
            ))
        });
        let view = self.cloud.describe_service(&target).await;

        // What runs there now, if Shipgate put it there.
        let mut live = None;
        if let Ok(view) = &view
            && let Some(deploy) = self.store.deploy_of_revision(&view.task_definition).await?
            && let Some((deployed, _)) = self.store.run_and_stages(deploy.run_id).await?
        {
            live = Some(LiveVersion {
                run_id: deploy.run_id,
                commit_sha: deployed.commit.sha,
                image: deploy.image,
                task_definition: deploy.task_definition,
            });
        }

        let sha = &run.run.commit.sha;
        let commits = match &live {
            _ if !self.outbound.has_github() => Gathered::NotApplicable(
                "no GitHub token is configured (github_token), so the commits cannot be listed"
                    .into(),
            ),
            None if view.is_err() => Gathered::NotApplicable(format!(
                "what runs in {} now is unknown (ECS did not answer), so there is no version to compare with",
                environment.name
            )),
            None => Gathered::NotApplicable(format!(
                "what runs in {} now was not deployed by Shipgate, so there is no commit to compare with",
                environment.name
            )),
            Some(l) if l.commit_sha == *sha => Gathered::NotApplicable(format!(
                "{} already runs this commit: the deploy changes no code",
                environment.name
            )),
            Some(l) => match self
                .outbound
                .compare(&run.run.repository, &l.commit_sha, sha)
                .await
            {
                Ok(found) => Gathered::Found(CommitList {
                    total: found.total,
                    url: found.url,
                    commits: found
                        .commits
                        .into_iter()
                        .map(|c| CommitLine {
                            sha: c.sha,
                            title: c.title,
                            author: c.author,
                            url: c.url,
                        })
                        .collect(),
                }),
                Err(SendError::Refused(e) | SendError::Retry(e)) => Gathered::Failed(e),
                Err(e @ SendError::NoGitHub) => Gathered::NotApplicable(e.to_string()),
            },
        };

        let task_definition = match (&view, candidate) {
            (Err(e), _) => Gathered::Failed(e.to_string()),
            (Ok(_), None) => Gathered::NotApplicable("the build recorded no image digest".into()),
            (Ok(view), Some(image)) => {
                match self.cloud.task_shape(&target, &view.task_definition).await {
                    Ok(shape) => Gathered::Found(diff(
                        &shape,
                        &shape.with_image(&environment.container, &image),
                    )),
                    Err(e) => Gathered::Failed(e.to_string()),
                }
            }
        };
        let scan = self.gather_scan(run, pipeline).await?;
        Ok(GateBrief {
            environment: environment.name.clone(),
            live,
            commits,
            task_definition,
            scan,
            gathered_at: self.store.now_ms(),
        })
    }

    /// The image's scan findings: from the build when a scan gate already read them,
    /// otherwise from ECR now (and kept with the build).
    async fn gather_scan(
        &self,
        run: &RunDetail,
        pipeline: &PipelineSpec,
    ) -> Result<Gathered<BTreeMap<String, i64>>, EngineError> {
        let Some(build) = &run.build else {
            return Ok(Gathered::NotApplicable("the run has no build".into()));
        };
        if let Some(counts) = &build.scan_counts {
            return Ok(Gathered::Found(counts.clone()));
        }
        let Some(digest) = &build.image_digest else {
            return Ok(Gathered::NotApplicable(
                "the build recorded no image digest".into(),
            ));
        };
        Ok(match self.cloud.scan_result(pipeline.ecr_region(), &pipeline.ecr_repository, digest).await {
            Ok(ScanResult::Complete(counts)) => {
                self.store.record_scan(run.run.id, "complete", Some(&serde_json::to_string(&counts).unwrap_or_default())).await?;
                Gathered::Found(counts)
            }
            Ok(ScanResult::Pending) => Gathered::Failed("ECR has no scan result for this image yet (still scanning, or scan on push is off for the repository)".into()),
            Ok(ScanResult::Failed(why)) => Gathered::NotApplicable(format!("ECR has no scan result for this image: {why}")),
            Err(e) => Gathered::Failed(e.to_string()),
        })
    }
}
