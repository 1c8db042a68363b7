//! GitHub webhook deliveries: signature verification and payload classification.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use shipgate_pipeline::delivery::{CiIntent, DeliveryIntent, PushIntent};
use shipgate_pipeline::read::{Commit, PushedCommit};

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
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Signs a body as GitHub does; used by the benchmark and the tests.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A payload that is not JSON of the shape its event promises. The message is one short
/// sentence that names the field by its path and quotes nothing from the payload: serde's
/// own messages quote the offending value whole, in Rust's escaping (a 40 kB string, or
/// `"\u{202e}"`), and GitHub shows the answer in the webhook's delivery log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {event} payload is not valid: {message}")]
pub struct PayloadError {
    pub event: String,
    pub message: String,
}

/// Reads a payload as `T`, or says in words what is wrong with it.
fn read<T: serde::de::DeserializeOwned>(event: &str, body: &[u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError {
        event: event.to_owned(),
        message: describe::<T>(body, &e),
    })
}

/// Where a payload is wrong (the field's path, read again with `serde_path_to_error`: only a
/// refused payload pays for that) and what was expected there.
fn describe<T: serde::de::DeserializeOwned>(body: &[u8], error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if !matches!(error.classify(), Category::Data) {
        // Syntax errors say what was expected and where, never what was found.
        return format!("it is not JSON ({error})");
    }
    let path = match serde_path_to_error::deserialize::<_, T>(
        &mut serde_json::Deserializer::from_slice(body),
    ) {
        Err(e) => e.path().to_string(),
        Ok(_) => ".".to_owned(),
    };
    let within = |field: &str| {
        if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    let text = error.to_string();
    let quoted = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
    };
    if let Some(field) = quoted("missing field `") {
        return format!("`{}` is missing", within(field));
    }
    if let Some(field) = quoted("duplicate field `") {
        return format!("`{}` is given twice", within(field));
    }
    let subject = if path == "." {
        "the payload".to_owned()
    } else {
        format!("`{path}`")
    };
    // serde says "invalid type: <what was found> <its value>, expected <what was wanted> at
    // line L column C"; only the two kinds are kept.
    let expected = text
        .rsplit_once(", expected ")
        .map(|(_, rest)| rest.rsplit_once(" at line ").map_or(rest, |(e, _)| e));
    // "invalid length" is serde reading a record from an array, by position.
    let found = if text.starts_with("invalid length ") {
        Some("sequence")
    } else {
        text.strip_prefix("invalid type: ")
            .and_then(|rest| rest.split([' ', ',']).next())
    };
    let expected = expected.map(|e| match e {
        e if e.starts_with("struct ") => "an object",
        "a sequence" => "an array",
        "a string" | "a borrowed string" => "a string",
        "a boolean" => "true or false",
        e if e.len() <= 4 && e.starts_with(['u', 'i']) => "a whole number",
        _ => "of another kind",
    });
    let found = found.and_then(|f| match f {
        "string" => Some("a string"),
        "integer" | "floating" => Some("a number"),
        "boolean" => Some("true or false"),
        "null" | "unit" => Some("null"),
        "sequence" => Some("an array"),
        "map" => Some("an object"),
        _ => None,
    });
    match (expected, found) {
        (Some(want), Some(got)) => format!("{subject} must be {want}, not {got}"),
        (Some(want), None) => format!("{subject} must be {want}"),
        (None, _) => format!("{subject} has a value of the wrong kind"),
    }
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
    let name = run
        .name
        .or_else(|| run.app.and_then(|a| a.name))
        .unwrap_or_else(|| kind.to_owned());
    let repo_url = repository
        .html_url
        .clone()
        .unwrap_or_else(|| format!("https://github.com/{}", repository.full_name));
    CiIntent {
        repository: repository.full_name.clone(),
        url: run
            .html_url
            .unwrap_or_else(|| format!("{repo_url}/commit/{}/checks", run.head_sha)),
        head_sha: run.head_sha,
        head_branch: run.head_branch,
        name,
        status: run.status.unwrap_or_else(|| "unknown".into()),
        conclusion: run.conclusion,
    }
}

