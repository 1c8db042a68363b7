//! The outbox: run events (written with each state change) are turned into messages for a
//! pipeline's notifiers and for GitHub, and each message is retried until it is delivered
//! or given up on. Messages of one run on one channel go out in order (GitHub must hear
//! `in_progress` before `success`), and a claim with a lease keeps two replicas from
//! sending the same message at once.

use super::{BeginWrite, Store, StoreResult, on_pool};
use shipgate_pipeline::read::MessageInfo;

/// Something that happened to a run, not yet turned into messages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunEventRow {
    pub id: i64,
    pub run_id: i64,
    pub happening: String,
    pub position: Option<i64>,
    pub environment: Option<String>,
    pub detail: String,
    pub at: i64,
}

/// A message waiting to be sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: i64,
    pub run_id: i64,
    pub channel: String,
    pub body: String,
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    channel: String,
    happening: String,
    environment: Option<String>,
    attempts: i64,
    delivered_at: Option<i64>,
    gave_up_at: Option<i64>,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
}

impl Store {
    pub async fn undispatched_events(&self, limit: i64) -> StoreResult<Vec<RunEventRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT id, run_id, happening, position, environment, detail, at FROM run_events WHERE dispatched_at IS NULL ORDER BY id LIMIT $1")
                .bind(limit)
                .fetch_all(pool)
                .await?
        }))
    }

    /// Turns event `event_id` into `messages` (channel, body), once: a replica that lost the
    /// race to dispatch it writes nothing. Returns whether this call dispatched it.
    pub async fn dispatch_event(
        &self,
        event_id: i64,
        run_id: i64,
        messages: &[(String, String)],
    ) -> StoreResult<bool> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let marked = sqlx::query(
                "UPDATE run_events SET dispatched_at = $1 WHERE id = $2 AND dispatched_at IS NULL",
            )
            .bind(now)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() != 1 {
                return Ok(false);
            }
            for (channel, body) in messages {
                sqlx::query("INSERT INTO outbox (event_id, run_id, channel, body, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $5)")
                    .bind(event_id)
                    .bind(run_id)
                    .bind(channel.as_str())
                    .bind(body.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Messages due now whose earlier messages on the same run and channel are settled
    /// (delivered or given up), oldest first.
    pub async fn due_messages(&self, now: i64, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT o.id, o.event_id, o.run_id, o.channel, o.body, o.attempts FROM outbox o
                 WHERE o.delivered_at IS NULL AND o.gave_up_at IS NULL AND o.next_attempt_at <= $1 AND o.lease_until <= $1
                   AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.run_id = o.run_id AND p.channel = o.channel AND p.id < o.id
                                   AND p.delivered_at IS NULL AND p.gave_up_at IS NULL)
                 ORDER BY o.id LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Takes message `id` for `ttl_ms`; false when another process holds it or it is settled.
    pub async fn claim_message(&self, id: i64, ttl_ms: i64) -> StoreResult<bool> {
        let now = self.now_ms();
        let done = on_pool!(self, |pool| {
            sqlx::query("UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_until <= $3 AND delivered_at IS NULL AND gave_up_at IS NULL")
                .bind(now + ttl_ms)
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    pub async fn message_delivered(&self, id: i64) -> StoreResult<()> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, lease_until = 0 WHERE id = $2").bind(now).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// A send failed: try again at `retry_at`, or give up when it is `None`.
    pub async fn message_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, lease_until = 0,
                    next_attempt_at = COALESCE($2, next_attempt_at), gave_up_at = CASE WHEN $2 IS NULL THEN $3 ELSE NULL END
                 WHERE id = $4",
            )
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The GitHub deployment made for a run's environment, if one was.
    pub async fn github_deployment(
        &self,
        run_id: i64,
        environment: &str,
    ) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT deployment_id FROM github_deployments WHERE run_id = $1 AND environment = $2").bind(run_id).bind(environment).fetch_optional(pool).await?
        });
        Ok(row.map(|r| r.0))
    }

    pub async fn save_github_deployment(
        &self,
        run_id: i64,
        environment: &str,
        deployment_id: i64,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO github_deployments (run_id, environment, deployment_id, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (run_id, environment) DO NOTHING")
                .bind(run_id)
                .bind(environment)
                .bind(deployment_id)
                .bind(self.now_ms())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every message about a run, oldest first, for the run page.
    pub(crate) async fn run_messages(&self, run_id: i64) -> StoreResult<Vec<MessageInfo>> {
        let rows: Vec<MessageRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT o.channel, e.happening, e.environment, o.attempts, o.delivered_at, o.gave_up_at, o.next_attempt_at, o.last_error, o.created_at
                 FROM outbox o JOIN run_events e ON e.id = o.event_id WHERE o.run_id = $1 ORDER BY o.id",
            )
            .bind(run_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| MessageInfo {
                channel: r.channel,
                happening: r.happening,
                environment: r.environment,
                attempts: r.attempts,
                delivered_at: r.delivered_at,
                gave_up_at: r.gave_up_at,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error,
                created_at: r.created_at,
            })
            .collect())
    }
}
