//! What both benchmarks need: ports, a one-shot HTTP client, GitHub's example payloads,
//! and the server's peak memory.
#![allow(dead_code)]

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::process::Child;

/// The vendored file of GitHub's example payloads for `event` (npm `@octokit/webhooks-examples`;
/// see `tests/fixtures/webhooks/README.md`).
pub fn examples_path(event: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks"
    ))
    .join(format!("{event}.json"))
}

/// The example payloads in `path`, a JSON array such as [`examples_path`] names.
pub fn examples(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The branch push among the push examples in `path` (to `master` of Codertocat/Hello-World).
pub fn branch_push(path: &Path) -> Value {
    examples(path)
        .into_iter()
        .find(|p| p["ref"] == "refs/heads/master" && p["deleted"] == false)
        .expect("a branch push example")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_until_up(addr: SocketAddr, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = request(addr, "GET", path, &[], Bytes::new()).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing answered on {addr}{path} within 30 s");
}

/// One request on a fresh connection; returns the status and body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true).ok();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        // Local mode answers only requests addressed to localhost by name or address.
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let resp = sender.send_request(req.body(Full::new(body))?).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Bytes)> {
    request(addr, "GET", path, &[], Bytes::new()).await
}

/// Posts a delivery signed with `secret`, as GitHub would.
pub async fn deliver(
    addr: SocketAddr,
    secret: &str,
    event: &str,
    delivery_id: &str,
    payload: &Value,
) -> anyhow::Result<(u16, Bytes)> {
    let body = Bytes::from(serde_json::to_vec(payload)?);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery_id.to_owned()),
        (
            "x-hub-signature-256",
            shipgate::forge::github::sign(secret.as_bytes(), &body),
        ),
    ];
    request(addr, "POST", "/webhooks/github", &headers, body).await
}

/// The peak resident set size of a process so far, from `/proc`.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
}

/// The `p`-th percentile (0–100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
