//! Sign-in against a real OpenID provider (npm `oidc-provider`, run by the test): the whole
//! authorization code + PKCE flow, sessions in the database, and every way a sign-in must
//! fail. Each test runs on SQLite and PostgreSQL, since sessions live in the store.

mod support;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;
use shipgate::clock::Clock;
use shipgate::clock::wall_ms;
use shipgate::config::AuthSettings;
use shipgate::store::Store;
use shipgate_pipeline::Span;
use std::time::Duration;
use support::TestApp;
use support::oidc::{BROWSER_ADDR, Browser, Callback, PASSWORD, Provider};

fn set_cookie(reply: &support::Reply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("shipgate_session="))
        .unwrap_or_default()
        .to_owned()
}

async fn audit_of(store: &Store, action: &str) -> Vec<shipgate::store::AuditRecord> {
    store
        .list_audit(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == action)
        .collect()
}

on_both_backends! {
    async fn signing_in_opens_a_rotated_session_that_survives_a_restart_until_sign_out(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        let mut browser = Browser::default();

        // Signed out: pages send people to sign in, the API and server functions say 401.
        let page = browser.get(&app, "/runs/1?x=1").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.headers["location"], "/auth/sign-in?next=%2Fruns%2F1%3Fx%3D1");
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401);

        let provider_url = browser.start_sign_in(&app, "/pipelines").await;
        assert!(provider_url.starts_with(&format!("{}/auth?", provider.issuer)), "{provider_url}");
        for part in ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "scope=openid"] {
            assert!(provider_url.contains(part), "the authorization request lacks {part}: {provider_url}");
        }
        let before = browser.shipgate.0.get("shipgate_session").cloned().expect("a session for the pending sign-in");

        let Callback(path) = browser.log_in_at_provider(&provider, &provider_url, "alice@example.com", PASSWORD).await.expect("provider login");
        let done = browser.get(&app, &path).await;
        assert_eq!(done.status, 303, "{}", done.text());
        assert_eq!(done.headers["location"], "/pipelines", "back to the page that asked");
        let cookie = set_cookie(&done);
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(flag), "cookie lacks {flag}: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "an http public URL gets no Secure flag: {cookie}");
        let after = browser.shipgate.0.get("shipgate_session").cloned().unwrap();
        assert_ne!(before, after, "the session id changes at sign-in");

        // The old id is dead: a planted pre-sign-in cookie gives nothing.
        let mut planted = Browser::default();
        planted.shipgate.0.insert("shipgate_session".into(), before);
        assert_eq!(planted.get(&app, "/api/v1/runs").await.status, 401);

        let page = browser.get(&app, "/pipelines").await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains("Alice Release"), "the header names who is signed in");
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 200);

        let signed_in = audit_of(&store, "sign-in").await;
        assert_eq!(signed_in.len(), 1);
        assert_eq!(signed_in[0].actor, "user:alice@example.com");
        assert_eq!(signed_in[0].ip.as_deref(), Some(&*BROWSER_ADDR.ip().to_string()));
        assert!(signed_in[0].detail.contains("release-manager"), "{}", signed_in[0].detail);

        // A restart: a new process on the same database knows the session.
        let restarted = TestApp::with_settings(store.clone(), provider.settings()).await;
        assert_eq!(browser.get(&restarted, "/api/v1/runs").await.status, 200);

        let out = browser.send(&restarted, Request::post("/auth/sign-out"), Body::empty()).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.headers["location"], "/auth/signed-out");
        let mut stolen = Browser::default();
        stolen.shipgate.0.insert("shipgate_session".into(), after);
        assert_eq!(stolen.get(&restarted, "/api/v1/runs").await.status, 401, "a signed-out session is gone everywhere");
        assert_eq!(browser.get(&restarted, "/").await.status, 303);
        assert_eq!(audit_of(&store, "sign-out").await.len(), 1);
    }
}

on_both_backends! {
    async fn a_tampered_or_replayed_state_signs_no_one_in(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;

        // Tampered: the state that comes back is not the one this browser sent.
        let mut browser = Browser::default();
        let url = browser.start_sign_in(&app, "/").await;
        let Callback(path) = browser.log_in_at_provider(&provider, &url, "admin@example.com", PASSWORD).await.unwrap();
        let tampered = tamper_state(&path);
        let reply = browser.get(&app, &tampered).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert!(reply.text().contains("does not belong to the sign-in this browser started"), "{}", reply.text());
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401);

        // Replayed: a response that was used once is refused the second time, in the same
        // browser and in another one.
        let mut browser = Browser::default();
        let url = browser.start_sign_in(&app, "/").await;
        let Callback(path) = browser.log_in_at_provider(&provider, &url, "admin@example.com", PASSWORD).await.unwrap();
        assert_eq!(browser.get(&app, &path).await.status, 303);
        let again = browser.get(&app, &path).await;
        assert_eq!(again.status, 400, "{}", again.text());
        assert!(again.text().contains("already used"), "{}", again.text());
        let mut thief = Browser::default();
        assert_eq!(thief.get(&app, &path).await.status, 400);
        assert_eq!(thief.get(&app, "/api/v1/runs").await.status, 401);

        let failures = audit_of(&store, "sign-in.failed").await;
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures.iter().any(|f| f.detail.contains("does not belong")));
        assert_eq!(failures.iter().filter(|f| f.detail.contains("already used")).count(), 2);
    }
}

