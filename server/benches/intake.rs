//! `cargo bench -p shipgate --bench intake`: webhook intake throughput and latency against a real `shipgate`
//! process (SQLite, durable), with a bare axum handler as the ceiling, measured in the same
//! run; then runs-list page latency, first page against a deep page, over 100k runs.
//!
//! Options (after `--`): [--requests N] [--concurrency C] [--shipgate PATH] [--payload FILE] [--seed-runs N]
//! (`--payload`: a JSON array of push examples, by default `tests/fixtures/webhooks/push.json`.)

mod common;

use axum::body::Bytes;
use common::{examples_path, free_port, peak_rss_kib, stop, wait_until_up};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::process::Command;

const SECRET: &str = "bench-secret";

struct Options {
    requests: usize,
    concurrency: usize,
    shipgate: PathBuf,
    payload: PathBuf,
    seed_runs: i64,
}

fn options() -> Options {
    let mut o = Options {
        requests: 20_000,
        concurrency: 64,
        shipgate: PathBuf::from(env!("CARGO_BIN_EXE_shipgate")),
        payload: examples_path("push"),
        seed_runs: 100_000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        // `cargo bench` passes `--bench` to every bench binary.
        if args[i] == "--bench" {
            i += 1;
            continue;
        }
        let value = args
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{} needs a value", args[i]));
        match args[i].as_str() {
            "--requests" => o.requests = value.parse().expect("--requests: a number"),
            "--concurrency" => o.concurrency = value.parse().expect("--concurrency: a number"),
            "--shipgate" => o.shipgate = value.into(),
            "--payload" => o.payload = value.into(),
            "--seed-runs" => o.seed_runs = value.parse().expect("--seed-runs: a number"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    o
}

struct LoadResult {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    failures: usize,
}

/// `concurrency` keep-alive connections send `count` signed deliveries between them.
async fn fire(
    addr: SocketAddr,
    count: usize,
    concurrency: usize,
    body: Bytes,
    prefix: &str,
) -> LoadResult {
    let signature = shipgate::forge::github::sign(SECRET.as_bytes(), &body);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, body, signature, prefix) = (
                next.clone(),
                body.clone(),
                signature.clone(),
                prefix.to_owned(),
            );
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).ok();
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                let mut latencies = Vec::new();
                let mut failures = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let req = Request::post("/webhooks/github")
                        .header("host", addr.to_string())
                        .header("content-type", "application/json")
                        .header("x-github-event", "push")
                        .header("x-github-delivery", format!("{prefix}-{i}"))
                        .header("x-hub-signature-256", signature.as_str())
                        .body(Full::new(body.clone()))
                        .unwrap();
                    let t = Instant::now();
                    match sender.send_request(req).await {
                        Ok(resp) => {
                            let ok = resp.status().is_success();
                            let _ = resp.into_body().collect().await;
                            latencies.push(t.elapsed());
                            if !ok {
                                failures += 1;
                            }
                        }
                        Err(_) => {
                            failures += 1;
                            break;
                        }
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    failures += count.saturating_sub(latencies.len() + failures);
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    LoadResult {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: latencies
            .last()
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN),
        failures,
    }
}

/// The ceiling: an axum handler that reads the body and answers 200, nothing else.
async fn bare_server(port: u16) {
    let app = axum::Router::new()
        .route(
            "/webhooks/github",
            axum::routing::post(|_body: Bytes| async { "ok" }),
        )
        .route("/readyz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}

fn report(name: &str, r: &LoadResult) {
    println!(
        "| {name:<28} | {:>9.0} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8} |",
        r.per_second, r.p50_ms, r.p99_ms, r.max_ms, r.failures
    );
}

async fn page_latency(addr: SocketAddr, path: &str, rounds: usize) -> (f64, usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut times = Vec::with_capacity(rounds);
    let mut items = 0;
    for _ in 0..rounds {
        sender.ready().await.unwrap();
        let t = Instant::now();
        let resp = sender
            .send_request(
                Request::get(path)
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        times.push(t.elapsed());
        items = match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v["items"].as_array().map_or(0, Vec::len),
            Err(_) => String::from_utf8_lossy(&body)
                .matches("class=\"run-row\"")
                .count(),
        };
    }
    times.sort();
    (times[times.len() / 2].as_secs_f64() * 1000.0, items)
}

/// The median time of `look` over `n` calls, in microseconds.
async fn median_us<F, T, E>(look: impl Fn() -> F, n: usize) -> f64
where
    F: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Debug,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        look().await.expect("the store answers");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--bare-server") {
        bare_server(args[2].parse()?).await;
        return Ok(());
    }
    let o = options();
    let body = Bytes::from(serde_json::to_vec(&common::branch_push(&o.payload))?);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let config = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hello.toml"
    ));
    println!(
        "machine: {} cores; payload {} bytes (octokit push example); {} deliveries at concurrency {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        body.len(),
        o.requests,
        o.concurrency
    );
    let warmup = 500.min(o.requests);

    // The ceiling first, on its own.
    let bare_port = free_port();
    let mut bare = Command::new(std::env::current_exe()?)
        .arg("--bare-server")
        .arg(bare_port.to_string())
        .kill_on_drop(true)
        .spawn()?;
    let bare_addr: SocketAddr = ([127, 0, 0, 1], bare_port).into();
    wait_until_up(bare_addr, "/readyz").await;
    fire(bare_addr, warmup, o.concurrency, body.clone(), "warm").await;
    let ceiling = fire(bare_addr, o.requests, o.concurrency, body.clone(), "bare").await;
    stop(&mut bare);
    let _ = bare.wait().await;

    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Command::new(&o.shipgate)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--database-url")
        .arg(format!("sqlite:{}", db.display()))
        .arg("--config")
        .arg(&config)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("SHIPGATE_LOG", "warn")
        // Intake alone: the deploy engine would otherwise start polling AWS for 20,000 runs.
        .arg("--no-engine")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().expect("pid");
    wait_until_up(addr, "/readyz").await;
    fire(addr, warmup, o.concurrency, body.clone(), "warm").await;
    let shipgate = fire(addr, o.requests, o.concurrency, body.clone(), "bench").await;

    println!();
    println!(
        "| target                       | deliv./s  | p50 ms   | p99 ms   | max ms   | failures |"
    );
    println!(
        "|------------------------------|-----------|----------|----------|----------|----------|"
    );
    report("bare axum handler (ceiling)", &ceiling);
    report("shipgate, SQLite, fsync'd", &shipgate);
    println!();
    println!(
        "throughput ratio shipgate/ceiling: {:.2}",
        shipgate.per_second / ceiling.per_second
    );
    println!(
        "p99 ratio shipgate/ceiling:        {:.1}x",
        shipgate.p99_ms / ceiling.p99_ms
    );

    // Every acknowledged delivery must be in the database, each with its run.
    let store = shipgate::store::Store::connect(&format!("sqlite:{}", db.display())).await?;
    let (deliveries, runs) = store.count_deliveries_and_runs().await?;
    let expected = (o.requests + warmup) as i64;
    println!(
        "stored deliveries: {deliveries} of {expected} sent; runs: {runs}; lost: {}",
        expected - deliveries
    );

    // Runs list pages over a large history.
    if o.seed_runs > 0 {
        let (last_before_seed,): (i64,) = match store.db() {
            shipgate::store::Db::Sqlite(pool) => {
                sqlx::query_as("SELECT MAX(id) FROM runs")
                    .fetch_one(pool)
                    .await?
            }
            shipgate::store::Db::Postgres(pool) => {
                sqlx::query_as("SELECT MAX(id) FROM runs")
                    .fetch_one(pool)
                    .await?
            }
        };
        if let shipgate::store::Db::Sqlite(pool) = store.db() {
            let t = Instant::now();
            sqlx::query(
                "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $1)
                 INSERT INTO runs (pipeline_name, delivery_id, status, repository, branch, commit_sha, commit_message, commit_author,
                                   pusher, compare_url, commit_url, commit_timestamp, created_at, updated_at)
                 SELECT CASE x % 4 WHEN 0 THEN 'api' WHEN 1 THEN 'web' WHEN 2 THEN 'worker' ELSE 'hello' END,
                        'seed-' || x,
                        CASE (x / 4) % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'running' WHEN 2 THEN 'awaiting_approval' ELSE 'succeeded' END,
                        'octo-org/api', 'main', printf('%040x', x), 'seeded commit ' || x, 'octocat', 'octocat', '', '', '', x, x
                 FROM n",
            )
            .bind(o.seed_runs)
            .execute(pool)
            .await?;
            println!(
                "\nseeded {} more runs in {:.1} s",
                o.seed_runs,
                t.elapsed().as_secs_f64()
            );
        }
        // Cursors deep in the seeded history, where the oldest seeded runs are.
        let min_id = last_before_seed;
        let deep = min_id + 400;
        println!("| runs list query (50 a page)                  | p50 ms  | items |");
        println!("|----------------------------------------------|---------|-------|");
        let mut first_p50 = 0.0;
        for (label, path) in [
            ("first page", "/api/v1/runs".to_owned()),
            (
                "deep page (oldest runs)",
                format!("/api/v1/runs?before={deep}"),
            ),
            (
                "first page, pipeline+status filter",
                "/api/v1/runs?pipeline=web&status=failed".to_owned(),
            ),
            (
                "deep page, pipeline+status filter",
                format!(
                    "/api/v1/runs?pipeline=web&status=failed&before={}",
                    min_id + 2000
                ),
            ),
            ("dashboard HTML, first page", "/".to_owned()),
            ("dashboard HTML, deep page", format!("/?before={deep}")),
        ] {
            let (p50, items) = page_latency(addr, &path, 200).await;
            if label == "first page" {
                first_p50 = p50;
            }
            println!("| {label:<44} | {p50:>7.2} | {items:>5} |");
        }
        let (deep_p50, _) = page_latency(addr, &format!("/api/v1/runs?before={deep}"), 200).await;
        println!("deep/first page latency ratio: {:.2}", deep_p50 / first_p50);

        // Live pages: each open page's stream reads a fingerprint once a second; without
        // it the page would have to fetch its data again to notice a change.
        let one = last_before_seed;
        let filter = shipgate_pipeline::read::RunFilter::default();
        let (fp_run, full_run) = (
            median_us(|| store.run_fingerprint(one), 500).await,
            median_us(|| store.get_run(one), 500).await,
        );
        let (fp_list, full_list) = (
            median_us(|| store.runs_fingerprint(), 500).await,
            median_us(|| store.list_runs(&filter), 500).await,
        );
        println!("\n| live-update look (in process, SQLite)         | p50 µs  |");
        println!("|----------------------------------------------|---------|");
        println!("| run page: fingerprint                        | {fp_run:>7.1} |");
        println!("| run page: the run's data (what a reload reads) | {full_run:>7.1} |");
        println!("| runs list: fingerprint                       | {fp_list:>7.1} |");
        println!("| runs list: first page's data                 | {full_list:>7.1} |");
        println!(
            "fingerprint/data ratio: run page {:.2}, runs list {:.2}",
            fp_run / full_run,
            fp_list / full_list
        );
    }

    let rss = peak_rss_kib(pid);
    stop(&mut server);
    let status = server.wait().await?;
    println!(
        "\nshipgate peak RSS: {} MiB; exit on SIGTERM: {status}",
        rss.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
    );
    store.close().await;
    Ok(())
}
