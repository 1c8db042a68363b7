//! Shipgate's calls out to the world other than AWS: chat and webhook notifications, and
//! GitHub's REST API (deployments, deployment statuses, commit comparisons) through
//! octocrab. The engine decides what to send and records the outcome; this module only
//! makes the calls and says whether a failure is worth retrying.

use crate::config::GitHubApi;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use octocrab::Octocrab;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use shipgate_pipeline::discovery::{GitHubDiscovery, GitHubRepository};
use std::time::Duration;

mod heads;
pub use heads::{BudgetReport, CommitFacts, Fetched, HeadComparison, LoggedPayload};

pub(crate) type Https =
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// An HTTP/1 client for https and http URLs that trusts the system's root certificates.
pub(crate) fn https_client() -> anyhow::Result<HyperClient<Https, Full<Bytes>>> {
    use anyhow::Context;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .context("cannot load the system's root certificates")?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(HyperClient::builder(TokioExecutor::new()).build(connector))
}

/// One message in the outbox, as stored (JSON) and sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Message {
    /// POST `payload` as JSON to a notifier's URL.
    Notifier {
        url: String,
        payload: serde_json::Value,
    },
    /// Set the deployment status of a run's environment on GitHub, creating the deployment first.
    GitHub(DeploymentUpdate),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentUpdate {
    /// `owner/name`.
    pub repository: String,
    pub sha: String,
    pub environment: String,
    pub production: bool,
    pub state: String,
    pub description: String,
    /// The run page, shown on GitHub as the deployment's log.
    pub log_url: String,
}

/// Why a call failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A network error, a timeout, a 5xx, 408 or 429: try again later.
    #[error("{0}")]
    Retry(String),
    /// The receiver refused the message (any other 4xx): trying again would get the same.
    #[error("{0}")]
    Refused(String),
    /// Nothing to send with: GitHub feedback is off.
    #[error("GitHub is not configured (no github_token)")]
    NoGitHub,
}

impl SendError {
    fn from_status(status: u16, what: String) -> SendError {
        if status >= 500 || status == 408 || status == 429 {
            SendError::Retry(what)
        } else {
            SendError::Refused(what)
        }
    }
}

/// How many pages of 100 repositories the pipeline form reads: an organisation's most
/// recently pushed 500 are the likely ones; any other can still be typed in.
pub const REPOSITORY_PAGES: u32 = 5;

/// A receiver's answer is cut at this size in error messages.
const ERROR_BODY_CHARS: usize = 300;
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Outbound {
    http: HyperClient<Https, Full<Bytes>>,
    github: Option<Octocrab>,
    /// GitHub's rate limit as its answers to the reconcile reads report it.
    budget: heads::GitHubBudget,
}

impl Outbound {
    pub fn new(github: Option<&GitHubApi>) -> anyhow::Result<Outbound> {
        use anyhow::Context;
        let github = match github {
            None => None,
            Some(api) => Some(
                Octocrab::builder()
                    .base_uri(api.api_url.as_str())
                    .with_context(|| format!("github_api_url `{}` is not a URL", api.api_url))?
                    .personal_token(api.token.expose_secret().to_owned())
                    .set_connect_timeout(Some(TIMEOUT))
                    .set_read_timeout(Some(TIMEOUT))
                    .build()
                    .context("cannot build the GitHub client")?,
            ),
        };
        Ok(Outbound {
            http: https_client()?,
            github,
            budget: Default::default(),
        })
    }

    /// Whether GitHub is configured: without it, nothing is sent there.
    pub fn has_github(&self) -> bool {
        self.github.is_some()
    }

