//! Shipgate's store: SQLite (the embedded default) or PostgreSQL (for replicas), chosen by URL.
//!
//! The two schemas store the same columns with the same representations (integers for ids
//! and millisecond times, text for the rest), and every query here uses `$n` placeholders,
//! which both drivers accept. So each query is written once and [`on_pool!`] expands it for
//! both backends, each checked by the compiler against its own driver.

pub mod access;
pub(crate) mod audit;
mod briefs;
pub mod builds;
pub mod checks;
pub mod ci;
pub(crate) mod decisions;
mod deliveries;
pub mod deploys;
pub mod engine;
pub mod gates;
pub mod inventory;
pub(crate) mod keys;
pub mod leases;
pub mod outbound;
pub mod pipelines;
pub mod reconcile;
pub mod rollback;
mod runs;
pub mod sessions;
pub mod views;

pub use deliveries::{CiIntent, DeliveryIntent, NewDelivery, PushIntent, Recorded};
pub use runs::{Refusal, runs_state};

pub use shipgate_pipeline::read::{AuditFilter, AuditRecord};

use crate::clock::Clock;
use shipgate_pipeline::TransitionError;
use shipgate_pipeline::access::TokenRef;
use shipgate_pipeline::read::{DEFAULT_PAGE, MAX_PAGE, Page};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL must start with `sqlite:` or `postgres://`")]
    UnsupportedUrl,
    /// A SQLite-only operation (a file copy, an integrity check) asked of PostgreSQL.
    #[error("{0} works on SQLite only, and this database is PostgreSQL")]
    SqliteOnly(&'static str),
    #[error("pipeline `{0}` already exists")]
    PipelineExists(String),
    #[error("pipeline `{0}` does not exist")]
    PipelineNotFound(String),
    #[error("run {0} does not exist")]
    RunNotFound(i64),
    #[error("run {0} was changed by someone else while this change was being made")]
    RunChanged(i64),
    /// A person asked for something the run's state does not allow (cancel an ended run,
    /// retry a live one), judged by `run_rules` inside the write: a conflict to report to
    /// them, not a fault.
    #[error("run {run} cannot be {action}: {why}")]
    RunRefused {
        run: i64,
        action: &'static str,
        why: Refusal,
    },
    #[error("cannot roll back: {0}")]
    RollbackRefused(rollback::RollbackRefusal),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database could not be reached or could not take work just now (stopped,
    /// restarting, out of connections), rather than refusing this operation: nothing was
    /// written, and the same operation may succeed once the database is back.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL's connection exceptions (08…), its shutdown and start-up refusals
            // (57P01–57P03) and too_many_connections (53300).
            sqlx::Error::Database(db) => {
                db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .is_some()
                    && db.code().is_some_and(|c| {
                        c.starts_with("08") || c.starts_with("57P") || c == "53300"
                    })
            }
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database, and the clock every time it records or compares is read from: the system
/// clock in the server, a manual one ([`Clock::manual`]) in tests that move time forward
/// instead of waiting for it or backdating rows. The engine reads its time here too.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    clock: Clock,
}

/// One of the two backends, with its pool.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and then writes cannot wait for the lock when another
/// connection committed in between (SQLite answers "database is locked" at once instead),
/// so every writer takes the write lock up front and queues behind `busy_timeout`.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>
    + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

/// Runs `$body` with `$pool` bound to whichever pool this store has.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// A write transaction on either backend, for store functions that must commit together
/// (a run's transition and the deploy, lock, rollback or audit rows that go with it). Each
/// such function takes `&mut Tx`, so the caller chooses what joins its transaction, and
/// nothing is deferred as SQL text. Dropped without [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$conn` bound to the connection of whichever backend `$tx` (a
/// `&mut Tx`) is on. Pass it to each query as `&mut *$conn`.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Store functions that join a run's transition (see [`Store::apply_event_with`]): given the
/// transaction, they write and hand it back. Taking the transaction by value (rather than
/// `&mut Tx` under a higher-ranked lifetime) lets the future borrow the caller's data.
pub(crate) type BoxedWrite<'a> = futures::future::BoxFuture<'a, StoreResult<Tx>>;

/// Writes nothing more: for a transition that needs no other rows.
pub(crate) fn nothing_else<'a>(tx: Tx) -> BoxedWrite<'a> {
    Box::pin(async move { Ok(tx) })
}

/// A bind value for the queries whose text is assembled at run time (optional filters).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// Binds `$args` in order to the query `$q`.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                $crate::store::Arg::Text(s) => q.bind(s.clone()),
                $crate::store::Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

impl Store {
    fn new(db: Db) -> Store {
        Store {
            db,
            clock: Clock::system(),
        }
    }

    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        let store = if is_postgres_url(url) {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await?;
            Store::new(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the caller is told, even across power loss.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Store::new(Db::Sqlite(pool))
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The file a `sqlite:` URL names, as [`Store::connect`] reads it; `None` for an
    /// in-memory database or a URL of another backend.
    pub fn sqlite_file(url: &str) -> StoreResult<Option<std::path::PathBuf>> {
        if !url.starts_with("sqlite:") {
            return Ok(None);
        }
        let database = url["sqlite:".len()..].trim_start_matches("//");
        if database.split('?').next() == Some(":memory:") || url.contains("mode=memory") {
            return Ok(None);
        }
        Ok(Some(
            SqliteConnectOptions::from_str(url)?
                .get_filename()
                .to_path_buf(),
        ))
    }

    /// Opens an existing SQLite file as it is, for `shipgate backup` (the live database, and
    /// the copy to check it): no file is created (a mistyped path must not be copied as a new,
    /// empty database) and no migration runs (a backup must not change the database it
    /// copies, which a Shipgate of another version may be serving from).
    pub async fn open_sqlite_file(path: &std::path::Path) -> StoreResult<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Store::new(Db::Sqlite(pool)))
    }

    /// Writes a consistent copy of the whole database to `path`, which must not exist, with
    /// SQLite's `VACUUM INTO`. The copy is one read transaction: writers (intake, the engine)
    /// go on committing meanwhile, and the copy holds exactly what was committed when it
    /// began. PostgreSQL has `pg_dump` for this.
    pub async fn backup_into(&self, path: &std::path::Path) -> StoreResult<()> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(StoreError::SqliteOnly("a backup with VACUUM INTO"));
        };
        let path = path.to_str().ok_or_else(|| {
            sqlx::Error::Configuration(
                format!("the path {} is not valid UTF-8", path.display()).into(),
            )
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`: `["ok"]` for a sound database, else what is wrong.
    pub async fn integrity_check(&self) -> StoreResult<Vec<String>> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(StoreError::SqliteOnly("PRAGMA integrity_check"));
        };
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(pool)
            .await?;
        Ok(rows.into_iter().map(|(line,)| line).collect())
    }

    /// Wraps an existing pool (tests hand in per-test databases) and migrates it.
    pub async fn from_sqlite(pool: SqlitePool) -> StoreResult<Store> {
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&pool)
            .await?;
        let store = Store::new(Db::Sqlite(pool));
        store.migrate().await?;
        Ok(store)
    }

    pub async fn from_postgres(pool: PgPool) -> StoreResult<Store> {
        let store = Store::new(Db::Postgres(pool));
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Starts a write transaction ([`BeginWrite`]: `BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn begin_write(&self) -> StoreResult<Tx> {
        Ok(match &self.db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_write().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin_write().await?),
        })
    }

    pub fn backend(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The database itself, for tests and tools that run their own SQL.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock this store (and the engine on it) reads.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The same database, read on `clock` from now on (a test's manual clock, or the one the
    /// sign-in code shares).
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// Now, in milliseconds since the epoch, on this store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// For `/readyz`: can a query reach the database right now?
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// Appends to the audit log. The schema refuses updates and deletes of these rows.
    pub async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        on_pool!(self, |pool| {
            append_audit!(pool, entry, self.now_ms())?;
            Ok(())
        })
    }

    /// The audit log, newest first, filtered (see [`AuditFilter`]) and keyset-paginated on
    /// the id. Only the filters given appear in the SQL, so an exact actor, action or target
    /// is served by its index (each ends with the id, for the order and the cursor).
    pub async fn search_audit(&self, filter: &AuditFilter) -> StoreResult<Page<AuditRecord>> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        if let Some(actor) = &filter.actor {
            args.push(Arg::Text(actor.clone()));
            conditions.push(format!("actor = ${}", args.len()));
        }
        match filter.action.as_deref() {
            // Not LIKE (SQLite's ignores case, and `_` and `%` would be wildcards), not a
            // range (under a linguistic collation a range is not a prefix): the first
            // characters, compared exactly.
            Some(prefix) if prefix.ends_with('.') => {
                args.push(Arg::Text(prefix.to_owned()));
                // The length is a literal: PostgreSQL's substr takes an int4, and a bound
                // integer arrives as an int8.
                conditions.push(format!(
                    "substr(action, 1, {}) = ${}",
                    prefix.chars().count(),
                    args.len()
                ));
            }
            Some(exact) => {
                args.push(Arg::Text(exact.to_owned()));
                conditions.push(format!("action = ${}", args.len()));
            }
            None => {}
        }
        if let Some(target) = &filter.target {
            args.push(Arg::Text(target.clone()));
            conditions.push(format!("target = ${}", args.len()));
        }
        if let Some(before) = filter.before {
            args.push(Arg::Int(before));
            conditions.push(format!("id < ${}", args.len()));
        }
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit + 1));
        let mut rows: Vec<AuditRow> = on_pool!(self, |pool| bind_all!(sqlx::query_as(&sql), &args)
            .fetch_all(pool)
            .await?);
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.0)
        } else {
            None
        };
        Ok(Page {
            items: rows.into_iter().map(audit_record).collect(),
            next,
        })
    }

    /// The newest `limit` entries, of one target or of all.
    pub async fn list_audit(
        &self,
        target: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log");
        let mut args = Vec::new();
        if let Some(t) = target {
            args.push(Arg::Text(t.to_owned()));
            sql.push_str(" WHERE target = $1");
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let rows: Vec<AuditRow> = on_pool!(self, |pool| bind_all!(sqlx::query_as(&sql), &args)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(audit_record).collect())
    }
}

