//! Never miss a push. GitHub sends each webhook once; this loop notices what never came.
//! Each pass (every `reconcile` interval, at start-up, and at once for a new pipeline)
//! takes the pipelines that are due under a lease, then for each repository reads back the
//! hook's delivery log and processes every delivery that never arrived, and for each
//! pipeline reads its branch head. A head with no run that is newer than the pipeline's
//! newest run starts one, marked recovered, listing every commit since. Every read is
//! conditional, so a pass over unchanged branches costs no rate limit.

use super::{Engine, EngineError};
use crate::forge::github;
use crate::outbound::{Fetched, SendError};
use crate::store::NewDelivery;
use crate::store::reconcile::ReconcileTarget;
use futures::StreamExt;
use shipgate_pipeline::delivery::{DeliveryIntent, PushIntent};
use shipgate_pipeline::read::{Commit, DeliveryOutcome, PushedCommit};
use shipgate_pipeline::reconcile::{
    Ahead, DELIVERY_LOG_KEPT, HeadDecision, after_compare, commit_time, head_decision,
    missed_deliveries,
};
use shipgate_pipeline::{DeliverySource, Recovery};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

/// How many pages of 100 deliveries one pass reads back from a hook's log at most.
const LOG_PAGES: usize = 10;
/// GitHub calls in flight at once during a pass.
const CONCURRENCY: usize = 8;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Pipelines this engine held for the pass.
    pub pipelines: usize,
    /// Branches GitHub answered 304 for.
    pub unchanged: usize,
    /// Runs started for heads no webhook brought.
    pub recovered_runs: usize,
    /// Deliveries read back from hook logs and processed.
    pub recovered_deliveries: usize,
    /// Pipelines whose reconcile failed.
    pub failed: usize,
}

/// How one pipeline's branch fared.
enum HeadOutcome {
    Unchanged,
    Read {
        etag: Option<String>,
        head: String,
        recovered: bool,
    },
}

