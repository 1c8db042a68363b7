//! The deploy engine: the only part of Shipgate that acts on AWS. It wakes when a run is
//! due (a webhook, an approval, or a poll interval), takes a lease on the run so no other
//! replica acts on it, looks at where the run stands, and takes the next step.
//!
//! Every step that calls AWS is written to the store *before* the call, and the call's
//! result right after. When a process dies between the two, the next look finds the step
//! and first checks whether the call already took effect (a task-definition revision tagged
//! with the run, a deployment of that revision) before making it: so each run and
//! environment gets at most one registration and one UpdateService.

mod brief;
mod build;
mod deploy;
mod inventory;
mod reconcile;
mod tell;
mod trouble;
mod verify;

pub use inventory::InventoryReport;
pub use reconcile::ReconcileReport;

use crate::aws::Cloud;
use crate::outbound::Outbound;
use crate::store::engine::{ASLEEP, CiReport};
use crate::store::{Store, StoreError, runs_state};
use futures::StreamExt;
use shipgate_pipeline::backoff::Backoff;
use shipgate_pipeline::deploy_step::DeployStep;
use shipgate_pipeline::freeze::active_freeze;
use shipgate_pipeline::gate::{self, Waiting};
use shipgate_pipeline::read::{RunDetail, gate_opened_at};
use shipgate_pipeline::{
    Promotion, RunEvent, RunKind, RunState, RunStatus, Span, StageKind, StageStatus,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::{Instrument, info, info_span, warn};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often the engine looks, and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The first interval between ECR or ECS polls; ECR polls back off from it.
    pub poll: Span,
    /// The longest interval between polls.
    pub max_poll: Span,
    /// How long a run stays with a process that stopped renewing its lease.
    pub lease: Span,
    /// How often the services and repositories the pipelines name are looked up in AWS.
    pub inventory: Span,
    /// How often each pipeline's branch head (and its hook's delivery log) is read back
    /// from GitHub, for pushes whose webhook never arrived.
    pub reconcile: Span,
    /// This process's name in leases: unique per process.
    pub owner: String,
    /// Where people reach Shipgate, for links in notifications and on GitHub.
    pub public_url: String,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            poll: Span::seconds(5),
            max_poll: Span::seconds(60),
            lease: Span::seconds(30),
            inventory: Span::seconds(60),
            reconcile: Span::minutes(5),
            owner: format!(
                "shipgate-{}-{}",
                std::process::id(),
                crate::clock::wall_ms()
            ),
            public_url: "http://127.0.0.1:3000".to_owned(),
        }
    }
}

/// Wakes the engine early: intake and the API call it after storing something it should act on.
#[derive(Clone, Default)]
pub struct EngineHandle {
    notify: Arc<Notify>,
    /// Wakes the loop that sends notifications.
    told: Arc<Notify>,
    /// Wakes the loop that runs Verify.
    verify: Arc<Notify>,
    /// Wakes head reconcile (a pipeline was created or changed).
    reconcile: Arc<Notify>,
}

impl EngineHandle {
    pub fn wake(&self) {
        self.notify.notify_one();
        self.told.notify_one();
    }

    /// A Verify was asked for.
    pub fn wake_verify(&self) {
        self.verify.notify_one();
    }

    /// A pipeline was created or changed: read its branch head now.
    pub fn wake_reconcile(&self) {
        self.reconcile.notify_one();
    }
}

pub struct Engine {
    store: Store,
    cloud: Arc<Cloud>,
    /// Notifiers and GitHub.
    outbound: Arc<Outbound>,
    settings: EngineSettings,
    handle: EngineHandle,
    /// Services whose deploy just ended, for the inventory loop to look at again soon.
    recheck: std::sync::Mutex<
        std::collections::BTreeMap<crate::store::inventory::ServiceKey, crate::aws::ServiceTarget>,
    >,
    /// Wakes the inventory loop early, when `recheck` gained a service.
    inventory_wake: Notify,
    /// When the log last heard of each subject's AWS failure.
    trouble: trouble::CloudTrouble,
}

