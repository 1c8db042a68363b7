//! A person cancels, retries or rolls back a run.

use super::{Acting, OpError, Ops};
use shipgate_pipeline::RunId;
use shipgate_pipeline::access::Action;
use shipgate_pipeline::read::RunDetail;

impl Ops {
    /// Cancels a live run; the answer is the run as it stands afterwards. Refused once it has
    /// ended, and while a deploy is rolling out.
    pub async fn cancel_run(
        &self,
        who: &Acting,
        id: RunId,
        reason: &str,
    ) -> Result<RunDetail, OpError> {
        let run = self.visible_run(who, id).await?;
        who.require(Action::OperateRun {
            pipeline: &run.run.pipeline,
        })?;
        self.store
            .cancel_run(id.get(), reason, &who.audit())
            .await?;
        // Runs queued behind a service this run was waiting for, or held, may go on now.
        self.engine.wake();
        self.store
            .get_run(id.get())
            .await?
            .ok_or_else(|| OpError::run_not_found(id))
    }

    /// Starts a new run of a run's pipeline and commit, and returns its id. Refused if the
    /// run is live, succeeded, or was retried already.
    pub async fn retry_run(&self, who: &Acting, id: RunId) -> Result<RunId, OpError> {
        let run = self.visible_run(who, id).await?;
        who.require(Action::OperateRun {
            pipeline: &run.run.pipeline,
        })?;
        let new_id = self.store.retry_run(id.get(), &who.audit()).await?;
        self.engine.wake();
        Ok(RunId::new(new_id))
    }

    /// Redeploys what run `id` deployed to `environment` (its task-definition revision, as it
    /// was) as a new run of kind `rollback`, and returns its id. A rollback changes what runs
    /// in an environment, so it needs the right to approve that environment when its
    /// promotion is manual, and the right to operate the pipeline's runs when it is
    /// automatic. Freezes do not hold it.
    pub async fn roll_back(
        &self,
        who: &Acting,
        id: RunId,
        environment: &str,
        reason: &str,
    ) -> Result<RunId, OpError> {
        let run = self.visible_run(who, id).await?;
        let deploy = run
            .deploys
            .iter()
            .find(|d| d.environment == environment)
            .ok_or_else(|| {
                OpError::NotFound(format!(
                    "run {id} did not deploy to environment `{environment}`"
                ))
            })?;
        who.require(run.rollback_action(environment))?;
        let new_id = self
            .store
            .roll_back(id.get(), deploy.position, reason, &who.audit())
            .await?;
        self.engine.wake();
        Ok(RunId::new(new_id))
    }
}
