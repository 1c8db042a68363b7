//! People who signed in, and API tokens.

use super::{AuditEntry, BeginWrite, Store, StoreError, StoreResult, append_audit, on_pool};
use sha2::{Digest, Sha256};
use shipgate_pipeline::access::{Grant, Principal, TokenSpec, describe};

pub use shipgate_pipeline::read::TokenRecord;

/// Every API token starts with this, so secret scanners (and people) can recognise one.
pub const TOKEN_PREFIX: &str = "sgp_";

/// What a presented bearer token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    Valid(Principal),
    Expired,
    Revoked,
    Unknown,
}

/// A token being made: everything but the secret, which the store generates.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// `personal` (acts for `owner`) or `service`.
    pub kind: String,
    pub owner: Option<String>,
    pub grant: Grant,
    pub expires_at: Option<i64>,
}

impl NewToken {
    /// The token a checked request describes, its lifetime counted from `now`.
    pub fn from_spec(spec: TokenSpec, now: i64) -> NewToken {
        NewToken {
            name: spec.name,
            kind: spec.kind.as_str().to_owned(),
            owner: spec.owner,
            grant: spec.grant,
            expires_at: spec.expires_in_days.map(|days| now + days * 86_400_000),
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

type TokenRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const TOKEN_COLUMNS: &str = "id, name, kind, owner, grant_json, prefix, created_by, created_at, expires_at, revoked_at, revoked_by, last_used_at";

fn token_record(row: TokenRow) -> StoreResult<TokenRecord> {
    let (
        id,
        name,
        kind,
        owner,
        grant,
        prefix,
        created_by,
        created_at,
        expires_at,
        revoked_at,
        revoked_by,
        last_used_at,
    ) = row;
    let grant = serde_json::from_str(&grant)
        .map_err(|e| StoreError::Corrupt(format!("token {id} grant: {e}")))?;
    Ok(TokenRecord {
        id,
        name,
        kind,
        owner,
        grant,
        prefix,
        created_by,
        created_at,
        expires_at,
        revoked_at,
        revoked_by,
        last_used_at,
    })
}

impl Store {
    /// Records a sign-in and returns the grants of the previous one, if the person signed
    /// in before, so the caller can tell a role change.
    pub async fn record_sign_in(
        &self,
        subject: &str,
        email: Option<&str>,
        name: &str,
        grants: &[Grant],
    ) -> StoreResult<Option<Vec<Grant>>> {
        let now = self.now_ms();
        let json = serde_json::to_string(grants).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let before: Option<(String,)> = on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let before: Option<(String,)> =
                sqlx::query_as("SELECT grants FROM users WHERE subject = $1")
                    .bind(subject)
                    .fetch_optional(&mut *tx)
                    .await?;
            sqlx::query(
                "INSERT INTO users (subject, email, name, grants, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (subject) DO UPDATE SET email = excluded.email, name = excluded.name, grants = excluded.grants, last_seen = excluded.last_seen",
            )
            .bind(subject)
            .bind(email)
            .bind(name)
            .bind(&json)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            before
        });
        before
            .map(|(g,)| {
                serde_json::from_str(&g)
                    .map_err(|e| StoreError::Corrupt(format!("grants of {subject}: {e}")))
            })
            .transpose()
    }

    /// Makes a token and returns it with its record. The token itself exists only in the
    /// return value: the database keeps its SHA-256.
    pub async fn create_token(
        &self,
        new: &NewToken,
        actor: &AuditEntry,
    ) -> StoreResult<(String, TokenRecord)> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| StoreError::Corrupt(format!("no randomness for a token: {e}")))?;
        let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
        let prefix = token[..TOKEN_PREFIX.len() + 6].to_owned();
        let grant =
            serde_json::to_string(&new.grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = self.now_ms();
        let detail = serde_json::json!({
            "name": new.name, "kind": new.kind, "owner": new.owner, "grant": describe(std::slice::from_ref(&new.grant)),
            "expires_at": new.expires_at, "prefix": prefix,
        })
        .to_string();
        let id: i64 = on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO api_tokens (name, kind, owner, grant_json, token_hash, prefix, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(&new.name)
            .bind(&new.kind)
            .bind(new.owner.as_deref())
            .bind(&grant)
            .bind(token_hash(&token))
            .bind(&prefix)
            .bind(&actor.actor)
            .bind(now)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            append_audit!(
                &mut *tx,
                &AuditEntry {
                    action: "token.create".into(),
                    target: format!("token:{id}"),
                    detail: detail.clone(),
                    ..actor.clone()
                },
                self.now_ms()
            )?;
            tx.commit().await?;
            id
        });
        let record = self
            .get_token(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("token {id} vanished after insert")))?;
        Ok((token, record))
    }

    pub async fn get_token(&self, id: i64) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
        let row: Option<TokenRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(token_record).transpose()
    }

    /// Every token, newest first, revoked ones included (they explain old audit entries).
    pub async fn list_tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC");
        let rows: Vec<TokenRow> =
            on_pool!(self, |pool| sqlx::query_as(&sql).fetch_all(pool).await?);
        rows.into_iter().map(token_record).collect()
    }

    /// Revokes a token at once. Returns `None` if there is no such token, and the record
    /// unchanged if it was already revoked (revoking twice is not an error, nor audited twice).
    pub async fn revoke_token(
        &self,
        id: i64,
        actor: &AuditEntry,
    ) -> StoreResult<Option<TokenRecord>> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now)
                .bind(&actor.actor)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 1 {
                append_audit!(
                    &mut *tx,
                    &AuditEntry {
                        action: "token.revoke".into(),
                        target: format!("token:{id}"),
                        ..actor.clone()
                    },
                    self.now_ms()
                )?;
            }
            tx.commit().await?;
        });
        self.get_token(id).await
    }

    /// Stores `hash` as the bootstrap admin password unless one exists. Returns whether this
    /// call made it, so only the replica that did shows the password (once).
    pub async fn ensure_bootstrap_password(&self, hash: &str) -> StoreResult<bool> {
        let made = on_pool!(self, |pool| {
            sqlx::query("INSERT INTO bootstrap_admin (id, password_sha256, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
                .bind(hash)
                .bind(self.now_ms())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(made == 1)
    }

    /// The bootstrap admin password's hash, if one was made.
    pub async fn bootstrap_password_hash(&self) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT password_sha256 FROM bootstrap_admin WHERE id = 1"
        )
        .fetch_optional(pool)
        .await?);
        Ok(row.map(|(hash,)| hash))
    }

    /// Replaces the bootstrap admin password and ends every session in the same
    /// transaction: whoever signed in with the old password is signed out.
    pub async fn reset_bootstrap_password(
        &self,
        hash: &str,
        actor: &AuditEntry,
    ) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO bootstrap_admin (id, password_sha256, created_at) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO UPDATE SET password_sha256 = excluded.password_sha256, created_at = excluded.created_at",
            )
            .bind(hash)
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await?;
            let ended = sqlx::query("DELETE FROM sessions")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let entry = AuditEntry {
                action: "bootstrap.reset".into(),
                target: "shipgate".into(),
                detail: format!("{ended} session(s) ended"),
                ..actor.clone()
            };
            append_audit!(&mut *tx, &entry, self.now_ms())?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Looks a presented token up by its hash and says what it is worth now.
    pub async fn check_token(&self, presented: &str) -> StoreResult<TokenCheck> {
        if !presented.starts_with(TOKEN_PREFIX) {
            return Ok(TokenCheck::Unknown);
        }
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let hash = token_hash(presented);
        let row: Option<TokenRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(&hash)
            .fetch_optional(pool)
            .await?);
        let Some(record) = row.map(token_record).transpose()? else {
            return Ok(TokenCheck::Unknown);
        };
        let now = self.now_ms();
        if record.revoked_at.is_some() {
            return Ok(TokenCheck::Revoked);
        }
        if record.expires_at.is_some_and(|at| at <= now) {
            return Ok(TokenCheck::Expired);
        }
        // Last use is kept to the minute: a busy token should not write on every request.
        if record.last_used_at.is_none_or(|at| now - at > 60_000) {
            on_pool!(self, |pool| {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(record.id)
                    .execute(pool)
                    .await?;
            });
        }
        Ok(TokenCheck::Valid(record.principal()))
    }
}
