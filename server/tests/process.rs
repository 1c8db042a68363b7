//! The real `shipgate` binary: configuration errors at start-up, graceful shutdown on
//! SIGTERM, and an acknowledged delivery surviving `kill -9`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::branch_push;
use support::process::{BIN, deliver, free_port, start};

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let out = Command::new(BIN)
        .args(["serve", "--listen", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--listen / SHIPGATE_LISTEN: `nowhere` is not an address"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hello.toml"
    ))
    .unwrap();
    std::fs::write(&file, text.replace("\"manual\"", "\"whenever\"")).unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipeline[0].environments[1].promotion"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .args([
            "check-config",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hello.toml"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello ← Codertocat/Hello-World@master"));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(port, &dir.path().join("term.db"));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn an_acknowledged_delivery_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let port = free_port();
    let mut child = start(port, &db);
    let (status, reply) = deliver(port, "push", "before-kill", &branch_push());
    assert_eq!(status, 200, "{reply}");
    child.kill().unwrap(); // SIGKILL: no shutdown code runs.
    child.wait().unwrap();

    let store = shipgate::store::Store::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    assert_eq!(store.count_deliveries_and_runs().await.unwrap(), (1, 1));
    let runs = store.list_runs(&Default::default()).await.unwrap();
    assert_eq!(runs.items[0].delivery_id, "before-kill");
}
