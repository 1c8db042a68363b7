//! Administration: API tokens (made, listed, revoked, checked; only their hashes stored) and
//! the audit log's filters and pages, through the store, the REST API and the dashboard, on
//! SQLite and PostgreSQL.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shipgate::clock::wall_ms;
use shipgate::store::access::{NewToken, TokenCheck};
use shipgate::store::{AuditEntry, AuditFilter, Db, Store};
use shipgate_pipeline::access::{Grant, PrincipalKind, Role, Scope};
use support::*;

fn admin() -> AuditEntry {
    AuditEntry {
        actor: "user:root@example.com".into(),
        action: String::new(),
        target: String::new(),
        ip: Some("192.0.2.1".into()),
        detail: String::new(),
        via: None,
    }
}

fn new_token(name: &str, role: Role, expires_at: Option<i64>) -> NewToken {
    NewToken {
        name: name.into(),
        kind: "service".into(),
        owner: None,
        grant: Grant::everywhere(role),
        expires_at,
    }
}

/// Every text column of every token row, as stored.
async fn token_columns(store: &Store) -> Vec<String> {
    let sql = "SELECT name, kind, COALESCE(owner, ''), grant_json, token_hash, prefix, created_by, COALESCE(revoked_by, '') FROM api_tokens";
    type Row = (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = match store.db() {
        Db::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await,
        Db::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await,
    }
    .unwrap();
    rows.into_iter()
        .flat_map(|r| [r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7])
        .collect()
}

// ---- The store ----

on_both_backends! {
    async fn a_token_is_stored_as_its_hash_and_checked_until_revoked(store: Store) {
        let scope = Scope { pipelines: vec!["payments".into()], environments: vec!["production".into()] };
        let new = NewToken {
            name: "alice's scripts".into(),
            kind: "personal".into(),
            owner: Some("alice@example.com".into()),
            grant: Grant { role: Role::ReleaseManager, scope },
            expires_at: Some(wall_ms() + 86_400_000),
        };
        let (token, record) = store.create_token(&new, &admin()).await.unwrap();
        assert!(token.starts_with("sgp_") && token.len() == 4 + 64, "{token}");
        assert!(token.starts_with(&record.prefix) && record.prefix.len() == 10, "{}", record.prefix);
        assert_eq!((record.name.as_str(), record.kind.as_str(), record.owner.as_deref()), ("alice's scripts", "personal", Some("alice@example.com")));
        assert_eq!((record.grant.clone(), record.created_by.as_str(), record.revoked_at, record.last_used_at), (new.grant.clone(), "user:root@example.com", None, None));
        assert_eq!(store.list_tokens().await.unwrap(), vec![record.clone()]);

        // Only the hash is kept: the token is in no column, and the hash is the token's SHA-256.
        let columns = token_columns(&store).await;
        assert!(columns.iter().all(|c| !c.contains(&token) && !c.contains(&token[4..])), "the token is stored: {columns:?}");
        assert!(columns.contains(&hex::encode(Sha256::digest(token.as_bytes()))));

        let principal = match store.check_token(&token).await.unwrap() {
            TokenCheck::Valid(p) => p,
            other => panic!("a fresh token is valid, not {other:?}"),
        };
        // A personal token acts as its owner, and says through which token.
        assert_eq!((principal.id, principal.kind), ("user:alice@example.com".to_owned(), PrincipalKind::Token));
        assert_eq!(principal.name, "alice@example.com via token alice's scripts");
        assert_eq!(principal.via.as_ref().map(|t| (t.id, t.name.as_str())), Some((record.id, "alice's scripts")));
        assert_eq!(principal.grants, vec![new.grant.clone()]);
        assert!(store.get_token(record.id).await.unwrap().unwrap().last_used_at.is_some(), "use is recorded");

        let revoked = store.revoke_token(record.id, &admin()).await.unwrap().expect("the token");
        assert!(revoked.revoked_at.is_some());
        assert_eq!(revoked.revoked_by.as_deref(), Some("user:root@example.com"));
        assert_eq!(store.check_token(&token).await.unwrap(), TokenCheck::Revoked);
        // Twice is not an error, and not audited twice.
        assert_eq!(store.revoke_token(record.id, &admin()).await.unwrap(), Some(revoked));
        assert!(store.revoke_token(record.id + 1000, &admin()).await.unwrap().is_none(), "an unknown token");
        let audit = store.list_audit(Some(&format!("token:{}", record.id)), 10).await.unwrap();
        assert_eq!(audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["token.revoke", "token.create"]);
        assert!(audit.iter().all(|a| a.actor == "user:root@example.com" && a.ip.as_deref() == Some("192.0.2.1")));
        assert!(audit[1].detail.contains(&record.prefix) && !audit[1].detail.contains(&token), "the audit names the prefix, never the token");
    }
}

on_both_backends! {
    async fn expired_unknown_and_malformed_tokens_are_told_apart(store: Store) {
        let (expired, _) = store.create_token(&new_token("old", Role::Admin, Some(wall_ms() - 1_000)), &admin()).await.unwrap();
        assert_eq!(store.check_token(&expired).await.unwrap(), TokenCheck::Expired);
        let (live, _) = store.create_token(&new_token("new", Role::Viewer, Some(wall_ms() + 60_000)), &admin()).await.unwrap();
        assert!(matches!(store.check_token(&live).await.unwrap(), TokenCheck::Valid(_)));
        let unknown = format!("sgp_{}", "0".repeat(64));
        assert_eq!(store.check_token(&unknown).await.unwrap(), TokenCheck::Unknown);
        assert_eq!(store.check_token("not-a-shipgate-token").await.unwrap(), TokenCheck::Unknown);
        // One character off is another token.
        let mut near = live.clone();
        near.pop();
        near.push(if live.ends_with('0') { '1' } else { '0' });
        assert_eq!(store.check_token(&near).await.unwrap(), TokenCheck::Unknown);
    }
}

/// Appends entries as (actor, action, target), oldest first; returns their ids.
async fn append(store: &Store, entries: &[(&str, &str, &str)]) -> Vec<i64> {
    for (actor, action, target) in entries {
        let entry = AuditEntry {
            actor: (*actor).into(),
            action: (*action).into(),
            target: (*target).into(),
            ip: None,
            detail: String::new(),
            via: None,
        };
        store.append_audit(&entry).await.unwrap();
    }
    let mut ids: Vec<i64> = store
        .list_audit(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    ids.reverse();
    ids
}

async fn search(store: &Store, filter: AuditFilter) -> Vec<i64> {
    store
        .search_audit(&filter)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| a.id)
        .collect()
}

on_both_backends! {
    async fn the_audit_log_is_filtered_by_actor_action_and_target(store: Store) {
        let ids = append(&store, &[
            ("user:alice", "gate.approved", "run:1/production"),
            ("user:bob", "gate.rejected", "run:2/production"),
            ("user:alice", "sign-in", "shipgate"),
            ("user:alice", "sign-in.failed", "shipgate"),
            ("user:bob", "run.cancel", "run:1"),
            ("user:bob", "gateway.opened", "run:1"),
            ("user:bob", "GATE.approved", "run:1/production"),
            ("token:7", "gate_approved", "run:1/production"),
        ]).await;
        assert_eq!(ids.len(), 8);
        let at = |i: &[usize]| i.iter().rev().map(|i| ids[*i]).collect::<Vec<_>>();
        let by = |actor: Option<&str>, action: Option<&str>, target: Option<&str>| AuditFilter {
            actor: actor.map(String::from), action: action.map(String::from), target: target.map(String::from), ..AuditFilter::default()
        };

        assert_eq!(search(&store, AuditFilter::default()).await, at(&[0, 1, 2, 3, 4, 5, 6, 7]), "everything, newest first");
        assert_eq!(search(&store, by(Some("user:alice"), None, None)).await, at(&[0, 2, 3]));
        // A prefix ends in `.`: exact characters, case and all; `_` is no wildcard.
        assert_eq!(search(&store, by(None, Some("gate."), None)).await, at(&[0, 1]));
        // Without the dot, an exact action.
        assert_eq!(search(&store, by(None, Some("sign-in"), None)).await, at(&[2]));
        assert_eq!(search(&store, by(None, Some("sign-in."), None)).await, at(&[3]));
        assert_eq!(search(&store, by(None, Some("gate"), None)).await, Vec::<i64>::new());
        assert_eq!(search(&store, by(None, None, Some("run:1/production"))).await, at(&[0, 6, 7]));
        assert_eq!(search(&store, by(Some("user:bob"), Some("gate."), Some("run:2/production"))).await, at(&[1]));
        assert_eq!(search(&store, by(Some("user:alice"), Some("gate."), Some("run:2/production"))).await, Vec::<i64>::new());
    }
}

on_both_backends! {
    async fn the_audit_log_pages_back_by_id_and_ends_without_a_cursor(store: Store) {
        let entries: Vec<(String, String)> = (0..7).map(|i| (if i % 2 == 0 { "user:even" } else { "user:odd" }.to_owned(), format!("test.{i}"))).collect();
        let refs: Vec<(&str, &str, &str)> = entries.iter().map(|(a, b)| (a.as_str(), b.as_str(), "x")).collect();
        let ids = append(&store, &refs).await;

        let mut seen = Vec::new();
        let mut before = None;
        let mut pages = 0;
        loop {
            let page = store.search_audit(&AuditFilter { before, limit: Some(3), ..AuditFilter::default() }).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|a| a.id));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(next), page.items.last().map(|a| a.id), "the cursor is the page's oldest id");
                    before = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ids.iter().rev().copied().collect::<Vec<_>>(), "every entry once, newest first");

        // A page that ends exactly at the last entry says there is nothing older.
        let evens = AuditFilter { actor: Some("user:even".into()), limit: Some(2), ..AuditFilter::default() };
        let first = store.search_audit(&evens).await.unwrap();
        assert_eq!(first.items.len(), 2);
        let second = store.search_audit(&AuditFilter { before: first.next, ..evens }).await.unwrap();
        assert_eq!((second.items.len(), second.next), (2, None));
        // No limit means the default page; nonsense limits are bounded.
        assert_eq!(store.search_audit(&AuditFilter::default()).await.unwrap().items.len(), 7);
        assert_eq!(store.search_audit(&AuditFilter { limit: Some(0), ..AuditFilter::default() }).await.unwrap().items.len(), 1);
    }
}

