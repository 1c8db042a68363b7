//! The real OpenID provider for sign-in tests: npm `oidc-provider`, run by
//! `end2end/peers/oidc.mjs`, and a person at a browser, played by a small HTTP client that
//! keeps the provider's cookies, fills in its login form, and hands the provider's redirect
//! back to Shipgate the way a browser would.
#![allow(dead_code)]

use super::{Reply, TestApp};
use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shipgate::config::{AuthMode, AuthSettings, OidcSettings, Settings};
use shipgate_pipeline::access::{Grant, Role, RoleRule, RuleSubject, Scope};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const CLIENT_ID: &str = "shipgate";
pub const CLIENT_SECRET: &str = "test-oidc-client-secret-0123456789";
/// Shipgate's public URL in sign-in tests; the provider sends browsers to its callback.
pub const PUBLIC_URL: &str = "http://shipgate.test";
pub const PASSWORD: &str = "password";

/// One test person per role, plus people the rules leave out.
pub const USERS: &str = r#"[
  {"sub": "vera", "email": "vera@example.com", "name": "Vera Viewer", "groups": ["viewers"], "password": "password"},
  {"sub": "bob", "email": "bob@example.com", "name": "Bob Deployer", "groups": ["developers"], "password": "password"},
  {"sub": "alice", "email": "alice@example.com", "name": "Alice Release", "groups": ["release-managers"], "password": "password"},
  {"sub": "paula", "email": "paula@example.com", "name": "Paula Payments", "groups": ["hello-production"], "password": "password"},
  {"sub": "admin", "email": "admin@example.com", "name": "Ada Admin", "groups": ["admins"], "password": "password"},
  {"sub": "eve", "email": "eve@elsewhere.test", "name": "Eve Outsider", "groups": [], "password": "password"},
  {"sub": "mallory", "email": "mallory@example.com", "name": "Unverified Mallory", "groups": [], "password": "password", "email_verified": false}
]"#;

/// The email of the test person who holds `role` everywhere.
pub fn user_for(role: Role) -> &'static str {
    match role {
        Role::Viewer => "vera@example.com",
        Role::Deployer => "bob@example.com",
        Role::ReleaseManager => "alice@example.com",
        Role::Admin => "admin@example.com",
    }
}

/// The role rules the sign-in tests configure: groups for roles, and the example.com
/// domain as an allowlist of viewers.
pub fn rules() -> Vec<RoleRule> {
    let group = |g: &str, role| RoleRule {
        subject: RuleSubject::Group(g.into()),
        grant: Grant::everywhere(role),
    };
    vec![
        RoleRule {
            subject: RuleSubject::Domain("example.com".into()),
            grant: Grant::everywhere(Role::Viewer),
        },
        group("developers", Role::Deployer),
        group("release-managers", Role::ReleaseManager),
        group("admins", Role::Admin),
        RoleRule {
            subject: RuleSubject::Group("hello-production".into()),
            grant: Grant {
                role: Role::ReleaseManager,
                scope: Scope {
                    pipelines: vec!["hello".into()],
                    environments: vec!["production".into()],
                },
            },
        },
    ]
}

