//! The two migration trees, `migrations/sqlite` and `migrations/postgres`, are written by
//! hand, one per dialect. This checks that they make the same schema: the same migrations
//! applied, and the same columns in the same tables (types differ by dialect, so only
//! names are compared).

use shipgate::store::{Db, Store};
use std::collections::BTreeSet;

/// (table, column) pairs and applied migration versions of one migrated database.
#[derive(Debug, PartialEq)]
struct Schema {
    columns: BTreeSet<(String, String)>,
    versions: Vec<i64>,
}

async fn schema(store: &Store) -> Schema {
    let (columns, versions): (Vec<(String, String)>, Vec<(i64,)>) = match store.db() {
        Db::Sqlite(pool) => (
            sqlx::query_as(
                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version").fetch_all(pool).await.unwrap(),
        ),
        Db::Postgres(pool) => (
            sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version").fetch_all(pool).await.unwrap(),
        ),
    };
    Schema {
        columns: columns.into_iter().collect(),
        versions: versions.into_iter().map(|(v,)| v).collect(),
    }
}

/// What `a` has and `b` lacks, one pair a line, for a failure message that says where.
fn only_in(a: &Schema, b: &Schema) -> String {
    a.columns
        .difference(&b.columns)
        .map(|(t, c)| format!("  {t}.{c}\n"))
        .collect()
}

#[sqlx::test(migrations = false)]
async fn sqlite_and_postgres_migrations_make_the_same_tables_and_columns(pool: sqlx::PgPool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::connect(&format!(
        "sqlite:{}",
        dir.path().join("shipgate.db").display()
    ))
    .await
    .expect("sqlite store");
    let postgres = Store::from_postgres(pool).await.expect("postgres store");
    let (sqlite, postgres) = (schema(&sqlite).await, schema(&postgres).await);

    assert!(
        sqlite.columns.len() > 20 && sqlite.versions.len() > 1,
        "the schema was read: {sqlite:?}"
    );
    assert_eq!(
        sqlite.versions, postgres.versions,
        "the same migrations are applied on both"
    );
    assert!(
        sqlite.columns == postgres.columns,
        "the migration trees differ.\nOnly in migrations/sqlite:\n{}Only in migrations/postgres:\n{}",
        only_in(&sqlite, &postgres),
        only_in(&postgres, &sqlite),
    );
}
