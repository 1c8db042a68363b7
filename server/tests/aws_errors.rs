//! AWS failures in plain words: each class of SDK failure becomes one line a person can act
//! on, with a sentence and a fix on the page, no Rust `Debug` output anywhere a person
//! reads, and one log line when a failure starts or changes, not one per poll.
//!
//! The adapter is checked against the moto peer (its fault injection answers in AWS's own
//! error shapes); the pages and the log through the real binary, as a newcomer meets them.

mod support;

use shipgate::aws::{Cloud, ServiceTarget};
use shipgate_pipeline::cloud::{CloudProblem, Situation, explain};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::aws::{Moto, credentials};
use support::branch_push;
use support::process::{deliver, free_port, http, serve_command, wait_ready};

/// Shapes of Rust `Debug` output that must never reach a person.
const DEBUG_SHAPES: [&str; 5] = [
    "{ source:",
    "DispatchFailure",
    "ConnectorError",
    "Some(",
    "DisplayErrorContext",
];

fn assert_readable(what: &str, text: &str) {
    for shape in DEBUG_SHAPES {
        assert!(
            !text.contains(shape),
            "{what} shows Debug output ({shape}): {text}"
        );
    }
}

fn target(cluster: &str, service: &str) -> ServiceTarget {
    ServiceTarget {
        region: "us-east-1".into(),
        role_arn: None,
        cluster: cluster.into(),
        service: service.into(),
    }
}

#[tokio::test]
async fn each_aws_failure_class_becomes_one_sentence_and_a_fix() {
    let moto = Moto::start().await;
    moto.create_service("stg", "api", "app").await;
    let cloud = moto.cloud();

    // Access denied, in AWS's words, names the principal, the action and the resource.
    let denial = "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: ecs:DescribeServices on resource: arn:aws:ecs:us-east-1:123456789012:service/stg/api because no identity-based policy allows the ecs:DescribeServices action";
    moto.fault("DescribeServices", "AccessDeniedException", denial, 400, 1)
        .await;
    let denied = cloud
        .describe_service(&target("stg", "api"))
        .await
        .unwrap_err();
    assert_eq!(denied.problem, CloudProblem::AccessDenied);
    assert!(!denied.retryable);
    let why = explain(&denied.to_string(), Situation::Ended).unwrap();
    assert_eq!(
        why.sentence,
        "AWS refused arn:aws:iam::123456789012:user/shipgate the action ecs:DescribeServices on arn:aws:ecs:us-east-1:123456789012:service/stg/api."
    );
    assert!(
        why.fix.contains("Allow ecs:DescribeServices"),
        "{}",
        why.fix
    );

    // A missing resource: moto's own answer for a cluster that does not exist.
    let missing = cloud
        .describe_service(&target("nowhere", "api"))
        .await
        .unwrap_err();
    assert_eq!(missing.problem, CloudProblem::NotFound, "{missing}");
    assert!(!missing.retryable);
    let why = explain(&missing.to_string(), Situation::Ended).unwrap();
    assert!(why.sentence.contains("no such cluster"), "{}", why.sentence);

    // Throttling and a 5xx are retried (the SDK retries first; these outlast it).
    moto.fault(
        "DescribeServices",
        "ThrottlingException",
        "Rate exceeded",
        400,
        10,
    )
    .await;
    let throttled = cloud
        .describe_service(&target("stg", "api"))
        .await
        .unwrap_err();
    assert_eq!(throttled.problem, CloudProblem::Busy);
    assert!(throttled.retryable);
    moto.control("POST", "/_shipgate/reset", None).await;
    moto.create_service("stg", "api", "app").await;
    moto.fault(
        "DescribeServices",
        "SomethingBroke",
        "We encountered an internal error",
        503,
        10,
    )
    .await;
    let outage = cloud
        .describe_service(&target("stg", "api"))
        .await
        .unwrap_err();
    assert_eq!(outage.problem, CloudProblem::Busy, "{outage}");
    assert!(outage.retryable);
    let why = explain(&throttled.to_string(), Situation::Retrying).unwrap();
    assert!(why.sentence.contains("throttling"), "{}", why.sentence);

    // An endpoint that does not answer.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let nowhere = Cloud::with_endpoint(&closed, credentials());
    let unreachable = nowhere
        .describe_service(&target("stg", "api"))
        .await
        .unwrap_err();
    assert_eq!(unreachable.problem, CloudProblem::Unreachable);
    assert!(unreachable.retryable);
    let why = explain(&unreachable.to_string(), Situation::Retrying).unwrap();
    assert!(why.fix.contains("AWS_ENDPOINT_URL"), "{}", why.fix);
    assert!(
        unreachable.chain.len() >= unreachable.message.len(),
        "the log keeps the whole chain"
    );

    for e in [&denied, &missing, &throttled, &outage, &unreachable] {
        assert_readable("a stored AWS error", &e.to_string());
        assert_readable("the chain for the log", &e.chain);
    }
}