pub struct Provider {
    child: Child,
    pub issuer: String,
    _users: tempfile::NamedTempFile,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    pub fn start() -> Provider {
        let mut users = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut users, USERS.as_bytes()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../end2end/peers/oidc.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .args([
                "--port",
                "0",
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .args(["--redirect-uri", &format!("{PUBLIC_URL}/auth/callback")])
            .arg("--users")
            .arg(users.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "node {}: {e}; run `npm ci` in end2end/ (the test command does)",
                    script.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("oidc peer said: {line:?}"))
            .to_owned();
        Provider {
            child,
            issuer,
            _users: users,
        }
    }

    /// Test settings in OpenID mode against this provider.
    pub fn settings(&self) -> Settings {
        let mut settings = super::settings();
        settings.public_url = Some(PUBLIC_URL.into());
        settings.auth = AuthSettings {
            mode: AuthMode::Oidc(OidcSettings {
                issuer: self.issuer.clone(),
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.to_owned().into(),
                scopes: ["openid", "email", "profile", "groups"]
                    .map(String::from)
                    .to_vec(),
                groups_claim: "groups".into(),
                rules: rules(),
            }),
            ..AuthSettings::default()
        };
        settings
    }

    /// Makes the provider's next ID token carry a wrong value (see `oidc.mjs`).
    pub async fn spoil_next_id_token(&self, spoil: Value) {
        let reply = self
            .request(
                "POST",
                &format!("{}/_test/next-id-token", self.issuer),
                &Cookies::default(),
                Some(("application/json", spoil.to_string())),
            )
            .await;
        assert!(
            reply.status < 300,
            "next-id-token: {} {}",
            reply.status,
            reply.body
        );
    }

    /// A bare HTTP/1.1 exchange with the provider.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        cookies: &Cookies,
        body: Option<(&str, String)>,
    ) -> Raw {
        let rest = url.strip_prefix("http://").expect("the provider is http");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("provider reachable");
        let (content_type, body) = body.unwrap_or(("text/plain", String::new()));
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if method != "GET" {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(cookie) = cookies.header() {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        Raw::parse(&bytes)
    }
}

/// A parsed HTTP/1.1 response (chunked bodies are joined).
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Raw {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A browser's cookie jar, simplified: one value per name, paths ignored.
#[derive(Debug, Default, Clone)]
pub struct Cookies(pub HashMap<String, String>);

impl Cookies {
    pub fn take_from<'a>(&mut self, set_cookies: impl Iterator<Item = &'a str>) {
        for line in set_cookies {
            let pair = line.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty()
                    || line.to_ascii_lowercase().contains("max-age=0")
                    || line.contains("expires=Thu, 01 Jan 1970")
                {
                    self.0.remove(name.trim());
                } else {
                    self.0
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    pub fn header(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Where test browsers connect from, so the audit log's IP can be checked.
pub const BROWSER_ADDR: std::net::SocketAddr = std::net::SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7)),
    40000,
);

/// Where the provider sent the browser back to Shipgate: the callback path with its query.
pub struct Callback(pub String);

/// A person at a browser: Shipgate's cookies and the provider's, kept apart.
#[derive(Default, Clone)]
pub struct Browser {
    pub shipgate: Cookies,
    pub provider: Cookies,
}

impl Browser {
    /// A request to Shipgate carrying this browser's cookies, as a same-origin page would.
    pub async fn send(
        &mut self,
        app: &TestApp,
        request: axum::http::request::Builder,
        body: Body,
    ) -> Reply {
        let mut request = request
            .header("sec-fetch-site", "same-origin")
            .extension(axum::extract::ConnectInfo(BROWSER_ADDR));
        if let Some(cookie) = self.shipgate.header() {
            request = request.header("cookie", cookie);
        }
        let reply = app.send(request.body(body).unwrap()).await;
        self.shipgate.take_from(
            reply
                .headers
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        reply
    }

    pub async fn get(&mut self, app: &TestApp, path: &str) -> Reply {
        self.send(app, Request::get(path), Body::empty()).await
    }

    /// Follows the provider's redirects from `url` through its login form, signing in as
    /// `email`, until it sends the browser back to Shipgate's callback.
    pub async fn log_in_at_provider(
        &mut self,
        provider: &Provider,
        url: &str,
        email: &str,
        password: &str,
    ) -> Result<Callback, Raw> {
        let mut next = url.to_owned();
        for _ in 0..10 {
            if let Some(path) = next.strip_prefix(PUBLIC_URL) {
                return Ok(Callback(path.to_owned()));
            }
            let absolute = if next.starts_with('/') {
                format!("{}{next}", provider.issuer)
            } else {
                next.clone()
            };
            let reply = provider
                .request("GET", &absolute, &self.provider, None)
                .await;
            self.provider.take_from(
                reply
                    .headers
                    .iter()
                    .filter(|(k, _)| k == "set-cookie")
                    .map(|(_, v)| v.as_str()),
            );
            let reply = if reply.status == 200 && reply.body.contains("name=\"login\"") {
                let form: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("login", email)
                    .append_pair("password", password)
                    .finish();
                let posted = provider
                    .request(
                        "POST",
                        &absolute,
                        &self.provider,
                        Some(("application/x-www-form-urlencoded", form)),
                    )
                    .await;
                self.provider.take_from(
                    posted
                        .headers
                        .iter()
                        .filter(|(k, _)| k == "set-cookie")
                        .map(|(_, v)| v.as_str()),
                );
                posted
            } else {
                reply
            };
            match reply.header("location") {
                Some(location) if (300..400).contains(&reply.status) => next = location.to_owned(),
                _ => return Err(reply),
            }
        }
        panic!("the provider redirected more than 10 times");
    }

    /// Starts a sign-in at Shipgate and returns the provider URL it redirected to.
    pub async fn start_sign_in(&mut self, app: &TestApp, next: &str) -> String {
        let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let reply = self
            .get(app, &format!("/auth/sign-in?next={encoded}"))
            .await;
        assert_eq!(reply.status, 303, "sign-in start: {}", reply.text());
        reply.headers["location"].to_str().unwrap().to_owned()
    }

    /// The whole flow: Shipgate → provider login → callback. Returns the callback's reply.
    pub async fn sign_in(&mut self, app: &TestApp, provider: &Provider, email: &str) -> Reply {
        let url = self.start_sign_in(app, "/").await;
        let Callback(path) = self
            .log_in_at_provider(provider, &url, email, PASSWORD)
            .await
            .unwrap_or_else(|r| panic!("provider login: {} {}", r.status, r.body));
        self.get(app, &path).await
    }
}

/// A signed-in browser for each role, through the real flow.
pub async fn browsers_by_role(app: &TestApp, provider: &Provider) -> Vec<(Role, Browser)> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let mut browser = Browser::default();
        let reply = browser.sign_in(app, provider, user_for(role)).await;
        assert_eq!(reply.status, 303, "{role} sign-in: {}", reply.text());
        out.push((role, browser));
    }
    out
}

pub fn json_body(value: Value) -> Body {
    Body::from(value.to_string())
}

pub fn no_body() -> Value {
    json!(null)
}
