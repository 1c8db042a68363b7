//! Approval gates: what a decision on a manual environment must satisfy before it counts.
//!
//! The rules are pure so that every combination (N of M, self-approval, expiry, freeze with
//! override, digest binding) is a row in a table test. The server checks the caller's role
//! before it gets here too; this is the one place that decides whether an approval counts.

use crate::access::{Action, Principal};
use crate::time::{Millis, Span};
use serde::{Deserialize, Serialize};

/// Who must approve a manual environment, and for how long a run may wait for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalPolicy {
    /// How many different people must approve.
    pub required_approvals: u8,
    /// Whether the person who pushed or wrote the change may approve it. Off by default: a
    /// gate exists so that a second person looks.
    pub allow_self_approval: bool,
    /// When not empty, only these people (by email) may approve, in addition to needing a
    /// release-manager role that reaches the environment.
    pub approvers: Vec<String>,
    /// A run that waits longer ends as `expired`: an approval weeks later would ship a change
    /// nobody is watching any more.
    pub expires_after: Span,
}

pub const DEFAULT_EXPIRY: Span = Span::days(7);
pub const MAX_REQUIRED_APPROVALS: u8 = 10;

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            required_approvals: 1,
            allow_self_approval: false,
            approvers: Vec::new(),
            expires_after: DEFAULT_EXPIRY,
        }
    }
}

impl ApprovalPolicy {
    pub fn expires_at(&self, opened_at: Millis) -> Millis {
        opened_at.saturating_add(self.expires_after.as_millis())
    }
}

/// What happens to older runs waiting at a gate when a newer run reaches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingRuns {
    /// The newer run replaces them: nobody wants to approve yesterday's build by mistake.
    #[default]
    Supersede,
    /// They all stay, and each is decided on its own.
    Queue,
}

impl PendingRuns {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingRuns::Supersede => "supersede",
            PendingRuns::Queue => "queue",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "supersede" => Some(PendingRuns::Supersede),
            "queue" => Some(PendingRuns::Queue),
            _ => None,
        }
    }
}

/// The change waiting at a gate: exactly what would ship, where, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pipeline: String,
    pub environment: String,
    /// `sha256:…`: the digest that passed the earlier environments.
    pub digest: String,
    /// The pusher's and the commits' authors' emails and GitHub logins, as pushed.
    pub authors: Vec<String>,
    /// When the run reached the gate.
    pub opened_at: Millis,
}

/// An approval already given at this gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenApproval {
    /// The approving person (see [`Decider::person`]).
    pub person: String,
    pub digest: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

/// Who decides: the caller's grants, and the person behind them (their email; a personal
/// token's owner; a service token's own id), which is what self-approval and "distinct
/// people" compare.
#[derive(Debug, Clone)]
pub struct Decider<'a> {
    pub principal: &'a Principal,
    pub person: &'a str,
}

/// A decision as asked for. `digest` and `environment` are what the decider was shown: a
/// decision about anything else is refused, never moved onto what is there now.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub verdict: Verdict,
    pub comment: &'a str,
    pub digest: &'a str,
    pub environment: &'a str,
    /// An admin's explicit override of a deploy freeze (approvals only).
    pub override_freeze: bool,
}

/// The freeze window in force at the gate's environment, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFreeze {
    pub name: String,
    pub until: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOutcome {
    /// Counted; more approvals are needed.
    Waiting {
        approvals: usize,
        required: usize,
    },
    /// The last needed approval: the environment may deploy `digest`.
    Approved,
    Rejected,
}

