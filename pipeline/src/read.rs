//! Read models: what the store hands to the REST API and to the dashboard. They are plain
//! data so that the JSON API and the pages show the same facts the same way.

use crate::spec::PipelineSpec;
use crate::status::{Promotion, RunKind, RunStatus, StageKind, StageStatus};
use serde::{Deserialize, Serialize};

pub use crate::inventory::image_digest;
pub use crate::time::Millis;

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
    pub kind: RunKind,
    pub commit: Commit,
    pub delivery_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Set when no webhook started the run: Shipgate found the push itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<RunRecovered>,
}

/// How and when Shipgate found a push that no webhook told it about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecovered {
    pub by: crate::status::Recovery,
    pub at: Millis,
}

impl RunRecovered {
    /// One sentence for the run page and the lists.
    pub fn sentence(&self) -> String {
        let at = crate::time::utc_text(self.at);
        match self.by {
            crate::status::Recovery::Reconcile => {
                format!("Recovered: no webhook arrived; found by reconcile at {at}.")
            }
            crate::status::Recovery::HookDelivery => format!(
                "Recovered: the webhook never reached Shipgate; read back from GitHub's delivery log at {at}."
            ),
        }
    }

    /// Whether the pusher is known. A push read back from the delivery log names its
    /// pusher; a head found by reconcile does not (GitHub's branch and commit APIs do not
    /// say who pushed), so self-approval then knows only the commits' authors.
    pub fn pusher_known(&self) -> bool {
        self.by == crate::status::Recovery::HookDelivery
    }
}

/// One commit a run ships, as a push (or a recovered head) lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedCommit {
    pub sha: String,
    /// The first line of the message.
    pub title: String,
    pub author: String,
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

/// When the gate of deploy `position` (0 = the first environment) opened: when the stage
/// before it finished, else `fallback` (the run's creation).
pub fn gate_opened_at(stages: &[StageRecord], position: usize, fallback: Millis) -> Millis {
    stages
        .iter()
        .filter(|s| s.kind == StageKind::Deploy)
        .nth(position)
        .and_then(|gate| stages.iter().find(|s| s.position == gate.position - 1))
        .and_then(|before| before.finished_at)
        .unwrap_or(fallback)
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
    /// The commits this run ships, oldest first (a push's commits; for a recovered head,
    /// every commit since the run before it). Only the newest is built and deployed.
    #[serde(default)]
    pub commits: Vec<PushedCommit>,
    /// What the engine learned about the build, once it started looking.
    pub build: Option<BuildInfo>,
    /// One per environment the run has reached, in pipeline order.
    pub deploys: Vec<DeployInfo>,
    pub decisions: Vec<GateDecision>,
    /// For a run waiting at a gate: where it stands with the environment's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateStatus>,
    /// What Shipgate told notifiers and GitHub about the run, and whether it got through.
    #[serde(default)]
    pub messages: Vec<MessageInfo>,
    /// What the release manager decides on, per gate the run reached.
    #[serde(default)]
    pub briefs: Vec<crate::brief::GateBrief>,
}

impl RunDetail {
    /// What rolling `environment` back to this run's deploy there needs. A rollback changes
    /// what runs in the environment, so: the right to approve it when its promotion is
    /// manual, the right to operate the pipeline's runs when it is automatic.
    pub fn rollback_action<'a>(&'a self, environment: &'a str) -> crate::access::Action<'a> {
        let manual = self.stages.iter().any(|s| {
            s.environment.as_deref() == Some(environment) && s.promotion == Some(Promotion::Manual)
        });
        if manual {
            crate::access::Action::DecideGate {
                pipeline: &self.run.pipeline,
                environment,
            }
        } else {
            crate::access::Action::OperateRun {
                pipeline: &self.run.pipeline,
            }
        }
    }
}

/// One message about a run to a notifier or to GitHub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// `notifier:<name>` or `github`.
    pub channel: String,
    pub happening: String,
    pub environment: Option<String>,
    pub attempts: i64,
    pub delivered_at: Option<Millis>,
    /// Set when Shipgate stopped trying: the receiver refused it, or kept failing.
    pub gave_up_at: Option<Millis>,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
}

impl MessageInfo {
    pub fn state(&self) -> &'static str {
        match (self.delivered_at, self.gave_up_at, &self.last_error) {
            (Some(_), _, _) => "delivered",
            (None, Some(_), _) => "failed",
            (None, None, Some(_)) => "retrying",
            (None, None, None) => "sending",
        }
    }
}

