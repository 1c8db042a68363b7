//! Sign-in sessions in Shipgate's own database, so they survive restarts and every replica
//! sees the same ones. `tower-sessions` drives them through [`SessionStore`].

use super::{Store, on_pool};
use crate::clock::Clock;
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The store, as `tower-sessions` sees it.
///
/// Expiry is judged on `clock`. tower-sessions stamps each record's expiry from the system
/// clock (now plus the idle timeout), so the stamp is moved by how far `clock` is ahead of
/// the system clock (nothing, outside tests) before it is stored, and back when loaded.
#[derive(Debug, Clone)]
pub struct SessionRecords {
    pub store: Store,
    pub clock: Clock,
}

fn backend(e: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl SessionRecords {
    /// The record's expiry, in milliseconds on `self.clock`.
    fn expires_ms(&self, record: &Record) -> i64 {
        (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
            + self.clock.ahead_of_system_ms()
    }

    async fn write(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        on_pool!(&self.store, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(record.id.to_string())
            .bind(data)
            .bind(self.expires_ms(record))
            .execute(pool)
            .await
            .map_err(backend)?;
        });
        Ok(())
    }

    /// Deletes sessions past their expiry. Called as new sessions are made, which bounds
    /// the table by the number of sessions started within one idle timeout.
    pub async fn sweep(&self) -> session_store::Result<u64> {
        Ok(on_pool!(&self.store, |pool| sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1"
        )
        .bind(self.clock.now_ms())
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected()))
    }
}

#[async_trait]
impl SessionStore for SessionRecords {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.sweep().await?;
        // Ids are 128 random bits; a clash is all but impossible, but a clash must never
        // hand one person another's session, so a taken id is replaced.
        loop {
            let taken: Option<(String,)> = on_pool!(&self.store, |pool| sqlx::query_as(
                "SELECT id FROM sessions WHERE id = $1"
            )
            .bind(record.id.to_string())
            .fetch_optional(pool)
            .await
            .map_err(backend)?);
            if taken.is_none() {
                break;
            }
            record.id = Id::default();
        }
        self.write(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, i64)> = on_pool!(&self.store, |pool| sqlx::query_as(
            "SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2"
        )
        .bind(id.to_string())
        .bind(self.clock.now_ms())
        .fetch_optional(pool)
        .await
        .map_err(backend)?);
        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expires_at = expires_at - self.clock.ahead_of_system_ms();
        let expiry_date =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires_at) * 1_000_000)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        on_pool!(&self.store, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await
                .map_err(backend)?;
        });
        Ok(())
    }
}