/// Why a decision does not count. Each says what the person can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateRefusal {
    #[error("this gate is for {expected}, not {asked}")]
    WrongEnvironment { expected: String, asked: String },
    #[error(
        "the image waiting is {expected}, not {asked}: reload the run and decide on what is there now"
    )]
    DigestMismatch { expected: String, asked: String },
    #[error("deciding on {environment} of {pipeline} needs the release-manager role for it")]
    NotPermitted {
        pipeline: String,
        environment: String,
    },
    #[error("this gate expired; the run can no longer be approved")]
    Expired,
    #[error("a rejection needs a reason")]
    ReasonRequired,
    #[error("only the approvers listed for {environment} may approve it")]
    NotAnApprover { environment: String },
    #[error("you pushed or wrote this change, so someone else must approve it")]
    SelfApproval,
    #[error("you have already approved this change; it needs approval from someone else")]
    AlreadyApproved,
    #[error(
        "{environment} is frozen ({window}); approving now needs an admin's override with a reason"
    )]
    Frozen { environment: String, window: String },
    #[error("only an admin may override a deploy freeze")]
    OverrideNeedsAdmin,
    #[error("overriding a deploy freeze needs a reason")]
    OverrideNeedsReason,
    #[error("this decision link was already used; decide from the run page instead")]
    LinkUsed,
    #[error("this decision link cannot be used: {0}")]
    LinkInvalid(String),
}

/// Decides whether `decision` counts at the gate holding `candidate`, given the approvals
/// already there, and what the gate becomes.
pub fn decide(
    policy: &ApprovalPolicy,
    candidate: &Candidate,
    given: &[GivenApproval],
    who: &Decider<'_>,
    decision: &Decision<'_>,
    freeze: Option<&ActiveFreeze>,
    now: Millis,
) -> Result<GateOutcome, GateRefusal> {
    if decision.environment != candidate.environment {
        return Err(GateRefusal::WrongEnvironment {
            expected: candidate.environment.clone(),
            asked: decision.environment.to_owned(),
        });
    }
    let action = Action::DecideGate {
        pipeline: &candidate.pipeline,
        environment: &candidate.environment,
    };
    if !who.principal.may(&action) {
        return Err(GateRefusal::NotPermitted {
            pipeline: candidate.pipeline.clone(),
            environment: candidate.environment.clone(),
        });
    }
    if decision.digest != candidate.digest {
        return Err(GateRefusal::DigestMismatch {
            expected: candidate.digest.clone(),
            asked: decision.digest.to_owned(),
        });
    }
    if now >= policy.expires_at(candidate.opened_at) {
        return Err(GateRefusal::Expired);
    }
    let comment = decision.comment.trim();
    if decision.verdict == Verdict::Reject {
        // Anyone who may decide may stop a change, their own included, frozen or not.
        return if comment.is_empty() {
            Err(GateRefusal::ReasonRequired)
        } else {
            Ok(GateOutcome::Rejected)
        };
    }
    let person = who.person.trim().to_lowercase();
    if !policy.approvers.is_empty()
        && !policy
            .approvers
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(&person))
    {
        return Err(GateRefusal::NotAnApprover {
            environment: candidate.environment.clone(),
        });
    }
    if !policy.allow_self_approval
        && candidate
            .authors
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(&person))
    {
        return Err(GateRefusal::SelfApproval);
    }
    if given.iter().any(|g| g.person.eq_ignore_ascii_case(&person)) {
        return Err(GateRefusal::AlreadyApproved);
    }
    if let Some(freeze) = freeze {
        if !decision.override_freeze {
            return Err(GateRefusal::Frozen {
                environment: candidate.environment.clone(),
                window: freeze.name.clone(),
            });
        }
        if !who.principal.may(&Action::Administer) {
            return Err(GateRefusal::OverrideNeedsAdmin);
        }
        if comment.is_empty() {
            return Err(GateRefusal::OverrideNeedsReason);
        }
    }
    // Approvals of another digest never count (they cannot be stored, but the rule is here).
    let mut people: Vec<String> = given
        .iter()
        .filter(|g| g.digest == candidate.digest)
        .map(|g| g.person.to_lowercase())
        .collect();
    people.push(person);
    people.sort();
    people.dedup();
    let required = usize::from(policy.required_approvals.max(1));
    if people.len() >= required {
        Ok(GateOutcome::Approved)
    } else {
        Ok(GateOutcome::Waiting {
            approvals: people.len(),
            required,
        })
    }
}