/// A run waiting at a gate, for the list of decisions people owe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingGate {
    pub run: RunSummary,
    pub environment: String,
    /// When the gate opened (the stage before it finished).
    pub waiting_since: Millis,
}

/// A waiting gate, as its environment's policy sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateStatus {
    pub environment: String,
    /// Who approved so far (of the digest waiting).
    pub approved_by: Vec<String>,
    pub required_approvals: u8,
    pub expires_at: Millis,
    pub allow_self_approval: bool,
    /// The deploy freeze in force, if any: its name, and when it ends.
    pub frozen: Option<(String, Millis)>,
}

/// The Build stage's facts: what CI said and what ECR holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub image_tag: String,
    pub deadline_at: Millis,
    pub ci_name: Option<String>,
    pub ci_status: Option<String>,
    pub ci_conclusion: Option<String>,
    pub ci_url: Option<String>,
    pub image_uri: Option<String>,
    pub image_digest: Option<String>,
    pub image_size: Option<i64>,
    pub image_pushed_at: Option<Millis>,
    pub scan_status: Option<String>,
    /// Findings by lowercase severity, once the scan finished.
    pub scan_counts: Option<std::collections::BTreeMap<String, i64>>,
    pub last_error: Option<String>,
}

/// One environment's deploy: what was rendered, what ECS was asked, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployInfo {
    pub position: i64,
    pub environment: String,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    /// `repository@sha256:…`: the exact image, pinned by digest.
    pub image: String,
    pub step: String,
    pub previous_task_definition: Option<String>,
    pub task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub desired: Option<i64>,
    pub running: Option<i64>,
    pub pending: Option<i64>,
    pub failed: Option<i64>,
    pub events: Vec<crate::rollout::ServiceEvent>,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub queued_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

impl DeployInfo {
    /// The service's page in the ECS console.
    pub fn console_url(&self) -> String {
        ecs_console_url(&self.region, &self.cluster, &self.service)
    }

    /// The digest part of [`DeployInfo::image`].
    pub fn digest(&self) -> &str {
        image_digest(&self.image)
    }
}

/// A service's deployments page in the ECS console. Cluster and service may be names or ARNs.
pub fn ecs_console_url(region: &str, cluster: &str, service: &str) -> String {
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    let service = service.rsplit('/').next().unwrap_or(service);
    format!(
        "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={region}"
    )
}

/// A release manager's decision at an approval gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateDecision {
    pub environment: String,
    pub decision: String,
    /// Who acted, as the audit log names them (`user:…`, `token:7`).
    pub actor: String,
    /// The person behind the actor (a user's email, a personal token's owner), when known.
    #[serde(default)]
    pub person: Option<String>,
    pub comment: String,
    /// The digest the decision was about.
    pub image_digest: Option<String>,
    pub at: Millis,
}

impl GateDecision {
    /// Who decided, as people recognise them: the person when known, else the actor.
    pub fn who(&self) -> &str {
        self.person
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.actor)
    }
}

/// One deploy in an ECS service's history, with the run that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDeploy {
    pub run_id: i64,
    pub pipeline: String,
    pub environment: String,
    pub commit_sha: String,
    /// `repository@sha256:…`, as deployed.
    pub image: String,
    pub task_definition: Option<String>,
    pub step: String,
    /// `succeeded`, `failed`, `rolled_back`, `timed_out` (or how the run ended it, such as
    /// `cancelled`); `None` while the deploy is under way.
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub desired: Option<i64>,
    pub running: Option<i64>,
    pub pending: Option<i64>,
    pub failed: Option<i64>,
    pub queued_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
}

impl ServiceDeploy {
    pub fn digest(&self) -> &str {
        image_digest(&self.image)
    }

    /// The outcome, or where an unfinished deploy stands: `queued` or `in_progress`.
    pub fn state(&self) -> &str {
        match (&self.outcome, self.step.as_str()) {
            (Some(outcome), _) => outcome,
            (None, "queued") => "queued",
            (None, _) => "in_progress",
        }
    }
}

/// One pipeline environment's ECS service: what ECS last reported about it, and Shipgate's
/// own deploys to it. Deploys are matched to the service by region, cluster and service
/// name, whichever pipeline made them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub pipeline: String,
    pub environment: String,
    pub promotion: Promotion,
    pub region: String,
    pub cluster: String,
    pub service: String,
    pub container: String,
    /// What the engine's last DescribeServices saw; `None` until it first looked.
    pub live: Option<crate::inventory::LiveService>,
    /// The deploy that registered the task definition ECS runs now; `None` when Shipgate
    /// did not make it (a change from outside, or the service's first revision).
    pub live_deploy: Option<ServiceDeploy>,
    /// The latest deploy that succeeded: what Shipgate last put on the service.
    pub current: Option<ServiceDeploy>,
    /// The most recent deploys, newest first.
    pub recent: Vec<ServiceDeploy>,
}

