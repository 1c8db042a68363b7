//! The real `shipgate` binary as a child process, and a bare HTTP/1.1 client to talk to it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_shipgate");

pub fn hello_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hello.toml")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 exchange; returns the status code and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    http_reply(port, method, path, headers, body).map(|(status, _, body)| (status, body))
}

/// [`http`], with the reply's header lines too (e.g. to keep a `Set-Cookie`).
pub fn http_reply(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // The address it connected to, as a real client names it: local mode answers only
    // requests addressed to localhost.
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .map(|(h, b)| (h.to_owned(), b.to_owned()))
        .unwrap_or_default();
    Ok((status, head, body))
}

/// `shipgate serve` on `port` with the hello pipeline and the test webhook secret, logging
/// warnings, its standard output dropped: to be given more, then spawned.
pub fn serve_command(port: u16, database_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database-url",
        database_url,
    ])
    .env("GITHUB_WEBHOOK_SECRET", super::SECRET)
    .env("SHIPGATE_CONFIG", hello_config())
    .env("SHIPGATE_LOG", "warn")
    .stdout(Stdio::null());
    cmd
}

/// `shipgate serve` on `port` with the hello pipeline and the test webhook secret, plus `env`.
pub fn spawn(port: u16, database_url: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = serve_command(port, database_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("shipgate starts")
}

/// Waits until the server on `port` answers `/readyz`.
pub fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if matches!(http(port, "GET", "/readyz", &[], b""), Ok((200, _))) {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("shipgate exited before it was ready: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("shipgate did not become ready");
}

pub fn start(port: u16, db: &std::path::Path) -> Child {
    let mut child = spawn(port, &format!("sqlite:{}", db.display()), &[]);
    wait_ready(port, &mut child);
    child
}

/// Posts a signed delivery, as GitHub would.
pub fn deliver(
    port: u16,
    event: &str,
    delivery_id: &str,
    payload: &serde_json::Value,
) -> (u16, String) {
    let body = serde_json::to_vec(payload).unwrap();
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery_id.to_owned()),
        (
            "x-hub-signature-256",
            shipgate::forge::github::sign(super::SECRET.as_bytes(), &body),
        ),
    ];
    http(port, "POST", "/webhooks/github", &headers, &body).expect("delivery answered")
}