/// A run waiting at a gate of one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    pub run_id: i64,
    /// The environment's position in the pipeline.
    pub position: usize,
}

/// Which runs a run reaching a gate replaces, as `(superseded, by)` pairs: with
/// [`PendingRuns::Supersede`], every older run at the same gate gives way to the newest one
/// there, which may be a run already waiting (then the arriving, older run gives way).
pub fn superseded(mode: PendingRuns, waiting: &[Waiting], arriving: Waiting) -> Vec<(i64, i64)> {
    if mode == PendingRuns::Queue {
        return Vec::new();
    }
    let same_gate = || {
        waiting
            .iter()
            .filter(|w| w.position == arriving.position && w.run_id != arriving.run_id)
    };
    let newest = same_gate()
        .map(|w| w.run_id)
        .chain([arriving.run_id])
        .max()
        .unwrap_or(arriving.run_id);
    let mut out: Vec<(i64, i64)> = same_gate()
        .map(|w| w.run_id)
        .chain([arriving.run_id])
        .filter(|&id| id != newest)
        .map(|id| (id, newest))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Grant, PrincipalKind, Role, Scope};

    const DIGEST: &str = "sha256:aaaa";
    const OTHER: &str = "sha256:bbbb";
    const DAY: Millis = 86_400_000;

    fn principal(role: Role, environments: &[&str]) -> Principal {
        let scope = Scope {
            pipelines: vec![],
            environments: environments.iter().map(|e| e.to_string()).collect(),
        };
        Principal {
            id: "user:x".into(),
            name: "x".into(),
            kind: PrincipalKind::User,
            grants: vec![Grant { role, scope }],
            via: None,
        }
    }

    fn candidate() -> Candidate {
        Candidate {
            pipeline: "payments".into(),
            environment: "production".into(),
            digest: DIGEST.into(),
            authors: vec!["dev@example.com".into(), "octocat".into()],
            opened_at: 0,
        }
    }

    fn approve(digest: &'static str) -> Decision<'static> {
        Decision {
            verdict: Verdict::Approve,
            comment: "",
            digest,
            environment: "production",
            override_freeze: false,
        }
    }

    fn given(people: &[&str]) -> Vec<GivenApproval> {
        people
            .iter()
            .map(|p| GivenApproval {
                person: p.to_string(),
                digest: DIGEST.into(),
            })
            .collect()
    }

    struct Row {
        case: &'static str,
        policy: ApprovalPolicy,
        given: Vec<GivenApproval>,
        role: Role,
        scope: &'static [&'static str],
        person: &'static str,
        decision: Decision<'static>,
        freeze: bool,
        now: Millis,
        expect: Result<GateOutcome, GateRefusal>,
    }

    fn row(case: &'static str) -> Row {
        Row {
            case,
            policy: ApprovalPolicy::default(),
            given: vec![],
            role: Role::ReleaseManager,
            scope: &[],
            person: "rm@example.com",
            decision: approve(DIGEST),
            freeze: false,
            now: DAY,
            expect: Ok(GateOutcome::Approved),
        }
    }

    fn two() -> ApprovalPolicy {
        ApprovalPolicy {
            required_approvals: 2,
            ..ApprovalPolicy::default()
        }
    }

    #[test]
    fn gate_policy_table() {
        let frozen = |window: &str| {
            Err(GateRefusal::Frozen {
                environment: "production".into(),
                window: window.into(),
            })
        };
        let rows = vec![
            row("one approval of one required ships"),
            Row {
                policy: two(),
                expect: Ok(GateOutcome::Waiting {
                    approvals: 1,
                    required: 2,
                }),
                ..row("the first of two is counted and waits")
            },
            Row {
                policy: two(),
                given: given(&["a@example.com"]),
                ..row("the second distinct person ships")
            },
            Row {
                policy: two(),
                given: given(&["rm@example.com"]),
                person: "RM@example.com",
                expect: Err(GateRefusal::AlreadyApproved),
                ..row("the same person twice is not two people")
            },
            Row {
                policy: two(),
                given: vec![GivenApproval {
                    person: "a@example.com".into(),
                    digest: OTHER.into(),
                }],
                expect: Ok(GateOutcome::Waiting {
                    approvals: 1,
                    required: 2,
                }),
                ..row("an approval of another digest does not count")
            },
            Row {
                person: "dev@example.com",
                expect: Err(GateRefusal::SelfApproval),
                ..row("the commit author may not approve")
            },
            Row {
                person: "OctoCat",
                expect: Err(GateRefusal::SelfApproval),
                ..row("the pusher's login may not approve")
            },
            Row {
                policy: ApprovalPolicy {
                    allow_self_approval: true,
                    ..ApprovalPolicy::default()
                },
                person: "dev@example.com",
                ..row("self-approval when the policy allows it")
            },
            Row {
                person: "dev@example.com",
                decision: Decision {
                    verdict: Verdict::Reject,
                    comment: "not yet",
                    ..approve(DIGEST)
                },
                expect: Ok(GateOutcome::Rejected),
                ..row("an author may reject their own change")
            },
            Row {
                decision: Decision {
                    verdict: Verdict::Reject,
                    comment: "  ",
                    ..approve(DIGEST)
                },
                expect: Err(GateRefusal::ReasonRequired),
                ..row("a rejection needs a reason")
            },
            Row {
                now: 7 * DAY,
                expect: Err(GateRefusal::Expired),
                ..row("seven days later the gate has expired")
            },
            Row {
                now: 7 * DAY - 1,
                ..row("just before expiry it still counts")
            },
            Row {
                policy: ApprovalPolicy {
                    expires_after: Span::hours(1),
                    ..ApprovalPolicy::default()
                },
                now: 2 * 3_600_000,
                expect: Err(GateRefusal::Expired),
                ..row("a shorter expiry is honoured")
            },
            Row {
                decision: approve(OTHER),
                expect: Err(GateRefusal::DigestMismatch {
                    expected: DIGEST.into(),
                    asked: OTHER.into(),
                }),
                ..row("an approval binds to the digest shown")
            },
            Row {
                decision: Decision {
                    environment: "staging",
                    ..approve(DIGEST)
                },
                expect: Err(GateRefusal::WrongEnvironment {
                    expected: "production".into(),
                    asked: "staging".into(),
                }),
                ..row("an approval binds to the environment")
            },
            Row {
                role: Role::Deployer,
                expect: Err(GateRefusal::NotPermitted {
                    pipeline: "payments".into(),
                    environment: "production".into(),
                }),
                ..row("a deployer may not decide")
            },
            Row {
                scope: &["staging"],
                expect: Err(GateRefusal::NotPermitted {
                    pipeline: "payments".into(),
                    environment: "production".into(),
                }),
                ..row("a release manager scoped to staging may not decide production")
            },
            Row {
                scope: &["production"],
                ..row("a release manager scoped to production may")
            },
            Row {
                policy: ApprovalPolicy {
                    approvers: vec!["boss@example.com".into()],
                    ..ApprovalPolicy::default()
                },
                expect: Err(GateRefusal::NotAnApprover {
                    environment: "production".into(),
                }),
                ..row("a named approver list excludes others")
            },
            Row {
                policy: ApprovalPolicy {
                    approvers: vec!["boss@example.com".into()],
                    ..ApprovalPolicy::default()
                },
                person: "Boss@Example.com",
                ..row("a named approver may")
            },
            Row {
                freeze: true,
                expect: frozen("year end"),
                ..row("a freeze holds an approval")
            },
            Row {
                freeze: true,
                decision: Decision {
                    override_freeze: true,
                    comment: "hotfix",
                    ..approve(DIGEST)
                },
                expect: Err(GateRefusal::OverrideNeedsAdmin),
                ..row("only an admin overrides a freeze")
            },
            Row {
                freeze: true,
                role: Role::Admin,
                decision: Decision {
                    override_freeze: true,
                    comment: " ",
                    ..approve(DIGEST)
                },
                expect: Err(GateRefusal::OverrideNeedsReason),
                ..row("an override needs a reason")
            },
            Row {
                freeze: true,
                role: Role::Admin,
                decision: Decision {
                    override_freeze: true,
                    comment: "payments outage hotfix",
                    ..approve(DIGEST)
                },
                ..row("an admin's override with a reason approves during a freeze")
            },
            Row {
                freeze: true,
                decision: Decision {
                    verdict: Verdict::Reject,
                    comment: "no",
                    ..approve(DIGEST)
                },
                expect: Ok(GateOutcome::Rejected),
                ..row("a rejection needs no override during a freeze")
            },
            Row {
                role: Role::Admin,
                ..row("an admin may decide anywhere")
            },
        ];
        for r in rows {
            let who = principal(r.role, r.scope);
            let freeze = ActiveFreeze {
                name: "year end".into(),
                until: 30 * DAY,
            };
            let got = decide(
                &r.policy,
                &candidate(),
                &r.given,
                &Decider {
                    principal: &who,
                    person: r.person,
                },
                &r.decision,
                r.freeze.then_some(&freeze),
                r.now,
            );
            assert_eq!(got, r.expect, "{}", r.case);
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        let mismatch = GateRefusal::DigestMismatch {
            expected: DIGEST.into(),
            asked: OTHER.into(),
        };
        assert_eq!(
            mismatch.to_string(),
            "the image waiting is sha256:aaaa, not sha256:bbbb: reload the run and decide on what is there now"
        );
        assert_eq!(
            GateRefusal::SelfApproval.to_string(),
            "you pushed or wrote this change, so someone else must approve it"
        );
    }

    /// A row: the case, the policy, the runs waiting, the newcomer, and (run, position) ended.
    type SupersedeCase<'a> = (&'a str, PendingRuns, Vec<Waiting>, Waiting, Vec<(i64, i64)>);

    #[test]
    fn supersede_and_queue_table() {
        let w = |run_id, position| Waiting { run_id, position };
        let rows: Vec<SupersedeCase> = vec![
            (
                "nothing waits",
                PendingRuns::Supersede,
                vec![],
                w(5, 1),
                vec![],
            ),
            (
                "a newer run replaces the older ones at its gate",
                PendingRuns::Supersede,
                vec![w(3, 1), w(4, 1)],
                w(5, 1),
                vec![(3, 5), (4, 5)],
            ),
            (
                "runs at another gate stay",
                PendingRuns::Supersede,
                vec![w(3, 0), w(4, 1)],
                w(5, 1),
                vec![(4, 5)],
            ),
            (
                "an older run arriving late gives way to the newer one waiting",
                PendingRuns::Supersede,
                vec![w(7, 1)],
                w(5, 1),
                vec![(5, 7)],
            ),
            (
                "queue keeps every run",
                PendingRuns::Queue,
                vec![w(3, 1), w(4, 1)],
                w(5, 1),
                vec![],
            ),
            (
                "a run is never superseded by itself",
                PendingRuns::Supersede,
                vec![w(5, 1)],
                w(5, 1),
                vec![],
            ),
        ];
        for (case, mode, waiting, arriving, expect) in rows {
            assert_eq!(superseded(mode, &waiting, arriving), expect, "{case}");
        }
    }

    #[test]
    fn policy_defaults_and_json() {
        let policy: ApprovalPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, ApprovalPolicy::default());
        assert_eq!(
            (
                policy.required_approvals,
                policy.allow_self_approval,
                policy.expires_after.to_string()
            ),
            (1, false, "7d".to_owned())
        );
        let policy: ApprovalPolicy =
            serde_json::from_str(r#"{"required_approvals": 2, "expires_after": "2d"}"#).unwrap();
        assert_eq!(policy.expires_at(1000), 1000 + 2 * DAY);
        assert_eq!(PendingRuns::parse("queue"), Some(PendingRuns::Queue));
        assert_eq!(PendingRuns::parse("fifo"), None);
    }
}
