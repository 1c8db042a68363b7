//! Never miss a push. GitHub sends each webhook once; when it does not arrive (Shipgate
//! restarting, the database down, a dropped request, an incident at GitHub) the push is
//! lost unless someone looks. These are the rules for looking: what a branch head read
//! from GitHub means for a pipeline, which logged deliveries were never received, when
//! GitHub's rate limits say to wait, and what a late push does when reconcile already
//! started its run. The engine makes the calls; these functions decide.

use crate::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// How the head of a pipeline's branch relates to the newest commit it has a run for,
/// as GitHub's compare (`base...head`) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ahead {
    /// The head contains the newest run's commit: it is newer.
    Ahead,
    /// The same commit.
    Identical,
    /// The branch moved back to an older commit.
    Behind,
    /// History was rewritten (a force push): neither contains the other.
    Diverged,
    /// The newest run's commit is gone from the repository (also a force push).
    BaseGone,
}

impl Ahead {
    /// GitHub's `status` field of a comparison.
    pub fn parse(status: &str) -> Option<Ahead> {
        match status {
            "ahead" => Some(Ahead::Ahead),
            "identical" => Some(Ahead::Identical),
            "behind" => Some(Ahead::Behind),
            "diverged" => Some(Ahead::Diverged),
            _ => None,
        }
    }
}

/// What reconcile does about a pipeline's branch head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadDecision {
    /// The head already has a run (or is where the pipeline starts): nothing to do.
    UpToDate,
    /// A pipeline with no run yet: the head is where it starts. Linking a pipeline never
    /// deploys by itself; the next push does.
    Baseline,
    /// Compare the head with the newest run's commit before deciding.
    Compare,
    /// The head is newer and no webhook brought it: start its run, marked recovered.
    Start,
    /// The branch moved back, or history was rewritten to an older commit: a webhook for
    /// that push would have started a run, but reconcile does not deploy older code on its
    /// own. Someone can still retry or roll back.
    LeaveOlder,
}

/// The first decision, from what the store knows: whether the head has a run, and the
/// pipeline's newest run (by creation) if any.
pub fn head_decision(head_has_run: bool, newest_run: Option<&str>, head: &str) -> HeadDecision {
    match newest_run {
        _ if head_has_run => HeadDecision::UpToDate,
        None => HeadDecision::Baseline,
        Some(newest) if newest == head => HeadDecision::UpToDate,
        Some(_) => HeadDecision::Compare,
    }
}

/// The decision once GitHub compared the newest run's commit (`base`) with the head. A
/// rewritten history counts as newer when the head was committed after the newest run's
/// commit (either time unknown: newer, since the branch points there now).
pub fn after_compare(
    ahead: Ahead,
    head_committed: Option<Millis>,
    base_committed: Option<Millis>,
) -> HeadDecision {
    match ahead {
        Ahead::Ahead => HeadDecision::Start,
        Ahead::Identical => HeadDecision::UpToDate,
        Ahead::Behind => HeadDecision::LeaveOlder,
        Ahead::Diverged | Ahead::BaseGone => match (head_committed, base_committed) {
            (Some(head), Some(base)) if head < base => HeadDecision::LeaveOlder,
            _ => HeadDecision::Start,
        },
    }
}

/// An RFC 3339 commit time (as GitHub writes it, with the committer's offset), in ms.
pub fn commit_time(rfc3339: &str) -> Option<Millis> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// One attempt in a hook's delivery log (`GET /repos/{o}/{r}/hooks/{id}/deliveries`): a
/// redelivery is another attempt with the same `guid`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct LoggedDelivery {
    /// The attempt's id, for fetching its payload.
    pub id: i64,
    /// The `X-GitHub-Delivery` value, shared by every attempt of one delivery.
    pub guid: String,
    pub event: String,
    /// The HTTP status Shipgate (or whatever stood in front of it) answered; 0 when no
    /// answer came at all.
    pub status_code: u16,
    /// When GitHub tried, in ms.
    pub delivered_at: Millis,
}

