//! What a webhook delivery asks of Shipgate, decided from its event and payload alone: the
//! forge's parser produces these, and the store records them.

use crate::read::{Commit, PushedCommit};

/// A push to a branch, reduced to what a run records about its Source stage.
#[derive(Debug, Clone)]
pub struct PushIntent {
    pub repository: String,
    pub branch: String,
    pub commit: Commit,
    /// Emails and logins of the pusher and the commits' authors (see the self-approval rule).
    pub authors: Vec<String>,
    /// The commits the push brought, oldest first.
    pub commits: Vec<PushedCommit>,
}

/// How CI did on a commit, from a `workflow_run` or `check_suite` delivery.
#[derive(Debug, Clone)]
pub struct CiIntent {
    pub repository: String,
    pub head_sha: String,
    pub head_branch: Option<String>,
    /// The workflow's name (or the check suite's app).
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub url: String,
}

/// What a delivery asks of Shipgate, decided from the event and payload alone.
#[derive(Debug, Clone)]
pub enum DeliveryIntent {
    Ping,
    /// A branch push; whether it starts runs depends on the pipelines at the time it is stored.
    Push(PushIntent),
    /// A CI result, stored for the engine to apply to the commit's runs.
    Ci(CiIntent),
    Ignore(String),
}
