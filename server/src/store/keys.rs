//! Signing keys shared by every replica (decision links are signed with one).

use super::{Store, StoreError, StoreResult, on_pool};

impl Store {
    /// The named signing key, made (32 random bytes) the first time any replica asks.
    pub async fn signing_key(&self, name: &str) -> StoreResult<Vec<u8>> {
        let select = "SELECT secret FROM signing_keys WHERE name = $1";
        // Read first: the key exists after its first use, and reading takes no write lock.
        let found: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(select)
            .bind(name)
            .fetch_optional(pool)
            .await?);
        let secret = match found {
            Some((secret,)) => secret,
            None => {
                let mut fresh = [0u8; 32];
                getrandom::fill(&mut fresh).map_err(|e| {
                    StoreError::Corrupt(format!("no randomness for a signing key: {e}"))
                })?;
                // Two replicas may race to make it: the first insert wins and both read it back.
                let (secret,): (String,) = on_pool!(self, |pool| {
                    sqlx::query("INSERT INTO signing_keys (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
                        .bind(name)
                        .bind(hex::encode(fresh))
                        .bind(self.now_ms())
                        .execute(pool)
                        .await?;
                    sqlx::query_as(select).bind(name).fetch_one(pool).await?
                });
                secret
            }
        };
        hex::decode(secret).map_err(|e| StoreError::Corrupt(format!("signing key `{name}`: {e}")))
    }
}
