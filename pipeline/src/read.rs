//! Read models: what the store hands to the REST API and to the dashboard. They are plain
//! data so that the JSON API and the pages show the same facts the same way.

use crate::spec::{PipelineSpec, Promotion};
use crate::status::{RunStatus, StageKind, StageStatus};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. One integer type serves both databases.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub message: String,
    pub author: String,
    pub pusher: String,
    pub compare_url: String,
    pub url: String,
    /// As GitHub sent it (RFC 3339, with the committer's offset).
    pub timestamp: String,
}

impl Commit {
    pub fn short_sha(&self) -> &str {
        self.sha.get(..7).unwrap_or(&self.sha)
    }

    /// The first line of the commit message, which is what lists should show.
    pub fn title(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: i64,
    pub pipeline: String,
    pub repository: String,
    pub branch: String,
    pub status: RunStatus,
    pub commit: Commit,
    pub delivery_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRecord {
    pub position: i64,
    pub kind: StageKind,
    /// The environment a Deploy stage targets; `None` for Source and Build.
    pub environment: Option<String>,
    pub promotion: Option<Promotion>,
    pub status: StageStatus,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub detail: String,
}

impl StageRecord {
    pub fn duration_ms(&self) -> Option<Millis> {
        Some(self.finished_at? - self.started_at?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunSummary,
    pub stages: Vec<StageRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRecord {
    #[serde(flatten)]
    pub spec: PipelineSpec,
    /// Where the definition came from: `config` (the TOML file) or `api`.
    pub source: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A push that started one run per pipeline tracking its branch.
    RunCreated,
    /// A ping, answered.
    Pong,
    /// Accepted and recorded; the reason says why nothing started.
    Ignored,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::RunCreated => "run_created",
            DeliveryOutcome::Pong => "pong",
            DeliveryOutcome::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "run_created" => Some(DeliveryOutcome::RunCreated),
            "pong" => Some(DeliveryOutcome::Pong),
            "ignored" => Some(DeliveryOutcome::Ignored),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// GitHub's `X-GitHub-Delivery` id.
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub outcome: DeliveryOutcome,
    pub reason: String,
    pub run_ids: Vec<i64>,
    pub received_at: Millis,
    /// How long the delivery took from arrival to being durably recorded.
    pub processing_us: i64,
    /// How many times GitHub sent this same delivery again after the first.
    pub redeliveries: i64,
}

/// One page of a newest-first list. `next` is the cursor for the following (older) page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<i64>,
}

/// Filters for the runs list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    pub pipeline: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs older than this id (the previous page's `next`).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// The page size used when a caller does not choose one, and the most anyone may ask for.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;