/// The deliveries to fetch and process: each `guid` that no attempt delivered (no 2xx)
/// and that Shipgate never stored, by its newest attempt, oldest delivery first (so the
/// pushes are replayed in the order they happened).
pub fn missed_deliveries<'a>(
    log: &'a [LoggedDelivery],
    stored: &HashSet<String>,
) -> Vec<&'a LoggedDelivery> {
    let mut by_guid: BTreeMap<&str, (bool, &LoggedDelivery, Millis)> = BTreeMap::new();
    for attempt in log {
        let delivered = (200..300).contains(&attempt.status_code);
        by_guid
            .entry(attempt.guid.as_str())
            .and_modify(|(ok, newest, first)| {
                *ok |= delivered;
                if attempt.delivered_at > newest.delivered_at {
                    *newest = attempt;
                }
                *first = (*first).min(attempt.delivered_at);
            })
            .or_insert((delivered, attempt, attempt.delivered_at));
    }
    let mut missed: Vec<(Millis, &LoggedDelivery)> = by_guid
        .into_iter()
        .filter(|(guid, (ok, _, _))| !ok && !stored.contains(*guid))
        .map(|(_, (_, newest, first))| (first, newest))
        .collect();
    missed.sort_by_key(|(first, d)| (*first, d.id));
    missed.into_iter().map(|(_, d)| d).collect()
}

/// GitHub keeps a hook's deliveries this long; older ones cannot be recovered.
pub const DELIVERY_LOG_KEPT: Millis = 3 * 24 * 60 * 60 * 1000;

