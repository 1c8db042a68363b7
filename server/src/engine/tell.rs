//! Telling the world: run events become messages for the pipeline's notifiers and for
//! GitHub, and each message is sent, retried with backoff, or given up on with the
//! receiver's answer kept for the run page. This runs beside the deploy loop and never
//! inside it, so a receiver that is down or slow cannot hold up a deploy.

use super::{Engine, EngineError};
use crate::links::GateLink;
use crate::outbound::{DeploymentUpdate, Message, SendError};
use crate::store::outbound::{OutboxRow, RunEventRow};
use futures::StreamExt;
use shipgate_pipeline::PipelineSpec;
use shipgate_pipeline::backoff::Backoff;
use shipgate_pipeline::notice::{Happening, NoticeFacts, NotifierKind};
use tracing::{Instrument, info, info_span, warn};

/// A message is given up on after this many failed attempts (with the backoff doubling
/// from the poll interval up to [`MAX_BACKOFF_MS`], about two hours in all at the defaults).
const MAX_ATTEMPTS: i64 = 15;
const MAX_BACKOFF_MS: i64 = 15 * 60 * 1000;

impl Engine {
    /// One pass: turns new run events into messages, then sends what is due. Returns how
    /// many messages it tried to send.
    pub async fn tell_tick(&self) -> Result<usize, EngineError> {
        for event in self.store.undispatched_events(100).await? {
            let messages = self.messages_for(&event).await?;
            self.store
                .dispatch_event(event.id, event.run_id, &messages)
                .await?;
        }
        let due = self.store.due_messages(self.store.now_ms(), 32).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(4, |message| async move {
                let span = info_span!("message", run_id = message.run_id, channel = %message.channel, message_id = message.id);
                if let Err(e) = self.send(&message).instrument(span).await {
                    warn!(run_id = message.run_id, error = %e, "recording a message's outcome failed; it will be sent again");
                }
            })
            .await;
        Ok(count)
    }

    /// Who hears about `event`: each notifier of the pipeline that listens for it, and
    /// GitHub for deploy happenings when a token is configured.
    async fn messages_for(
        &self,
        event: &RunEventRow,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let Some(happening) = Happening::parse(&event.happening) else {
            return Ok(Vec::new());
        };
        // The run's own row is all a message needs (not its stages, deploys or messages).
        let Some((run, _)) = self.store.run_and_stages(event.run_id).await? else {
            return Ok(Vec::new());
        };
        let pipeline = self
            .store
            .get_pipeline(&run.pipeline)
            .await?
            .map(|p| p.spec);
        let run_url = format!("{}/runs/{}", self.settings.public_url, run.id);
        let facts = NoticeFacts {
            run_id: run.id,
            pipeline: run.pipeline.clone(),
            repository: run.repository.clone(),
            commit_sha: run.commit.sha.clone(),
            commit_title: run.commit.title().to_owned(),
            author: run.commit.author.clone(),
            environment: event.environment.clone(),
            happening,
            detail: event.detail.clone(),
            decision_url: self
                .decision_url(event, happening, pipeline.as_ref(), &run_url)
                .await?,
            run_url: run_url.clone(),
            at: event.at,
        };
        let mut out = Vec::new();
        for notifier in pipeline
            .iter()
            .flat_map(|p| &p.build.notify)
            .filter(|n| n.hears(happening))
        {
            let payload = match notifier.kind {
                NotifierKind::Slack => serde_json::json!({ "text": facts.text() }),
                NotifierKind::Json => {
                    let mut body = serde_json::to_value(&facts).unwrap_or_default();
                    body["text"] = facts.text().into();
                    body
                }
            };
            let message = Message::Notifier {
                url: notifier.url.clone(),
                payload,
            };
            out.push((
                format!("notifier:{}", notifier.name),
                serde_json::to_string(&message).unwrap_or_default(),
            ));
        }
        if let (true, Some((state, description)), Some(environment)) = (
            self.outbound.has_github(),
            happening.github_state(),
            event.environment.clone(),
        ) {
            let production = pipeline
                .as_ref()
                .and_then(|p| p.environments.last())
                .is_some_and(|last| last.name == environment);
            let update = DeploymentUpdate {
                repository: run.repository.clone(),
                sha: run.commit.sha.clone(),
                environment,
                production,
                state: state.to_owned(),
                description: description.to_owned(),
                log_url: run_url,
            };
            out.push((
                "github".to_owned(),
                serde_json::to_string(&Message::GitHub(update)).unwrap_or_default(),
            ));
        }
        Ok(out)
    }

