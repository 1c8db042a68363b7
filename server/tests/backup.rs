//! `shipgate backup FILE` with the real binary, against a real Shipgate taking deliveries.
//!
//! A backup is only worth having if it holds what Shipgate promised to keep: every delivery
//! that got its 2xx before the backup began. So the test streams signed pushes at a live
//! server, notes which were acknowledged before the backup command started, backs up while
//! the stream goes on, and then serves the copy from a second Shipgate and looks for each
//! of them through the REST API. The refusals (an existing file, a missing directory, a
//! PostgreSQL database) are checked by exit code and message, since scripts rely on both.

mod support;

use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::process::{BIN, deliver, free_port, http, spawn, wait_ready};
use support::{ADMIN_TOKEN, branch_push};

/// A Shipgate process, killed when the test ends however it ends.
struct Shipgate(Child);

impl Drop for Shipgate {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Intake and the API only: the deploy engine has no AWS here, and is not what is tested.
fn serve(port: u16, database_url: &str) -> Shipgate {
    let env = [
        ("SHIPGATE_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("SHIPGATE_NO_ENGINE", "true".to_owned()),
    ];
    let mut shipgate = Shipgate(spawn(port, database_url, &env));
    wait_ready(port, &mut shipgate.0);
    shipgate
}

/// `shipgate backup FILE --database-url URL`, as an operator runs it.
fn backup(database_url: &str, file: &Path) -> Output {
    Command::new(BIN)
        .arg("backup")
        .arg(file)
        .args(["--database-url", database_url])
        .env_remove("DATABASE_URL")
        .env_remove("SHIPGATE_CONFIG")
        .output()
        .expect("shipgate backup runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every delivery id the server on `port` lists, paging with `before` and `limit`.
fn listed_deliveries(port: u16) -> Vec<String> {
    let auth = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let mut ids = Vec::new();
    let mut path = "/api/v1/deliveries?limit=200".to_owned();
    loop {
        let (status, body) =
            http(port, "GET", &path, &auth, b"").expect("the deliveries list answers");
        assert_eq!(status, 200, "{path}: {body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["delivery_id"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_i64() {
            Some(before) => path = format!("/api/v1/deliveries?limit=200&before={before}"),
            None => return ids,
        }
    }
}

/// Deliveries acknowledged so far: each id with the moment its 2xx was read (a little after
/// the server sent it, so "read before t" implies "acknowledged before t").
type Acknowledged = Arc<Mutex<Vec<(String, Instant)>>>;

/// Sends pushes with fresh delivery ids to `port` until `stop`, noting each 2xx. Any other
/// answer fails the test: intake must not stop or stumble while a backup runs.
fn stream(
    port: u16,
    worker: usize,
    stop: Arc<AtomicBool>,
    acknowledged: Acknowledged,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let push = branch_push();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let id = format!("stream-{worker}-{n}");
            let (status, reply) = deliver(port, "push", &id, &push);
            assert_eq!(status, 200, "delivery {id} during the backup: {reply}");
            acknowledged.lock().unwrap().push((id, Instant::now()));
            n += 1;
        }
    })
}

#[tokio::test]
async fn a_backup_during_intake_keeps_every_acknowledged_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let live_url = format!("sqlite:{}", dir.path().join("live.db").display());
    let port = free_port();
    let live = serve(port, &live_url);

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Acknowledged = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|w| stream(port, w, stop.clone(), acknowledged.clone()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 100 {
        assert!(
            Instant::now() < deadline,
            "the stream did not get 100 deliveries in"
        );
        assert!(
            workers.iter().all(|w| !w.is_finished()),
            "a stream worker failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let copy = dir.path().join("copy.db");
    let began = Instant::now();
    let out = backup(&live_url, &copy);
    let ended = Instant::now();
    // The stream goes on after the backup: intake was never stopped for it.
    let after = acknowledged.lock().unwrap().len();
    while acknowledged.lock().unwrap().len() < after + 20 {
        assert!(Instant::now() < deadline, "intake stopped after the backup");
        assert!(
            workers.iter().all(|w| !w.is_finished()),
            "a stream worker failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker
            .join()
            .expect("every streamed delivery was acknowledged");
    }
    drop(live);

    assert!(out.status.success(), "shipgate backup: {}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let acknowledged = acknowledged.lock().unwrap().clone();
    let before: Vec<&str> = acknowledged
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(id, _)| id.as_str())
        .collect();
    let during = acknowledged
        .iter()
        .filter(|(_, at)| *at >= began && *at <= ended)
        .count();
    eprintln!(
        "backup took {:?}; {} deliveries acknowledged before it, {during} while it ran; it said: {printed}",
        ended - began,
        before.len()
    );

    // What it printed: the path, the size, and what the copy holds.
    let size = std::fs::metadata(&copy)
        .expect("the copy exists under its final name")
        .len();
    let copy_path = copy.canonicalize().unwrap();
    assert!(
        printed.starts_with(&format!(
            "backup written to {}: {size} bytes, ",
            copy_path.display()
        )),
        "{printed}"
    );
    assert!(
        printed.trim_end().ends_with("runs, integrity_check ok"),
        "{printed}"
    );
    let number = |word: &str| -> usize {
        let words: Vec<&str> = printed.split_whitespace().collect();
        let at = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("no `{word}` in {printed}"));
        words[at - 1]
            .parse()
            .unwrap_or_else(|_| panic!("no count before `{word}` in {printed}"))
    };
    let (deliveries, runs) = (number("deliveries"), number("runs,"));
    // Every push of the stream starts a run on the hello pipeline.
    assert_eq!(deliveries, runs, "{printed}");
    assert!(deliveries >= before.len(), "{printed}");
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the temporary copy was left behind: {leftovers:?}"
    );

    // The copy passes SQLite's own check, opened on its own.
    let opened = shipgate::store::Store::open_sqlite_file(&copy)
        .await
        .unwrap();
    assert_eq!(opened.integrity_check().await.unwrap(), ["ok"]);
    opened.close().await;

    // A second Shipgate serves the copy, with every delivery acknowledged before the backup.
    let port = free_port();
    let _restored = serve(port, &format!("sqlite:{}", copy.display()));
    let listed = listed_deliveries(port);
    let listed_set: HashSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(
        listed.len(),
        listed_set.len(),
        "each delivery is listed once"
    );
    assert_eq!(
        listed.len(),
        deliveries,
        "the copy serves what the backup said it holds"
    );
    let missing: Vec<&&str> = before
        .iter()
        .filter(|id| !listed_set.contains(**id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup began, but not in the copy: {missing:?}"
    );
}

#[tokio::test]
async fn a_backup_refuses_an_existing_file_a_missing_directory_a_missing_database_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live.db");
    let url = format!("sqlite:{}", live.display());
    shipgate::store::Store::connect(&url)
        .await
        .unwrap()
        .close()
        .await;

    // FILE exists: left as it was.
    let taken = dir.path().join("taken.db");
    std::fs::write(&taken, "an older backup").unwrap();
    let out = backup(&url, &taken);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "shipgate: backup failed: {} already exists, and a backup never overwrites a file: choose a new name\n",
            taken.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "an older backup");

    // FILE's directory does not exist: nothing is made.
    let nowhere = dir.path().join("no-such-dir");
    let out = backup(&url, &nowhere.join("copy.db"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "shipgate: backup failed: the directory {} does not exist\n",
            nowhere.display()
        )
    );
    assert!(!nowhere.exists());

    // A mistyped database path is not "backed up" as a new, empty database.
    let missing = dir.path().join("missing.db");
    let out = backup(
        &format!("sqlite:{}", missing.display()),
        &dir.path().join("copy.db"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "shipgate: backup failed: there is no database at {} (the file the database URL names)\n",
            missing.display()
        )
    );
    assert!(!missing.exists() && !dir.path().join("copy.db").exists());

    // PostgreSQL: pointed at pg_dump, without even connecting.
    let out = backup(
        "postgres://postgres@127.0.0.1:1/shipgate",
        &dir.path().join("copy.db"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.starts_with("shipgate: backup failed: the database is PostgreSQL"),
        "{message}"
    );
    assert!(
        message.contains("pg_dump --format=custom --file=shipgate.dump \"$DATABASE_URL\"")
            && message.contains("pg_restore"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "one sentence: {message}");
    assert!(!dir.path().join("copy.db").exists());

    // And with nothing in the way, the same database is backed up.
    let out = backup(&url, &dir.path().join("copy.db"));
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.ends_with(" bytes, 0 deliveries and 0 runs, integrity_check ok\n"),
        "{printed}"
    );
}
