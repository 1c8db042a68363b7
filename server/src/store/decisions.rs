//! The rows a gate decision writes, as store functions on the caller's transaction
//! (the decision itself is assembled and checked in [`super::gates`]).

use super::{StoreResult, Tx, on_tx};

/// One person's decision at a gate, as recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewDecision<'a> {
    pub run_id: i64,
    pub environment: &'a str,
    /// `approved` or `rejected`.
    pub decision: &'a str,
    pub actor: &'a str,
    pub person: &'a str,
    pub comment: &'a str,
    pub image_digest: &'a str,
    pub at: i64,
}

/// Records a gate decision.
pub(crate) async fn insert(tx: &mut Tx, d: &NewDecision<'_>) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query("INSERT INTO gate_decisions (run_id, environment, decision, actor, comment, image_digest, at, person) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(d.run_id)
            .bind(d.environment)
            .bind(d.decision)
            .bind(d.actor)
            .bind(d.comment)
            .bind(d.image_digest)
            .bind(d.at)
            .bind(d.person)
            .execute(&mut *conn)
            .await?;
    });
    Ok(())
}

/// Spends a decision link with the decision made through it; a second use (even a racing
/// one) meets the key.
pub(crate) async fn mark_link_used(
    tx: &mut Tx,
    nonce: &str,
    run_id: i64,
    actor: &str,
    at: i64,
) -> StoreResult<()> {
    on_tx!(tx, |conn| {
        sqlx::query(
            "INSERT INTO gate_links_used (nonce, run_id, actor, used_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(nonce)
        .bind(run_id)
        .bind(actor)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    });
    Ok(())
}