/// Kills the process at a named point when `SHIPGATE_CRASH_AT` names it. This exists for the
/// restart tests, which must stop the engine exactly between an AWS call and the write that
/// records it: the window a real crash could hit.
fn crash_point(name: &str) {
    static CRASH_AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if CRASH_AT
        .get_or_init(|| std::env::var("SHIPGATE_CRASH_AT").ok())
        .as_deref()
        == Some(name)
    {
        eprintln!("shipgate: crashing at `{name}` (SHIPGATE_CRASH_AT)");
        std::process::abort();
    }
}

impl Engine {
    pub fn new(
        store: Store,
        cloud: Arc<Cloud>,
        outbound: Arc<Outbound>,
        settings: EngineSettings,
        handle: EngineHandle,
    ) -> Self {
        Engine {
            store,
            cloud,
            outbound,
            settings,
            handle,
            recheck: Default::default(),
            inventory_wake: Notify::new(),
            trouble: Default::default(),
        }
    }

    /// Drives runs, keeps the inventory fresh, sends notifications and runs Verify, until
    /// `stop` turns true.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        tokio::join!(
            self.run_loop(stop.clone()),
            self.inventory_loop(stop.clone()),
            self.tell_loop(stop.clone()),
            self.verify_loop(stop.clone()),
            self.reconcile_loop(stop)
        );
    }

    /// Runs the Verify requests, as they are asked for (or at the next poll interval, for
    /// one another replica asked for, or one left by a process that died).
    async fn verify_loop(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.verify_tick().await {
                warn!(error = %e, "running Verify failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.settings.poll.as_millis().max(10) as u64)) => {}
                () = self.handle.verify.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Sends notifications and GitHub statuses, each poll interval (or sooner when the deploy
    /// loop changed a run).
    async fn tell_loop(&self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.tell_tick().instrument(info_span!("tell")).await {
                warn!(error = %e, "sending notifications failed; retrying");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.settings.poll.as_millis().max(10) as u64)) => {}
                () = self.handle.told.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Refreshes the inventory whenever it is due (by the shared chore row), and the service
    /// of each deploy that ended in this process.
    async fn inventory_loop(&self, mut stop: watch::Receiver<bool>) {
        loop {
            let outcome = async {
                self.recheck_services().await?;
                self.inventory_tick().await
            };
            if let Err(e) = outcome.instrument(info_span!("inventory")).await {
                warn!(error = %e, "inventory refresh failed; retrying");
            }
            // Wake at least every poll interval to check the chore; a replica that claimed it
            // pushes its due time a whole inventory interval ahead.
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.settings.poll.as_millis().max(10) as u64)) => {}
                () = self.inventory_wake.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// A deploy ended: its service is looked up again now rather than at the next full
    /// refresh. Only that service: the repositories and other services did not change.
    fn deploy_ended(&self, row: &crate::store::deploys::DeployRow) {
        let key = (row.region.clone(), row.cluster.clone(), row.service.clone());
        self.recheck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, deploy::target_of(row));
        self.inventory_wake.notify_one();
    }

    /// Looks at every due run until `stop` turns true.
    async fn run_loop(&self, mut stop: watch::Receiver<bool>) {
        loop {
            match self.tick().await {
                Ok(0) => {}
                // Runs moved: there may be something to tell.
                Ok(_) => self.handle.told.notify_one(),
                Err(e) => warn!(error = %e, "engine tick failed; retrying"),
            }
            let now = self.store.now_ms();
            let next = match self.store.next_wake().await {
                Ok(Some(at)) => (at - now).clamp(0, self.settings.poll.as_millis()),
                _ => self.settings.poll.as_millis(),
            };
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(next.max(10) as u64)) => {}
                () = self.handle.notify.notified() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// One pass: applies new CI reports, then looks at each due run. Returns how many runs it looked at.
    pub async fn tick(&self) -> Result<usize, EngineError> {
        for report in self.store.unapplied_ci_reports(100).await? {
            self.apply_ci(&report).await?;
            self.store.mark_ci_applied(report.id).await?;
        }
        let due = self.store.due_runs(self.store.now_ms(), 64).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(8, |id| async move {
                let span = info_span!("run", run_id = id);
                if let Err(e) = self.look(id).instrument(span).await {
                    warn!(run_id = id, error = %e, "engine step failed; the run will be looked at again");
                }
            })
            .await;
        Ok(count)
    }

    async fn look(&self, id: i64) -> Result<(), EngineError> {
        let owner = self.settings.owner.as_str();
        if !self
            .store
            .claim_run(id, owner, self.settings.lease.as_millis())
            .await?
        {
            return Ok(());
        }
        self.store.begin_look(id).await?;
        let wake_at = match self.step(id).await {
            Ok(at) => at,
            // Someone else moved the run while we looked: look again straight away.
            Err(EngineError::Store(StoreError::RunChanged(_))) => self.store.now_ms(),
            Err(e) => {
                self.store
                    .release_run(
                        id,
                        owner,
                        self.store.now_ms() + self.settings.poll.as_millis(),
                    )
                    .await?;
                return Err(e);
            }
        };
        self.store.release_run(id, owner, wake_at).await?;
        Ok(())
    }

    /// Takes the next step for a run; returns when it should be looked at again.
    async fn step(&self, id: i64) -> Result<i64, EngineError> {
        let Some(run) = self.store.get_run(id).await? else {
            return Ok(ASLEEP);
        };
        let state = runs_state(&run)?;
        // Deploys left open by a run that ended (or by a crash just after it ended) are closed.
        // `get_run` already read the deploys; their rows are fetched only when one is stale.
        let stage_of = |position: i64| state.deploys.get(position as usize).map(|s| s.status);
        let stale = |position: i64, step: &str| {
            step != DeployStep::Done.as_str()
                && stage_of(position).is_none_or(StageStatus::is_terminal)
        };
        if run.deploys.iter().any(|d| stale(d.position, &d.step)) {
            for d in self
                .store
                .get_deploys(id)
                .await?
                .into_iter()
                .filter(|d| stale(d.position, d.step.as_str()))
            {
                self.store
                    .close_deploy(
                        &d,
                        stage_of(d.position).map_or("cancelled", StageStatus::as_str),
                    )
                    .await?;
            }
        }
        if state.status == RunStatus::AwaitingApproval {
            return self.gate_step(&run, &state).await;
        }
        if state.status != RunStatus::Running {
            return Ok(ASLEEP);
        }
        let pipeline = self
            .store
            .get_pipeline(&run.run.pipeline)
            .await?
            .map(|p| p.spec);
        if matches!(state.build, StageStatus::Pending | StageStatus::Running) {
            return self.build_step(&run, pipeline.as_ref()).await;
        }
        if let Some(env) = state
            .deploys
            .iter()
            .position(|d| d.status == StageStatus::Running)
        {
            return self.deploy_step(id, env).await;
        }
        if let Some(env) = state.ready_deploy() {
            // Auto-promotion waits out a freeze. (A manual environment's approval already
            // weighed the freeze: an approval during one is an admin's override.)
            // A rollback is never held: it is how people get out of trouble during a freeze.
            let target = pipeline
                .as_ref()
                .and_then(|p| p.environments.get(env))
                .filter(|_| run.run.kind != RunKind::Rollback);
            if let Some(target) = target.filter(|t| t.promotion == Promotion::Auto)
                && let Some(freeze) = active_freeze(&target.deploy.freeze, self.store.now_ms())
            {
                info!(environment = %target.name, freeze = %freeze.name, until = freeze.until, "auto-promotion waits for a deploy freeze to end");
                // Say so on the stage, which would otherwise just look stuck.
                let until = time::OffsetDateTime::from_unix_timestamp(freeze.until / 1000)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                let note = format!(
                    "waits for the deploy freeze “{}” to end at {until}",
                    freeze.name
                );
                if let Some(stage) = run
                    .stages
                    .iter()
                    .filter(|s| s.kind == StageKind::Deploy)
                    .nth(env)
                    .filter(|s| s.detail != note)
                {
                    self.store
                        .note_stage(run.run.id, stage.position, &note)
                        .await?;
                }
                return Ok(freeze.until);
            }
            return self.start_deploy(&run, pipeline.as_ref(), env).await;
        }
        Ok(ASLEEP)
    }

    /// A run waiting at a gate: older runs waiting at the same gate give way to the newest
    /// (unless the pipeline queues them), and a gate nobody decided in time expires. Returns
    /// when to look again: when the gate expires.
    async fn gate_step(&self, run: &RunDetail, state: &RunState) -> Result<i64, EngineError> {
        let Some(position) = state
            .deploys
            .iter()
            .position(|d| d.status == StageStatus::AwaitingApproval)
        else {
            return Ok(ASLEEP);
        };
        let Some(pipeline) = self.store.get_pipeline(&run.run.pipeline).await? else {
            return Ok(ASLEEP);
        };
        let Some(environment) = pipeline.spec.environments.get(position) else {
            return Ok(ASLEEP);
        };
        let id = run.run.id;

        let waiting: Vec<Waiting> = self
            .store
            .waiting_at_gate(&run.run.pipeline, &environment.name)
            .await?
            .into_iter()
            .map(|run_id| Waiting { run_id, position })
            .collect();
        for (old, newer) in gate::superseded(
            pipeline.spec.build.pending_runs,
            &waiting,
            Waiting {
                run_id: id,
                position,
            },
        ) {
            let detail =
                format!("superseded by run #{newer}, a newer change waiting for the same approval");
            match self
                .store
                .apply_event(old, RunEvent::Superseded(position), Some(&detail))
                .await
            {
                Ok(_) => {
                    info!(superseded = old, by = newer, environment = %environment.name, "run superseded at its gate")
                }
                // Decided or cancelled meanwhile: nothing to supersede.
                Err(StoreError::Transition(_)) => {}
                Err(e) => return Err(e.into()),
            }
            if old == id {
                return Ok(ASLEEP);
            }
        }

        let policy = &environment.deploy.approval;
        let expires_at =
            policy.expires_at(gate_opened_at(&run.stages, position, run.run.created_at));
        if self.store.now_ms() >= expires_at {
            let detail = format!("expired: nobody decided within {}", policy.expires_after);
            self.store
                .apply_event(id, RunEvent::Expired(position), Some(&detail))
                .await?;
            return Ok(ASLEEP);
        }
        match self
            .brief_step(run, &pipeline.spec, position, environment)
            .await?
        {
            Some(retry_at) => Ok(retry_at.min(expires_at)),
            None => Ok(expires_at),
        }
    }

    /// Applies a CI result to every live run of its commit whose pipeline it concerns.
    async fn apply_ci(&self, report: &CiReport) -> Result<(), EngineError> {
        for (run_id, pipeline_name) in self
            .store
            .live_runs_for_commit(&report.repository_key, &report.head_sha)
            .await?
        {
            let Some(pipeline) = self.store.get_pipeline(&pipeline_name).await? else {
                continue;
            };
            if pipeline
                .spec
                .build
                .ci_workflow
                .as_deref()
                .is_some_and(|w| w != report.name)
            {
                continue;
            }
            let Some(run) = self.store.get_run(run_id).await? else {
                continue;
            };
            let state = runs_state(&run)?;
            if !matches!(state.build, StageStatus::Pending | StageStatus::Running) {
                continue;
            }
            self.ensure_build(&run, &pipeline.spec).await?;
            self.store.record_ci(run_id, report).await?;
            let failed = matches!(
                report.conclusion.as_deref(),
                Some(
                    "failure"
                        | "cancelled"
                        | "timed_out"
                        | "action_required"
                        | "startup_failure"
                        | "stale"
                )
            );
            let result = if report.status == "completed" && failed {
                let detail = format!(
                    "CI `{}` concluded {}: {}",
                    report.name,
                    report.conclusion.as_deref().unwrap_or_default(),
                    report.url
                );
                self.store
                    .apply_event(run_id, RunEvent::BuildFailed, Some(&detail))
                    .await
                    .map(|_| ())
            } else if report.status != "completed" && state.build == StageStatus::Pending {
                let detail = format!("CI `{}` is {}: {}", report.name, report.status, report.url);
                self.store
                    .apply_event(run_id, RunEvent::BuildStarted, Some(&detail))
                    .await
                    .map(|_| ())
            } else {
                // Completed successfully: the image should be in ECR now, so look at once
                // instead of waiting for the next poll.
                self.store.wake_run(run_id).await
            };
            match result {
                Ok(()) | Err(StoreError::Transition(_)) | Err(StoreError::RunChanged(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The interval before the `checks`-th poll: doubling from `poll`, at most `max_poll`.
    fn backoff(&self, checks: i64) -> i64 {
        Backoff {
            base: self.settings.poll.as_millis(),
            max_doublings: 10,
            cap: self.settings.max_poll.as_millis(),
        }
        .wait(checks)
    }
}
