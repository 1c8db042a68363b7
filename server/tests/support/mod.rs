//! The test harness: a whole Shipgate app (router, store, delivery writer) on a fresh
//! database, driven in-process through `tower::ServiceExt::oneshot`, plus GitHub's own
//! example payloads (npm `@octokit/webhooks-examples`, vendored in `tests/fixtures/webhooks`),
//! signed as GitHub signs them.
#![allow(dead_code)]

pub mod aws;
pub mod oidc;
pub mod process;
pub mod receivers;

use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use shipgate::clock::Clock;
use shipgate::config::{LogFormat, Settings};
use shipgate::forge::github::sign;
use shipgate::store::{Db, Store};
use shipgate_pipeline::{PipelineDraft, PipelineSpec};
use std::path::PathBuf;
use tower::ServiceExt;

/// Runs literal SQL of the test's own on the store's pool, whichever backend it is: to set
/// up a trigger, write columns only the engine sets, or damage a row as a bad migration or
/// a hand edit would. Panics with the statement if it fails.
pub async fn exec(store: &Store, sql: &str) {
    match store.db() {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Reads one integer (a count, a timestamp) with literal SQL of the test's own, whichever
/// backend the store is. Panics with the statement if it fails.
pub async fn fetch_i64(store: &Store, sql: &str) -> i64 {
    match store.db() {
        Db::Sqlite(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await,
        Db::Postgres(pool) => sqlx::query_as::<_, (i64,)>(sql).fetch_one(pool).await,
    }
    .map(|r| r.0)
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub const SECRET: &str = "It's a Secret to Everybody";
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Runs one test body against SQLite (a WAL file in a temp dir, opened as production opens
/// it) and against PostgreSQL (a fresh database per test, from `#[sqlx::test]`).
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($store:ident : Store) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($store: shipgate::store::Store) $body

            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite:{}", dir.path().join("shipgate.db").display());
                let store = shipgate::store::Store::connect(&url).await.expect("sqlite store");
                body(store).await;
            }

            #[sqlx::test(migrations = false)]
            async fn postgres(pool: sqlx::PgPool) {
                let store = shipgate::store::Store::from_postgres(pool).await.expect("postgres store");
                body(store).await;
            }
        }
    };
}

pub fn settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: String::new(),
        webhook_secret: Some(SecretString::from(SECRET)),
        admin_token: Some(SecretString::from(ADMIN_TOKEN)),
        log_format: LogFormat::Text,
        site_root: PathBuf::from("target/site"),
        pipelines: vec![hello_world_pipeline()],
        config_path: None,
        poll_interval: shipgate_pipeline::Span::millis(50),
        lease: shipgate_pipeline::Span::seconds(5),
        inventory_interval: shipgate_pipeline::Span::seconds(60),
        reconcile_interval: shipgate_pipeline::Span::minutes(5),
        engine: false,
        public_url: None,
        github: None,
        aws_endpoint_url: None,
        auth: shipgate::config::AuthSettings::default(),
    }
}

/// A pipeline tracking the repository and branch GitHub's examples push to.
pub fn hello_world_pipeline() -> PipelineSpec {
    pipeline_json("hello", "Codertocat/Hello-World", "master")
}

pub fn pipeline_json(name: &str, repository: &str, branch: &str) -> PipelineSpec {
    let draft: PipelineDraft = serde_json::from_value(serde_json::json!({
        "name": name, "repository": repository, "branch": branch, "ecr_repository": "hello-world",
        "environments": [
            {"name": "staging", "cluster": "stg", "service": name, "container": "app", "region": "us-east-1", "promotion": "auto"},
            {"name": "production", "cluster": "prod", "service": name, "container": "app", "region": "us-east-1", "promotion": "manual"}
        ]
    }))
    .unwrap();
    draft.validate().unwrap()
}

