//! `cargo bench -p shipgate --bench deploy`: how long from "the image is ready" to the
//! UpdateService request arriving at the AWS endpoint, against a real `shipgate` process
//! (SQLite) and moto (`tests/peers/moto_ecs.py`), in two modes measured in the same run:
//!
//! - webhook-driven: the image is pushed to ECR, then a signed `workflow_run` completed
//!   delivery arrives; the clock starts when the delivery is sent. Polling is set to 60 s,
//!   so only the webhook can be what moves the run.
//! - polling only: no webhook; the clock starts when the image is pushed, and the engine
//!   finds it on its next ECR poll (`--poll`, default 1s).
//!
//! Each run is a new commit: push delivery, wait for the engine's first ECR look (not
//! found), push the image, then the mode's trigger. Arrival times come from moto's call log.
//!
//! Options (after `--`): [--runs N] [--poll 1s] [--shipgate PATH]

/// The same moto harness the integration tests use.
#[path = "../tests/support/aws.rs"]
mod aws;
mod common;

use aws::Moto;
use common::{
    branch_push, deliver, examples, examples_path, free_port, get, peak_rss_kib, percentile, stop,
    wait_until_up,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::process::Command;

const SECRET: &str = "bench-secret";

struct Options {
    runs: usize,
    poll: String,
    shipgate: PathBuf,
}

fn options() -> Options {
    let mut o = Options {
        runs: 200,
        poll: "1s".into(),
        shipgate: PathBuf::from(env!("CARGO_BIN_EXE_shipgate")),
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    for pair in args.chunks(2) {
        let value = pair
            .get(1)
            .cloned()
            .unwrap_or_else(|| panic!("{} needs a value", pair[0]));
        match pair[0].as_str() {
            "--runs" => o.runs = value.parse().expect("--runs: a number"),
            "--poll" => o.poll = value,
            "--shipgate" => o.shipgate = value.into(),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One mode's latencies, in milliseconds, and the server's peak RSS.
struct Measured {
    sorted_ms: Vec<f64>,
    rss_kib: Option<u64>,
}

async fn measure(o: &Options, moto: &Moto, webhook: bool) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let log = std::env::temp_dir().join(format!(
        "shipgate-bench-deploy-{}.log",
        if webhook { "webhook" } else { "poll" }
    ));
    let port = free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut server = Command::new(&o.shipgate)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--database-url")
        .arg(format!("sqlite:{}", dir.path().join("deploy.db").display()))
        .arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hello.toml"
        ))
        .arg("--poll-interval")
        .arg(if webhook { "60s" } else { o.poll.as_str() })
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("SHIPGATE_LOG", "warn")
        .env("SHIPGATE_LOG_FORMAT", "text")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?)
        .kill_on_drop(true)
        .spawn()?;
    let pid = server.id().expect("pid");
    wait_until_up(addr, "/readyz").await;
    let result = drive(o, moto, webhook, addr).await;
    let rss_kib = peak_rss_kib(pid);
    stop(&mut server);
    server.wait().await?;
    let mut latencies = result.map_err(|e| e.context(format!("server log: {}", log.display())))?;
    latencies.sort_by(f64::total_cmp);
    Ok(Measured {
        sorted_ms: latencies,
        rss_kib,
    })
}

/// Sends `o.runs` runs through one server; returns each run's latency in milliseconds.
async fn drive(
    o: &Options,
    moto: &Moto,
    webhook: bool,
    addr: SocketAddr,
) -> anyhow::Result<Vec<f64>> {
    let push = branch_push(&examples_path("push"));
    let workflow = examples(&examples_path("workflow_run"))
        .into_iter()
        .find(|e| e["workflow_run"]["status"] == "completed")
        .expect("a workflow_run example");
    let mode = if webhook { "webhook" } else { "poll" };
    let mut latencies = Vec::with_capacity(o.runs);
    for i in 0..o.runs {
        let sha = hex::encode(Sha256::digest(format!("{mode}-{i}").as_bytes()))[..40].to_owned();
        let mut payload = push.clone();
        payload["after"] = json!(sha);
        payload["head_commit"]["id"] = json!(sha);
        // The engine's first ECR look for the run's tag must have missed, so the image is new
        // to it. (Inventory listings also call DescribeImages, without `imageIds`.)
        let looks = || async {
            Ok::<_, anyhow::Error>(
                moto.calls("DescribeImages")
                    .await
                    .iter()
                    .filter(|c| c["body"].get("imageIds").is_some())
                    .count(),
            )
        };
        let looks_before = looks().await?;
        let (status, body) =
            deliver(addr, SECRET, "push", &format!("{mode}-push-{i}"), &payload).await?;
        anyhow::ensure!(
            status == 200,
            "push #{i}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        let id = serde_json::from_slice::<Value>(&body)?["run_ids"][0]
            .as_i64()
            .expect("a run");
        let deadline = Instant::now() + Duration::from_secs(30);
        while looks().await? == looks_before {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the engine never looked for run {id}'s image"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
        moto.script_rollout("stg", "hello", "completed", 1).await;
        let updates_before = moto.calls("UpdateService").await.len();
        moto.push_image("hello-world", &sha).await;
        let started = now_secs();
        if webhook {
            let mut ci = workflow.clone();
            ci["repository"] = push["repository"].clone();
            ci["workflow_run"]["head_sha"] = json!(sha);
            ci["workflow_run"]["conclusion"] = json!("success");
            let (status, _) =
                deliver(addr, SECRET, "workflow_run", &format!("{mode}-ci-{i}"), &ci).await?;
            anyhow::ensure!(status == 200, "workflow_run: {status}");
        }
        let arrived = loop {
            let updates = moto.calls("UpdateService").await;
            if updates.len() > updates_before {
                break updates[updates_before]["at"]
                    .as_f64()
                    .expect("arrival time");
            }
            anyhow::ensure!(
                now_secs() - started < 120.0,
                "no UpdateService for run {id}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        latencies.push((arrived - started) * 1000.0);
        // The next run's deploy needs the service: wait for this one to reach the gate.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, body) = get(addr, &format!("/api/v1/runs/{id}")).await?;
            if serde_json::from_slice::<Value>(&body)?["status"] == "awaiting_approval" {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "run {id} did not finish its staging deploy"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options();
    let moto = Moto::start().await;
    moto.ecr
        .create_repository()
        .repository_name("hello-world")
        .send()
        .await?;
    moto.create_service("stg", "hello", "app").await;
    println!(
        "machine: {} cores; {} runs per mode; polling-only mode polls ECR every {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.runs,
        o.poll
    );
    let webhook = measure(&o, &moto, true).await?;
    let polling = measure(&o, &moto, false).await?;
    println!();
    println!(
        "| image ready → UpdateService at the endpoint | p50 ms | p99 ms | max ms | server peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, m) in [
        ("webhook-driven (workflow_run completed)", &webhook),
        ("polling only", &polling),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {} |",
            percentile(&m.sorted_ms, 50.0),
            percentile(&m.sorted_ms, 99.0),
            m.sorted_ms.last().copied().unwrap_or(f64::NAN),
            m.rss_kib
                .map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
        );
    }
    println!();
    println!(
        "p50 ratio webhook/polling: {:.3}",
        percentile(&webhook.sorted_ms, 50.0) / percentile(&polling.sorted_ms, 50.0)
    );
    Ok(())
}