impl Person {
    fn display(&self) -> String {
        self.username
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_default()
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
    for author in push
        .head_commit
        .iter()
        .chain(&push.commits)
        .filter_map(|c| c.author.as_ref())
    {
        owners.extend([author.username.as_deref(), author.email.as_deref()]);
    }
    let mut owners: Vec<String> = owners
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

/// Decides what a delivery asks for, from its event name and JSON body.
pub fn classify(event: &str, body: &[u8]) -> Result<Classified, PayloadError> {
    classify_json(event, body).map(Classified::without_nul)
}

impl Classified {
    /// JSON can carry U+0000 (`"\u0000"`) and PostgreSQL's text cannot: a delivery with one in
    /// a fact Shipgate stores failed its transaction there (a 500, the delivery lost) and
    /// was stored on SQLite. Git allows no NUL in names, refs or messages, so only a broken
    /// or forged payload has one; it is kept as U+FFFD, the same on either database.
    fn without_nul(mut self) -> Classified {
        fn clean(s: &mut String) {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{FFFD}");
            }
        }
        let Classified {
            action,
            repository,
            git_ref,
            intent,
        } = &mut self;
        action
            .iter_mut()
            .chain(repository.iter_mut())
            .chain(git_ref.iter_mut())
            .for_each(clean);
        match intent {
            DeliveryIntent::Ping => {}
            DeliveryIntent::Ignore(reason) => clean(reason),
            DeliveryIntent::Push(PushIntent {
                repository,
                branch,
                commit,
                authors,
                commits,
            }) => {
                let Commit {
                    sha,
                    message,
                    author,
                    pusher,
                    compare_url,
                    url,
                    timestamp,
                } = commit;
                [
                    repository,
                    branch,
                    sha,
                    message,
                    author,
                    pusher,
                    compare_url,
                    url,
                    timestamp,
                ]
                .into_iter()
                .for_each(clean);
                authors.iter_mut().for_each(clean);
                for c in commits {
                    [&mut c.sha, &mut c.title, &mut c.author]
                        .into_iter()
                        .for_each(clean);
                }
            }
            DeliveryIntent::Ci(CiIntent {
                repository,
                head_sha,
                head_branch,
                name,
                status,
                conclusion,
                url,
            }) => {
                [repository, head_sha, name, status, url]
                    .into_iter()
                    .for_each(clean);
                head_branch
                    .iter_mut()
                    .chain(conclusion.iter_mut())
                    .for_each(clean);
            }
        }
        self
    }
}

fn classify_json(event: &str, body: &[u8]) -> Result<Classified, PayloadError> {
    match event {
        "ping" => {
            let envelope: Envelope = read(event, body)?;
            Ok(Classified {
                action: None,
                repository: envelope.repository.map(|r| r.full_name),
                git_ref: None,
                intent: DeliveryIntent::Ping,
            })
        }
        "push" => {
            let push: PushPayload = read(event, body)?;
            let repository = push.repository.full_name.clone();
            let intent = push_intent(&push);
            Ok(Classified {
                action: None,
                repository: Some(repository),
                git_ref: Some(push.git_ref),
                intent,
            })
        }
        "workflow_run" => {
            let p: WorkflowRunPayload = read(event, body)?;
            let git_ref = p
                .workflow_run
                .head_branch
                .as_ref()
                .map(|b| format!("refs/heads/{b}"));
            let intent = DeliveryIntent::Ci(ci_intent("workflow", p.workflow_run, &p.repository));
            Ok(Classified {
                action: p.action,
                repository: Some(p.repository.full_name),
                git_ref,
                intent,
            })
        }
        "check_suite" => {
            let p: CheckSuitePayload = read(event, body)?;
            let git_ref = p
                .check_suite
                .head_branch
                .as_ref()
                .map(|b| format!("refs/heads/{b}"));
            let intent = DeliveryIntent::Ci(ci_intent("check suite", p.check_suite, &p.repository));
            Ok(Classified {
                action: p.action,
                repository: Some(p.repository.full_name),
                git_ref,
                intent,
            })
        }
        other => {
            let envelope: Envelope = read(event, body)?;
            Ok(Classified {
                action: envelope.action,
                repository: envelope.repository.map(|r| r.full_name),
                git_ref: None,
                intent: DeliveryIntent::Ignore(format!(
                    "`{other}` events start nothing in Shipgate"
                )),
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
    let repo_url = push
        .repository
        .html_url
        .clone()
        .unwrap_or_else(|| format!("https://github.com/{}", push.repository.full_name));
    let pusher = push
        .pusher
        .as_ref()
        .map(Person::display)
        .unwrap_or_default();
    let commit = match &push.head_commit {
        Some(head) => Commit {
            sha: head.id.clone(),
            message: head.message.clone(),
            author: head
                .author
                .as_ref()
                .map(Person::display)
                .unwrap_or_default(),
            pusher,
            compare_url: push.compare.clone().unwrap_or_default(),
            url: head
                .url
                .clone()
                .unwrap_or_else(|| format!("{repo_url}/commit/{}", head.id)),
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
    let authors = change_owners(push);
    // GitHub lists at most 20 commits in a push; a push of more is still one run.
    let commits = push
        .commits
        .iter()
        .map(|c| PushedCommit {
            sha: c.id.clone(),
            title: c.message.lines().next().unwrap_or_default().to_owned(),
            author: c.author.as_ref().map(Person::display).unwrap_or_default(),
        })
        .collect();
    DeliveryIntent::Push(PushIntent {
        repository: push.repository.full_name.clone(),
        branch: branch.to_owned(),
        commit,
        authors,
        commits,
    })
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
        assert_eq!(
            verify_signature(b"s3cret", b"{}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"s3cret", b"{}", None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(b"s3cret", b"{}", Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(
                b"s3cret",
                b"{}",
                Some(&format!("sha256={}", "zz".repeat(32)))
            ),
            Err(SignatureError::Malformed)
        );
        // A signature of the right form over a different body.
        assert_eq!(
            verify_signature(b"s3cret", b"{ }", Some(&sign(b"s3cret", b"{}"))),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn github_documented_signature_example_verifies() {
        // GitHub's docs: secret "It's a Secret to Everybody", payload "Hello, World!".
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            expected
        );
    }
}