const AUDIT_COLUMNS: &str = "id, at, actor, action, target, ip, detail, via_token, via_token_name";

/// The one way an audit entry is written, by [`append_audit!`] and [`audit::append`].
pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (at, actor, action, target, ip, detail, via_token, via_token_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

type AuditRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    Option<String>,
);

fn audit_record(
    (id, at, actor, action, target, ip, detail, via_token, via_name): AuditRow,
) -> AuditRecord {
    let via = via_token
        .zip(via_name)
        .map(|(id, name)| TokenRef { id, name });
    // Decoded once, here. Text no writer of this version produces (an older or hand-edited
    // row) is still shown, as written, rather than hiding the whole log.
    let actor_name = match actor.parse::<shipgate_pipeline::ids::Actor>() {
        Ok(known) => known.display_name(via.as_ref()),
        Err(_) => actor.clone(),
    };
    AuditRecord {
        id,
        at,
        actor,
        action,
        target,
        ip,
        detail,
        via,
        actor_name,
    }
}

/// Who did what to which object, and from where.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub detail: String,
    /// The API token the actor acted through, if any.
    pub via: Option<TokenRef>,
}

/// Appends an audit entry on `$conn` (a connection or transaction of one backend), so the
/// entry commits or rolls back with the change it records. [`audit::append`] is the same
/// on a [`Tx`].
macro_rules! append_audit {
    ($conn:expr, $entry:expr, $at:expr) => {{
        let entry: &$crate::store::AuditEntry = $entry;
        let at: i64 = $at;
        sqlx::query($crate::store::INSERT_AUDIT)
            .bind(at)
            .bind(entry.actor.as_str())
            .bind(entry.action.as_str())
            .bind(entry.target.as_str())
            .bind(entry.ip.as_deref())
            .bind(entry.detail.as_str())
            .bind(entry.via.as_ref().map(|t| t.id))
            .bind(entry.via.as_ref().map(|t| t.name.as_str()))
            .execute($conn)
            .await
    }};
}
pub(crate) use append_audit;

/// Whether a database URL selects PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn parse_text<T: FromStr>(what: &str, value: &str) -> StoreResult<T> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} `{value}`")))
}
