//! The engine in the real binary, against moto: killed at every step that has an AWS side
//! effect, and run as two replicas on one PostgreSQL. Either way each run and environment
//! gets exactly one task-definition registration and one UpdateService.

mod support;

use serde_json::Value;
use std::process::Child;
use std::time::{Duration, Instant};
use support::aws::Moto;
use support::branch_push;
use support::process::{deliver, free_port, http, spawn, wait_ready};

/// What the binary needs to reach moto through the SDK's standard variables.
fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.url.clone()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("SHIPGATE_POLL_INTERVAL", "50ms".into()),
        ("SHIPGATE_LEASE", "1s".into()),
    ]
}

/// Moto with the hello pipeline's repository, both services, and the pushed commit's image.
async fn prepared_moto() -> Moto {
    let moto = Moto::start().await;
    moto.create_service("stg", "hello", "app").await;
    moto.create_service("prod", "hello", "app").await;
    let sha = branch_push()["head_commit"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.push_image("hello-world", &sha).await;
    moto
}

fn run(port: u16, id: i64) -> Option<Value> {
    match http(port, "GET", &format!("/api/v1/runs/{id}"), &[], b"") {
        Ok((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "shipgate did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Registrations and UpdateServices that went through (moto's call log), minus the two
/// registrations the set-up made.
async fn effects(moto: &Moto) -> (usize, usize) {
    let ok = |calls: Vec<Value>| calls.iter().filter(|c| c["faulted"] == false).count();
    (
        ok(moto.calls("RegisterTaskDefinition").await) - 2,
        ok(moto.calls("UpdateService").await),
    )
}

/// Starts shipgate with `SHIPGATE_CRASH_AT=point`, lets it die there, starts it again and
/// checks that the run reaches the production gate with one registration and one update.
async fn crash_and_resume(point: &str) {
    let moto = prepared_moto().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("crash.db").display());
    let port = free_port();
    let mut env = aws_env(&moto);
    env.push(("SHIPGATE_CRASH_AT", point.to_owned()));
    let mut first = spawn(port, &url, &env);
    wait_ready(port, &mut first);
    let (status, reply) = deliver(port, "push", "crash-push", &branch_push());
    assert_eq!(status, 200, "{reply}");
    let id = serde_json::from_str::<Value>(&reply).unwrap()["run_ids"][0]
        .as_i64()
        .unwrap();
    let exit = wait_exit(&mut first, Duration::from_secs(30));
    assert!(
        !exit.success(),
        "the process was meant to die at `{point}`, exited {exit}"
    );

    let port = free_port();
    let mut second = spawn(port, &url, &aws_env(&moto));
    wait_ready(port, &mut second);
    wait_for(
        "the run to reach the production gate",
        Duration::from_secs(30),
        || run(port, id).is_some_and(|r| r["status"] == "awaiting_approval"),
    );
    let detail = run(port, id).unwrap();
    assert_eq!(detail["deploys"][0]["outcome"], "succeeded", "{detail:#}");
    assert_eq!(
        effects(&moto).await,
        (1, 1),
        "after a crash at `{point}`: exactly one registration and one UpdateService"
    );
    second.kill().unwrap();
    second.wait().unwrap();
}

#[tokio::test]
async fn killed_after_the_deploy_started_resumes_without_a_second_registration() {
    crash_and_resume("after_deploy_started").await;
}

#[tokio::test]
async fn killed_just_before_registering_registers_once_after_the_restart() {
    crash_and_resume("before_register").await;
}

#[tokio::test]
async fn killed_between_registration_and_its_record_adopts_the_registered_revision() {
    crash_and_resume("after_register").await;
}

#[tokio::test]
async fn killed_between_update_service_and_its_record_does_not_update_again() {
    crash_and_resume("after_update").await;
}

#[tokio::test]
async fn killed_with_kill_9_while_following_a_rollout_follows_it_to_the_end() {
    let moto = prepared_moto().await;
    moto.script_rollout("stg", "hello", "completed", 30).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("follow.db").display());
    let port = free_port();
    let mut first = spawn(port, &url, &aws_env(&moto));
    wait_ready(port, &mut first);
    let (_, reply) = deliver(port, "push", "follow-push", &branch_push());
    let id = serde_json::from_str::<Value>(&reply).unwrap()["run_ids"][0]
        .as_i64()
        .unwrap();
    wait_for("the deploy to be followed", Duration::from_secs(30), || {
        run(port, id).is_some_and(|r| r["deploys"][0]["step"] == "following")
    });
    first.kill().unwrap(); // SIGKILL mid-rollout
    first.wait().unwrap();

    let port = free_port();
    let mut second = spawn(port, &url, &aws_env(&moto));
    wait_ready(port, &mut second);
    wait_for(
        "the rollout to be followed to its end",
        Duration::from_secs(30),
        || run(port, id).is_some_and(|r| r["status"] == "awaiting_approval"),
    );
    assert_eq!(effects(&moto).await, (1, 1));
    second.kill().unwrap();
    second.wait().unwrap();
}

/// A fresh PostgreSQL database for two processes to share; dropped afterwards.
struct SharedDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl SharedDatabase {
    async fn create() -> SharedDatabase {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = sqlx::PgPool::connect(&base)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (the test command starts it)");
        let name = format!("shipgate_replicas_{}", std::process::id());
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL has no database name: {base}"),
        };
        SharedDatabase { admin, name, url }
    }

    async fn drop_it(self) {
        let _ = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await;
    }
}

#[tokio::test]
async fn two_replicas_on_postgres_never_act_on_the_same_stage_and_survive_one_dying() {
    let moto = prepared_moto().await;
    let db = SharedDatabase::create().await;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = spawn(port_a, &db.url, &aws_env(&moto));
    wait_ready(port_a, &mut a);
    let mut b = spawn(port_b, &db.url, &aws_env(&moto));
    wait_ready(port_b, &mut b);

    // Six pushes, delivered to both replicas in turn: six runs all deploying to one service.
    let mut ids = Vec::new();
    for i in 0..6 {
        let port = if i % 2 == 0 { port_a } else { port_b };
        let (status, reply) = deliver(port, "push", &format!("replica-push-{i}"), &branch_push());
        assert_eq!(status, 200, "{reply}");
        ids.push(
            serde_json::from_str::<Value>(&reply).unwrap()["run_ids"][0]
                .as_i64()
                .unwrap(),
        );
    }
    // Replica A dies in the middle of the work; its leases expire and B carries on.
    wait_for("a first deploy to start", Duration::from_secs(30), || {
        ids.iter().any(|id| {
            run(port_b, *id).is_some_and(|r| r["deploys"].as_array().is_some_and(|d| !d.is_empty()))
        })
    });
    a.kill().unwrap();
    a.wait().unwrap();
    // Each run ships to staging and reaches the production gate, where the newest waits and
    // the older ones give way to it (the pipeline supersedes), whichever replica looked.
    let newest = *ids.iter().max().unwrap();
    wait_for(
        "every run to reach the production gate",
        Duration::from_secs(60),
        || {
            ids.iter().all(|id| {
                let want = if *id == newest {
                    "awaiting_approval"
                } else {
                    "superseded"
                };
                run(port_b, *id).is_some_and(|r| r["status"] == want)
            })
        },
    );
    assert_eq!(
        effects(&moto).await,
        (6, 6),
        "one registration and one UpdateService per run, across both replicas"
    );
    let updates = moto.calls("UpdateService").await;
    let mut revisions: Vec<&str> = updates
        .iter()
        .filter_map(|c| c["body"]["taskDefinition"].as_str())
        .collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        6,
        "each run deployed its own revision: {revisions:?}"
    );
    // Deploys to the one service never overlapped.
    let mut windows: Vec<(i64, i64)> = ids
        .iter()
        .map(|id| {
            let d = &run(port_b, *id).unwrap()["deploys"][0];
            (
                d["started_at"].as_i64().unwrap(),
                d["finished_at"].as_i64().unwrap(),
            )
        })
        .collect();
    windows.sort_unstable();
    for pair in windows.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "deploys overlapped: {windows:?}");
    }
    b.kill().unwrap();
    b.wait().unwrap();
    db.drop_it().await;
}