/// What a GitHub answer says about the rate limit, from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitHeaders {
    pub status: u16,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`, in epoch seconds.
    pub reset_secs: Option<i64>,
    /// `Retry-After`, in seconds (secondary rate limits).
    pub retry_after_secs: Option<i64>,
}

/// Until when no call should be made to GitHub (ms), or `None` to go on. A secondary
/// limit's `Retry-After` wins; a spent primary limit waits for its reset (a second
/// boundary, so until just after it); a 429 with neither header waits a minute, as
/// GitHub's guidance says. A 403 with budget left and no `Retry-After` is a refusal, not
/// a limit.
pub fn pause_until(h: RateLimitHeaders, now: Millis) -> Option<Millis> {
    let limited = matches!(h.status, 403 | 429 | 503);
    match (h.retry_after_secs, h.remaining) {
        (Some(after), _) if limited => Some(now + after.max(1) * 1000),
        (_, Some(0)) => Some(
            h.reset_secs
                .map_or(now + 60_000, |r| (r * 1000).max(now) + 1000),
        ),
        _ if h.status == 429 => Some(now + 60_000),
        _ => None,
    }
}

/// What a late push (a webhook, or a delivery read back from the log) does when its
/// commit already has a claim on this pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatePush {
    /// Reconcile started this commit's run (or listed the commit in it) and this is its
    /// push arriving late: the push joins that run, and starts none.
    JoinRecovered,
    /// The commit was pushed before and had its own run: pushing it again is a new push,
    /// which starts a run as any push does.
    NewRun,
}

/// The claim a commit already has on a pipeline, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingClaim {
    /// Head reconcile made the claim (no webhook had arrived).
    pub reconciled: bool,
    /// A late push already joined it.
    pub joined: bool,
}

pub fn late_push(existing: ExistingClaim) -> LatePush {
    if existing.reconciled && !existing.joined {
        LatePush::JoinRecovered
    } else {
        LatePush::NewRun
    }
}

/// How head reconcile fares for one pipeline, for the Pipelines page and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileHealth {
    /// When GitHub last answered (200 or 304).
    pub last_ok_at: Option<Millis>,
    pub checked_at: Option<Millis>,
    /// Why the last try failed, in a sentence; `None` when it worked.
    pub error: Option<String>,
    /// The head commit last read.
    pub head_sha: Option<String>,
    /// Runs reconcile started because no webhook arrived.
    pub recovered_runs: i64,
}

impl ReconcileHealth {
    /// The sentence the Pipelines page shows when GitHub cannot be reached, naming the
    /// cause and when it last worked; `None` when all is well.
    pub fn trouble(&self) -> Option<String> {
        let error = self.error.as_deref()?;
        let since = match self.last_ok_at {
            Some(at) => format!("last succeeded {}", crate::time::utc_text(at)),
            None => "it has not succeeded yet".to_owned(),
        };
        Some(format!(
            "Missed pushes are not being looked for: {error} ({since})."
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_decisions_follow_what_the_store_knows() {
        let table: &[(bool, Option<&str>, &str, HeadDecision)] = &[
            (true, Some("b"), "a", HeadDecision::UpToDate),
            (true, None, "a", HeadDecision::UpToDate),
            (false, None, "a", HeadDecision::Baseline),
            (false, Some("a"), "a", HeadDecision::UpToDate),
            (false, Some("b"), "a", HeadDecision::Compare),
        ];
        for (has_run, newest, head, want) in table {
            assert_eq!(
                head_decision(*has_run, *newest, head),
                *want,
                "{has_run} {newest:?} {head}"
            );
        }
    }

    #[test]
    fn only_a_newer_head_starts_a_run() {
        let (early, late) = (Some(1_000), Some(2_000));
        let table = [
            (Ahead::Ahead, None, None, HeadDecision::Start),
            (Ahead::Ahead, early, late, HeadDecision::Start),
            (Ahead::Identical, None, None, HeadDecision::UpToDate),
            (Ahead::Behind, late, early, HeadDecision::LeaveOlder),
            (Ahead::Diverged, late, early, HeadDecision::Start),
            (Ahead::Diverged, early, late, HeadDecision::LeaveOlder),
            (Ahead::Diverged, None, early, HeadDecision::Start),
            (Ahead::BaseGone, late, early, HeadDecision::Start),
            (Ahead::BaseGone, early, late, HeadDecision::LeaveOlder),
        ];
        for (ahead, head, base, want) in table {
            assert_eq!(
                after_compare(ahead, head, base),
                want,
                "{ahead:?} {head:?} {base:?}"
            );
        }
        assert_eq!(Ahead::parse("diverged"), Some(Ahead::Diverged));
        assert_eq!(Ahead::parse("sideways"), None);
    }

    #[test]
    fn commit_times_keep_the_committers_offset() {
        assert_eq!(
            commit_time("2026-12-04T10:00:00+01:00"),
            commit_time("2026-12-04T09:00:00Z")
        );
        assert_eq!(commit_time("yesterday"), None);
    }

    fn logged(id: i64, guid: &str, status_code: u16, at: Millis) -> LoggedDelivery {
        LoggedDelivery {
            id,
            guid: guid.into(),
            event: "push".into(),
            status_code,
            delivered_at: at,
        }
    }

    #[test]
    fn only_never_delivered_unstored_deliveries_are_fetched_oldest_first_by_their_newest_attempt() {
        let log = [
            logged(9, "late", 503, 900),
            logged(1, "ok", 200, 100),
            logged(2, "retried-ok", 502, 200),
            logged(3, "retried-ok", 202, 300),
            logged(4, "lost", 0, 150),
            logged(7, "lost", 504, 700),
            logged(5, "stored", 503, 160),
        ];
        let stored: HashSet<String> = ["stored".to_owned()].into();
        let missed: Vec<(i64, &str)> = missed_deliveries(&log, &stored)
            .into_iter()
            .map(|d| (d.id, d.guid.as_str()))
            .collect();
        assert_eq!(missed, vec![(7, "lost"), (9, "late")]);
        assert!(missed_deliveries(&[], &stored).is_empty());
    }

    #[test]
    fn rate_limit_headers_say_how_long_to_wait() {
        let now = 1_000_000;
        let h = |status, remaining, reset_secs, retry_after_secs| RateLimitHeaders {
            status,
            remaining,
            reset_secs,
            retry_after_secs,
        };
        let table = [
            (h(200, Some(4999), Some(2000), None), None),
            (h(304, None, None, None), None),
            (h(200, Some(0), Some(1_100), None), Some(1_101_000)),
            (h(403, Some(0), Some(1_100), None), Some(1_101_000)),
            (h(403, Some(12), Some(1_100), Some(30)), Some(1_030_000)),
            (h(429, None, None, Some(5)), Some(1_005_000)),
            (h(429, None, None, None), Some(1_060_000)),
            (h(403, Some(12), Some(1_100), None), None),
            (h(404, Some(0), None, None), Some(1_060_000)),
            (h(200, Some(0), Some(10), None), Some(1_001_000)),
        ];
        for (headers, want) in table {
            assert_eq!(pause_until(headers, now), want, "{headers:?}");
        }
    }

    #[test]
    fn a_late_push_joins_only_the_run_reconcile_started_for_it() {
        let claim = |reconciled, joined| ExistingClaim { reconciled, joined };
        assert_eq!(late_push(claim(true, false)), LatePush::JoinRecovered);
        assert_eq!(late_push(claim(true, true)), LatePush::NewRun);
        assert_eq!(late_push(claim(false, false)), LatePush::NewRun);
    }

    #[test]
    fn trouble_names_the_cause_and_the_last_success() {
        let mut health = ReconcileHealth {
            last_ok_at: Some(0),
            checked_at: Some(5),
            error: None,
            head_sha: None,
            recovered_runs: 0,
        };
        assert_eq!(health.trouble(), None);
        health.error = Some("GitHub answered 401 Unauthorized: Bad credentials".into());
        assert_eq!(
            health.trouble().unwrap(),
            "Missed pushes are not being looked for: GitHub answered 401 Unauthorized: Bad credentials (last succeeded 1970-01-01 00:00:00 UTC)."
        );
        health.last_ok_at = None;
        assert!(
            health
                .trouble()
                .unwrap()
                .ends_with("(it has not succeeded yet).")
        );
    }
}
