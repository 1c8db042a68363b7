//! What happened to a run, in the terms people outside Shipgate are told about it: chat
//! notifications and GitHub deployment statuses. [`happenings`] reads them off a state
//! transition, so every change the state machine makes is noticed in the same way, and
//! nothing that calls the machine has to remember to notify.

use crate::field::check_slug;
use crate::machine::RunState;
use crate::status::StageStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One thing that happened to a run, worth telling someone about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Happening {
    /// An automatically promoted environment is next and will deploy (once its service is free).
    Queued,
    ApprovalNeeded,
    Approved,
    Rejected,
    DeployStarted,
    DeploySucceeded,
    DeployFailed,
    /// ECS's circuit breaker (or Shipgate's automatic rollback) undid the deploy.
    RolledBack,
    Superseded,
    Expired,
    BuildFailed,
    Cancelled,
}

impl Happening {
    pub const ALL: [Happening; 12] = [
        Happening::Queued,
        Happening::ApprovalNeeded,
        Happening::Approved,
        Happening::Rejected,
        Happening::DeployStarted,
        Happening::DeploySucceeded,
        Happening::DeployFailed,
        Happening::RolledBack,
        Happening::Superseded,
        Happening::Expired,
        Happening::BuildFailed,
        Happening::Cancelled,
    ];

    /// What a notifier hears about when it names no events: what release teams act on.
    pub const NOTIFIED_BY_DEFAULT: [Happening; 8] = [
        Happening::ApprovalNeeded,
        Happening::Approved,
        Happening::Rejected,
        Happening::DeploySucceeded,
        Happening::DeployFailed,
        Happening::RolledBack,
        Happening::Superseded,
        Happening::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Happening::Queued => "queued",
            Happening::ApprovalNeeded => "approval_needed",
            Happening::Approved => "approved",
            Happening::Rejected => "rejected",
            Happening::DeployStarted => "deploy_started",
            Happening::DeploySucceeded => "deploy_succeeded",
            Happening::DeployFailed => "deploy_failed",
            Happening::RolledBack => "rolled_back",
            Happening::Superseded => "superseded",
            Happening::Expired => "expired",
            Happening::BuildFailed => "build_failed",
            Happening::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Happening> {
        Happening::ALL.into_iter().find(|h| h.as_str() == s)
    }

    /// The GitHub deployment status this happening sets, with its description. GitHub's
    /// REST API does not accept `waiting` (only its own protection rules set it), so a
    /// deploy waiting for approval in Shipgate is `pending`, described as waiting.
    pub fn github_state(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Happening::Queued => ("queued", "queued in Shipgate"),
            Happening::ApprovalNeeded => ("pending", "waiting for approval in Shipgate"),
            Happening::Approved => ("queued", "approved; queued in Shipgate"),
            Happening::DeployStarted => ("in_progress", "deploying to ECS"),
            Happening::DeploySucceeded => ("success", "deployed to ECS"),
            Happening::DeployFailed => ("failure", "the ECS deployment failed"),
            Happening::RolledBack => ("failure", "rolled back"),
            Happening::Rejected => ("failure", "rejected in Shipgate"),
            Happening::Superseded => ("inactive", "superseded by a newer run"),
            Happening::Expired => ("inactive", "the approval expired"),
            Happening::Cancelled => ("inactive", "cancelled"),
            Happening::BuildFailed => return None,
        })
    }
}

impl fmt::Display for Happening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A happening and the environment (by position) it concerns, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub happening: Happening,
    pub environment: Option<usize>,
}