    /// POSTs `payload` to a notifier. Any 2xx is delivery.
    pub async fn notify(&self, url: &str, payload: &serde_json::Value) -> Result<(), SendError> {
        let body = serde_json::to_vec(payload).map_err(|e| SendError::Refused(e.to_string()))?;
        let request = axum::http::Request::post(url)
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .header(
                axum::http::header::USER_AGENT,
                concat!("shipgate/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Refused(format!("not a usable URL: {e}")))?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| SendError::Retry(format!("no answer within {}s", TIMEOUT.as_secs())))?
            .map_err(|e| {
                SendError::Retry(format!(
                    "cannot reach the receiver: {}",
                    crate::error_chain(&e)
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text: String = String::from_utf8_lossy(&body)
            .chars()
            .take(ERROR_BODY_CHARS)
            .collect();
        Err(SendError::from_status(
            status.as_u16(),
            format!("the receiver answered {status}: {}", text.trim()),
        ))
    }

    fn github(&self) -> Result<&Octocrab, SendError> {
        self.github.as_ref().ok_or(SendError::NoGitHub)
    }

    /// The repositories the token can see (`GET /user/repos`), most recently pushed first,
    /// up to [`REPOSITORY_PAGES`] pages of 100; `truncated` when there may be more.
    pub async fn repositories(&self) -> Result<GitHubDiscovery, SendError> {
        #[derive(Serialize)]
        struct Query {
            sort: &'static str,
            per_page: u8,
            page: u32,
        }
        #[derive(Deserialize)]
        struct Listed {
            full_name: String,
            #[serde(default)]
            default_branch: String,
            #[serde(default)]
            private: bool,
        }
        let github = self.github()?;
        let mut found = GitHubDiscovery::default();
        for page in 1..=REPOSITORY_PAGES {
            let listed: Vec<Listed> = github
                .get(
                    "/user/repos",
                    Some(&Query {
                        sort: "pushed",
                        per_page: 100,
                        page,
                    }),
                )
                .await
                .map_err(github_error)?;
            let full = listed.len() == 100;
            found
                .repositories
                .extend(listed.into_iter().map(|r| GitHubRepository {
                    full_name: r.full_name,
                    default_branch: r.default_branch,
                    private: r.private,
                }));
            if !full {
                return Ok(found);
            }
        }
        found.truncated = true;
        Ok(found)
    }

    /// What the token may do in `full_name` (`GET /repos/{owner}/{repo}`), and the
    /// repository's and owner's immutable ids (for the OIDC trust policy's newer form).
    pub async fn repository_access(&self, full_name: &str) -> Result<RepositoryAccess, SendError> {
        #[derive(Deserialize)]
        struct Repo {
            id: u64,
            owner: Owner,
            #[serde(default)]
            permissions: Option<Permissions>,
        }
        #[derive(Deserialize)]
        struct Owner {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Permissions {
            #[serde(default)]
            push: bool,
        }
        let github = self.github()?;
        let repo: Repo = github
            .get(format!("/repos/{full_name}"), None::<&()>)
            .await
            .map_err(github_error)?;
        Ok(RepositoryAccess {
            repository_id: repo.id,
            owner_id: repo.owner.id,
            can_write: repo.permissions.is_some_and(|p| p.push),
        })
    }

    /// The deployment Shipgate made for `run_id` in an environment, found by its payload:
    /// for a retry after a crash between creating one and storing its id.
    pub async fn find_deployment(
        &self,
        update: &DeploymentUpdate,
        run_id: i64,
    ) -> Result<Option<i64>, SendError> {
        #[derive(Serialize)]
        struct Query<'a> {
            sha: &'a str,
            environment: &'a str,
            per_page: u8,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: i64,
            #[serde(default)]
            payload: serde_json::Value,
        }
        let route = format!("/repos/{}/deployments", update.repository);
        let listed: Vec<Listed> = self
            .github()?
            .get(
                route,
                Some(&Query {
                    sha: &update.sha,
                    environment: &update.environment,
                    per_page: 100,
                }),
            )
            .await
            .map_err(github_error)?;
        Ok(listed
            .into_iter()
            .find(|d| {
                d.payload
                    .get("shipgate_run")
                    .and_then(serde_json::Value::as_i64)
                    == Some(run_id)
            })
            .map(|d| d.id))
    }

    /// Creates the GitHub deployment for a run's environment. It never merges the default
    /// branch in and requires no status checks: the commit was already built and checked.
    pub async fn create_deployment(
        &self,
        update: &DeploymentUpdate,
        run_id: i64,
    ) -> Result<i64, SendError> {
        #[derive(Deserialize)]
        struct Created {
            id: i64,
        }
        let body = serde_json::json!({
            "ref": update.sha,
            "environment": update.environment,
            "auto_merge": false,
            "required_contexts": [],
            "description": format!("Shipgate run #{run_id}"),
            "payload": { "shipgate_run": run_id },
            "production_environment": update.production,
            "transient_environment": false,
        });
        let route = format!("/repos/{}/deployments", update.repository);
        let created: Created = self
            .github()?
            .post(route, Some(&body))
            .await
            .map_err(github_error)?;
        Ok(created.id)
    }

    pub async fn set_deployment_status(
        &self,
        update: &DeploymentUpdate,
        deployment_id: i64,
    ) -> Result<(), SendError> {
        let body = serde_json::json!({
            "state": update.state,
            "description": update.description,
            "log_url": update.log_url,
            "environment": update.environment,
            "auto_inactive": true,
        });
        let route = format!(
            "/repos/{}/deployments/{deployment_id}/statuses",
            update.repository
        );
        let _: serde_json::Value = self
            .github()?
            .post(route, Some(&body))
            .await
            .map_err(github_error)?;
        Ok(())
    }

    /// The commits in `head` that `base` lacks, oldest first (GitHub lists at most 250).
    /// Only the fields shown are read, so the rest of GitHub's answer may change freely.
    pub async fn compare(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> Result<Comparison, SendError> {
        #[derive(Deserialize)]
        struct Found {
            total_commits: i64,
            html_url: String,
            commits: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            sha: String,
            html_url: String,
            commit: Inner,
            author: Option<Login>,
        }
        #[derive(Deserialize)]
        struct Inner {
            message: String,
            author: Option<Named>,
        }
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        #[derive(Deserialize)]
        struct Named {
            name: String,
        }
        let route = format!("/repos/{repository}/compare/{base}...{head}");
        let found: Found = self
            .github()?
            .get(route, None::<&()>)
            .await
            .map_err(github_error)?;
        Ok(Comparison {
            total: found.total_commits,
            url: found.html_url,
            commits: found
                .commits
                .into_iter()
                .map(|c| CommitLine {
                    title: c
                        .commit
                        .message
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    author: c
                        .author
                        .map(|a| a.login)
                        .or(c.commit.author.map(|a| a.name))
                        .unwrap_or_default(),
                    sha: c.sha,
                    url: c.html_url,
                })
                .collect(),
        })
    }
}

/// What a token may do in one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryAccess {
    pub repository_id: u64,
    pub owner_id: u64,
    /// Write (push) access, which creating deployments and their statuses needs.
    pub can_write: bool,
}

/// What a GitHub compare found.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub total: i64,
    pub url: String,
    pub commits: Vec<CommitLine>,
}

#[derive(Debug, Clone)]
pub struct CommitLine {
    pub sha: String,
    pub title: String,
    pub author: String,
    pub url: String,
}

fn github_error(e: octocrab::Error) -> SendError {
    match e {
        octocrab::Error::GitHub { source, .. } => SendError::from_status(
            source.status_code.as_u16(),
            format!("GitHub answered {}: {}", source.status_code, source.message),
        ),
        other => SendError::Retry(format!(
            "cannot reach GitHub: {}",
            crate::error_chain(&other)
        )),
    }
}