impl Engine {
    /// Reconciles at start-up, then whenever pipelines are due, until `stop` turns true.
    /// Without a GitHub token there is nothing to read, and the loop ends at once.
    pub(super) async fn reconcile_loop(&self, mut stop: watch::Receiver<bool>) {
        if !self.outbound.has_github() {
            return;
        }
        let mut all = true;
        loop {
            match self
                .reconcile_tick(all)
                .instrument(info_span!("reconcile"))
                .await
            {
                Ok(_) => all = false,
                Err(e) => warn!(error = %e, "reconcile pass failed; retrying"),
            }
            let tick = self
                .settings
                .poll
                .as_millis()
                .min(self.settings.reconcile.as_millis());
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(tick.max(10) as u64)) => {}
                () = self.handle.reconcile.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One pass over the due pipelines (every pipeline with `all`, as at start-up). Public
    /// so tests and the benchmark drive passes one at a time.
    pub async fn reconcile_tick(&self, all: bool) -> Result<ReconcileReport, EngineError> {
        let mut report = ReconcileReport::default();
        if self.outbound.github_paused().is_some() {
            // GitHub asked for no calls until then; due pipelines wait in the store.
            return Ok(report);
        }
        let owner = self.settings.owner.as_str();
        let now = self.store.now_ms();
        let interval = self.settings.reconcile.as_millis();
        let targets = self
            .store
            .claim_reconciles(
                owner,
                now,
                now + interval.max(self.settings.lease.as_millis()),
                all,
            )
            .await?;
        report.pipelines = targets.len();
        if targets.is_empty() {
            return Ok(report);
        }

        // Deliveries first: a push read back from the log is the real thing (it names its
        // pusher), so it is better than what a head alone can say.
        let mut hooks: BTreeMap<(String, i64), Option<String>> = BTreeMap::new();
        for t in &targets {
            if let Some(hook) = t.hook_id {
                hooks.insert((t.repository.clone(), hook), t.hook_etag.clone());
            }
        }
        for ((repository, hook), etag) in hooks {
            match self
                .recover_deliveries(&repository, hook, etag.as_deref())
                .await
            {
                Ok(n) => report.recovered_deliveries += n,
                Err(e) => {
                    // The log is an extra; head reconcile below still runs.
                    let why = e.to_string();
                    let _ = self
                        .store
                        .hook_read(&repository, hook, None, Some(&why), now)
                        .await;
                    warn!(repository = %repository, hook, error = %why, "could not read back the hook's delivery log");
                }
            }
        }

        let outcomes: Vec<(ReconcileTarget, Result<HeadOutcome, String>)> =
            futures::stream::iter(targets)
                .map(|t| async move {
                    let span = info_span!("reconcile_head", pipeline = %t.pipeline);
                    let outcome = self.reconcile_head(&t).instrument(span).await;
                    (t, outcome)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let next_at = self.store.now_ms() + interval;
        let mut unchanged = Vec::new();
        for (t, outcome) in outcomes {
            match outcome {
                Ok(HeadOutcome::Unchanged) => unchanged.push(t.pipeline),
                Ok(HeadOutcome::Read {
                    etag,
                    head,
                    recovered,
                }) => {
                    report.recovered_runs += usize::from(recovered);
                    self.store
                        .reconciled_head(
                            owner,
                            &t.pipeline,
                            etag.as_deref(),
                            &head,
                            recovered,
                            self.store.now_ms(),
                            next_at,
                        )
                        .await?;
                }
                Err(why) => {
                    report.failed += 1;
                    // Rate limited: due again when GitHub allows calls, not before.
                    let due = self
                        .outbound
                        .github_paused()
                        .map_or(next_at, |until| until.max(self.store.now_ms()));
                    let before = self
                        .store
                        .reconcile_failed(owner, &t.pipeline, &why, self.store.now_ms(), due)
                        .await?;
                    if before.as_deref() != Some(why.as_str()) {
                        warn!(pipeline = %t.pipeline, error = %why, "cannot reconcile the pipeline's branch with GitHub; pushes whose webhook never arrived are not noticed until this works");
                    }
                }
            }
        }
        report.unchanged = unchanged.len();
        self.store
            .reconciled_unchanged(owner, &unchanged, self.store.now_ms(), next_at)
            .await?;
        if report.recovered_runs > 0 {
            info!(
                recovered_runs = report.recovered_runs,
                "reconcile started runs for pushes whose webhook never arrived; check the repository's webhook deliveries"
            );
            self.handle.wake();
        }
        Ok(report)
    }

    /// Reads one pipeline's branch head and starts a recovered run when it is due one.
    async fn reconcile_head(&self, t: &ReconcileTarget) -> Result<HeadOutcome, String> {
        let fail = |e: SendError| e.to_string();
        let (head, etag) = match self
            .outbound
            .branch_head(&t.repository, &t.branch, t.etag.as_deref())
            .await
            .map_err(fail)?
        {
            Fetched::NotModified => return Ok(HeadOutcome::Unchanged),
            Fetched::Fresh { value, etag } => (value, etag),
        };
        let read = |recovered| HeadOutcome::Read {
            etag: etag.clone(),
            head: head.clone(),
            recovered,
        };
        let has_run = self
            .store
            .commit_has_run(&t.pipeline, &head)
            .await
            .map_err(|e| e.to_string())?;
        match head_decision(has_run, t.newest_sha.as_deref(), &head) {
            HeadDecision::UpToDate | HeadDecision::LeaveOlder | HeadDecision::Start => {
                return Ok(read(false));
            }
            HeadDecision::Baseline => {
                info!(head = %head, "first look at the branch: its head is where the pipeline starts");
                return Ok(read(false));
            }
            HeadDecision::Compare => {}
        }
        let base = t.newest_sha.as_deref().unwrap_or_default();
        let comparison = self
            .outbound
            .compare_heads(&t.repository, base, &head)
            .await
            .map_err(fail)?;
        let facts = self
            .outbound
            .commit(&t.repository, &head)
            .await
            .map_err(fail)?;
        let ahead = comparison.as_ref().map_or(Ahead::BaseGone, |c| c.ahead);
        let decision = after_compare(
            ahead,
            commit_time(&facts.committed_at),
            t.newest_committed.as_deref().and_then(commit_time),
        );
        if decision != HeadDecision::Start {
            if t.head_sha.as_deref() != Some(head.as_str()) {
                info!(head = %head, newest_run = %base, ?ahead, "the branch moved to an older commit; reconcile starts no run for it");
            }
            return Ok(read(false));
        }

        let mut commits: Vec<PushedCommit> = comparison
            .as_ref()
            .map(|c| c.commits.clone())
            .unwrap_or_default();
        if !commits.iter().any(|c| c.sha == head) {
            commits.push(PushedCommit {
                sha: head.clone(),
                title: facts.message.lines().next().unwrap_or_default().to_owned(),
                author: facts.author.clone(),
            });
        }
        let mut authors = facts.people.clone();
        authors.extend(
            comparison
                .as_ref()
                .map(|c| c.people.clone())
                .unwrap_or_default(),
        );
        authors.sort();
        authors.dedup();
        let compare_url = comparison
            .as_ref()
            .map(|c| c.url.clone())
            .unwrap_or_default();
        let now = self.store.now_ms();
        let payload = serde_json::json!({
            "reconciled": {
                "repository": t.repository, "branch": t.branch, "head": head, "base": base,
                "compare": compare_url, "found_at": now,
                "note": "no webhook arrived for this push; Shipgate read the branch head from GitHub"
            }
        });
        let delivery = NewDelivery {
            delivery_id: reconcile_delivery_id(&t.repository, &t.branch, &head),
            event: "push".into(),
            action: None,
            repository: Some(t.repository.clone()),
            git_ref: Some(format!("refs/heads/{}", t.branch)),
            intent: DeliveryIntent::Push(PushIntent {
                repository: t.repository.clone(),
                branch: t.branch.clone(),
                commit: Commit {
                    sha: head.clone(),
                    message: facts.message.clone(),
                    author: facts.author.clone(),
                    // GitHub's branch and commit APIs do not say who pushed.
                    pusher: String::new(),
                    compare_url,
                    url: facts.url.clone(),
                    timestamp: facts.committed_at.clone(),
                },
                authors,
                commits,
            }),
            payload: bytes::Bytes::from(payload.to_string()),
            received_at: now,
            received: Instant::now(),
            source: DeliverySource::Recovered,
            recovery: Some(Recovery::Reconcile),
            hook_id: None,
        };
        let recorded = self
            .store
            .record_deliveries(std::slice::from_ref(&delivery))
            .await
            .map_err(|e| e.to_string())?
            .remove(0);
        let started = recorded.outcome == DeliveryOutcome::RunCreated && !recorded.duplicate;
        if started {
            info!(head = %head, runs = ?recorded.run_ids, recovered = true, "no webhook arrived for the branch's head; started its run");
        }
        Ok(read(started))
    }

    /// Reads back a hook's recent deliveries and processes each one that never arrived, as
    /// if it had, under its own delivery id. Returns how many it processed.
    async fn recover_deliveries(
        &self,
        repository: &str,
        hook: i64,
        etag: Option<&str>,
    ) -> Result<usize, SendError> {
        let now = self.store.now_ms();
        let mut log = Vec::new();
        let mut cursor: Option<String> = None;
        let mut first_etag = None;
        for page in 0..LOG_PAGES {
            let conditional = if page == 0 { etag } else { None };
            match self
                .outbound
                .hook_deliveries(repository, hook, cursor.as_deref(), conditional)
                .await?
            {
                // Nothing new in the log since the last read.
                Fetched::NotModified => {
                    self.store
                        .hook_read(repository, hook, None, None, now)
                        .await
                        .map_err(|e| SendError::Retry(e.to_string()))?;
                    return Ok(0);
                }
                Fetched::Fresh {
                    value: (entries, next),
                    etag,
                } => {
                    if page == 0 {
                        first_etag = etag;
                    }
                    let old = entries
                        .iter()
                        .any(|d| d.delivered_at < now - DELIVERY_LOG_KEPT);
                    log.extend(entries);
                    match next {
                        Some(next) if !old => cursor = Some(next),
                        _ => break,
                    }
                }
            }
        }
        let guids: Vec<String> = log.iter().map(|d| d.guid.clone()).collect();
        let stored = self
            .store
            .stored_deliveries(&guids)
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        let mut processed = 0;
        let mut wake = false;
        for missed in missed_deliveries(&log, &stored) {
            let logged = self
                .outbound
                .hook_delivery(repository, hook, missed.id)
                .await?;
            let classified = match github::classify(&logged.event, &logged.payload) {
                Ok(c) => c,
                Err(e) => {
                    warn!(delivery = %logged.guid, error = %e, "a delivery read back from the log is not one Shipgate can read; skipped");
                    continue;
                }
            };
            let push = matches!(classified.intent, DeliveryIntent::Push(_));
            let delivery = NewDelivery {
                delivery_id: logged.guid.clone(),
                event: logged.event.clone(),
                action: classified.action,
                repository: classified.repository,
                git_ref: classified.git_ref,
                intent: classified.intent,
                payload: logged.payload,
                received_at: self.store.now_ms(),
                received: Instant::now(),
                source: DeliverySource::Recovered,
                recovery: push.then_some(Recovery::HookDelivery),
                hook_id: Some(hook),
            };
            let recorded = self
                .store
                .record_deliveries(std::slice::from_ref(&delivery))
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?
                .remove(0);
            if !recorded.duplicate {
                processed += 1;
                wake |= matches!(
                    recorded.outcome,
                    DeliveryOutcome::RunCreated | DeliveryOutcome::CiRecorded
                );
                info!(delivery = %logged.guid, event = %logged.event, outcome = recorded.outcome.as_str(), runs = ?recorded.run_ids, "recovered a delivery that never arrived, from the hook's log");
            }
        }
        self.store
            .hook_read(repository, hook, first_etag.as_deref(), None, now)
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        if wake {
            self.handle.wake();
        }
        Ok(processed)
    }
}

/// The delivery id of a push reconcile found: one per repository, branch and commit, so
/// two replicas (or two pipelines of the branch) that find it record it once.
pub fn reconcile_delivery_id(repository: &str, branch: &str, sha: &str) -> String {
    use sha2::{Digest, Sha256};
    let place = Sha256::digest(format!("{}\n{branch}", repository.to_ascii_lowercase()));
    format!("reconcile-{sha}-{}", &hex::encode(place)[..12])
}