impl ServiceRecord {
    pub fn console_url(&self) -> String {
        ecs_console_url(&self.region, &self.cluster, &self.service)
    }

    /// The image the service runs in the pipeline's container, as ECS last reported it.
    pub fn live_image(&self) -> Option<&str> {
        self.live.as_ref()?.image_of(&self.container)
    }
}

/// An image of a pipeline's ECR repository, once per digest: listed by ECR, found by a
/// run's build, or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub digest: String,
    pub uri: Option<String>,
    /// ECR's tags for the image, and the tags builds looked for.
    pub tags: Vec<String>,
    pub size: Option<i64>,
    pub pushed_at: Option<Millis>,
    pub scan_status: Option<String>,
    pub scan_counts: Option<std::collections::BTreeMap<String, i64>>,
    /// The runs whose build found this image, newest first.
    pub runs: Vec<i64>,
    /// The pipeline's environments that run this image (see [`EnvironmentImage`]).
    pub live_in: Vec<String>,
    /// Whether the last ECR listing held the image: `None` if the repository was never
    /// listed, `Some(false)` for an image a build found that has since left ECR.
    pub in_registry: Option<bool>,
}

/// What one environment runs: by ECS's own report when the engine has one, otherwise by
/// Shipgate's last successful deploy there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentImage {
    pub environment: String,
    /// The image reference the service's container runs.
    pub image: Option<String>,
    /// Its digest, when the reference is pinned or its tag is listed in ECR.
    pub digest: Option<String>,
    /// The run whose deploy put it there, when Shipgate did.
    pub run_id: Option<i64>,
    pub since: Option<Millis>,
    /// When ECS reported it; `None` when the facts are Shipgate's own record.
    pub observed_at: Option<Millis>,
}

/// The images of one pipeline's ECR repository, with the ones its environments run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineImages {
    pub pipeline: String,
    pub ecr_repository: String,
    /// The last listing of the repository; `None` until the engine first listed it.
    pub listing: Option<crate::inventory::RegistryListing>,
    pub environments: Vec<EnvironmentImage>,
    /// Newest first.
    pub images: Vec<ImageRecord>,
    /// Older images exist beyond the ones listed.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRecord {
    #[serde(flatten)]
    pub spec: PipelineSpec,
    /// Where the definition came from: `config` (the TOML file) or `api`.
    pub source: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// How head reconcile fares for this pipeline; `None` before its first try.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<crate::reconcile::ReconcileHealth>,
}

