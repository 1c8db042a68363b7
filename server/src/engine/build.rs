//! The Build stage: Shipgate does not build. The repository's own CI pushes an image
//! tagged for the commit; the stage ends when that image is in ECR (and, with a scan gate,
//! when its scan is clean enough), when CI reports failure, or at the build timeout.

use super::{Engine, EngineError};
use crate::aws::{CloudError, ScanResult};
use crate::store::engine::BuildRow;
use shipgate_pipeline::read::RunDetail;
use shipgate_pipeline::{PipelineSpec, RunEvent, Severity};
use std::collections::BTreeMap;
use tracing::info;

impl Engine {
    /// The run's build row, created on first sight with the tag and deadline the pipeline sets.
    pub(super) async fn ensure_build(
        &self,
        run: &RunDetail,
        pipeline: &PipelineSpec,
    ) -> Result<BuildRow, EngineError> {
        if let Some(b) = self.store.get_build(run.run.id).await? {
            return Ok(b);
        }
        let tag = pipeline.build.tag_for(&run.run.commit.sha, &run.run.branch);
        let deadline = run.run.created_at + pipeline.build.build_timeout.as_millis();
        Ok(self.store.start_build(run.run.id, &tag, deadline).await?)
    }

    pub(super) async fn build_step(
        &self,
        run: &RunDetail,
        pipeline: Option<&PipelineSpec>,
    ) -> Result<i64, EngineError> {
        let id = run.run.id;
        let Some(pipeline) = pipeline else {
            let detail = format!(
                "pipeline `{}` was deleted; nothing to build for",
                run.run.pipeline
            );
            return self.fail_build(id, &detail).await;
        };
        let build = self.ensure_build(run, pipeline).await?;
        let now = self.store.now_ms();
        let region = pipeline.ecr_region();
        let repository = &pipeline.ecr_repository;

        let (digest, uri) = match (&build.image_digest, &build.image_uri) {
            (Some(d), Some(u)) => (d.clone(), u.clone()),
            _ => match self
                .cloud
                .find_image(region, repository, &build.image_tag)
                .await
            {
                Ok(Some(image)) => {
                    let scan_deadline = pipeline
                        .build
                        .scan_gate
                        .map(|_| now + pipeline.build.scan_timeout.as_millis());
                    self.store
                        .record_image(
                            id,
                            &image.repository_uri,
                            &image.digest,
                            image.size_bytes,
                            image.pushed_at,
                            scan_deadline,
                        )
                        .await?;
                    info!(digest = %image.digest, tag = %build.image_tag, "image found in ECR");
                    self.trouble.cleared(&build_subject(id));
                    (image.digest, image.repository_uri)
                }
                Ok(None)
                | Err(CloudError {
                    retryable: true, ..
                }) if now >= build.deadline_at => {
                    let mut detail = format!(
                        "no image `{repository}:{}` appeared in ECR ({region}) within {}",
                        build.image_tag, pipeline.build.build_timeout
                    );
                    if let Some(error) = &build.last_error {
                        detail.push_str(&format!(" (last error: {error})"));
                    }
                    return self.fail_build(id, &detail).await;
                }
                Ok(None) => return self.check_again(&build, None).await,
                Err(e) if e.retryable => return self.check_again(&build, Some(&e)).await,
                Err(e) => {
                    self.trouble.failed(&build_subject(id), &e);
                    return self.fail_build(id, &e.to_string()).await;
                }
            },
        };

        let mut scan_note = String::new();
        if let Some(threshold) = pipeline.build.scan_gate {
            let counts = match build
                .scan_counts
                .as_deref()
                .and_then(|c| serde_json::from_str::<BTreeMap<String, i64>>(c).ok())
            {
                Some(counts) => counts,
                None => {
                    let deadline = build.scan_deadline_at.unwrap_or(now);
                    match self.cloud.scan_result(region, repository, &digest).await {
                        Ok(ScanResult::Complete(counts)) => {
                            self.store
                                .record_scan(
                                    id,
                                    "complete",
                                    Some(&serde_json::to_string(&counts).unwrap_or_default()),
                                )
                                .await?;
                            counts
                        }
                        Ok(ScanResult::Failed(why)) => {
                            self.store.record_scan(id, "failed", None).await?;
                            let detail = format!(
                                "the ECR scan of {digest} failed ({why}); the scan gate cannot pass"
                            );
                            return self.fail_build(id, &detail).await;
                        }
                        Ok(ScanResult::Pending) | Err(_) if now >= deadline => {
                            let detail = format!(
                                "the ECR scan of {digest} did not finish within {}",
                                pipeline.build.scan_timeout
                            );
                            return self.fail_build(id, &detail).await;
                        }
                        Ok(ScanResult::Pending) => {
                            self.store.record_scan(id, "pending", None).await?;
                            return self.check_again(&build, None).await;
                        }
                        Err(e) if e.retryable => return self.check_again(&build, Some(&e)).await,
                        Err(e) => {
                            self.trouble.failed(&build_subject(id), &e);
                            return self.fail_build(id, &e.to_string()).await;
                        }
                    }
                }
            };
            let summary = scan_summary(&counts);
            let blocking: i64 = Severity::ALL
                .iter()
                .filter(|s| **s >= threshold)
                .map(|s| counts.get(s.as_str()).copied().unwrap_or(0))
                .sum();
            if blocking > 0 {
                let detail = format!("blocked by the scan gate ({threshold} or worse): {summary}");
                return self.fail_build(id, &detail).await;
            }
            scan_note = format!("; scan: {summary}");
        }
        let detail = format!("image {uri}@{digest}{scan_note}");
        self.store
            .apply_event(id, RunEvent::BuildSucceeded, Some(&detail))
            .await?;
        Ok(self.store.now_ms())
    }
}

impl Engine {
    async fn fail_build(&self, id: i64, detail: &str) -> Result<i64, EngineError> {
        self.trouble.forget(&build_subject(id));
        self.store
            .apply_event(id, RunEvent::BuildFailed, Some(detail))
            .await?;
        Ok(self.store.now_ms())
    }

    /// Counts a look that found nothing yet (or hit a passing AWS error) and schedules the next.
    async fn check_again(
        &self,
        build: &BuildRow,
        error: Option<&CloudError>,
    ) -> Result<i64, EngineError> {
        let subject = build_subject(build.run_id);
        match error {
            Some(e) => {
                self.trouble.failed(&subject, e);
            }
            None => {
                self.trouble.cleared(&subject);
            }
        }
        self.store
            .note_build_check(build.run_id, error.map(ToString::to_string).as_deref())
            .await?;
        Ok(self.store.now_ms() + self.backoff(build.checks))
    }
}

/// What the log calls a build's AWS failures.
fn build_subject(run: i64) -> String {
    format!("run {run} build")
}

/// `2 critical, 1 high, 0 medium`: every gated severity, worst first, zeros included.
fn scan_summary(counts: &BTreeMap<String, i64>) -> String {
    let mut parts: Vec<String> = Severity::ALL
        .iter()
        .map(|s| format!("{} {s}", counts.get(s.as_str()).copied().unwrap_or(0)))
        .collect();
    let low: i64 = ["low", "informational", "undefined"]
        .iter()
        .filter_map(|k| counts.get(*k))
        .sum();
    if low > 0 {
        parts.push(format!("{low} low or informational"));
    }
    parts.join(", ")
}
