//! The GitHub reads behind "never miss a push": branch heads, commits, comparisons and a
//! hook's delivery log. They are conditional (`If-None-Match`), so an unchanged answer is a
//! 304 that GitHub does not count against the rate limit, and every answer's rate-limit
//! headers are read, so that once the budget is spent (or a secondary limit says
//! `Retry-After`) no call is made until GitHub says calls may go on.

use super::{Outbound, SendError, github_error};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use shipgate_pipeline::read::PushedCommit;
use shipgate_pipeline::reconcile::{Ahead, LoggedDelivery, RateLimitHeaders, pause_until};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What this process knows of its GitHub rate limit, and how many calls it made.
#[derive(Default)]
pub struct GitHubBudget {
    /// No call before this (wall-clock ms).
    paused_until: Mutex<Option<i64>>,
    /// The last `X-RateLimit-Remaining` GitHub sent.
    remaining: Mutex<Option<u64>>,
    calls: AtomicU64,
    not_modified: AtomicU64,
}

/// Counts for tests, benchmarks and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetReport {
    /// Requests sent to GitHub by these reads.
    pub calls: u64,
    /// Of those, answered 304 Not Modified (free of rate limit).
    pub not_modified: u64,
    pub remaining: Option<u64>,
    pub paused_until: Option<i64>,
}

/// A conditional read's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched<T> {
    /// 304: what was read last time still holds.
    NotModified,
    Fresh {
        value: T,
        etag: Option<String>,
    },
}

/// A commit as `GET /repos/{o}/{r}/commits/{sha}` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFacts {
    pub sha: String,
    pub message: String,
    /// The author's GitHub login, else their name.
    pub author: String,
    /// Emails and logins of the author and committer, lowercased.
    pub people: Vec<String>,
    /// RFC 3339, as GitHub writes it.
    pub committed_at: String,
    pub url: String,
}

/// How the head compares with a base, and the commits it adds (oldest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadComparison {
    pub ahead: Ahead,
    pub commits: Vec<PushedCommit>,
    /// Emails and logins of the added commits' authors, lowercased.
    pub people: Vec<String>,
    pub url: String,
}

/// A delivery read back from the log: its event and the payload GitHub sent.
#[derive(Debug, Clone)]
pub struct LoggedPayload {
    pub guid: String,
    pub event: String,
    pub payload: Bytes,
}

fn wall_ms() -> i64 {
    crate::clock::wall_ms()
}