/// A `shipgate serve` child that is killed however the test ends, a failed assertion
/// included, so that no server outlives its test.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `shipgate serve` with the hello pipeline, its log written to `log`, with `env` set and
/// every AWS credential source but `env`'s taken away (no profile, no instance metadata).
fn serve(port: u16, db: &Path, log: &Path, env: &[(&str, String)]) -> Served {
    let mut cmd = serve_command(port, &format!("sqlite:{}", db.display()));
    cmd.args(["--poll-interval", "1s"]);
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL",
    ] {
        cmd.env_remove(var);
    }
    let home = log.parent().unwrap();
    cmd.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("SHIPGATE_LOG", "warn,shipgate::engine::trouble=debug")
        .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = Served(cmd.spawn().expect("shipgate starts"));
    wait_ready(port, &mut child.0);
    child
}

fn page(port: u16, path: &str) -> String {
    let (status, body) = http(port, "GET", path, &[], b"").expect("page answered");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn wait_for(port: u16, path: &str, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = page(port, path);
        if body.contains(text) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never showed {text:?}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every page a person might open while the failure lasts.
const PAGES: [&str; 11] = [
    "/",
    "/runs/1",
    "/pipelines",
    "/pipelines/hello",
    "/pipelines/hello/images",
    "/services",
    "/images",
    "/deliveries",
    "/approvals",
    "/admin/tokens",
    "/admin/audit",
];

#[tokio::test]
async fn with_no_aws_credentials_the_run_and_every_page_say_so_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("sg.db"), dir.path().join("shipgate.log"));
    let port = free_port();
    let child = serve(port, &db, &log, &[]);
    let (status, reply) = deliver(port, "push", "no-credentials", &branch_push());
    assert_eq!(status, 200, "{reply}");

    // Missing credentials do not fix themselves: the build ends now, saying what to set,
    // instead of waiting out its timeout as "AWS is busy".
    let run = wait_for(port, "/runs/1", "Shipgate has no AWS credentials");
    assert!(run.contains("AWS_ACCESS_KEY_ID"), "the fix is on the page");
    assert!(
        run.contains("instance metadata"),
        "the chain tried is named"
    );
    let services = wait_for(port, "/services", "Shipgate has no AWS credentials");
    assert!(services.contains("AWS_ACCESS_KEY_ID"), "{services}");
    for path in PAGES {
        assert_readable(path, &page(port, path));
    }
    assert!(
        !page(port, "/").contains("aws-stand-in"),
        "no stand-in is named when AWS is AWS"
    );
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let warned = text
        .lines()
        .filter(|l| l.contains("AWS call failing") && l.contains("run 1 build"))
        .count();
    assert_eq!(warned, 1, "the build's failure is logged once: {text}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_and_logged_once_when_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("sg.db"), dir.path().join("shipgate.log"));
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let child = serve(
        port,
        &db,
        &log,
        &[
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ],
    );
    let (status, reply) = deliver(port, "push", "unreachable", &branch_push());
    assert_eq!(status, 200, "{reply}");

    let run = wait_for(port, "/runs/1", "could not reach the AWS endpoint");
    assert!(run.contains("keeps retrying"), "still waiting: {run}");
    let home = page(port, "/");
    assert!(
        home.contains("aws-stand-in") && home.contains(&endpoint),
        "the top bar names the stand-in"
    );
    for path in PAGES {
        assert_readable(path, &page(port, path));
    }

    // Let the build look several more times; the log must not grow with it.
    let store = shipgate::store::Store::connect(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while support::fetch_i64(&store, "SELECT checks FROM builds WHERE run_id = 1").await < 3 {
        assert!(Instant::now() < deadline, "the build stopped looking");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(child);
    let text = std::fs::read_to_string(&log).unwrap();
    let build_lines: Vec<&str> = text.lines().filter(|l| l.contains("run 1 build")).collect();
    let warned = build_lines
        .iter()
        .filter(|l| l.contains("AWS call failing"))
        .count();
    assert_eq!(
        warned, 1,
        "one warning however many polls: {build_lines:#?}"
    );
    let chains = build_lines
        .iter()
        .filter(|l| l.contains("AWS error chain"))
        .count();
    assert_eq!(
        chains, 1,
        "the whole chain once, at debug: {build_lines:#?}"
    );
    assert!(
        text.contains("AWS stand-in"),
        "start-up says where AWS calls go"
    );
}