/// What a transition from `before` to `after` tells people, in the order it happened:
/// a deploy that succeeded comes before the next environment's gate opening.
pub fn happenings(before: &RunState, after: &RunState) -> Vec<Notice> {
    let mut out = Vec::new();
    if before.build != after.build && after.build == StageStatus::Failed {
        out.push(Notice {
            happening: Happening::BuildFailed,
            environment: None,
        });
    }
    for (env, (was, now)) in before.deploys.iter().zip(&after.deploys).enumerate() {
        let happening = match (was.status, now.status) {
            (a, b) if a == b => continue,
            (StageStatus::AwaitingApproval, StageStatus::Pending) => Happening::Approved,
            (_, StageStatus::Pending) => continue,
            (_, StageStatus::AwaitingApproval) => Happening::ApprovalNeeded,
            (_, StageStatus::Running) => Happening::DeployStarted,
            (_, StageStatus::Succeeded) => Happening::DeploySucceeded,
            (_, StageStatus::Failed) => Happening::DeployFailed,
            (_, StageStatus::RolledBack) => Happening::RolledBack,
            (_, StageStatus::Rejected) => Happening::Rejected,
            (_, StageStatus::Superseded) => Happening::Superseded,
            (_, StageStatus::Expired) => Happening::Expired,
            // A stage that never started says nothing on its own: the run's end is told
            // by the stage that ended it.
            (StageStatus::Pending, StageStatus::Cancelled | StageStatus::Skipped) => continue,
            (_, StageStatus::Cancelled) => Happening::Cancelled,
            (_, StageStatus::Skipped) => continue,
        };
        out.push(Notice {
            happening,
            environment: Some(env),
        });
    }
    // The next automatic environment became ready: after the build, or after the
    // environment before it succeeded.
    if let Some(next) = after.ready_deploy()
        && before.ready_deploy() != Some(next)
        && before
            .deploys
            .get(next)
            .is_some_and(|d| d.status == StageStatus::Pending)
        && !out
            .iter()
            .any(|n| n.happening == Happening::Approved && n.environment == Some(next))
    {
        out.push(Notice {
            happening: Happening::Queued,
            environment: Some(next),
        });
    }
    out
}

/// How a notifier's messages are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// Slack's incoming webhooks (and the many chat tools that accept the same `{"text"}` body).
    Slack,
    /// A JSON document describing the run and what happened, for anything else.
    Json,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Slack => "slack",
            NotifierKind::Json => "json",
        }
    }
}

/// Where one pipeline's notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifier {
    pub name: String,
    pub kind: NotifierKind,
    /// An incoming-webhook URL. It is a credential (anyone holding it can post), so pages
    /// show only its host.
    pub url: String,
    /// The happenings it is told about; [`Happening::NOTIFIED_BY_DEFAULT`] when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Happening>,
}

impl Notifier {
    pub fn hears(&self, happening: Happening) -> bool {
        if self.events.is_empty() {
            Happening::NOTIFIED_BY_DEFAULT.contains(&happening)
        } else {
            self.events.contains(&happening)
        }
    }

    /// The URL's scheme and host, which is all a page shows of it.
    pub fn shown_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        format!("{scheme}://{host}/…")
    }
}

/// A notifier as written in a config file or API body, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierDraft {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
}

impl From<&Notifier> for NotifierDraft {
    fn from(n: &Notifier) -> Self {
        NotifierDraft {
            name: Some(n.name.clone()),
            kind: Some(n.kind.as_str().to_owned()),
            url: Some(n.url.clone()),
            events: (!n.events.is_empty())
                .then(|| n.events.iter().map(|e| e.as_str().to_owned()).collect()),
        }
    }
}

/// The most notifiers one pipeline may have.
pub const MAX_NOTIFIERS: usize = 8;

