//! Safe by default (issue 12), in process: without an identity provider, nobody beyond
//! loopback gets a role without a credential (the bootstrap admin password, or local mode's
//! localhost-only rule), and every response carries the browser protections. The store's
//! part (the password, sessions, the audit log) runs on SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;
use shipgate::config::{AuthMode, Settings};
use shipgate::identity::bootstrap;
use shipgate::store::Store;
use support::oidc::Browser;
use support::*;

const PASSWORD: &str = "ab12-cd34-ef56-gh78-jk90-mn12";

/// What `serve --listen 0.0.0.0:3000` with no `[auth]` becomes (the Dockerfile's default).
fn bootstrap_settings() -> Settings {
    let mut s = settings();
    s.listen = "0.0.0.0:0".parse().unwrap();
    s.auth.mode = AuthMode::Bootstrap;
    s
}

fn form(fields: &[(&str, &str)]) -> Body {
    Body::from(
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish(),
    )
}

fn post_form(path: &str) -> axum::http::request::Builder {
    Request::post(path).header("content-type", "application/x-www-form-urlencoded")
}

fn new_pipeline() -> Body {
    let spec = json!({"name": "api", "repository": "octo-org/api", "branch": "main", "ecr_repository": "api",
        "environments": [{"name": "staging", "cluster": "stg", "service": "api", "container": "app", "region": "us-east-1", "promotion": "auto"}]});
    Body::from(spec.to_string())
}

