//! Preflight ("Verify"): whether a pipeline's wiring works before its first push does.
//!
//! The engine gathers what AWS and GitHub say; the rules that turn those answers into
//! checks, each with a sentence and a fix, are here as pure functions so they can be
//! table-tested and so the page, the API and the badge read one verdict.

use crate::cloud::{Situation, explain};
use crate::setup_kit::KitFacts;
use serde::{Deserialize, Serialize};

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Problem,
    /// Shipgate could not tell, and says why in the detail. Never a guess of `ok`.
    NotChecked,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Problem => "problem",
            CheckStatus::NotChecked => "not_checked",
        }
    }
}

/// One thing Verify looked at: `id` is stable (tests and scripts key on it), `subject` is
/// what was looked at, in AWS's or GitHub's own names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub subject: String,
    pub status: CheckStatus,
    /// One sentence: what Shipgate found.
    pub detail: String,
    /// What to do about it; empty when nothing is to be done.
    pub fix: String,
}

impl Check {
    pub fn ok(
        id: impl Into<String>,
        subject: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Check {
            id: id.into(),
            subject: subject.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    pub fn problem(
        id: impl Into<String>,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            id: id.into(),
            subject: subject.into(),
            status: CheckStatus::Problem,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    pub fn not_checked(
        id: impl Into<String>,
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            id: id.into(),
            subject: subject.into(),
            status: CheckStatus::NotChecked,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// A check whose AWS call failed: the call's stored error (`<code>: <message>`) in
    /// plain words, with AWS's own words after the sentence.
    pub fn failed_call(id: impl Into<String>, subject: impl Into<String>, error: &str) -> Self {
        match explain(error, Situation::Verify) {
            Some(e) => Check::problem(id, subject, format!("{} ({error})", e.sentence), e.fix),
            None => Check::problem(
                id,
                subject,
                format!("AWS refused the call: {error}"),
                "Fix what AWS names, then run Verify again.",
            ),
        }
    }
}

/// A finished Verify: every check, when it ran, and what it learnt for the setup kit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub checks: Vec<Check>,
    pub started_at: i64,
    pub finished_at: i64,
    /// Set when Verify ran out of time: the checks it did not reach are `not_checked`.
    #[serde(default)]
    pub incomplete: Option<String>,
    /// The account, roles and families it read, which fill the setup kit's placeholders.
    #[serde(default)]
    pub facts: KitFacts,
}

impl VerifyReport {
    pub fn problems(&self) -> usize {
        self.count(CheckStatus::Problem)
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// A pipeline's Verify as stored: the newest request, and the newest finished report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyStatus {
    pub requested_at: i64,
    pub requested_by: String,
    /// Whether an engine has still to answer the newest request.
    pub pending: bool,
    pub report: Option<VerifyReport>,
}

/// How long Verify may take in all; what it has not reached by then is `not_checked`.
pub const VERIFY_LIMIT_SECS: u64 = 30;

/// The IAM principal whose policies SimulatePrincipalPolicy reads, from the ARN that
/// GetCallerIdentity returns. An assumed-role session (`arn:aws:sts::A:assumed-role/R/s`)
/// is simulated as its role (`arn:aws:iam::A:role/R`); the root user cannot be simulated.
pub fn policy_source_arn(caller: &str) -> Result<String, String> {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    let [arn, partition, service, _, account, resource] = parts.as_slice() else {
        return Err(format!("`{caller}` is not an ARN"));
    };
    if *arn != "arn" {
        return Err(format!("`{caller}` is not an ARN"));
    }
    match (*service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("iam", ["root"]) => Err(
            "Shipgate runs as the account's root user, whose permissions cannot be simulated; run it as an IAM role or user".into(),
        ),
        ("iam", [kind, ..]) if matches!(*kind, "user" | "role") => Ok(caller.to_owned()),
        ("sts", ["assumed-role", role, _session]) => {
            Ok(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        ("sts", ["federated-user", ..]) => Err(
            "Shipgate runs as a federated user, whose permissions cannot be simulated".into(),
        ),
        _ => Err(format!("`{caller}` is not a user or role that IAM can simulate")),
    }
}

/// The account number in an ARN (`arn:aws:iam::123456789012:role/x` → `123456789012`).
pub fn account_of(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())).then_some(account)
}

/// The deployment controller rule: Shipgate deploys through ECS rolling deployments only.
pub fn controller_check(id: &str, subject: &str, controller: Option<&str>) -> Check {
    match controller.unwrap_or("ECS") {
        "ECS" => Check::ok(id, subject, "ECS controls the service's deployments."),
        other => Check::problem(
            id,
            subject,
            format!(
                "The service's deployments are controlled by {other}, which Shipgate does not support yet: UpdateService would be refused."
            ),
            "Use a service with the ECS deployment controller (the default), or keep deploying this one with its own controller.",
        ),
    }
}

/// Whether the environment's container is in the service's live task definition.
pub fn container_check(id: &str, subject: &str, wanted: &str, containers: &[String]) -> Check {
    if containers.iter().any(|c| c == wanted) {
        Check::ok(
            id,
            subject,
            format!("The live task definition has the container `{wanted}`."),
        )
    } else {
        Check::problem(
            id,
            subject,
            format!(
                "The live task definition has no container `{wanted}`; it has {}.",
                if containers.is_empty() {
                    "none".to_owned()
                } else {
                    containers
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            "Set the environment's container to one of those names (Edit on the Pipelines page).",
        )
    }
}

/// The circuit breaker rule: on, or the environment turned it off on purpose.
pub fn circuit_breaker_check(id: &str, subject: &str, wanted: bool, live: bool) -> Check {
    match (wanted, live) {
        (false, _) => Check::ok(
            id,
            subject,
            "The environment turns the circuit breaker off (circuit_breaker = false); a failing deploy runs until deploy_timeout.",
        ),
        (true, true) => Check::ok(
            id,
            subject,
            "The deployment circuit breaker is on, with rollback.",
        ),
        (true, false) => Check::ok(
            id,
            subject,
            "The circuit breaker is off on the service now; Shipgate turns it on, with rollback, with its first deploy.",
        ),
    }
}

/// An IAM simulation's verdict on one action and resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    /// IAM's `EvalDecision` words.
    pub fn parse(s: &str) -> Option<Decision> {
        match s {
            "allowed" => Some(Decision::Allowed),
            "explicitDeny" => Some(Decision::ExplicitDeny),
            "implicitDeny" => Some(Decision::ImplicitDeny),
            _ => None,
        }
    }
}

/// The check for one write action, from the simulation of it on each resource, or from
/// why it could not be simulated. A write action is never called `ok` unless IAM said so.
pub fn write_action_check(
    action: &str,
    principal: &str,
    simulated: Result<&[(String, Decision)], &str>,
) -> Check {
    let id = format!("permissions.{action}");
    match simulated {
        Err(why) => Check::not_checked(
            id,
            action,
            format!("Not checked: {why}. Shipgate never calls a write action to test it."),
            format!(
                "Allow iam:SimulatePrincipalPolicy on {principal} so Verify can check it, or compare Shipgate's policy with the Set up page's."
            ),
        ),
        Ok([]) => Check::not_checked(
            id,
            action,
            "Not checked: the pipeline gives it no resource to act on.",
            "",
        ),
        Ok(results) => {
            let refused: Vec<&(String, Decision)> = results
                .iter()
                .filter(|(_, d)| *d != Decision::Allowed)
                .collect();
            if refused.is_empty() {
                Check::ok(
                    id,
                    action,
                    format!(
                        "IAM allows {principal} {action} on {}.",
                        results
                            .iter()
                            .map(|(r, _)| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            } else {
                let explicit = refused.iter().any(|(_, d)| *d == Decision::ExplicitDeny);
                Check::problem(
                    id,
                    action,
                    format!(
                        "IAM {} {principal} {action} on {}.",
                        if explicit {
                            "explicitly denies"
                        } else {
                            "does not allow"
                        },
                        refused
                            .iter()
                            .map(|(r, _)| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    if explicit {
                        format!(
                            "Remove the Deny statement that matches {action}, or scope it away from these resources."
                        )
                    } else {
                        format!(
                            "Attach the Set up page's Shipgate policy, which allows {action} on exactly these resources."
                        )
                    },
                )
            }
        }
    }
}

/// What intake has seen from a repository, for the webhook checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookSeen {
    /// The newest stored delivery (its signature verified): event and when.
    pub last_delivery: Option<(String, i64)>,
    /// The newest `workflow_run` or `check_suite` delivery: event and when.
    pub last_ci_event: Option<(String, i64)>,
    /// Deliveries refused for a bad signature since the last good one: when the newest
    /// came, and how many.
    pub rejected: Option<(i64, i64)>,
}

/// The webhook checks: whether deliveries arrive, whether they verify, and whether CI
/// events arrive. `at` renders a time for a sentence.
pub fn webhook_checks(
    repository: &str,
    poll: &str,
    seen: &WebhookSeen,
    at: impl Fn(i64) -> String,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let fix_add = "Add the webhook as the Set up page says, then press Redeliver on its ping in GitHub's Recent Deliveries.";
    match &seen.last_delivery {
        Some((event, when)) => checks.push(Check::ok(
            "webhook.delivery",
            repository,
            format!(
                "The last delivery from {repository} arrived {} (a `{event}` event).",
                at(*when)
            ),
        )),
        None => checks.push(Check::problem(
            "webhook.delivery",
            repository,
            format!(
                "No webhook delivery from {repository} has arrived yet: pushes will not start runs."
            ),
            fix_add,
        )),
    }
    match (seen.rejected, &seen.last_delivery) {
        (Some((when, count)), _) => checks.push(Check::problem(
            "webhook.signature",
            repository,
            format!(
                "{count} deliveries from {repository} were refused because their signature did not match, the last {}.",
                at(when)
            ),
            "Set the webhook's secret in GitHub to the value of github_webhook_secret (GITHUB_WEBHOOK_SECRET), then redeliver.",
        )),
        (None, Some(_)) => checks.push(Check::ok(
            "webhook.signature",
            repository,
            "Every delivery from it verified against github_webhook_secret.",
        )),
        (None, None) => checks.push(Check::not_checked(
            "webhook.signature",
            repository,
            "No delivery has arrived to verify.",
            "",
        )),
    }
    match (&seen.last_ci_event, &seen.last_delivery) {
        (Some((event, when)), _) => checks.push(Check::ok(
            "webhook.ci_events",
            repository,
            format!("CI events arrive: the last was a `{event}` {}.", at(*when)),
        )),
        (None, Some(_)) => checks.push(Check::problem(
            "webhook.ci_events",
            repository,
            format!(
                "No workflow_run or check_suite event from {repository} has arrived, so Build falls back to polling ECR every {poll}."
            ),
            "Tick \"Workflow runs\" in the webhook's events, so Build ends as soon as CI does.",
        )),
        (None, None) => checks.push(Check::not_checked(
            "webhook.ci_events",
            repository,
            "No delivery has arrived yet.",
            "",
        )),
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_simulated_as_their_user_or_role() {
        for (caller, expected) in [
            (
                "arn:aws:iam::123456789012:user/shipgate",
                Ok("arn:aws:iam::123456789012:user/shipgate"),
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/shipgate-engine/i-0abc",
                Ok("arn:aws:iam::123456789012:role/shipgate-engine"),
            ),
            (
                "arn:aws-cn:sts::123456789012:assumed-role/r/s",
                Ok("arn:aws-cn:iam::123456789012:role/r"),
            ),
            ("arn:aws:iam::123456789012:root", Err("root")),
            (
                "arn:aws:sts::123456789012:federated-user/bob",
                Err("federated"),
            ),
            ("not an arn", Err("not an ARN")),
        ] {
            match (policy_source_arn(caller), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{caller}"),
                (Err(why), Err(word)) => assert!(why.contains(word), "{caller}: {why}"),
                (got, want) => panic!("{caller}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn accounts_are_read_from_arns() {
        assert_eq!(
            account_of("arn:aws:iam::222222222222:role/deployer"),
            Some("222222222222")
        );
        assert_eq!(account_of("arn:aws:iam::aws:policy/x"), None);
        assert_eq!(account_of("deployer"), None);
    }

    #[test]
    fn only_the_ecs_controller_passes() {
        for (controller, status) in [
            (None, CheckStatus::Ok),
            (Some("ECS"), CheckStatus::Ok),
            (Some("CODE_DEPLOY"), CheckStatus::Problem),
            (Some("EXTERNAL"), CheckStatus::Problem),
        ] {
            let check = controller_check("c", "s", controller);
            assert_eq!(check.status, status, "{controller:?}");
            if status == CheckStatus::Problem {
                assert!(check.detail.contains(controller.unwrap()));
                assert!(!check.fix.is_empty());
            }
        }
    }

    #[test]
    fn a_missing_container_names_the_ones_there() {
        let found = vec!["web".to_owned(), "sidecar".to_owned()];
        assert_eq!(
            container_check("c", "s", "web", &found).status,
            CheckStatus::Ok
        );
        let wrong = container_check("c", "s", "api", &found);
        assert_eq!(wrong.status, CheckStatus::Problem);
        assert!(wrong.detail.contains("`api`") && wrong.detail.contains("`web`, `sidecar`"));
        assert!(
            container_check("c", "s", "api", &[])
                .detail
                .contains("none")
        );
    }

    #[test]
    fn the_circuit_breaker_is_on_or_off_by_choice() {
        for (wanted, live, detail) in [
            (true, true, "is on"),
            (true, false, "first deploy"),
            (false, false, "circuit_breaker = false"),
            (false, true, "circuit_breaker = false"),
        ] {
            let check = circuit_breaker_check("c", "s", wanted, live);
            assert_eq!(check.status, CheckStatus::Ok);
            assert!(
                check.detail.contains(detail),
                "{wanted} {live}: {}",
                check.detail
            );
        }
    }

    #[test]
    fn write_actions_are_ok_only_when_iam_allows_every_resource() {
        let allowed = [("arn:r1".to_owned(), Decision::Allowed)];
        let check = write_action_check("ecs:UpdateService", "arn:p", Ok(&allowed));
        assert_eq!(
            (check.id.as_str(), check.status),
            ("permissions.ecs:UpdateService", CheckStatus::Ok)
        );

        let mixed = [
            ("arn:r1".to_owned(), Decision::Allowed),
            ("arn:r2".to_owned(), Decision::ImplicitDeny),
        ];
        let check = write_action_check("ecs:UpdateService", "arn:p", Ok(&mixed));
        assert_eq!(check.status, CheckStatus::Problem);
        assert!(check.detail.contains("does not allow") && check.detail.contains("arn:r2"));
        assert!(!check.detail.contains("arn:r1"));

        let denied = [("arn:r1".to_owned(), Decision::ExplicitDeny)];
        let check = write_action_check("iam:PassRole", "arn:p", Ok(&denied));
        assert!(check.detail.contains("explicitly denies") && check.fix.contains("Deny"));

        let check = write_action_check(
            "ecs:UpdateService",
            "arn:p",
            Err("iam:SimulatePrincipalPolicy was refused"),
        );
        assert_eq!(check.status, CheckStatus::NotChecked);
        assert!(
            check.detail.contains("refused") && check.fix.contains("iam:SimulatePrincipalPolicy")
        );
    }

    #[test]
    fn webhook_checks_follow_what_intake_saw() {
        let at = |ms: i64| format!("at {ms}");
        let ids = |checks: &[Check]| {
            checks
                .iter()
                .map(|c| (c.id.clone(), c.status))
                .collect::<Vec<_>>()
        };
        let nothing = webhook_checks("o/r", "5s", &WebhookSeen::default(), at);
        assert_eq!(
            ids(&nothing),
            [
                ("webhook.delivery".to_owned(), CheckStatus::Problem),
                ("webhook.signature".to_owned(), CheckStatus::NotChecked),
                ("webhook.ci_events".to_owned(), CheckStatus::NotChecked),
            ]
        );
        let pushes_only = WebhookSeen {
            last_delivery: Some(("push".into(), 7)),
            ..Default::default()
        };
        let checks = webhook_checks("o/r", "5s", &pushes_only, at);
        assert_eq!(checks[0].status, CheckStatus::Ok);
        assert!(checks[0].detail.contains("at 7") && checks[0].detail.contains("`push`"));
        assert_eq!(checks[1].status, CheckStatus::Ok);
        assert_eq!(checks[2].status, CheckStatus::Problem);
        assert!(checks[2].detail.contains("polling ECR every 5s"));

        let bad_secret = WebhookSeen {
            last_delivery: Some(("push".into(), 7)),
            last_ci_event: Some(("workflow_run".into(), 8)),
            rejected: Some((9, 3)),
        };
        let checks = webhook_checks("o/r", "5s", &bad_secret, at);
        assert_eq!(checks[1].status, CheckStatus::Problem);
        assert!(
            checks[1].detail.contains("3 deliveries")
                && checks[1].fix.contains("github_webhook_secret")
        );
        assert_eq!(checks[2].status, CheckStatus::Ok);
    }

    #[test]
    fn a_failed_call_reads_as_a_sentence_with_awss_words() {
        let check = Check::failed_call(
            "env.staging.service",
            "api",
            "ServiceNotFoundException: ecs:DescribeServices: Service not found.",
        );
        assert_eq!(check.status, CheckStatus::Problem);
        assert!(check.detail.starts_with("ECS has no such active service"));
        assert!(check.detail.contains("Service not found."));
        assert!(check.fix.contains("Check the environment's cluster"));
    }

    #[test]
    fn a_report_counts_its_problems() {
        let report = VerifyReport {
            checks: vec![
                Check::ok("a", "s", "d"),
                Check::problem("b", "s", "d", "f"),
                Check::not_checked("c", "s", "d", ""),
            ],
            started_at: 1,
            finished_at: 2,
            incomplete: None,
            facts: KitFacts::default(),
        };
        assert_eq!(report.problems(), 1);
        assert_eq!(report.count(CheckStatus::NotChecked), 1);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["checks"][2]["status"], "not_checked");
    }
}