/// Discovery for tests that give it no AWS stand-in: a closed port, answered at once (or
/// given up on quickly), so that no test reaches for real AWS or its credential chain.
pub fn no_aws() -> shipgate::ops::Discovery {
    shipgate::ops::Discovery::with_limits(
        std::sync::Arc::new(shipgate::aws::Cloud::with_endpoint(
            "http://127.0.0.1:9",
            aws::credentials(),
        )),
        shipgate::aws::DiscoverLimits {
            deadline: std::time::Duration::from_millis(300),
            ..shipgate::aws::DiscoverLimits::default()
        },
        shipgate::ops::DISCOVERY_TTL,
    )
}

pub struct TestApp {
    pub store: Store,
    pub router: axum::Router,
    /// What the binary sends at shutdown.
    pub closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    /// The app's clock: the store's (the system's unless the store was given another), or
    /// the one given to [`TestApp::with_clock`].
    pub clock: Clock,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `error` message of a JSON error reply.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {}", self.text()))
            .to_owned()
    }
}

impl TestApp {
    pub async fn new(store: Store) -> TestApp {
        Self::with_settings(store, settings()).await
    }

    pub async fn with_settings(store: Store, settings: Settings) -> TestApp {
        let clock = store.clock().clone();
        Self::with_clock(store, settings, clock).await
    }

    /// An app whose store, sign-in and sessions go by `clock`: with [`Clock::manual`], a test moves
    /// time on instead of sleeping through timeouts.
    pub async fn with_clock(store: Store, settings: Settings, clock: Clock) -> TestApp {
        let store = store.with_clock(clock.clone());
        shipgate::load_config_pipelines(&store, &settings)
            .await
            .expect("config pipelines load");
        let mut state = shipgate::state(store.clone(), &settings, settings.listen, clock.clone())
            .expect("app state");
        state.discovery = no_aws();
        let closing = state.closing.clone();
        TestApp {
            store,
            router: shipgate::web::router(state),
            closing,
            clock,
        }
    }