on_both_backends! {
    async fn without_a_provider_beyond_loopback_only_the_bootstrap_password_lets_anyone_in(store: Store) {
        assert!(store.ensure_bootstrap_password(&bootstrap::password_hash(PASSWORD)).await.unwrap(), "the first start makes it");
        assert!(!store.ensure_bootstrap_password(&bootstrap::password_hash("another")).await.unwrap(), "a second start or replica keeps it");
        let app = TestApp::with_settings(store.clone(), bootstrap_settings()).await;
        let mut anonymous = Browser::default();

        // What the issue found open: anonymous writes and reads from the network.
        let create = anonymous.send(&app, Request::post("/api/v1/pipelines").header("content-type", "application/json"), new_pipeline()).await;
        assert_eq!(create.status, StatusCode::UNAUTHORIZED, "{}", create.text());
        assert_eq!(anonymous.get(&app, "/api/v1/runs").await.status, StatusCode::UNAUTHORIZED);
        let page = anonymous.get(&app, "/pipelines").await;
        assert_eq!((page.status, page.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/auth/sign-in?next=%2Fpipelines"));
        assert!(store.get_pipeline("api").await.unwrap().is_none(), "nothing was created");

        let sign_in = anonymous.get(&app, "/auth/sign-in?next=%2Fpipelines").await;
        assert_eq!(sign_in.status, StatusCode::OK);
        let html = sign_in.text();
        assert!(html.contains("name=\"password\"") && html.contains("value=\"/pipelines\""), "{html}");
        assert!(html.contains("showed it once in its log"), "the form says where the password is: {html}");

        let wrong = anonymous.send(&app, post_form("/auth/sign-in"), form(&[("password", "ab12-cd34-ef56-gh78-jk90-mn13"), ("next", "/pipelines")])).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.text().contains("That is not the bootstrap admin password."), "{}", wrong.text());
        assert_eq!(anonymous.get(&app, "/api/v1/runs").await.status, StatusCode::UNAUTHORIZED, "a wrong password opens nothing");

        // Typed as a person might: upper case, no dashes.
        let mut admin = Browser::default();
        let right = admin.send(&app, post_form("/auth/sign-in"), form(&[("password", " AB12CD34EF56GH78JK90MN12 "), ("next", "/pipelines")])).await;
        assert_eq!((right.status, right.headers["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/pipelines"), "{}", right.text());
        let created = admin.send(&app, Request::post("/api/v1/pipelines").header("content-type", "application/json"), new_pipeline()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let page = admin.get(&app, "/pipelines").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("bootstrap admin") && page.text().contains("Sign out"), "the header names who is signed in");

        let audit = store.search_audit(&Default::default()).await.unwrap().items;
        let actions: Vec<(&str, &str, &str)> = audit.iter().map(|a| (a.action.as_str(), a.actor.as_str(), a.actor_name.as_str())).collect();
        assert!(actions.contains(&("sign-in.failed", "anonymous", "anonymous")), "{actions:?}");
        assert!(actions.contains(&("sign-in", "bootstrap-admin", "bootstrap admin")), "{actions:?}");
        assert!(actions.contains(&("pipeline.created", "bootstrap-admin", "bootstrap admin")), "{actions:?}");

        // A restart keeps the session and the password; a reset ends both.
        let restarted = TestApp::with_settings(store.clone(), bootstrap_settings()).await;
        assert_eq!(admin.get(&restarted, "/api/v1/runs").await.status, StatusCode::OK);
        let reset_by = shipgate::store::AuditEntry { actor: "cli:reset-bootstrap-password".into(), action: String::new(), target: String::new(), ip: None, detail: String::new(), via: None };
        store.reset_bootstrap_password(&bootstrap::password_hash("wxyz-0000-1111-2222-3333-4444"), &reset_by).await.unwrap();
        assert_eq!(admin.get(&restarted, "/api/v1/runs").await.status, StatusCode::UNAUTHORIZED, "the reset ended the session");
        let old = admin.send(&restarted, post_form("/auth/sign-in"), form(&[("password", PASSWORD)])).await;
        assert_eq!(old.status, StatusCode::UNAUTHORIZED, "the old password is gone");
        let new = admin.send(&restarted, post_form("/auth/sign-in"), form(&[("password", "wxyz-0000-1111-2222-3333-4444")])).await;
        assert_eq!(new.status, StatusCode::SEE_OTHER);
        assert_eq!(admin.get(&restarted, "/api/v1/runs").await.status, StatusCode::OK);
    }
}

on_both_backends! {
    async fn a_bootstrap_session_is_worthless_once_a_provider_is_configured(store: Store) {
        store.ensure_bootstrap_password(&bootstrap::password_hash(PASSWORD)).await.unwrap();
        let app = TestApp::with_settings(store.clone(), bootstrap_settings()).await;
        let mut admin = Browser::default();
        assert_eq!(admin.send(&app, post_form("/auth/sign-in"), form(&[("password", PASSWORD)])).await.status, StatusCode::SEE_OTHER);
        assert_eq!(admin.get(&app, "/api/v1/runs").await.status, StatusCode::OK);

        let provider = support::oidc::Provider::start();
        let with_oidc = TestApp::with_settings(store.clone(), provider.settings()).await;
        assert_eq!(admin.get(&with_oidc, "/api/v1/runs").await.status, StatusCode::UNAUTHORIZED, "the provider decides who is admin now");
        let posted = admin.send(&with_oidc, post_form("/auth/sign-in"), form(&[("password", PASSWORD)])).await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND, "no password sign-in with a provider: {}", posted.text());
    }
}

/// Local mode, as `scripts/run.sh` starts it (127.0.0.1): a person on this machine needs no
/// sign-in, but a proxy in front of it, or a web page that points its own name at 127.0.0.1,
/// gets no role. The opt-out lets everyone in, on purpose.
#[tokio::test]
async fn local_mode_serves_only_requests_made_to_localhost_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let app = TestApp::new(store.clone()).await;
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = Request::get(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.body(Body::empty()).unwrap()
    };
    for host in ["127.0.0.1:3000", "localhost:3000", "[::1]:3000"] {
        assert_eq!(
            app.send(get("/api/v1/pipelines", &[("host", host)]))
                .await
                .status,
            StatusCode::OK,
            "{host}"
        );
    }
    let refusals: [&[(&str, &str)]; 3] = [
        &[("host", "shipgate.example.com")],
        &[("host", "attacker.example.net:3000")],
        &[
            ("host", "127.0.0.1:3000"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    ];
    for headers in refusals {
        let api = app.send(get("/api/v1/pipelines", headers)).await;
        assert_eq!(api.status, StatusCode::FORBIDDEN, "{headers:?}");
        let error = api.error();
        assert!(
            error.starts_with(
                "Local mode (no sign-in) serves only requests made on this machine to localhost"
            ),
            "{error}"
        );
        assert!(
            error.contains("--allow-local-mode") && error.contains("docs/access.md"),
            "the fix is named: {error}"
        );
        let page = app.send(get("/pipelines", headers)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(
            page.text().contains("Local mode (no sign-in)")
                && !page.text().contains("Local mode</strong>"),
            "a refusal, not the dashboard"
        );
    }
    // A credential still works from anywhere, and signed webhooks need none.
    let mut with_token = get("/api/v1/pipelines", &[("host", "shipgate.example.com")]);
    with_token.headers_mut().insert(
        "authorization",
        format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
    );
    assert_eq!(app.send(with_token).await.status, StatusCode::OK);
    let mut proxied = support::branch_push();
    proxied["after"] = json!("0123456789abcdef0123456789abcdef01234567");
    let body = serde_json::to_vec(&proxied).unwrap();
    let delivery = Request::post("/webhooks/github")
        .header("host", "shipgate.example.com")
        .header("x-forwarded-for", "140.82.115.1")
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "proxied-1")
        .header(
            "x-hub-signature-256",
            shipgate::forge::github::sign(SECRET.as_bytes(), &body),
        )
        .body(Body::from(body))
        .unwrap();
    assert!(
        app.send(delivery).await.status.is_success(),
        "webhooks come through proxies"
    );

    let mut open = settings();
    open.auth.mode = AuthMode::Local {
        loopback_only: false,
    };
    let opened = TestApp::with_settings(store, open).await;
    assert_eq!(
        opened
            .send(get(
                "/api/v1/pipelines",
                &[("host", "shipgate.example.com")]
            ))
            .await
            .status,
        StatusCode::OK,
        "allow_local_mode"
    );
}

/// The directives a content security policy header sets, by name.
fn directives(policy: &str) -> std::collections::HashMap<String, String> {
    policy
        .split(';')
        .filter_map(|d| {
            d.trim()
                .split_once(' ')
                .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn every_response_carries_the_browser_protections() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let app = TestApp::new(store.clone()).await;
    let header = |reply: &Reply, name: &str| {
        reply
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    // A dashboard page: scripts only with this response's nonce, which its hydration script carries.
    let page = app.get("/pipelines").await;
    assert_eq!(page.status, StatusCode::OK);
    let policy = directives(&header(&page, "content-security-policy"));
    let script_src = &policy["script-src"];
    let sources: Vec<&str> = script_src.split_whitespace().collect();
    assert!(
        !sources.contains(&"'unsafe-inline'")
            && !sources.contains(&"'unsafe-eval'")
            && sources.contains(&"'wasm-unsafe-eval'"),
        "{script_src}"
    );
    let nonce = script_src
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-"))
        .and_then(|s| s.strip_suffix('\''))
        .expect("a nonce");
    assert!(nonce.len() >= 22, "128 bits of nonce: {nonce}");
    let html = page.text();
    let scripts: Vec<&str> = html
        .match_indices("<script")
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()])
        .collect();
    assert!(!scripts.is_empty(), "the page has its hydration script");
    for tag in &scripts {
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "an inline script without the nonce: {tag}"
        );
    }
    assert!(
        !html.contains(" style=\""),
        "no inline styles: style-src allows none"
    );
    assert_eq!(
        (
            policy["frame-ancestors"].as_str(),
            policy["object-src"].as_str(),
            policy["base-uri"].as_str()
        ),
        ("'none'", "'none'", "'none'")
    );
    let again = directives(&header(
        &app.get("/pipelines").await,
        "content-security-policy",
    ));
    assert_ne!(
        again["script-src"], *script_src,
        "a new nonce for every response"
    );

    // JSON, redirects, errors and refusals: a policy that runs nothing.
    let api = app
        .api(Method::GET, "/api/v1/pipelines", None, Some(ADMIN_TOKEN))
        .await;
    let refused = app
        .api(Method::GET, "/api/v1/pipelines", None, Some("sgp_wrong"))
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    for (what, reply) in [
        ("a page", &page),
        ("the API", &api),
        ("a refusal", &refused),
        ("a health check", &app.get("/healthz").await),
    ] {
        assert_eq!(header(reply, "x-frame-options"), "DENY", "{what}");
        assert_eq!(header(reply, "x-content-type-options"), "nosniff", "{what}");
        assert_eq!(
            header(reply, "referrer-policy"),
            "same-origin",
            "{what}: decision tokens must not leave in a Referer"
        );
        assert_eq!(header(reply, "cache-control"), "no-store", "{what}");
        assert!(
            header(reply, "strict-transport-security").is_empty(),
            "{what}: no HSTS over plain http"
        );
        assert!(
            directives(&header(reply, "content-security-policy"))
                .get("frame-ancestors")
                .is_some_and(|v| v == "'none'"),
            "{what}"
        );
    }
    assert_eq!(
        header(&api, "content-security-policy"),
        shipgate::web::headers::STRICT_POLICY
    );
    assert!(
        !directives(shipgate::web::headers::STRICT_POLICY).contains_key("script-src"),
        "default-src 'none' covers scripts"
    );

    // Behind https, browsers are told to stay on https.
    let mut https = settings();
    https.public_url = Some("https://shipgate.example.com".into());
    https.auth.mode = AuthMode::Local {
        loopback_only: false,
    };
    let secure = TestApp::with_settings(store, https).await;
    assert_eq!(
        header(&secure.get("/healthz").await, "strict-transport-security"),
        "max-age=31536000"
    );
}

/// The Dockerfile's configuration (every address, no provider, JSON logs), as a real
/// process: the password is shown once, at the first start, and is the only way in; a
/// restart shows nothing new, and `shipgate reset-bootstrap-password` replaces it.
#[test]
fn the_dockerfile_default_asks_for_the_password_it_showed_once_at_first_start() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use support::process::{BIN, free_port, hello_config, http, http_reply, wait_ready};

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("shipgate.db").display());
    let port = free_port();
    // Starts `serve` as the image does; returns the process and a reader of its log lines.
    let start = || {
        let mut child = Command::new(BIN)
            .args(["serve", "--database-url", &db])
            .env("SHIPGATE_LISTEN", format!("0.0.0.0:{port}"))
            .env("SHIPGATE_LOG_FORMAT", "json")
            .env("SHIPGATE_LOG", "info")
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("SHIPGATE_CONFIG", hello_config())
            .env_remove("SHIPGATE_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .expect("shipgate starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .for_each(|line| drop(tx.send(line)))
        });
        wait_ready(port, &mut child);
        (child, rx)
    };
    let stop = |mut child: std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().unwrap();
    };
    let form = |password: &str| {
        format!(
            "password={}",
            form_urlencoded::byte_serialize(password.as_bytes()).collect::<String>()
        )
    };
    let same_site = |cookie: Option<&str>| {
        let mut headers = vec![
            ("sec-fetch-site", "same-origin".to_owned()),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ];
        if let Some(c) = cookie {
            headers.push(("cookie", c.to_owned()));
        }
        headers
    };
    let sign_in = |password: &str| -> (u16, Option<String>) {
        let (status, head, _) = http_reply(
            port,
            "POST",
            "/auth/sign-in",
            &same_site(None),
            form(password).as_bytes(),
        )
        .unwrap();
        let cookie = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .map(|c| c.split(';').next().unwrap().to_owned());
        (status, cookie)
    };
    let shown = |lines: &std::sync::mpsc::Receiver<String>| -> Vec<String> {
        std::thread::sleep(std::time::Duration::from_millis(200));
        lines
            .try_iter()
            .filter_map(|l| {
                l.split("It is shown this once: ")
                    .nth(1)
                    .map(|rest| rest.split_whitespace().next().unwrap().to_owned())
            })
            .collect()
    };

    let (child, lines) = start();
    let passwords = shown(&lines);
    assert_eq!(
        passwords.len(),
        1,
        "the first start shows one password, once"
    );
    let password = &passwords[0];

    // Anonymous callers from the network get nothing.
    let pipeline = br#"{"name":"api","repository":"octo-org/api","branch":"main","ecr_repository":"api","environments":[{"name":"staging","cluster":"stg","service":"api","container":"app","region":"us-east-1","promotion":"auto"}]}"#;
    let json = vec![("content-type", "application/json".to_owned())];
    assert_eq!(
        http(port, "POST", "/api/v1/pipelines", &json, pipeline)
            .unwrap()
            .0,
        401
    );
    assert_eq!(http(port, "GET", "/api/v1/runs", &[], b"").unwrap().0, 401);
    assert_eq!(sign_in("not-the-password").0, 401);

    let (status, cookie) = sign_in(password);
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    let mut with_cookie = json.clone();
    with_cookie.push(("cookie", cookie.clone()));
    with_cookie.push(("sec-fetch-site", "same-origin".to_owned()));
    assert_eq!(
        http(port, "POST", "/api/v1/pipelines", &with_cookie, pipeline)
            .unwrap()
            .0,
        201
    );
    stop(child);

    let (child, lines) = start();
    assert!(shown(&lines).is_empty(), "a restart shows no password");
    assert_eq!(
        http(port, "GET", "/api/v1/runs", &with_cookie, b"")
            .unwrap()
            .0,
        200,
        "the session survived the restart"
    );

    let reset = Command::new(BIN)
        .args(["reset-bootstrap-password", "--database-url", &db])
        .env("SHIPGATE_CONFIG", hello_config())
        .output()
        .unwrap();
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let out = String::from_utf8(reset.stdout).unwrap();
    let fresh = out
        .lines()
        .find_map(|l| l.strip_prefix("new bootstrap admin password: "))
        .expect("the new password is printed")
        .to_owned();
    assert_ne!(&fresh, password);
    assert_eq!(
        http(port, "GET", "/api/v1/runs", &with_cookie, b"")
            .unwrap()
            .0,
        401,
        "the reset ended the session"
    );
    assert_eq!(sign_in(password).0, 401, "the old password is gone");
    assert_eq!(sign_in(&fresh).0, 303);
    stop(child);
}