    /// For a gate that opened: the run page with a signed one-time decision link, valid
    /// until the gate expires.
    async fn decision_url(
        &self,
        event: &RunEventRow,
        happening: Happening,
        pipeline: Option<&PipelineSpec>,
        run_url: &str,
    ) -> Result<Option<String>, EngineError> {
        let (Happening::ApprovalNeeded, Some(position)) = (happening, event.position) else {
            return Ok(None);
        };
        let Some(environment) = pipeline.and_then(|p| p.environments.get(position as usize)) else {
            return Ok(None);
        };
        let key = self.store.signing_key(crate::links::KEY_NAME).await?;
        let expires_at = event.at + environment.deploy.approval.expires_after.as_millis();
        let token = GateLink::new(event.run_id, position as usize, expires_at).sign(&key);
        Ok(Some(format!("{run_url}?decide={token}")))
    }

    async fn send(&self, row: &OutboxRow) -> Result<(), EngineError> {
        if !self
            .store
            .claim_message(row.id, self.settings.lease.as_millis())
            .await?
        {
            return Ok(());
        }
        let outcome = match serde_json::from_str::<Message>(&row.body) {
            Err(e) => Err(SendError::Refused(format!(
                "the stored message is not readable: {e}"
            ))),
            Ok(Message::Notifier { url, payload }) => self.outbound.notify(&url, &payload).await,
            Ok(Message::GitHub(update)) => self.update_github(row, &update).await,
        };
        match outcome {
            Ok(()) => {
                info!("message delivered");
                self.store.message_delivered(row.id).await?;
            }
            Err(e) => {
                let attempts = row.attempts + 1;
                let retry_at = matches!(e, SendError::Retry(_))
                    .then(|| self.store.now_ms() + self.tell_backoff(attempts))
                    .filter(|_| attempts < MAX_ATTEMPTS);
                warn!(error = %e, attempts, retrying = retry_at.is_some(), "message not delivered");
                self.store
                    .message_failed(row.id, &e.to_string(), retry_at)
                    .await?;
            }
        }
        Ok(())
    }

    /// Sets a deployment status, creating the run's GitHub deployment for the environment
    /// first if there is none yet (looking for one made before a crash, on a retry).
    async fn update_github(
        &self,
        row: &OutboxRow,
        update: &DeploymentUpdate,
    ) -> Result<(), SendError> {
        let stored = self
            .store
            .github_deployment(row.run_id, &update.environment)
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        let deployment = match stored {
            Some(id) => id,
            None => {
                let found = if row.attempts > 0 {
                    self.outbound.find_deployment(update, row.run_id).await?
                } else {
                    None
                };
                let id = match found {
                    Some(id) => id,
                    None => self.outbound.create_deployment(update, row.run_id).await?,
                };
                self.store
                    .save_github_deployment(row.run_id, &update.environment, id)
                    .await
                    .map_err(|e| SendError::Retry(e.to_string()))?;
                id
            }
        };
        self.outbound
            .set_deployment_status(update, deployment)
            .await
    }

    /// The wait before attempt `attempts + 1`: doubling from the poll interval.
    fn tell_backoff(&self, attempts: i64) -> i64 {
        Backoff {
            base: self.settings.poll.as_millis().max(1),
            max_doublings: 20,
            cap: MAX_BACKOFF_MS,
        }
        .wait(attempts)
    }
}
