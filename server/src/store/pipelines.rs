//! Pipeline definitions: the API's CRUD and the config file's idempotent sync.

use super::{AuditEntry, BeginWrite, Store, StoreError, StoreResult, append_audit, on_pool};
use shipgate_pipeline::read::PipelineRecord;
use shipgate_pipeline::{EnvironmentSpec, PipelineSpec, Promotion};

#[derive(sqlx::FromRow)]
struct PipelineRow {
    id: i64,
    name: String,
    repository: String,
    branch: String,
    ecr_repository: String,
    source: String,
    created_at: i64,
    updated_at: i64,
    settings: String,
}

#[derive(sqlx::FromRow)]
struct EnvironmentRow {
    pipeline_id: i64,
    name: String,
    cluster: String,
    service: String,
    container: String,
    region: String,
    promotion: String,
    settings: String,
}

const PIPELINE_COLUMNS: &str =
    "id, name, repository, branch, ecr_repository, source, created_at, updated_at, settings";
const ENVIRONMENT_COLUMNS: &str =
    "pipeline_id, name, cluster, service, container, region, promotion, settings";

fn settings_json<T: serde::Serialize>(settings: &T) -> String {
    serde_json::to_string(settings).expect("settings serialize")
}

fn parse_settings<T: serde::de::DeserializeOwned>(json: &str, whose: &str) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("settings of {whose}: {e}")))
}

/// Whether a write created the pipeline, replaced it, or found it already as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Updated,
    Unchanged,
}

