//! The real `shipgate` binary: configuration errors at start-up, graceful shutdown on
//! SIGTERM, and an acknowledged delivery surviving `kill -9`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{SECRET, branch_push};

const BIN: &str = env!("CARGO_BIN_EXE_shipgate");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A minimal HTTP/1.1 exchange; returns the status code and body.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

fn start(port: u16, db: &std::path::Path) -> Child {
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &format!("sqlite:{}", db.display())])
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("SHIPGATE_CONFIG", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hello.toml"))
        .env("SHIPGATE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("shipgate starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if matches!(http(port, "GET", "/readyz", &[], b""), Ok((200, _))) {
            return child;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("shipgate did not become ready");
}

#[test]
fn a_bad_setting_stops_start_up_naming_the_key() {
    let out = Command::new(BIN).args(["serve", "--listen", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--listen / SHIPGATE_LISTEN: `nowhere` is not an address"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hello.toml")).unwrap();
    std::fs::write(&file, text.replace("\"manual\"", "\"whenever\"")).unwrap();
    let out = Command::new(BIN).args(["check-config", "--config"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pipeline[0].environments[1].promotion"), "{stderr}");

    let out = Command::new(BIN).args(["check-config", "--config", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hello.toml")]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello ← Codertocat/Hello-World@master"));
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = start(port, &dir.path().join("term.db"));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn an_acknowledged_delivery_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let port = free_port();
    let mut child = start(port, &db);
    let body = serde_json::to_vec(&branch_push()).unwrap();
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("x-github-event", "push".to_owned()),
        ("x-github-delivery", "before-kill".to_owned()),
        ("x-hub-signature-256", shipgate::forge::github::sign(SECRET.as_bytes(), &body)),
    ];
    let (status, reply) = http(port, "POST", "/webhooks/github", &headers, &body).unwrap();
    assert_eq!(status, 200, "{reply}");
    child.kill().unwrap(); // SIGKILL: no shutdown code runs.
    child.wait().unwrap();

    let store = shipgate::store::Store::connect(&format!("sqlite:{}", db.display())).await.unwrap();
    assert_eq!(store.count_deliveries_and_runs().await.unwrap(), (1, 1));
    let runs = store.list_runs(&Default::default()).await.unwrap();
    assert_eq!(runs.items[0].delivery_id, "before-kill");
}