fn header_num<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl GitHubBudget {
    pub fn report(&self) -> BudgetReport {
        BudgetReport {
            calls: self.calls.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            remaining: *self.remaining.lock().unwrap_or_else(|e| e.into_inner()),
            paused_until: *self.paused_until.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// `Some(until)` while GitHub asked for no calls.
    pub fn paused(&self, now: i64) -> Option<i64> {
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        match *paused {
            Some(until) if until > now => Some(until),
            Some(_) => {
                *paused = None;
                None
            }
            None => None,
        }
    }

    fn heard(&self, status: StatusCode, headers: &HeaderMap, now: i64) {
        let limits = RateLimitHeaders {
            status: status.as_u16(),
            remaining: header_num(headers, "x-ratelimit-remaining"),
            reset_secs: header_num(headers, "x-ratelimit-reset"),
            retry_after_secs: header_num(headers, "retry-after"),
        };
        if limits.remaining.is_some() {
            *self.remaining.lock().unwrap_or_else(|e| e.into_inner()) = limits.remaining;
        }
        if let Some(until) = pause_until(limits, now) {
            let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            *paused = Some(paused.map_or(until, |p| p.max(until)));
        }
    }
}

/// The sentence for a read refused because the budget is spent.
pub fn paused_sentence(until: i64) -> String {
    format!(
        "GitHub's API rate limit is spent; Shipgate waits until {} before calling again",
        shipgate_pipeline::time::utc_text(until)
    )
}

impl Outbound {
    pub fn github_budget(&self) -> BudgetReport {
        self.budget.report()
    }

    /// Until when GitHub asked for no calls, if it did.
    pub fn github_paused(&self) -> Option<i64> {
        self.budget.paused(wall_ms())
    }

    /// One GET: refused without a call while the budget is spent; `None` (a 304) when
    /// `etag` still matches; otherwise the body, its `ETag` and the next page's cursor,
    /// with GitHub's error statuses turned into [`SendError`]s in GitHub's words.
    async fn conditional_get_paged(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Option<(Bytes, Option<String>, Option<String>)>, SendError> {
        let github = self.github()?;
        if let Some(until) = self.budget.paused(wall_ms()) {
            return Err(SendError::Retry(paused_sentence(until)));
        }
        let mut headers = HeaderMap::new();
        if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(header::IF_NONE_MATCH, tag);
        }
        self.budget.calls.fetch_add(1, Ordering::Relaxed);
        let response = github
            ._get_with_headers(path, Some(headers))
            .await
            .map_err(github_error)?;
        let status = response.status();
        self.budget.heard(status, response.headers(), wall_ms());
        if status == StatusCode::NOT_MODIFIED {
            self.budget.not_modified.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let next = next_cursor(response.headers());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| SendError::Retry(format!("cannot read GitHub's answer: {e}")))?
            .to_bytes();
        if !status.is_success() {
            #[derive(Deserialize)]
            struct GitHubError {
                message: String,
            }
            let message = serde_json::from_slice::<GitHubError>(&body)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
            let mut why = format!("GitHub answered {status}: {}", message.trim());
            if let Some(until) = self.budget.paused(wall_ms()) {
                why = format!("{why}; {}", paused_sentence(until));
                return Err(SendError::Retry(why));
            }
            return Err(SendError::from_status(status.as_u16(), why));
        }
        Ok(Some((body, etag, next)))
    }

    async fn conditional_get(
        &self,
        path: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<Bytes>, SendError> {
        Ok(match self.conditional_get_paged(path, etag).await? {
            None => Fetched::NotModified,
            Some((value, etag, _)) => Fetched::Fresh { value, etag },
        })
    }

    /// The commit `branch` points at (`GET /repos/{o}/{r}/branches/{branch}`).
    pub async fn branch_head(
        &self,
        repository: &str,
        branch: &str,
        etag: Option<&str>,
    ) -> Result<Fetched<String>, SendError> {
        #[derive(Deserialize)]
        struct Branch {
            commit: Sha,
        }
        #[derive(Deserialize)]
        struct Sha {
            sha: String,
        }
        let path = format!("/repos/{repository}/branches/{}", encode_path(branch));
        Ok(match self.conditional_get(&path, etag).await? {
            Fetched::NotModified => Fetched::NotModified,
            Fetched::Fresh { value, etag } => Fetched::Fresh {
                value: parse::<Branch>(&value, "branch")?.commit.sha,
                etag,
            },
        })
    }

    /// A commit's message, author and time (`GET /repos/{o}/{r}/commits/{sha}`).
    pub async fn commit(&self, repository: &str, sha: &str) -> Result<CommitFacts, SendError> {
        #[derive(Deserialize)]
        struct Found {
            sha: String,
            html_url: String,
            commit: Inner,
            author: Option<Login>,
        }
        #[derive(Deserialize)]
        struct Inner {
            message: String,
            author: Option<Signature>,
            committer: Option<Signature>,
        }
        #[derive(Deserialize)]
        struct Signature {
            name: Option<String>,
            email: Option<String>,
            date: Option<String>,
        }
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        let path = format!("/repos/{repository}/commits/{sha}");
        let Fetched::Fresh { value, .. } = self.conditional_get(&path, None).await? else {
            return Err(SendError::Retry(
                "GitHub answered 304 to an unconditional read".into(),
            ));
        };
        let found: Found = parse(&value, "commit")?;
        let people = owners(
            [
                found.author.as_ref().map(|l| l.login.clone()),
                found.commit.author.as_ref().and_then(|s| s.email.clone()),
            ]
            .into_iter()
            .flatten(),
        );
        Ok(CommitFacts {
            author: found
                .author
                .map(|a| a.login)
                .or_else(|| found.commit.author.as_ref().and_then(|a| a.name.clone()))
                .unwrap_or_default(),
            committed_at: found
                .commit
                .committer
                .as_ref()
                .or(found.commit.author.as_ref())
                .and_then(|s| s.date.clone())
                .unwrap_or_default(),
            people,
            sha: found.sha,
            message: found.commit.message,
            url: found.html_url,
        })
    }

    /// How `head` relates to `base`, and the commits it adds; `None` when `base` is no
    /// longer in the repository (history was rewritten).
    pub async fn compare_heads(
        &self,
        repository: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<HeadComparison>, SendError> {
        #[derive(Deserialize)]
        struct Found {
            status: String,
            html_url: String,
            #[serde(default)]
            commits: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            sha: String,
            commit: Inner,
            author: Option<Login>,
        }
        #[derive(Deserialize)]
        struct Inner {
            message: String,
            author: Option<Signature>,
        }
        #[derive(Deserialize)]
        struct Signature {
            name: Option<String>,
            email: Option<String>,
        }
        #[derive(Deserialize)]
        struct Login {
            login: String,
        }
        let path = format!("/repos/{repository}/compare/{base}...{head}");
        let value = match self.conditional_get(&path, None).await {
            Ok(Fetched::Fresh { value, .. }) => value,
            Ok(Fetched::NotModified) => {
                return Err(SendError::Retry(
                    "GitHub answered 304 to an unconditional read".into(),
                ));
            }
            // GitHub answers 404 when either commit is unknown; the head was just read.
            Err(SendError::Refused(why)) if why.contains("404") => return Ok(None),
            Err(e) => return Err(e),
        };
        let found: Found = parse(&value, "comparison")?;
        let ahead = Ahead::parse(&found.status).ok_or_else(|| {
            SendError::Refused(format!(
                "GitHub's comparison status `{}` is not one Shipgate knows",
                found.status
            ))
        })?;
        let mut people = Vec::new();
        let commits = found
            .commits
            .into_iter()
            .map(|c| {
                people.extend(c.author.as_ref().map(|a| a.login.clone()));
                people.extend(c.commit.author.as_ref().and_then(|a| a.email.clone()));
                PushedCommit {
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
                        .or_else(|| c.commit.author.and_then(|a| a.name))
                        .unwrap_or_default(),
                    sha: c.sha,
                }
            })
            .collect();
        let people = owners(people);
        Ok(Some(HeadComparison {
            ahead,
            commits,
            people,
            url: found.html_url,
        }))
    }

    /// A page of a hook's delivery log, newest first, and the cursor of the next (older)
    /// page. The first page is read conditionally: unchanged, it is a free 304.
    pub async fn hook_deliveries(
        &self,
        repository: &str,
        hook_id: i64,
        cursor: Option<&str>,
        etag: Option<&str>,
    ) -> Result<Fetched<(Vec<LoggedDelivery>, Option<String>)>, SendError> {
        #[derive(Deserialize)]
        struct Listed {
            id: i64,
            guid: String,
            #[serde(default)]
            event: String,
            #[serde(default)]
            status_code: u16,
            delivered_at: String,
        }
        let mut path = format!("/repos/{repository}/hooks/{hook_id}/deliveries?per_page=100");
        if let Some(cursor) = cursor {
            path.push_str("&cursor=");
            path.push_str(&encode_path(cursor));
        }
        let (value, etag, next) = match self.conditional_get_paged(&path, etag).await? {
            None => return Ok(Fetched::NotModified),
            Some(found) => found,
        };
        let listed: Vec<Listed> = parse(&value, "delivery list")?;
        let log = listed
            .into_iter()
            .map(|d| LoggedDelivery {
                id: d.id,
                guid: d.guid,
                event: d.event,
                status_code: d.status_code,
                delivered_at: shipgate_pipeline::reconcile::commit_time(&d.delivered_at)
                    .unwrap_or(0),
            })
            .collect();
        Ok(Fetched::Fresh {
            value: (log, next),
            etag,
        })
    }

    /// One logged delivery's event and payload (`GET …/hooks/{id}/deliveries/{delivery}`).
    pub async fn hook_delivery(
        &self,
        repository: &str,
        hook_id: i64,
        delivery: i64,
    ) -> Result<LoggedPayload, SendError> {
        #[derive(Deserialize)]
        struct Found {
            guid: String,
            event: String,
            request: Request,
        }
        #[derive(Deserialize)]
        struct Request {
            payload: serde_json::Value,
        }
        let path = format!("/repos/{repository}/hooks/{hook_id}/deliveries/{delivery}");
        let Fetched::Fresh { value, .. } = self.conditional_get(&path, None).await? else {
            return Err(SendError::Retry(
                "GitHub answered 304 to an unconditional read".into(),
            ));
        };
        let found: Found = parse(&value, "delivery")?;
        Ok(LoggedPayload {
            guid: found.guid,
            event: found.event,
            payload: Bytes::from(
                serde_json::to_vec(&found.request.payload).expect("JSON values serialize"),
            ),
        })
    }
}

/// Logins and emails as the self-approval rule compares them: trimmed, lowercased, each once.
fn owners(people: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut owners: Vec<String> = people
        .into_iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, SendError> {
    serde_json::from_slice(body).map_err(|e| {
        SendError::Refused(format!(
            "GitHub's {what} is not in the documented shape: {e}"
        ))
    })
}

/// A branch name or cursor as one path or query segment.
fn encode_path(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// The `cursor` of a `Link` header's `rel="next"` URL.
fn next_cursor(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, rel) = part.split_once(';')?;
        if !rel.contains("rel=\"next\"") {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_pages_cursor_is_read_from_the_link_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LINK,
            HeaderValue::from_static(
                "<https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100&cursor=v1_12>; rel=\"next\", <https://api.github.com/repos/o/r/hooks/1/deliveries?per_page=100>; rel=\"first\"",
            ),
        );
        assert_eq!(next_cursor(&headers).as_deref(), Some("v1_12"));
        assert_eq!(next_cursor(&HeaderMap::new()), None);
    }
}
