//! The audit log's write inside another operation's transaction.

use super::{AuditEntry, INSERT_AUDIT, StoreResult, Tx, on_tx};

/// Appends `entry`, made at `at`, in `tx`, so it commits or rolls back with the change it records.
pub(crate) async fn append(tx: &mut Tx, entry: &AuditEntry, at: i64) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query(INSERT_AUDIT)
            .bind(at)
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
