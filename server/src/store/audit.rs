//! The audit log's write inside another operation's transaction.

use super::{AuditEntry, INSERT_AUDIT, StoreResult, Tx, now_ms, on_tx};

/// Appends `entry` in `tx`, so it commits or rolls back with the change it records.
pub(crate) async fn append(tx: &mut Tx, entry: &AuditEntry) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query(INSERT_AUDIT)
            .bind(now_ms())
            .bind(entry.actor.as_str())
            .bind(entry.action.as_str())
            .bind(entry.target.as_str())
            .bind(entry.ip.as_deref())
            .bind(entry.detail.as_str())
            .bind(entry.via.as_ref().map(|t| t.id))
            .bind(entry.via.as_ref().map(|t| t.name.as_str()))
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}
