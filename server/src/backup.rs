//! `shipgate backup FILE`: a consistent copy of a live SQLite database.
//!
//! The copy is SQLite's `VACUUM INTO`, one read transaction on the live database. In WAL
//! mode writers go on committing while it runs, so intake never stops, and the copy holds
//! exactly what was committed when the copy began: every delivery acknowledged before then
//! is in it. It is written under a temporary name in FILE's directory, synced, opened again
//! and checked with `PRAGMA integrity_check`, and only then given FILE's name, so FILE is
//! either absent or a whole, checked copy, whatever happens half-way (a crash, a full disk,
//! a power cut). PostgreSQL is refused: `pg_dump` does this job there, and better.

use crate::store::{Store, StoreError, is_postgres_url};
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a backup was not made. Each message is one sentence naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the database is PostgreSQL, which `shipgate backup` does not copy: use `pg_dump --format=custom --file=shipgate.dump \"$DATABASE_URL\"` (and `pg_restore` to restore it)"
    )]
    Postgres,
    #[error(
        "the database URL must start with `sqlite:` (a `postgres://` database is backed up with pg_dump)"
    )]
    UnsupportedUrl,
    #[error("the database URL is not valid: {0}")]
    InvalidUrl(StoreError),
    #[error("the database is in memory, so there is no file to back up")]
    InMemory,
    #[error("there is no database at {0} (the file the database URL names)")]
    NoDatabase(PathBuf),
    #[error("{0} already exists, and a backup never overwrites a file: choose a new name")]
    Exists(PathBuf),
    #[error("{0} does not name a file")]
    NotAFileName(PathBuf),
    #[error("the directory {0} does not exist")]
    NoDirectory(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("the path {0} is not valid UTF-8, which SQLite needs for VACUUM INTO")]
    NotUtf8(PathBuf),
    #[error("cannot open the database at {path}: {source}")]
    Open { path: PathBuf, source: StoreError },
    #[error("cannot copy the database to {path}: {source}")]
    Copy { path: PathBuf, source: StoreError },
    #[error("cannot read the copy at {path} to check it: {source}")]
    Check { path: PathBuf, source: StoreError },
    #[error("the copy failed SQLite's integrity check ({problems}), so it was deleted")]
    Corrupt { problems: String },
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a backup wrote, as `shipgate backup` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub deliveries: i64,
    pub runs: i64,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backup written to {}: {} bytes, {} deliveries and {} runs, integrity_check ok",
            self.path.display(),
            self.bytes,
            self.deliveries,
            self.runs
        )
    }
}

/// Copies the database `database_url` names to `file`, which must not exist yet.
pub async fn run(database_url: &str, file: &Path) -> Result<Written, BackupError> {
    if is_postgres_url(database_url) {
        return Err(BackupError::Postgres);
    }
    let source = match Store::sqlite_file(database_url) {
        Ok(Some(path)) => path,
        Ok(None) if database_url.starts_with("sqlite:") => return Err(BackupError::InMemory),
        Ok(None) => return Err(BackupError::UnsupportedUrl),
        Err(e) => return Err(BackupError::InvalidUrl(e)),
    };
    let (directory, target) = destination(file)?;
    if !source.exists() {
        return Err(BackupError::NoDatabase(source));
    }
    let name = target
        .file_name()
        .expect("destination() names a file")
        .to_string_lossy();
    let partial = Partial(directory.join(format!("{name}.{}.partial", std::process::id())));
    if partial.0.to_str().is_none() {
        return Err(BackupError::NotUtf8(partial.0.clone()));
    }

    let live = Store::open_sqlite_file(&source)
        .await
        .map_err(|source_error| BackupError::Open {
            path: source.clone(),
            source: source_error,
        })?;
    let copied = live.backup_into(&partial.0).await;
    live.close().await;
    copied.map_err(|e| match e {
        StoreError::SqliteOnly(_) => BackupError::Postgres,
        e => BackupError::Copy {
            path: target.clone(),
            source: e,
        },
    })?;
    // VACUUM INTO leaves the file to the operating system's cache; a power cut must not
    // leave a named backup whose pages never reached the disk.
    sync(&partial.0, "sync")?;

    let (problems, counts) = check(&partial.0).await.map_err(|e| BackupError::Check {
        path: partial.0.clone(),
        source: e,
    })?;
    if problems != ["ok"] {
        return Err(BackupError::Corrupt {
            problems: problems.join("; "),
        });
    }
    let bytes = std::fs::metadata(&partial.0)
        .map_err(|e| io("read", &partial.0, e))?
        .len();

    partial.publish(&target, file)?;
    // The new name is an entry in the directory: sync it too, or a power cut may lose it.
    sync(&directory, "sync the directory")?;
    Ok(Written {
        path: target,
        bytes,
        deliveries: counts.0,
        runs: counts.1,
    })
}

/// Where the copy goes: FILE's directory (made absolute, so SQLite never reads the name as
/// a `file:` URI) and the absolute path of FILE. Refuses an existing FILE and a missing
/// directory.
fn destination(file: &Path) -> Result<(PathBuf, PathBuf), BackupError> {
    // symlink_metadata: a dangling symbolic link is a file that exists, too.
    if file.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(file.to_path_buf()));
    }
    let Some(name) = file.file_name() else {
        return Err(BackupError::NotAFileName(file.to_path_buf()));
    };
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&directory) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(BackupError::NotADirectory(directory)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoDirectory(directory));
        }
        Err(e) => return Err(io("read", &directory, e)),
    }
    let directory = directory
        .canonicalize()
        .map_err(|e| io("read", &directory, e))?;
    let target = directory.join(name);
    Ok((directory, target))
}

/// Opens the copy on its own and asks SQLite whether it is sound, and what it holds.
async fn check(path: &Path) -> Result<(Vec<String>, (i64, i64)), StoreError> {
    let copy = Store::open_sqlite_file(path).await?;
    let result = async {
        Ok((
            copy.integrity_check().await?,
            copy.count_deliveries_and_runs().await?,
        ))
    }
    .await;
    copy.close().await;
    result
}

fn sync(path: &Path, what: &'static str) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(what, path, e))
}

fn io(what: &'static str, path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The copy under its temporary name; deleted unless it was given its final name.
struct Partial(PathBuf);

impl Partial {
    /// Gives the copy its final name without ever replacing a file: a hard link fails when
    /// `target` exists (where a rename would silently replace a file made meanwhile). On a
    /// file system without hard links, a rename after one more look.
    fn publish(&self, target: &Path, asked: &Path) -> Result<(), BackupError> {
        match std::fs::hard_link(&self.0, target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(BackupError::Exists(asked.to_path_buf()))
            }
            Err(_) if target.symlink_metadata().is_ok() => {
                Err(BackupError::Exists(asked.to_path_buf()))
            }
            Err(_) => {
                std::fs::rename(&self.0, target).map_err(|e| io("rename the copy to", target, e))
            }
        }
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