/// Checks a pipeline's notifiers; errors are `(field under notify[i], message)`.
pub fn validate_notifiers(
    drafts: &[NotifierDraft],
) -> Result<Vec<Notifier>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut out: Vec<Notifier> = Vec::new();
    if drafts.len() > MAX_NOTIFIERS {
        errors.push((
            "notify".to_owned(),
            format!(
                "lists {} notifiers; at most {MAX_NOTIFIERS} are allowed",
                drafts.len()
            ),
        ));
    }
    for (i, d) in drafts.iter().enumerate() {
        let at = |f: &str| format!("notify[{i}].{f}");
        let name = match d.name.as_deref() {
            None => {
                errors.push((at("name"), "is required".into()));
                String::new()
            }
            Some(n) => {
                if let Err(m) = check_slug(n) {
                    errors.push((at("name"), m));
                } else if out.iter().any(|o| o.name == n) {
                    errors.push((
                        at("name"),
                        format!("duplicates notifier `{n}`; names must be unique"),
                    ));
                }
                n.to_owned()
            }
        };
        let kind = match d.kind.as_deref() {
            Some("slack") => NotifierKind::Slack,
            Some("json") => NotifierKind::Json,
            Some(k) => {
                errors.push((
                    at("kind"),
                    format!("unknown kind `{k}`; expected `slack` or `json`"),
                ));
                NotifierKind::Json
            }
            None => {
                errors.push((at("kind"), "is required: `slack` or `json`".into()));
                NotifierKind::Json
            }
        };
        let url = match d.url.as_deref() {
            None => {
                errors.push((at("url"), "is required".into()));
                String::new()
            }
            Some(u) => {
                let host = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"))
                    .and_then(|r| r.split(['/', '?', '#']).next());
                if host.is_none_or(str::is_empty)
                    || u.contains(char::is_whitespace)
                    || u.len() > 2048
                {
                    errors.push((at("url"), "is not an http:// or https:// URL".into()));
                }
                u.to_owned()
            }
        };
        let mut events = Vec::new();
        for (j, e) in d.events.iter().flatten().enumerate() {
            match Happening::parse(e) {
                Some(h) if !events.contains(&h) => events.push(h),
                Some(_) => {}
                None => errors.push((
                    at(&format!("events[{j}]")),
                    format!(
                        "unknown event `{e}`; expected one of {}",
                        Happening::ALL.map(Happening::as_str).join(", ")
                    ),
                )),
            }
        }
        out.push(Notifier {
            name,
            kind,
            url,
            events,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What a message about a run says, whatever its shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeFacts {
    pub run_id: i64,
    pub pipeline: String,
    pub repository: String,
    pub commit_sha: String,
    /// The commit message's first line.
    pub commit_title: String,
    pub author: String,
    pub environment: Option<String>,
    pub happening: Happening,
    /// The stage's detail: who decided, why it failed, what superseded it.
    pub detail: String,
    pub run_url: String,
    /// For `approval_needed`: a signed link that opens the decision (after sign-in).
    pub decision_url: Option<String>,
    pub at: i64,
}

impl NoticeFacts {
    /// One line for chat: what happened, to which commit, where, and a link.
    pub fn text(&self) -> String {
        let env = self.environment.as_deref().unwrap_or("");
        let what = match self.happening {
            Happening::Queued => format!("queued for {env}"),
            Happening::ApprovalNeeded => format!("needs approval for {env}"),
            Happening::Approved => format!("approved for {env}"),
            Happening::Rejected => format!("rejected for {env}"),
            Happening::DeployStarted => format!("deploying to {env}"),
            Happening::DeploySucceeded => format!("deployed to {env}"),
            Happening::DeployFailed => format!("failed to deploy to {env}"),
            Happening::RolledBack => format!("rolled back in {env}"),
            Happening::Superseded => format!("superseded at the {env} gate"),
            Happening::Expired => format!("approval for {env} expired"),
            Happening::BuildFailed => "build failed".to_owned(),
            Happening::Cancelled => "cancelled".to_owned(),
        };
        let short = self.commit_sha.get(..7).unwrap_or(&self.commit_sha);
        let mut line = format!(
            "{} run #{} {what}: {short} \"{}\" by {}",
            self.pipeline, self.run_id, self.commit_title, self.author
        );
        if !self.detail.is_empty() {
            line.push_str(&format!(" ({})", self.detail));
        }
        line.push_str(&format!(" <{}|Open run #{}>", self.run_url, self.run_id));
        if let Some(url) = &self.decision_url {
            line.push_str(&format!(" <{url}|Approve or reject>"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{RunEvent, transition};
    use crate::spec::Promotion::{Auto, Manual};

    fn notices(before: &RunState, event: RunEvent) -> Vec<(Happening, Option<usize>)> {
        let after = transition(before, event).unwrap();
        happenings(before, &after)
            .into_iter()
            .map(|n| (n.happening, n.environment))
            .collect()
    }

    /// A row: the case, the state before, the event, and what it tells (for which environment).
    type TellCase<'a> = (
        &'a str,
        &'a RunState,
        RunEvent,
        Vec<(Happening, Option<usize>)>,
    );

    #[test]
    fn each_transition_tells_what_it_changed() {
        use Happening as H;
        let fresh = RunState::new([Auto, Manual]);
        let built = transition(&fresh, RunEvent::BuildSucceeded).unwrap();
        let staging = transition(&built, RunEvent::DeployStarted(0)).unwrap();
        let at_gate = transition(&staging, RunEvent::DeploySucceeded(0)).unwrap();
        let approved = transition(&at_gate, RunEvent::Approved(1)).unwrap();
        let production = transition(&approved, RunEvent::DeployStarted(1)).unwrap();
        let manual_first = RunState::new([Manual]);
        let auto_twice = transition(
            &transition(&RunState::new([Auto, Auto]), RunEvent::BuildSucceeded).unwrap(),
            RunEvent::DeployStarted(0),
        )
        .unwrap();
        let table: Vec<TellCase> = vec![
            ("build starts", &fresh, RunEvent::BuildStarted, vec![]),
            (
                "build fails",
                &fresh,
                RunEvent::BuildFailed,
                vec![(H::BuildFailed, None)],
            ),
            (
                "build succeeds: staging is queued",
                &fresh,
                RunEvent::BuildSucceeded,
                vec![(H::Queued, Some(0))],
            ),
            (
                "build succeeds: a manual first environment waits",
                &manual_first,
                RunEvent::BuildSucceeded,
                vec![(H::ApprovalNeeded, Some(0))],
            ),
            (
                "staging starts",
                &built,
                RunEvent::DeployStarted(0),
                vec![(H::DeployStarted, Some(0))],
            ),
            (
                "staging succeeds: production waits",
                &staging,
                RunEvent::DeploySucceeded(0),
                vec![(H::DeploySucceeded, Some(0)), (H::ApprovalNeeded, Some(1))],
            ),
            (
                "staging succeeds: an auto production is queued",
                &auto_twice,
                RunEvent::DeploySucceeded(0),
                vec![(H::DeploySucceeded, Some(0)), (H::Queued, Some(1))],
            ),
            (
                "staging fails",
                &staging,
                RunEvent::DeployFailed(0),
                vec![(H::DeployFailed, Some(0))],
            ),
            (
                "ECS rolls staging back",
                &staging,
                RunEvent::DeployRolledBack(0),
                vec![(H::RolledBack, Some(0))],
            ),
            (
                "approved",
                &at_gate,
                RunEvent::Approved(1),
                vec![(H::Approved, Some(1))],
            ),
            (
                "rejected",
                &at_gate,
                RunEvent::Rejected(1),
                vec![(H::Rejected, Some(1))],
            ),
            (
                "superseded",
                &at_gate,
                RunEvent::Superseded(1),
                vec![(H::Superseded, Some(1))],
            ),
            (
                "expired",
                &at_gate,
                RunEvent::Expired(1),
                vec![(H::Expired, Some(1))],
            ),
            (
                "production succeeds",
                &production,
                RunEvent::DeploySucceeded(1),
                vec![(H::DeploySucceeded, Some(1))],
            ),
            (
                "cancelled at the gate",
                &at_gate,
                RunEvent::Cancelled,
                vec![(H::Cancelled, Some(1))],
            ),
            (
                "cancelled while building says nothing per stage",
                &fresh,
                RunEvent::Cancelled,
                vec![],
            ),
        ];
        for (name, before, event, expected) in table {
            assert_eq!(notices(before, event), expected, "{name}");
        }
    }

    #[test]
    fn github_hears_every_deploy_happening_but_a_failed_build() {
        for h in Happening::ALL {
            assert_eq!(
                h.github_state().is_none(),
                h == Happening::BuildFailed,
                "{h}"
            );
            if let Some((state, _)) = h.github_state() {
                assert!(
                    [
                        "error",
                        "failure",
                        "inactive",
                        "in_progress",
                        "queued",
                        "pending",
                        "success"
                    ]
                    .contains(&state),
                    "{h}: {state} is not a state GitHub's REST API accepts"
                );
            }
        }
    }

    fn draft(name: &str, kind: &str, url: &str, events: Option<&[&str]>) -> NotifierDraft {
        NotifierDraft {
            name: Some(name.into()),
            kind: Some(kind.into()),
            url: Some(url.into()),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn notifiers_are_checked_field_by_field() {
        let ok = validate_notifiers(&[
            draft(
                "ops",
                "slack",
                "https://hooks.slack.com/services/T/B/x",
                None,
            ),
            draft(
                "audit",
                "json",
                "http://127.0.0.1:9/hook",
                Some(&["approved", "rejected"]),
            ),
        ])
        .unwrap();
        assert_eq!(ok[1].events, vec![Happening::Approved, Happening::Rejected]);
        assert!(ok[0].hears(Happening::ApprovalNeeded) && !ok[0].hears(Happening::DeployStarted));
        assert!(ok[1].hears(Happening::Rejected) && !ok[1].hears(Happening::ApprovalNeeded));

        let cases: Vec<(Vec<NotifierDraft>, &str, &str)> = vec![
            (
                vec![draft("ops", "teams", "https://x.example", None)],
                "notify[0].kind",
                "unknown kind `teams`",
            ),
            (
                vec![draft("ops", "json", "ftp://x.example", None)],
                "notify[0].url",
                "not an http",
            ),
            (
                vec![draft("ops", "json", "https://", None)],
                "notify[0].url",
                "not an http",
            ),
            (
                vec![draft("Ops", "json", "https://x.example", None)],
                "notify[0].name",
                "lowercase",
            ),
            (
                vec![
                    draft("ops", "json", "https://x.example", None),
                    draft("ops", "json", "https://y.example", None),
                ],
                "notify[1].name",
                "duplicates",
            ),
            (
                vec![draft(
                    "ops",
                    "json",
                    "https://x.example",
                    Some(&["deployed"]),
                )],
                "notify[0].events[0]",
                "unknown event `deployed`",
            ),
            (
                vec![NotifierDraft {
                    name: Some("ops".into()),
                    ..Default::default()
                }],
                "notify[0].url",
                "is required",
            ),
        ];
        for (drafts, field, message) in cases {
            let errors = validate_notifiers(&drafts).unwrap_err();
            assert!(
                errors
                    .iter()
                    .any(|(f, m)| f == field && m.contains(message)),
                "{field}: {message} not in {errors:?}"
            );
        }
    }

    #[test]
    fn pages_show_a_webhook_url_without_its_secret_path() {
        let n = Notifier {
            name: "ops".into(),
            kind: NotifierKind::Slack,
            url: "https://hooks.slack.com/services/T0/B0/secret".into(),
            events: vec![],
        };
        assert_eq!(n.shown_url(), "https://hooks.slack.com/…");
        let n = Notifier {
            url: "https://user:pw@hooks.example.com?token=x".into(),
            ..n
        };
        assert_eq!(n.shown_url(), "https://hooks.example.com/…");
    }

    #[test]
    fn a_chat_line_names_the_run_the_commit_and_links_to_the_run() {
        let facts = NoticeFacts {
            run_id: 42,
            pipeline: "api".into(),
            repository: "acme/api".into(),
            commit_sha: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c".into(),
            commit_title: "Fix the login".into(),
            author: "Ada".into(),
            environment: Some("production".into()),
            happening: Happening::ApprovalNeeded,
            detail: String::new(),
            run_url: "https://ship.example/runs/42".into(),
            decision_url: Some("https://ship.example/runs/42?decide=x".into()),
            at: 0,
        };
        assert_eq!(
            facts.text(),
            "api run #42 needs approval for production: 0d1a26e \"Fix the login\" by Ada <https://ship.example/runs/42|Open run #42> <https://ship.example/runs/42?decide=x|Approve or reject>"
        );
    }
}