fn tamper_state(path: &str) -> String {
    let (base, query) = path.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            if k == "state" {
                (k.into_owned(), format!("{v}x"))
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    format!(
        "{base}?{}",
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    )
}

on_both_backends! {
    async fn id_tokens_that_do_not_verify_are_refused_and_audited(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        let cases = [
            (json!({"nonce": "not-the-nonce-we-sent"}), "nonce"),
            (json!({"audience": "some-other-client"}), "audience"),
            (json!({"issuer": "http://evil.test"}), "issuer"),
            (json!({"expiresIn": -60}), "expired"),
            (json!({"signature": "foreign"}), "signature"),
        ];
        for (spoil, word) in cases {
            provider.spoil_next_id_token(spoil.clone()).await;
            let mut browser = Browser::default();
            let url = browser.start_sign_in(&app, "/").await;
            let Callback(path) = browser.log_in_at_provider(&provider, &url, "admin@example.com", PASSWORD).await.unwrap();
            let reply = browser.get(&app, &path).await;
            assert_eq!(reply.status, 401, "{spoil}: {}", reply.text());
            assert!(reply.text().contains("could not be verified"), "{spoil}: {}", reply.text());
            assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401, "{spoil}: no session");
            let last = audit_of(&store, "sign-in.failed").await.into_iter().next().expect("audited");
            assert!(last.detail.to_lowercase().contains(word), "{spoil}: the audit names the reason: {}", last.detail);
        }
        assert!(audit_of(&store, "sign-in").await.is_empty());
        // The provider itself was fine all along: an unspoiled token signs in.
        let mut browser = Browser::default();
        assert_eq!(browser.sign_in(&app, &provider, "admin@example.com").await.status, 303);
    }
}

on_both_backends! {
    async fn people_no_rule_grants_a_role_cannot_sign_in(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        // eve is at another domain with no groups; mallory's example.com address is unverified.
        for email in ["eve@elsewhere.test", "mallory@example.com"] {
            let mut browser = Browser::default();
            let reply = browser.sign_in(&app, &provider, email).await;
            assert_eq!(reply.status, 403, "{email}: {}", reply.text());
            assert!(reply.text().contains("has no access"), "{}", reply.text());
            assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401);
        }
        let failures = audit_of(&store, "sign-in.failed").await;
        assert!(failures.iter().any(|f| f.actor == "user:eve@elsewhere.test" && f.detail.contains("no grant")), "{failures:?}");
    }
}

on_both_backends! {
    async fn a_forged_session_cookie_is_worth_nothing(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        for forged in ["AAAAAAAAAAAAAAAAAAAAAA", "not-a-session-id", "Zm9yZ2Vk"] {
            let mut browser = Browser::default();
            browser.shipgate.0.insert("shipgate_session".into(), forged.into());
            assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401, "{forged}");
            assert_eq!(browser.get(&app, "/").await.status, 303, "{forged}");
        }
    }
}

on_both_backends! {
    async fn a_cross_site_post_is_refused_even_with_a_valid_session(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        let mut admin = Browser::default();
        assert_eq!(admin.sign_in(&app, &provider, "admin@example.com").await.status, 303);
        let cookie = admin.shipgate.header().unwrap();
        let body = json!({"name": "evil", "repository": "a/b", "branch": "main", "ecr_repository": "x", "environments": []}).to_string();
        let cross_site = [
            ("/api/v1/pipelines", vec![("sec-fetch-site", "cross-site")]),
            ("/api/v1/pipelines", vec![("origin", "http://evil.test")]),
            ("/auth/sign-out", vec![("sec-fetch-site", "same-site")]),
            ("/api/list_runs", vec![("origin", "null")]),
        ];
        for (path, headers) in cross_site {
            let mut request = Request::builder().method(Method::POST).uri(path).header("cookie", &cookie).header("content-type", "application/json");
            for (k, v) in &headers {
                request = request.header(*k, *v);
            }
            let reply = app.send(request.body(Body::from(body.clone())).unwrap()).await;
            assert_eq!(reply.status, 403, "{path} {headers:?}: {}", reply.text());
            assert!(reply.error().starts_with("cross-site request refused"), "{}", reply.error());
        }
        assert!(store.get_pipeline("evil").await.unwrap().is_none(), "nothing was created");
        // The same request from Shipgate's own page goes through (and fails on its merits).
        let same = admin.send(&app, Request::post("/api/v1/pipelines").header("content-type", "application/json"), Body::from(body)).await;
        assert_eq!(same.status, 422, "{}", same.text());
        assert_eq!(admin.get(&app, "/api/v1/runs").await.status, 200, "still signed in");
    }
}