    /// An app whose state `adjust` changes before the router is built: to give it the
    /// discovery of an AWS stand-in, say.
    pub async fn with_state(
        store: Store,
        settings: Settings,
        adjust: impl FnOnce(&mut shipgate::web::AppState),
    ) -> TestApp {
        let clock = store.clock().clone();
        let store = store.with_clock(clock.clone());
        shipgate::load_config_pipelines(&store, &settings)
            .await
            .expect("config pipelines load");
        let mut state = shipgate::state(store.clone(), &settings, settings.listen, clock.clone())
            .expect("app state");
        state.discovery = no_aws();
        adjust(&mut state);
        let closing = state.closing.clone();
        TestApp {
            store,
            router: shipgate::web::router(state),
            closing,
            clock,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json()
    }

    /// A JSON request to the REST API, with the admin token unless `token` says otherwise.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&v).unwrap())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    /// Posts a delivery signed with the test secret, as GitHub would.
    pub async fn deliver(&self, event: &str, delivery_id: &str, payload: &Value) -> Reply {
        let body = serde_json::to_vec(payload).unwrap();
        self.deliver_raw(event, delivery_id, "application/json", body, Some(SECRET))
            .await
    }

    pub async fn deliver_raw(
        &self,
        event: &str,
        delivery_id: &str,
        content_type: &str,
        body: Vec<u8>,
        secret: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/webhooks/github")
            .header("content-type", content_type)
            .header("x-github-event", event)
            .header("x-github-delivery", delivery_id)
            .header("user-agent", "GitHub-Hookshot/test");
        if let Some(secret) = secret {
            req = req.header("x-hub-signature-256", sign(secret.as_bytes(), &body));
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    pub async fn counts(&self) -> (i64, i64) {
        self.store.count_deliveries_and_runs().await.unwrap()
    }
}

/// GitHub's example payloads for one event: npm `@octokit/webhooks-examples`, vendored in
/// `tests/fixtures/webhooks/<event>.json` (see its README) so `cargo test` needs no npm.
pub fn examples(event: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(format!("{event}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; vendor `{event}` with scripts/check-fixtures.sh --write",
            path.display()
        )
    });
    let examples: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(
        !examples.is_empty(),
        "no `{event}` examples in {}",
        path.display()
    );
    examples
}

/// The branch push among GitHub's push examples (to `master` of Codertocat/Hello-World).
pub fn branch_push() -> Value {
    examples("push")
        .into_iter()
        .find(|p| p["ref"] == "refs/heads/master" && p["deleted"] == false)
        .expect("a branch push example")
}

/// A gate decision by an admin (who may decide anywhere), on the digest waiting there.
#[allow(dead_code)]
pub async fn decide(
    store: &Store,
    run: i64,
    environment: &str,
    verdict: shipgate_pipeline::gate::Verdict,
    comment: &str,
    actor: &shipgate::store::AuditEntry,
) -> Result<shipgate_pipeline::gate::GateOutcome, shipgate::ops::OpError> {
    // An admin everywhere, audited under the actor's name.
    let principal = shipgate_pipeline::Principal {
        id: actor.actor.clone(),
        via: actor.via.clone(),
        ..shipgate_pipeline::Principal::local()
    };
    let request = shipgate::ops::DecideGate {
        run: shipgate_pipeline::RunId::new(run),
        environment: environment.to_owned(),
        verdict,
        comment: comment.to_owned(),
        digest: None,
        override_freeze: false,
        link: None,
    };
    let engine = shipgate::engine::EngineHandle::default();
    shipgate::ops::Ops::new(store.clone(), engine)
        .decide_gate(
            &shipgate::ops::Acting::new(principal, actor.ip.clone()),
            request,
        )
        .await
}

/// The digest [`image_built`] records.
#[allow(dead_code)]
pub const BUILT_DIGEST: &str =
    "sha256:5e1d2f3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// What the engine records when CI's image is in ECR: what a run needs before any gate.
#[allow(dead_code)]
pub async fn image_built(store: &Store, run: i64) {
    let uri = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world@{BUILT_DIGEST}");
    store
        .start_build(run, "latest", shipgate::clock::wall_ms() + 3_600_000)
        .await
        .unwrap();
    store
        .record_image(run, &uri, BUILT_DIGEST, Some(1), None, None)
        .await
        .unwrap();
}

#[allow(dead_code)]
impl TestApp {
    /// A page (or any GET) as a caller with an API token.
    pub async fn get_as(&self, path: &str, token: &str) -> Reply {
        self.send(
            Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Posts a form as a browser without JavaScript does, from the page at `referer`: with the
    /// session's own-site marker, or as a caller with an API token.
    pub async fn post_form(
        &self,
        action: &str,
        fields: &[(&str, &str)],
        referer: &str,
        token: Option<&str>,
    ) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = Request::post(action)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "text/html,application/xhtml+xml")
            .header("referer", format!("http://localhost{referer}"));
        request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request.header("sec-fetch-site", "same-origin"),
        };
        self.send(request.body(Body::from(body)).unwrap()).await
    }
}

/// The `action` of the form whose submit button says `label`, from a server-rendered page.
pub fn form_action(html: &str, label: &str) -> String {
    let button = html
        .find(&format!(">{label}</button>"))
        .unwrap_or_else(|| panic!("no `{label}` button in the page"));
    let form = html[..button].rfind("<form").expect("the button's form");
    html[form..]
        .split("action=\"")
        .nth(1)
        .expect("a form action")
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

/// What a test's own setup is audited as (a token or pipeline it makes to act on).
pub fn test_actor() -> shipgate::store::AuditEntry {
    shipgate::store::AuditEntry {
        actor: "test".into(),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    }
}

/// A service token named `name` with `role` everywhere, as an admin would make one.
pub async fn service_token(
    store: &Store,
    name: &str,
    role: shipgate_pipeline::access::Role,
) -> String {
    let new = shipgate::store::access::NewToken {
        name: name.to_owned(),
        kind: "service".into(),
        owner: None,
        grant: shipgate_pipeline::access::Grant::everywhere(role),
        expires_at: None,
    };
    store.create_token(&new, &test_actor()).await.unwrap().0
}
