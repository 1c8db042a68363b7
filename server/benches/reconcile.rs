//! `cargo bench -p shipgate --bench reconcile`: the cost of one head-reconcile pass over
//! many pipelines, against the GitHub fake of the tests (GitHub's documented shapes, ETags
//! and rate-limit headers) through the real octocrab client, on a SQLite file.
//!
//! The baseline, measured in the same run, is the first pass: every branch is read with a
//! 200 (nothing is cached yet). The passes after it find every head unchanged: GitHub
//! answers 304, which costs no rate limit. For each pass it prints the GitHub calls, the
//! 304s, the rate limit spent, the SQL statements run and the wall time, and the ratios of
//! an unchanged pass to the baseline.
//!
//! Options (after `--`): [--pipelines N] [--passes N]

#[path = "../tests/support/receivers.rs"]
#[allow(dead_code)]
mod receivers;

use receivers::FakeGitHub;
use shipgate::config::GitHubApi;
use shipgate::engine::{Engine, EngineHandle, EngineSettings};
use shipgate::outbound::Outbound;
use shipgate::store::{AuditEntry, Store};
use shipgate_pipeline::{PipelineDraft, Span};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing_subscriber::layer::SubscriberExt;

/// Counts the statements sqlx runs (each is one `sqlx::query` event).
struct CountQueries(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountQueries {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn option(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.parse().unwrap_or_else(|_| panic!("{name}: a number"))
        })
}

#[tokio::main]
async fn main() {
    let pipelines = option("--pipelines", 500);
    let passes = option("--passes", 3).max(2);
    let queries = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        )
        .with(CountQueries(queries.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber");

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("bench.db").display()))
        .await
        .expect("store");
    let github = FakeGitHub::start().await;
    let audit = AuditEntry {
        actor: "bench".into(),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    };
    for i in 0..pipelines {
        let repository = format!("shipgate-bench/service-{i:03}");
        let draft: PipelineDraft = serde_json::from_value(serde_json::json!({
            "name": format!("service-{i:03}"), "repository": repository, "branch": "main", "ecr_repository": format!("service-{i:03}"),
            "environments": [{"name": "staging", "cluster": "stg", "service": format!("service-{i:03}"), "container": "app", "region": "us-east-1", "promotion": "auto"}]
        }))
        .unwrap();
        store
            .create_pipeline(&draft.validate().unwrap(), "config", &audit)
            .await
            .expect("pipeline");
        github.push(
            &repository,
            "main",
            &[(&format!("{:040x}", i + 1), "Initial commit", "octocat")],
        );
    }
    let api = GitHubApi {
        token: secrecy::SecretString::from("ghp_bench"),
        api_url: github.url.clone(),
    };
    let engine = Engine::new(
        store.clone(),
        Arc::new(shipgate::aws::Cloud::with_endpoint(
            "http://127.0.0.1:9",
            aws_sdk_ecs::config::Credentials::new("bench", "bench", None, None, "bench"),
        )),
        Arc::new(Outbound::new(Some(&api)).unwrap()),
        EngineSettings {
            reconcile: Span::minutes(5),
            owner: "bench".into(),
            ..EngineSettings::default()
        },
        EngineHandle::default(),
    );

    println!(
        "head reconcile, {pipelines} pipelines, SQLite (WAL, synchronous=FULL), GitHub fake on loopback"
    );
    println!(
        "| pass | pipelines | unchanged | GitHub calls | 304s | rate limit spent | SQL statements | wall ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut baseline = None;
    for pass in 1..=passes {
        let (calls, rate, q) = (
            github.received().len(),
            github.rate_limit(),
            queries.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let report = engine.reconcile_tick(true).await.expect("a pass");
        let wall = started.elapsed().as_secs_f64() * 1000.0;
        let after = github.rate_limit();
        let row = (
            github.received().len() - calls,
            after.not_modified - rate.not_modified,
            rate.remaining - after.remaining,
            queries.load(Ordering::Relaxed) - q,
            wall,
        );
        let label = if pass == 1 {
            "1 (baseline: nothing cached)".to_owned()
        } else {
            pass.to_string()
        };
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {:.1} |",
            report.pipelines, report.unchanged, row.0, row.1, row.2, row.3, row.4
        );
        assert_eq!(report.failed, 0, "{report:?}");
        match baseline {
            None => baseline = Some(row),
            Some(base) if pass == passes => {
                println!();
                println!(
                    "unchanged pass / baseline: GitHub calls {:.2}, rate limit spent {:.2}, SQL statements {:.3}, wall time {:.2}",
                    row.0 as f64 / base.0 as f64,
                    row.2 as f64 / base.2.max(1) as f64,
                    row.3 as f64 / base.3 as f64,
                    row.4 / base.4
                );
                println!(
                    "per pipeline in an unchanged pass: {:.3} SQL statements, {:.3} ms",
                    row.3 as f64 / pipelines as f64,
                    row.4 / pipelines as f64
                );
            }
            Some(_) => {}
        }
    }
}
