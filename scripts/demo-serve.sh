#!/usr/bin/env bash
# The demo after the build (scripts/run.sh builds, then runs this): starts a local AWS
# stand-in (moto with simulated ECS rollouts, server/tests/peers/moto_ecs.py), creates in it
# what the demo pipeline points at (scripts/demo-aws.py seed), and runs Shipgate against it.
# No AWS account is used: every AWS call goes to the stand-in, with dummy credentials.
# Ctrl-C (or SIGTERM) stops Shipgate and the stand-in together.
#
# Settings (environment):
#   SHIPGATE_BIN         the shipgate binary (default: the release build)
#   SHIPGATE_LISTEN      where Shipgate listens (default 127.0.0.1:3000)
#   SHIPGATE_CONFIG      the pipelines (default examples/demo.toml)
#   SHIPGATE_DEMO_DIR    the demo's state: database, the stand-in's address and log
#                        (default target/demo; the database starts empty each time, as the
#                        stand-in does)
#   SHIPGATE_DEMO_AWS_PORT  the stand-in's port (default: a free one)
#   DATABASE_URL, SHIPGATE_POLL_INTERVAL (default 2s), GITHUB_WEBHOOK_SECRET, LEPTOS_SITE_ROOT
# Arguments are passed on to `shipgate serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf 'demo-serve.sh: %s\n' "$*" >&2; exit 1; }

BIN="${SHIPGATE_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/shipgate/target}/release/shipgate}"
[ -x "$BIN" ] || die "no shipgate binary at $BIN: build it with scripts/run.sh (or set SHIPGATE_BIN)"
python3 -c 'import moto, boto3' 2>/dev/null \
  || die "the AWS stand-in needs python3 with moto[server] (scripts/run.sh installs it)"

CONFIG="${SHIPGATE_CONFIG:-examples/demo.toml}"
DEMO_DIR="${SHIPGATE_DEMO_DIR:-$ROOT/target/demo}"
mkdir -p "$DEMO_DIR"
DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
# One demo per state directory: a second one would start by emptying the first's database.
exec 9>"$DEMO_DIR/lock"
flock -n 9 || die "another demo is running from $DEMO_DIR (set SHIPGATE_DEMO_DIR for a second one)"
rm -f "$DEMO_DIR/aws-url" "$DEMO_DIR/shipgate-url" "$DEMO_DIR/last-sha"
if [ -z "${DATABASE_URL:-}" ]; then
  # The stand-in forgets everything when it stops, so the runs that deployed to it go too.
  rm -f "$DEMO_DIR"/shipgate.db "$DEMO_DIR"/shipgate.db-wal "$DEMO_DIR"/shipgate.db-shm
  export DATABASE_URL="sqlite:$DEMO_DIR/shipgate.db"
fi
export SHIPGATE_LISTEN="${SHIPGATE_LISTEN:-127.0.0.1:3000}"
SHIPGATE_URL="http://$SHIPGATE_LISTEN"

aws_pid=""
sg_pid=""
stop_all() {
  trap - EXIT INT TERM
  local pid
  for pid in $sg_pid $aws_pid; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -f "$DEMO_DIR/aws-url" "$DEMO_DIR/shipgate-url"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting the local AWS stand-in (moto with ECS rollouts; log: $DEMO_DIR/aws.log)"
python3 server/tests/peers/moto_ecs.py --host 127.0.0.1 --port "${SHIPGATE_DEMO_AWS_PORT:-0}" \
  >"$DEMO_DIR/aws.out" 2>"$DEMO_DIR/aws.log" &
aws_pid=$!
AWS_URL=""
for _ in $(seq 1 300); do
  AWS_URL="$(sed -n 's/^listening on //p' "$DEMO_DIR/aws.out")"
  [ -n "$AWS_URL" ] && break
  kill -0 "$aws_pid" 2>/dev/null || { tail -n 20 "$DEMO_DIR/aws.log" >&2; die "the AWS stand-in stopped before it listened"; }
  sleep 0.1
done
[ -n "$AWS_URL" ] || die "the AWS stand-in did not listen within 30 s (see $DEMO_DIR/aws.log)"
python3 scripts/demo-aws.py seed "$AWS_URL" --config "$CONFIG" | sed 's/^/    seeded: /'

# Shipgate reaches the stand-in through the AWS SDK's standard settings. Settings that could
# send a call elsewhere (a profile, a session token, a per-service endpoint) are dropped.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
  AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_IGNORE_CONFIGURED_ENDPOINT_URLS \
  AWS_ENDPOINT_URL_ECS AWS_ENDPOINT_URL_ECR AWS_ENDPOINT_URL_STS
export AWS_ENDPOINT_URL="$AWS_URL" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export GITHUB_WEBHOOK_SECRET="${GITHUB_WEBHOOK_SECRET:-shipgate-demo-secret}"
# cargo-leptos writes the site under the workspace (site-root), not under CARGO_TARGET_DIR.
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
# Look at ECR and ECS every 2 s (not 5 s), so a rollout's steps show one by one, quickly.
export SHIPGATE_POLL_INTERVAL="${SHIPGATE_POLL_INTERVAL:-2s}"
printf '%s\n' "$AWS_URL" >"$DEMO_DIR/aws-url"
printf '%s\n' "$SHIPGATE_URL" >"$DEMO_DIR/shipgate-url"

cat <<EOF

  This is a DEMO against a local AWS stand-in, not an AWS account.
  Every AWS call goes to $AWS_URL (moto, with ECS rollouts simulated),
  signed with the dummy credentials "testing"; what it holds is gone when it stops.

  Shipgate:  $SHIPGATE_URL   (pipelines: $CONFIG; database: ${DATABASE_URL})
  Next:      in another terminal, scripts/demo-push.sh
             (a signed push, CI's image in the stand-in's ECR, and CI's completion)
  Then:      staging deploys by itself; production waits for your click on Approve.

  For a real account instead, run the release build without this script and the stand-in:
    AWS_PROFILE=<yours> GITHUB_WEBHOOK_SECRET=<yours> \\
      ${CARGO_TARGET_DIR:-$HOME/.cache/shipgate/target}/release/shipgate serve --config <your shipgate.toml>
  with credentials from the AWS SDK's chain (environment, profile, web identity,
  container or instance role) and no AWS_ENDPOINT_URL.

EOF

"$BIN" serve --config "$CONFIG" "$@" &
sg_pid=$!
# Whichever stops first takes the other with it (the EXIT trap).
status=0
wait -n "$sg_pid" "$aws_pid" || status=$?
if ! kill -0 "$aws_pid" 2>/dev/null; then
  aws_pid=""
  tail -n 20 "$DEMO_DIR/aws.log" >&2
  say "the AWS stand-in stopped; stopping Shipgate"
  [ "$status" = 0 ] && status=1
else
  sg_pid=""
fi
exit "$status"
