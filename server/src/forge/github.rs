//! GitHub webhook deliveries: signature verification and payload classification.

use crate::store::{CiIntent, DeliveryIntent, PushIntent};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use shipgate_pipeline::read::Commit;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not `sha256=` followed by 64 hex digits")]
    Malformed,
    #[error("the X-Hub-Signature-256 signature does not match the payload")]
    Mismatch,
}

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex hmac>` over the raw body.
/// The comparison is constant-time (`Mac::verify_slice`).
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Signs a body as GitHub does; used by the benchmark and the tests.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A payload that is not JSON of the shape its event promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {event} payload is not valid: {message}")]
pub struct PayloadError {
    pub event: String,
    pub message: String,
}

/// The facts of a delivery that are stored with it, plus what it asks of Shipgate.
#[derive(Debug, Clone)]
pub struct Classified {
    pub action: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
    pub intent: DeliveryIntent,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Person {
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct HeadCommit {
    id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    timestamp: String,
    url: Option<String>,
    author: Option<Person>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    compare: Option<String>,
    pusher: Option<Person>,
    head_commit: Option<HeadCommit>,
    #[serde(default)]
    commits: Vec<HeadCommit>,
    repository: Repository,
}

/// The parts of a `workflow_run` or `check_suite` that say how CI did on a commit.
#[derive(Deserialize)]
struct CiRun {
    head_sha: String,
    head_branch: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    name: Option<String>,
    html_url: Option<String>,
    app: Option<CiApp>,
}

#[derive(Deserialize)]
struct CiApp {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowRunPayload {
    action: Option<String>,
    workflow_run: CiRun,
    repository: Repository,
}

#[derive(Deserialize)]
struct CheckSuitePayload {
    action: Option<String>,
    check_suite: CiRun,
    repository: Repository,
}

fn ci_intent(kind: &str, run: CiRun, repository: &Repository) -> CiIntent {
    let name = run.name.or_else(|| run.app.and_then(|a| a.name)).unwrap_or_else(|| kind.to_owned());
    let repo_url = repository.html_url.clone().unwrap_or_else(|| format!("https://github.com/{}", repository.full_name));
    CiIntent {
        repository: repository.full_name.clone(),
        url: run.html_url.unwrap_or_else(|| format!("{repo_url}/commit/{}/checks", run.head_sha)),
        head_sha: run.head_sha,
        head_branch: run.head_branch,
        name,
        status: run.status.unwrap_or_else(|| "unknown".into()),
        conclusion: run.conclusion,
    }
}

impl Person {
    fn display(&self) -> String {
        self.username.clone().or_else(|| self.name.clone()).unwrap_or_default()
    }
}

/// Everyone a push makes an owner of the change: the pusher and each commit's author, by
/// email and by GitHub login (for a pusher, `name` is the login), lowercased. None of them
/// may approve it where self-approval is off.
fn change_owners(push: &PushPayload) -> Vec<String> {
    let mut owners: Vec<Option<&str>> = Vec::new();
    if let Some(pusher) = &push.pusher {
        owners.extend([pusher.name.as_deref(), pusher.email.as_deref()]);
    }
    for author in push.head_commit.iter().chain(&push.commits).filter_map(|c| c.author.as_ref()) {
        owners.extend([author.username.as_deref(), author.email.as_deref()]);
    }
    let mut owners: Vec<String> = owners.into_iter().flatten().map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty()).collect();
    owners.sort();
    owners.dedup();
    owners
}

/// Decides what a delivery asks for, from its event name and JSON body.
pub fn classify(event: &str, body: &[u8]) -> Result<Classified, PayloadError> {
    let invalid = |e: serde_json::Error| PayloadError { event: event.to_owned(), message: e.to_string() };
    match event {
        "ping" => {
            let envelope: Envelope = serde_json::from_slice(body).map_err(invalid)?;
            Ok(Classified {
                action: None,
                repository: envelope.repository.map(|r| r.full_name),
                git_ref: None,
                intent: DeliveryIntent::Ping,
            })
        }
        "push" => {
            let push: PushPayload = serde_json::from_slice(body).map_err(invalid)?;
            let repository = push.repository.full_name.clone();
            let intent = push_intent(&push);
            Ok(Classified { action: None, repository: Some(repository), git_ref: Some(push.git_ref), intent })
        }
        "workflow_run" => {
            let p: WorkflowRunPayload = serde_json::from_slice(body).map_err(invalid)?;
            let git_ref = p.workflow_run.head_branch.as_ref().map(|b| format!("refs/heads/{b}"));
            let intent = DeliveryIntent::Ci(ci_intent("workflow", p.workflow_run, &p.repository));
            Ok(Classified { action: p.action, repository: Some(p.repository.full_name), git_ref, intent })
        }
        "check_suite" => {
            let p: CheckSuitePayload = serde_json::from_slice(body).map_err(invalid)?;
            let git_ref = p.check_suite.head_branch.as_ref().map(|b| format!("refs/heads/{b}"));
            let intent = DeliveryIntent::Ci(ci_intent("check suite", p.check_suite, &p.repository));
            Ok(Classified { action: p.action, repository: Some(p.repository.full_name), git_ref, intent })
        }
        other => {
            let envelope: Envelope = serde_json::from_slice(body).map_err(invalid)?;
            Ok(Classified {
                action: envelope.action,
                repository: envelope.repository.map(|r| r.full_name),
                git_ref: None,
                intent: DeliveryIntent::Ignore(format!("`{other}` events start nothing in Shipgate")),
            })
        }
    }
}

fn push_intent(push: &PushPayload) -> DeliveryIntent {
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return match push.git_ref.strip_prefix("refs/tags/") {
            Some(tag) => DeliveryIntent::Ignore(format!("tag pushes start no run (tag `{tag}`)")),
            None => DeliveryIntent::Ignore(format!("`{}` is not a branch", push.git_ref)),
        };
    };
    if push.deleted {
        return DeliveryIntent::Ignore(format!("branch `{branch}` was deleted"));
    }
    let repo_url = push.repository.html_url.clone().unwrap_or_else(|| format!("https://github.com/{}", push.repository.full_name));
    let pusher = push.pusher.as_ref().map(Person::display).unwrap_or_default();
    let commit = match &push.head_commit {
        Some(head) => Commit {
            sha: head.id.clone(),
            message: head.message.clone(),
            author: head.author.as_ref().map(Person::display).unwrap_or_default(),
            pusher,
            compare_url: push.compare.clone().unwrap_or_default(),
            url: head.url.clone().unwrap_or_else(|| format!("{repo_url}/commit/{}", head.id)),
            timestamp: head.timestamp.clone(),
        },
        // A push that moves a branch to a commit GitHub does not describe (e.g. a new branch
        // at an existing commit) still names where the branch now points.
        None => Commit {
            sha: push.after.clone(),
            message: String::new(),
            author: String::new(),
            pusher,
            compare_url: push.compare.clone().unwrap_or_default(),
            url: format!("{repo_url}/commit/{}", push.after),
            timestamp: String::new(),
        },
    };
    let authors = change_owners(&push);
    DeliveryIntent::Push(PushIntent { repository: push.repository.full_name.clone(), branch: branch.to_owned(), commit, authors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let sig = sign(b"s3cret", b"{}");
        assert_eq!(verify_signature(b"s3cret", b"{}", Some(&sig)), Ok(()));
    }

    #[test]
    fn wrong_missing_and_malformed_signatures_are_told_apart() {
        let sig = sign(b"other", b"{}");
        assert_eq!(verify_signature(b"s3cret", b"{}", Some(&sig)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"s3cret", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(verify_signature(b"s3cret", b"{}", Some("sha1=abc")), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(b"s3cret", b"{}", Some(&format!("sha256={}", "zz".repeat(32)))), Err(SignatureError::Malformed));
        // A signature of the right form over a different body.
        assert_eq!(verify_signature(b"s3cret", b"{ }", Some(&sign(b"s3cret", b"{}"))), Err(SignatureError::Mismatch));
    }

    #[test]
    fn github_documented_signature_example_verifies() {
        // GitHub's docs: secret "It's a Secret to Everybody", payload "Hello, World!".
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), expected);
    }
}
