//! A PostgreSQL outage under a running Shipgate, with the real binary and a real PostgreSQL
//! that is really stopped and started again.
//!
//! The shared server on 5432 cannot be stopped (other tests use it at the same time), so
//! this test starts a private cluster of its own with `initdb` and `pg_ctl`. While it is
//! down, intake must say 503 with a message naming the database (GitHub shows that message
//! on the delivery, and a 503 tells a person to press "Redeliver"), and `/readyz` must say
//! 503 so a load balancer stops sending traffic. When it is back, both must recover on
//! their own, without restarting Shipgate, and the refused delivery must be recorded when
//! it is delivered again: a refusal stored nothing, not even half a delivery.

mod support;

use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};
use support::process::{deliver, free_port, http, spawn, wait_ready};
use support::{ADMIN_TOKEN, branch_push};

/// A PostgreSQL cluster of this test's own, in a temporary directory, on a free port.
/// Dropping it stops the server (`-m immediate`), so a failing test leaves nothing running.
struct PrivatePostgres {
    bin: PathBuf,
    /// Holds the data directory (`data`), the socket and the server log.
    dir: tempfile::TempDir,
    port: u16,
    /// initdb and the server refuse to run as root; as root, they run as `postgres`.
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let as_postgres = std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0;
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .expect("chown runs");
            assert!(
                chown.status.success(),
                "cannot give {} to the postgres user: {}",
                dir.path().display(),
                text(&chown)
            );
        }
        let cluster = PrivatePostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = cluster.data();
        let initdb = cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(initdb.status.success(), "initdb failed: {}", text(&initdb));
        cluster.pg_ctl_start();
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        let server_log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}\nserver log:\n{server_log}",
            text(&started)
        );
    }

    /// A fast shutdown: PostgreSQL ends every session (Shipgate's pooled connections too).
    fn stop(&self) {
        let stopped = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"],
        );
        assert!(
            stopped.status.success(),
            "pg_ctl stop failed: {}",
            text(&stopped)
        );
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The postgres user may not be allowed into the test's working directory.
        command.args(args).current_dir(self.dir.path());
        command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// The newest PostgreSQL's programs, where Debian's `postgresql` package puts them. Without
/// them the test cannot do what it is for, so it fails and says what is missing.
fn postgres_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "this test starts a private PostgreSQL and needs initdb and pg_ctl in /usr/lib/postgresql/<version>/bin/, and there are none: \
             install Debian's `postgresql` package (scripts/test.sh does)"
        ),
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The Shipgate process, killed when the test ends however it ends.
struct Shipgate(Child);

impl Drop for Shipgate {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ready(port: u16) -> (u16, Value) {
    let (status, body) = http(port, "GET", "/readyz", &[], b"").expect("/readyz answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/readyz is not JSON ({e}): {body}")),
    )
}

/// Retries `attempt` until it succeeds, for at most `limit`; then fails with its last answer.
fn within<T>(limit: Duration, what: &str, mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match attempt() {
            Ok(done) => return done,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what} did not happen within {limit:?}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

#[test]
fn a_postgres_outage_refuses_deliveries_with_503_and_both_recover_without_a_restart() {
    let postgres = PrivatePostgres::start();
    let port = free_port();
    let mut shipgate = Shipgate(spawn(
        port,
        &postgres.url(),
        &[("SHIPGATE_ADMIN_TOKEN", ADMIN_TOKEN.to_owned())],
    ));
    wait_ready(port, &mut shipgate.0);
    let push = branch_push();

    let (status, reply) = deliver(port, "push", "outage-before", &push);
    assert_eq!(status, 200, "with PostgreSQL up: {reply}");
    let (status, body) = ready(port);
    assert_eq!(
        (status, &body["database"]),
        (200, &Value::from("postgres")),
        "{body}"
    );

    postgres.stop();
    let refused_at = Instant::now();
    let (status, reply) = deliver(port, "push", "outage-during", &push);
    let refused_in = refused_at.elapsed();
    assert_eq!(
        status, 503,
        "with PostgreSQL stopped, a delivery is refused as unavailable: {reply}"
    );
    let error = serde_json::from_str::<Value>(&reply)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {reply}"))["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {reply}"))
        .to_owned();
    assert!(
        error.contains("database is not reachable"),
        "the message names the database: {error}"
    );
    for internal in ["PoolTimedOut", "Io(", "Error {", "kind:", "os error"] {
        assert!(
            !error.contains(internal),
            "the message is a sentence, not a Debug dump: {error}"
        );
    }
    // GitHub gives up on a delivery after 10 s; a refusal must come before that, or GitHub
    // records a timeout instead of the reason.
    assert!(
        refused_in < Duration::from_secs(9),
        "the refusal took {refused_in:?}"
    );
    let asked = Instant::now();
    let (status, body) = ready(port);
    assert_eq!(status, 503, "/readyz during the outage: {body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    eprintln!(
        "during the outage: the delivery was refused in {refused_in:?}, /readyz in {:?}",
        asked.elapsed()
    );

    postgres.pg_ctl_start();
    let restarted = Instant::now();
    within(
        Duration::from_secs(30),
        "/readyz recovering",
        || match ready(port) {
            (200, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        },
    );
    let stored = within(
        Duration::from_secs(30),
        "intake recovering",
        || match deliver(port, "push", "outage-during", &push) {
            (200, reply) => Ok(serde_json::from_str::<Value>(&reply).unwrap()),
            (status, reply) => Err(format!("{status} {reply}")),
        },
    );
    eprintln!(
        "after PostgreSQL restarted: readiness and intake were back in {:?}",
        restarted.elapsed()
    );
    // Recorded now for the first time: the refused attempt left nothing behind.
    assert_eq!(stored["duplicate"], false, "{stored}");
    assert_eq!(stored["outcome"], "run_created", "{stored}");
    let (status, reply) = deliver(port, "push", "outage-after", &push);
    assert_eq!(status, 200, "a new delivery after the outage: {reply}");

    let auth = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let (status, body) = http(port, "GET", "/api/v1/deliveries?limit=10", &auth, b"")
        .expect("the deliveries list answers");
    assert_eq!(status, 200, "{body}");
    let page: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<(&str, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["delivery_id"].as_str().unwrap(),
                d["redeliveries"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("outage-after", 0),
            ("outage-during", 0),
            ("outage-before", 0)
        ],
        "newest first, each stored once"
    );
    drop(shipgate);
}