on_both_backends! {
    async fn a_role_change_is_audited_at_the_next_sign_in(store: Store) {
        let provider = Provider::start();
        let app = TestApp::with_settings(store.clone(), provider.settings()).await;
        assert_eq!(Browser::default().sign_in(&app, &provider, "alice@example.com").await.status, 303);
        assert!(audit_of(&store, "role.change").await.is_empty(), "a first sign-in is not a change");

        // The configuration now makes release managers deployers.
        let mut settings = provider.settings();
        if let shipgate::config::AuthMode::Oidc(oidc) = &mut settings.auth.mode {
            for rule in &mut oidc.rules {
                if rule.grant.role == shipgate_pipeline::Role::ReleaseManager && rule.grant.scope.is_everywhere() {
                    rule.grant.role = shipgate_pipeline::Role::Deployer;
                }
            }
        }
        let app = TestApp::with_settings(store.clone(), settings).await;
        let mut browser = Browser::default();
        assert_eq!(browser.sign_in(&app, &provider, "alice@example.com").await.status, 303);
        let changes = audit_of(&store, "role.change").await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].target, "user:alice@example.com");
        assert_eq!(changes[0].detail, "viewer, release-manager → viewer, deployer");
        // And the new session carries the new role: no gate decisions.
        let reply = browser.send(&app, Request::post("/api/v1/runs/1/environments/production/approve"), Body::empty()).await;
        assert_eq!(reply.status, 403, "{}", reply.text());
    }
}

on_both_backends! {
    async fn sessions_end_after_the_idle_timeout_and_the_absolute_timeout(store: Store) {
        let provider = Provider::start();
        let with_timeouts = |idle: u64, absolute: u64| {
            let mut settings = provider.settings();
            settings.auth = AuthSettings { idle_timeout: Span::millis(idle), absolute_timeout: Span::millis(absolute), ..settings.auth };
            settings
        };
        // Time passes on the app's manual clock, not in the test: sessions are judged on it.
        let wait = |app: &TestApp, ms: u64| app.clock.advance(Duration::from_millis(ms));
        // Idle: unused for longer than the idle timeout.
        let app = TestApp::with_clock(store.clone(), with_timeouts(2500, 60_000), Clock::manual(wall_ms())).await;
        let mut browser = Browser::default();
        assert_eq!(browser.sign_in(&app, &provider, "vera@example.com").await.status, 303);
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 200);
        // Use within the idle timeout keeps it alive, past the first timeout…
        for _ in 0..2 {
            wait(&app, 1500);
            assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 200);
        }
        // …and then nothing for longer than it ends it.
        wait(&app, 3000);
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401, "idle too long");

        // Absolute: busy all along, but older than the absolute timeout.
        let app = TestApp::with_clock(store.clone(), with_timeouts(60_000, 2500), Clock::manual(wall_ms())).await;
        let mut browser = Browser::default();
        assert_eq!(browser.sign_in(&app, &provider, "vera@example.com").await.status, 303);
        for _ in 0..3 {
            wait(&app, 400);
            assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 200);
        }
        wait(&app, 1500);
        assert_eq!(browser.get(&app, "/api/v1/runs").await.status, 401, "too old, however busy");
    }
}

on_both_backends! {
    async fn an_https_public_url_makes_the_session_cookie_secure(store: Store) {
        let provider = Provider::start();
        let mut settings = provider.settings();
        settings.public_url = Some("https://shipgate.example.com".into());
        let app = TestApp::with_settings(store, settings).await;
        let reply = Browser::default().get(&app, "/auth/sign-in?next=/").await;
        assert_eq!(reply.status, 303);
        let cookie = set_cookie(&reply);
        assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    }
}

on_both_backends! {
    async fn local_mode_is_one_labelled_admin_without_sign_in(store: Store) {
        let app = TestApp::new(store).await;
        let page = app.get("/pipelines").await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains("Local mode"), "local mode is labelled on every page");
        assert_eq!(app.get("/auth/sign-in?next=/pipelines").await.headers["location"], "/pipelines");
        // Still no cross-site writes: here everyone is admin, so this matters most.
        let reply = app
            .send(Request::delete("/api/v1/pipelines/hello").header("origin", "http://evil.test").header("host", "127.0.0.1:3000").body(Body::empty()).unwrap())
            .await;
        assert_eq!(reply.status, 403);
    }
}