fn assemble(rows: Vec<PipelineRow>, envs: Vec<EnvironmentRow>) -> StoreResult<Vec<PipelineRecord>> {
    rows.into_iter()
        .map(|p| {
            let environments = envs
                .iter()
                .filter(|e| e.pipeline_id == p.id)
                .map(|e| {
                    Ok(EnvironmentSpec {
                        name: e.name.clone(),
                        cluster: e.cluster.clone(),
                        service: e.service.clone(),
                        container: e.container.clone(),
                        region: e.region.clone(),
                        promotion: Promotion::parse(&e.promotion).ok_or_else(|| {
                            StoreError::Corrupt(format!("promotion `{}`", e.promotion))
                        })?,
                        deploy: parse_settings(&e.settings, &e.name)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            let build = parse_settings(&p.settings, &p.name)?;
            Ok(PipelineRecord {
                spec: PipelineSpec {
                    name: p.name,
                    repository: p.repository,
                    branch: p.branch,
                    ecr_repository: p.ecr_repository,
                    environments,
                    build,
                },
                source: p.source,
                created_at: p.created_at,
                updated_at: p.updated_at,
                reconcile: None,
            })
        })
        .collect()
}

/// Reads pipelines (all, or those matching a WHERE clause on `pipelines`) with their environments.
macro_rules! load_pipelines {
    ($conn:expr, $where:literal $(, $arg:expr)*) => {{
        let rows: Vec<PipelineRow> = sqlx::query_as(&format!(
            "SELECT {PIPELINE_COLUMNS} FROM pipelines {} ORDER BY name", $where
        ))
        $(.bind($arg))*
        .fetch_all(&mut *$conn)
        .await?;
        let envs: Vec<EnvironmentRow> = sqlx::query_as(&format!(
            "SELECT {ENVIRONMENT_COLUMNS} FROM environments WHERE pipeline_id IN (SELECT id FROM pipelines {}) ORDER BY pipeline_id, position",
            $where
        ))
        $(.bind($arg))*
        .fetch_all(&mut *$conn)
        .await?;
        assemble(rows, envs)
    }};
}

impl Store {
    /// Every pipeline, with how its head reconcile fares.
    pub async fn list_pipelines(&self) -> StoreResult<Vec<PipelineRecord>> {
        let mut pipelines: Vec<PipelineRecord> = on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            load_pipelines!(conn, "")
        })?;
        let mut health = self.reconcile_health().await?;
        for p in &mut pipelines {
            p.reconcile = health.remove(&p.spec.name);
        }
        Ok(pipelines)
    }

    pub async fn get_pipeline(&self, name: &str) -> StoreResult<Option<PipelineRecord>> {
        on_pool!(self, |pool| {
            let mut conn = pool.acquire().await?;
            Ok(load_pipelines!(conn, "WHERE name = $1", name.to_owned())?.pop())
        })
    }

    /// Creates a pipeline; refuses if one of that name exists.
    pub async fn create_pipeline(
        &self,
        spec: &PipelineSpec,
        source: &str,
        actor: &AuditEntry,
    ) -> StoreResult<PipelineRecord> {
        match self.save_pipeline(spec, source, actor, false).await? {
            (Saved::Created, record) => Ok(record),
            _ => Err(StoreError::PipelineExists(spec.name.clone())),
        }
    }

    /// Creates or replaces a pipeline. Writing the same definition again changes nothing
    /// and adds nothing to the audit log, which is what makes config loading idempotent.
    pub async fn put_pipeline(
        &self,
        spec: &PipelineSpec,
        source: &str,
        actor: &AuditEntry,
    ) -> StoreResult<(Saved, PipelineRecord)> {
        self.save_pipeline(spec, source, actor, true).await
    }

    async fn save_pipeline(
        &self,
        spec: &PipelineSpec,
        source: &str,
        actor: &AuditEntry,
        replace: bool,
    ) -> StoreResult<(Saved, PipelineRecord)> {
        let now = self.now_ms();
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let existing: Option<(i64, i64)> =
                sqlx::query_as("SELECT id, created_at FROM pipelines WHERE name = $1")
                    .bind(spec.name.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            let (saved, id) = match existing {
                Some((id, _)) => {
                    if !replace {
                        return Ok((
                            Saved::Unchanged,
                            load_pipelines!(tx, "WHERE name = $1", spec.name.clone())?
                                .pop()
                                .ok_or_else(|| StoreError::PipelineNotFound(spec.name.clone()))?,
                        ));
                    }
                    let current = load_pipelines!(tx, "WHERE id = $1", id)?.pop();
                    if current
                        .as_ref()
                        .is_some_and(|c| &c.spec == spec && c.source == source)
                    {
                        return Ok((Saved::Unchanged, current.expect("checked above")));
                    }
                    sqlx::query(
                        "UPDATE pipelines SET repository = $1, repository_key = $2, branch = $3, ecr_repository = $4, source = $5, updated_at = $6, settings = $8 WHERE id = $7",
                    )
                    .bind(spec.repository.clone())
                    .bind(spec.repository.to_ascii_lowercase())
                    .bind(spec.branch.clone())
                    .bind(spec.ecr_repository.clone())
                    .bind(source.to_owned())
                    .bind(now)
                    .bind(id)
                    .bind(settings_json(&spec.build))
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM environments WHERE pipeline_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    (Saved::Updated, id)
                }
                None => {
                    let (id,): (i64,) = sqlx::query_as(
                        "INSERT INTO pipelines (name, repository, repository_key, branch, ecr_repository, source, created_at, updated_at, settings)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
                    )
                    .bind(spec.name.clone())
                    .bind(spec.repository.clone())
                    .bind(spec.repository.to_ascii_lowercase())
                    .bind(spec.branch.clone())
                    .bind(spec.ecr_repository.clone())
                    .bind(source.to_owned())
                    .bind(now)
                    .bind(settings_json(&spec.build))
                    .fetch_one(&mut *tx)
                    .await?;
                    (Saved::Created, id)
                }
            };
            for (position, env) in spec.environments.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO environments (pipeline_id, position, name, cluster, service, container, region, promotion, settings)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(env.name.clone())
                .bind(env.cluster.clone())
                .bind(env.service.clone())
                .bind(env.container.clone())
                .bind(env.region.clone())
                .bind(env.promotion.as_str())
                .bind(settings_json(&env.deploy))
                .execute(&mut *tx)
                .await?;
            }
            let action = if saved == Saved::Created {
                "pipeline.created"
            } else {
                "pipeline.updated"
            };
            let detail = serde_json::to_string(spec).unwrap_or_default();
            append_audit!(
                &mut *tx,
                &AuditEntry {
                    action: action.into(),
                    target: format!("pipeline:{}", spec.name),
                    detail,
                    ..actor.clone()
                },
                self.now_ms()
            )?;
            let record = load_pipelines!(tx, "WHERE name = $1", spec.name.clone())?
                .pop()
                .ok_or_else(|| StoreError::PipelineNotFound(spec.name.clone()))?;
            tx.commit().await?;
            Ok((saved, record))
        })
    }

    /// Deletes a pipeline's definition. Its runs stay, as history.
    pub async fn delete_pipeline(&self, name: &str, actor: &AuditEntry) -> StoreResult<()> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM pipelines WHERE name = $1")
                .bind(name.to_owned())
                .execute(&mut *tx)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::PipelineNotFound(name.to_owned()));
            }
            append_audit!(
                &mut *tx,
                &AuditEntry {
                    action: "pipeline.deleted".into(),
                    target: format!("pipeline:{name}"),
                    detail: String::new(),
                    ..actor.clone()
                },
                self.now_ms()
            )?;
            tx.commit().await?;
            Ok(())
        })
    }
}