impl PipelineRecord {
    /// [`PipelineSpec::redacted`] unless `admin`: only admins, who may change a pipeline,
    /// read its notifier URLs whole.
    pub fn for_reader(self, admin: bool) -> PipelineRecord {
        if admin {
            self
        } else {
            PipelineRecord {
                spec: self.spec.redacted(),
                ..self
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// A push that started one run per pipeline tracking its branch.
    RunCreated,
    /// A ping, answered.
    Pong,
    /// A CI result (workflow run or check suite), kept for the engine to apply.
    CiRecorded,
    /// A push whose run reconcile had already started, because its webhook came late (or
    /// was read back from the delivery log later): it joined that run and started none.
    JoinedRun,
    /// Accepted and recorded; the reason says why nothing started.
    Ignored,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::RunCreated => "run_created",
            DeliveryOutcome::Pong => "pong",
            DeliveryOutcome::CiRecorded => "ci_recorded",
            DeliveryOutcome::JoinedRun => "joined_run",
            DeliveryOutcome::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "run_created" => Some(DeliveryOutcome::RunCreated),
            "pong" => Some(DeliveryOutcome::Pong),
            "ci_recorded" => Some(DeliveryOutcome::CiRecorded),
            "joined_run" => Some(DeliveryOutcome::JoinedRun),
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
    /// `webhook` (GitHub sent it) or `recovered` (Shipgate found it itself).
    pub source: crate::status::DeliverySource,
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

/// One audit log entry: who did what to which object, when and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Millis,
    /// A principal's id: `user:<email>`, `token:<id>`, `token:config`, `local`.
    pub actor: String,
    /// `<object>.<verb>` (`token.create`, `gate.approved`) or a word (`sign-in`).
    pub action: String,
    /// What was acted on: `run:42`, `run:42/production`, `pipeline:payments`, `token:7`.
    pub target: String,
    pub ip: Option<String>,
    pub detail: String,
    /// The API token the actor acted through, if any.
    pub via: Option<crate::access::TokenRef>,
    /// The actor for people to read: `alice@example.com via token ci-deployer`.
    pub actor_name: String,
}

/// What the audit log is searched by. Every filter is optional; `actor` and `target` match
/// exactly, `action` exactly or, when it ends in `.`, as a prefix (`gate.` finds approvals
/// and rejections).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Only entries older than this id (the previous page's `next`).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// An API token as admins see it: never the token, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    /// `personal` (acts for `owner`) or `service`.
    pub kind: String,
    pub owner: Option<String>,
    pub grant: crate::access::Grant,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    /// The actor who created it, as the audit log names them.
    pub created_by: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<Millis>,
}

impl TokenRecord {
    /// Who the token acts as. A personal token acts as its owner, so the audit log puts the
    /// owner's own actions and those of their automation under one actor, and names the
    /// token beside it; a service token acts as itself.
    pub fn principal(&self) -> crate::access::Principal {
        let via = crate::access::TokenRef {
            id: self.id,
            name: self.name.clone(),
        };
        let (id, name) = match &self.owner {
            Some(owner) if self.kind == "personal" => (
                format!("user:{}", owner.to_lowercase()),
                format!("{owner} via {via}"),
            ),
            _ => (format!("token:{}", self.id), via.to_string()),
        };
        crate::access::Principal {
            id,
            name,
            kind: crate::access::PrincipalKind::Token,
            grants: vec![self.grant.clone()],
            via: Some(via),
        }
    }

    /// Whether the token still opens the door at `now`.
    pub fn is_live(&self, now: Millis) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A token just made: the only time the token itself is in anyone's hands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub token_record: TokenRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_personal_token_acts_as_its_owner_and_a_service_token_as_itself() {
        let mut token = TokenRecord {
            id: 3,
            name: "ci-deployer".into(),
            kind: "personal".into(),
            owner: Some("Alice@Example.com".into()),
            grant: crate::access::Grant::everywhere(crate::access::Role::Deployer),
            prefix: "sgp_abcdef".into(),
            created_by: "local".into(),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            revoked_by: None,
            last_used_at: None,
        };
        let personal = token.principal();
        assert_eq!(
            (personal.id.as_str(), personal.name.as_str()),
            (
                "user:alice@example.com",
                "Alice@Example.com via token ci-deployer"
            )
        );
        assert_eq!(
            personal.via,
            Some(crate::access::TokenRef {
                id: 3,
                name: "ci-deployer".into()
            })
        );
        token.kind = "service".into();
        token.owner = None;
        let service = token.principal();
        assert_eq!(
            (service.id.as_str(), service.name.as_str()),
            ("token:3", "token ci-deployer")
        );
        assert_eq!(service.via.map(|t| t.id), Some(3));
    }

    #[test]
    fn digests_come_from_pinned_references() {
        assert_eq!(
            image_digest("1234.dkr.ecr.us-east-1.amazonaws.com/hello@sha256:abc"),
            "sha256:abc"
        );
        assert_eq!(image_digest("hello:latest"), "hello:latest");
    }

    #[test]
    fn console_urls_take_names_from_arns() {
        assert_eq!(
            ecs_console_url(
                "eu-west-1",
                "arn:aws:ecs:eu-west-1:1:cluster/prod",
                "arn:aws:ecs:eu-west-1:1:service/prod/api"
            ),
            "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/api/deployments?region=eu-west-1"
        );
    }

    #[test]
    fn an_unfinished_deploy_says_where_it_stands() {
        let mut d = ServiceDeploy {
            run_id: 1,
            pipeline: "p".into(),
            environment: "staging".into(),
            commit_sha: "abc".into(),
            image: "r@sha256:1".into(),
            task_definition: None,
            step: "queued".into(),
            outcome: None,
            error: None,
            desired: None,
            running: None,
            pending: None,
            failed: None,
            queued_at: 0,
            started_at: None,
            finished_at: None,
        };
        assert_eq!(d.state(), "queued");
        d.step = "following".into();
        assert_eq!(d.state(), "in_progress");
        d.outcome = Some("rolled_back".into());
        assert_eq!(d.state(), "rolled_back");
    }
}