// ---- The REST API ----

/// A token made through the API by the configured admin token: (token, record).
async fn api_token(app: &TestApp, body: Value) -> (String, Value) {
    let reply = app
        .api(
            Method::POST,
            "/api/v1/tokens",
            Some(body),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let json = reply.json();
    (
        json["token"].as_str().unwrap().to_owned(),
        json["token_record"].clone(),
    )
}

on_both_backends! {
    async fn an_admin_makes_a_token_that_is_shown_once_and_works_until_revoked(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let before = wall_ms();
        let reply = app.api(Method::POST, "/api/v1/tokens",
            Some(json!({"name": "ci-deployer", "role": "deployer", "pipelines": ["hello"], "expires_in_days": 30})), Some(ADMIN_TOKEN)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let created = reply.json();
        let token = created["token"].as_str().unwrap().to_owned();
        let record = &created["token_record"];
        let id = record["id"].as_i64().unwrap();
        assert_eq!(reply.headers["location"], format!("/api/v1/tokens/{id}").as_str());
        assert!(token.starts_with("sgp_"));
        assert_eq!(record["kind"], "service");
        assert_eq!(record["grant"], json!({"role": "deployer", "scope": {"pipelines": ["hello"]}}));
        assert_eq!(record["created_by"], "token:config");
        let expires = record["expires_at"].as_i64().unwrap();
        assert!((before + 30 * 86_400_000..=wall_ms() + 30 * 86_400_000).contains(&expires), "expires in 30 days");
        assert!(record.get("token_hash").is_none() && record.get("token").is_none());

        let list = app.api(Method::GET, "/api/v1/tokens", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.json()["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(), [id]);
        assert!(!list.text().contains(&token) && !list.text().contains("hash"), "the list never holds a secret: {}", list.text());

        // The token acts as a deployer: it reads and operates, it does not administer.
        assert_eq!(app.api(Method::GET, "/api/v1/runs", None, Some(&token)).await.status, StatusCode::OK);
        let refused = app.api(Method::GET, "/api/v1/tokens", None, Some(&token)).await;
        assert_eq!((refused.status, refused.error()), (StatusCode::FORBIDDEN, "this needs the admin role".to_owned()));

        let revoked = app.api(Method::DELETE, &format!("/api/v1/tokens/{id}"), None, Some(ADMIN_TOKEN)).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text());
        assert_eq!(revoked.json()["revoked_by"], "token:config");
        assert!(revoked.json()["revoked_at"].is_i64());
        let after = app.api(Method::GET, "/api/v1/runs", None, Some(&token)).await;
        assert_eq!((after.status, after.error()), (StatusCode::UNAUTHORIZED, "the API token was revoked".to_owned()));

        assert_eq!(app.api(Method::DELETE, "/api/v1/tokens/424242", None, Some(ADMIN_TOKEN)).await.status, StatusCode::NOT_FOUND);
        let not_a_number = app.api(Method::DELETE, "/api/v1/tokens/ci-deployer", None, Some(ADMIN_TOKEN)).await;
        assert_eq!((not_a_number.status, not_a_number.error()), (StatusCode::BAD_REQUEST, "`ci-deployer` is not a token id".to_owned()));

        let audit = app.api(Method::GET, "/api/v1/audit?action=token.", None, Some(ADMIN_TOKEN)).await.json();
        let rows: Vec<(&str, &str, &str)> = audit["items"].as_array().unwrap().iter()
            .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap(), a["target"].as_str().unwrap())).collect();
        let target = format!("token:{id}");
        assert_eq!(rows, [("token:config", "token.revoke", target.as_str()), ("token:config", "token.create", target.as_str())]);
        assert!(!audit.to_string().contains(&token));
    }
}

on_both_backends! {
    async fn a_token_request_is_refused_naming_each_bad_field(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let long = "x".repeat(65);
        let cases = [
            (json!({"role": "viewer"}), vec!["name"]),
            (json!({"name": long, "role": "viewer"}), vec!["name"]),
            (json!({"name": "t", "kind": "robot", "role": "viewer"}), vec!["kind"]),
            (json!({"name": "t", "kind": "personal", "role": "viewer"}), vec!["owner"]),
            (json!({"name": "t", "kind": "personal", "owner": "bob", "role": "viewer"}), vec!["owner"]),
            (json!({"name": "t", "owner": "bob@example.com", "role": "viewer"}), vec!["owner"]),
            (json!({"name": "t", "role": "owner"}), vec!["role"]),
            (json!({"name": "t"}), vec!["role"]),
            (json!({"name": "t", "role": "viewer", "pipelines": ["hello"]}), vec!["pipelines"]),
            (json!({"name": "t", "role": "deployer", "environments": ["production"]}), vec!["environments"]),
            (json!({"name": "t", "role": "release-manager", "pipelines": ["Hello World"]}), vec!["pipelines[0]"]),
            (json!({"name": "t", "role": "deployer", "expires_in_days": 0}), vec!["expires_in_days"]),
            (json!({"name": "t", "role": "deployer", "expires_in_days": 3651}), vec!["expires_in_days"]),
            (json!({"name": "t", "role": "deployer", "expires_in_days": "soon"}), vec!["expires_in_days"]),
            (json!({"name": "t", "role": "deployer", "pipelines": "hello"}), vec!["pipelines"]),
            (json!({"name": "", "kind": "personal", "role": "boss", "expires_in_days": -1}), vec!["name", "owner", "role", "expires_in_days"]),
            // A misspelt field is refused, rather than ignored (which could leave a token unscoped).
            (json!({"name": "t", "role": "deployer", "pipeline": ["hello"]}), vec!["pipeline"]),
        ];
        for (body, fields) in cases {
            let reply = app.api(Method::POST, "/api/v1/tokens", Some(body.clone()), Some(ADMIN_TOKEN)).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text());
            let named: Vec<String> = reply.json()["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_owned()).collect();
            assert_eq!(named, fields, "{body}");
            for field in fields {
                assert!(reply.error().contains(field), "{body}: the message names `{field}`: {}", reply.error());
            }
        }
        let form = app.send(Request::post("/api/v1/tokens").header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .header("content-type", "application/x-www-form-urlencoded").body(Body::from("name=t&role=viewer")).unwrap()).await;
        assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(store.list_tokens().await.unwrap().is_empty(), "nothing refused was made");
    }
}

on_both_backends! {
    async fn an_expired_token_is_refused_as_expired(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let (token, _) = store.create_token(&new_token("old", Role::Admin, Some(wall_ms() - 1)), &admin()).await.unwrap();
        let reply = app.api(Method::GET, "/api/v1/runs", None, Some(&token)).await;
        assert_eq!((reply.status, reply.error()), (StatusCode::UNAUTHORIZED, "the API token has expired".to_owned()));
        assert_eq!(app.get_as("/admin/tokens", &token).await.status, StatusCode::UNAUTHORIZED, "pages refuse it too");
    }
}

on_both_backends! {
    async fn only_an_admin_token_manages_tokens_and_reads_the_audit_log(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let (viewer, _) = api_token(&app, json!({"name": "dashboards", "role": "viewer"})).await;
        let (manager, _) = api_token(&app, json!({"name": "approver", "role": "release-manager"})).await;
        let (admin, admin_record) = api_token(&app, json!({"name": "ops", "kind": "personal", "owner": "root@example.com", "role": "admin"})).await;
        for token in [&viewer, &manager] {
            assert_eq!(app.api(Method::GET, "/api/v1/runs", None, Some(token)).await.status, StatusCode::OK);
            for (method, path, body) in [
                (Method::GET, "/api/v1/tokens", None),
                (Method::POST, "/api/v1/tokens", Some(json!({"name": "mine", "role": "admin"}))),
                (Method::DELETE, "/api/v1/tokens/1", None),
                (Method::GET, "/api/v1/audit", None),
            ] {
                let reply = app.api(method.clone(), path, body, Some(token)).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {path}: {}", reply.text());
                assert_eq!(reply.error(), "this needs the admin role");
            }
        }
        assert_eq!(store.list_tokens().await.unwrap().len(), 3, "no refused call made or revoked a token");

        // An admin token made through the API administers. A personal token's action is its
        // owner's, and the audit log names the token beside them.
        let (_, made) = api_token(&app, json!({"name": "made-by-ops", "role": "viewer"})).await;
        let by_ops = app.api(Method::POST, "/api/v1/tokens", Some(json!({"name": "also-by-ops", "role": "viewer"})), Some(&admin)).await;
        assert_eq!(by_ops.status, StatusCode::CREATED, "{}", by_ops.text());
        assert_eq!(by_ops.json()["token_record"]["created_by"], "user:root@example.com");
        let audit = app.api(Method::GET, "/api/v1/audit?actor=user:root@example.com", None, Some(&admin)).await.json();
        assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
        let entry = &audit["items"][0];
        assert_eq!((entry["action"].as_str(), entry["actor_name"].as_str()), (Some("token.create"), Some("root@example.com via token ops")));
        assert_eq!(entry["via"], json!({"id": admin_record["id"], "name": "ops"}));
        assert_ne!(made["created_by"], "user:root@example.com");

        // A service token is named as the token.
        let (service, service_record) = api_token(&app, json!({"name": "ci-admin", "role": "admin"})).await;
        let by_service = app.api(Method::POST, "/api/v1/tokens", Some(json!({"name": "by-ci", "role": "viewer"})), Some(&service)).await;
        assert_eq!(by_service.status, StatusCode::CREATED, "{}", by_service.text());
        let actor = format!("token:{}", service_record["id"]);
        let audit = app.api(Method::GET, &format!("/api/v1/audit?actor={actor}"), None, Some(&admin)).await.json();
        assert_eq!(audit["items"][0]["actor_name"], "token ci-admin", "{audit}");

        // The audit page shows the same names.
        let page = app.get_as("/admin/audit", &admin).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(html.contains("root@example.com via token ops") && html.contains("token ci-admin"), "{html}");
    }
}

on_both_backends! {
    async fn the_audit_endpoint_pages_and_refuses_unknown_parameters(store: Store) {
        let app = TestApp::new(store.clone()).await;
        for i in 0..3 {
            api_token(&app, json!({"name": format!("t{i}"), "role": "viewer"})).await;
        }
        let first = app.api(Method::GET, "/api/v1/audit?action=token.create&limit=2", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text());
        let first = first.json();
        assert_eq!(first["items"].as_array().unwrap().len(), 2);
        let next = first["next"].as_i64().expect("a cursor to the older page");
        let second = app.api(Method::GET, &format!("/api/v1/audit?action=token.create&limit=2&before={next}"), None, Some(ADMIN_TOKEN)).await.json();
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert_eq!(second["next"], Value::Null);
        assert!(second["items"][0]["id"].as_i64().unwrap() < next);

        let unknown = app.api(Method::GET, "/api/v1/audit?actor=x&colour=red", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert!(unknown.error().contains("`colour`"), "{}", unknown.error());
        let bad_cursor = app.api(Method::GET, "/api/v1/audit?before=yesterday", None, Some(ADMIN_TOKEN)).await;
        assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
        assert!(bad_cursor.error().contains("`before`"), "{}", bad_cursor.error());
    }
}

// ---- The dashboard ----

impl TestApp {
    async fn get_with_cookie(&self, path: &str, cookie: &str) -> Reply {
        self.send(
            Request::get(path)
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn the_admin_pages_render_for_an_admin_and_refuse_others_with_403(store: Store) {
        let app = TestApp::new(store.clone()).await;
        let (secret, record) = api_token(&app, json!({"name": "ci-bot", "role": "release-manager", "pipelines": ["hello"], "environments": ["production"]})).await;
        let (viewer, _) = api_token(&app, json!({"name": "wallboard", "role": "viewer"})).await;

        let tokens = app.get_as("/admin/tokens", ADMIN_TOKEN).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text());
        let html = tokens.text();
        for needle in ["ci-bot", "wallboard", "release-manager (pipelines: hello; environments: production)", record["prefix"].as_str().unwrap(),
                       "by token:config", ">Create token</button>", ">Revoke</button>", "name=\"expires_in_days\""] {
            assert!(html.contains(needle), "the tokens page lacks {needle}");
        }
        assert!(!html.contains(&secret) && !html.contains("Copy it now"), "a listed token's secret is never shown");
        assert!(html.contains("href=\"/admin/tokens\"") && html.contains("href=\"/admin/audit\""), "an admin sees the admin links");

        let audit = app.get_as("/admin/audit?action=token.", ADMIN_TOKEN).await;
        assert_eq!(audit.status, StatusCode::OK);
        let html = audit.text();
        assert_eq!(html.matches("class=\"audit-row\"").count(), 2);
        assert!(html.contains(&format!("token:{}", record["id"])) && html.contains("token.create") && html.contains("token:config"));
        let filtered = app.get_as("/admin/audit?actor=nobody", ADMIN_TOKEN).await.text();
        assert!(filtered.contains("Nothing matches") && filtered.contains("value=\"nobody\""), "the filter is kept in the form");

        for path in ["/admin/tokens", "/admin/audit"] {
            let refused = app.get_as(path, &viewer).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
            let html = refused.text();
            assert!(html.contains("You don&#x27;t have access to this page") || html.contains("You don't have access to this page"), "{path}: {html}");
            assert!(!html.contains("ci-bot") && !html.contains("token.create") && !html.contains("Create token"), "{path} shows nothing to a viewer");
        }
        let runs = app.get_as("/", &viewer).await.text();
        assert!(!runs.contains("href=\"/admin/tokens\"") && !runs.contains("href=\"/admin/audit\""), "a viewer is not offered the admin pages");
    }
}

on_both_backends! {
    async fn without_javascript_a_new_token_is_shown_once_and_can_be_revoked(store: Store) {
        // Local mode: the one user is an admin, and forms post without a bearer token.
        let app = TestApp::new(store.clone()).await;
        let page = app.get("/admin/tokens").await;
        assert_eq!(page.status, StatusCode::OK);
        let create = form_action(&page.text(), "Create token");

        // A refusal comes back to the page, which names the fields.
        let fields = [("name", ""), ("kind", "personal"), ("owner", ""), ("role", "viewer"), ("pipelines", ""), ("environments", ""), ("expires_in_days", "soon")];
        let reply = app.post_form(&create, &fields, "/admin/tokens", None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        assert!(set_cookies(&reply).iter().all(|c| !c.starts_with("shipgate_new_token=")));
        let back = reply.headers["location"].to_str().unwrap().trim_start_matches("http://localhost").to_owned();
        let shown = app.get(&back).await.text();
        for needle in ["name: must not be empty", "owner: is required for a personal token", "expires_in_days: `soon` is not a whole number of days"] {
            assert!(shown.contains(needle), "the page lacks {needle}");
        }
        assert!(store.list_tokens().await.unwrap().is_empty());

        let fields = [("name", "nightly deploy"), ("kind", "service"), ("owner", ""), ("role", "deployer"), ("pipelines", "hello"), ("environments", ""), ("expires_in_days", "7")];
        let reply = app.post_form(&create, &fields, "/admin/tokens", None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        assert_eq!(reply.headers["location"].to_str().unwrap().trim_end_matches('?'), "http://localhost/admin/tokens");
        let kept = set_cookies(&reply).into_iter().find(|c| c.starts_with("shipgate_new_token=")).expect("the token is kept for the next page");
        for attribute in ["Path=/admin/tokens", "HttpOnly", "SameSite=Strict", "Max-Age=300"] {
            assert!(kept.contains(attribute), "{kept} lacks {attribute}");
        }
        assert!(!kept.contains("Secure"), "a plain-HTTP page gets a cookie it can send back");
        let cookie = kept.split(';').next().unwrap().to_owned();
        let token = cookie.split_once('.').unwrap().1.to_owned();
        let [made] = store.list_tokens().await.unwrap().try_into().unwrap();
        assert_eq!((made.name.as_str(), made.grant.role, made.created_by.as_str()), ("nightly deploy", Role::Deployer, "local"));
        assert!(made.expires_at.is_some());

        let once = app.get_with_cookie("/admin/tokens", &cookie).await;
        assert_eq!(once.status, StatusCode::OK);
        let html = once.text();
        assert!(html.contains(&token) && html.contains("Copy it now; it will not be shown again."), "the token is shown");
        assert_eq!(once.headers["cache-control"], "no-store");
        assert!(set_cookies(&once).iter().any(|c| c.starts_with("shipgate_new_token=;") && c.contains("Max-Age=0")), "and forgotten");
        assert!(!app.get("/admin/tokens").await.text().contains(&token), "never shown again");
        // A cookie the browser made up shows nothing.
        let forged = app.get_with_cookie("/admin/tokens", &format!("shipgate_new_token={}.sgp_{}", made.id, "f".repeat(64))).await.text();
        assert!(!forged.contains("Copy it now"));

        assert_eq!(app.api(Method::GET, "/api/v1/runs", None, Some(&token)).await.status, StatusCode::OK, "the shown token works");
        let html = app.get("/admin/tokens").await.text();
        let revoke = form_action(&html, "Revoke");
        let reply = app.post_form(&revoke, &[("id", &made.id.to_string())], "/admin/tokens", None).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.text());
        let after = app.api(Method::GET, "/api/v1/runs", None, Some(&token)).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
        let html = app.get("/admin/tokens").await.text();
        assert!(html.contains("revoked") && !html.contains(">Revoke</button>"), "the page shows it revoked");
        let audit = store.list_audit(Some(&format!("token:{}", made.id)), 10).await.unwrap();
        assert_eq!(audit.iter().map(|a| (a.actor.as_str(), a.action.as_str())).collect::<Vec<_>>(), [("local", "token.revoke"), ("local", "token.create")]);
    }
}
