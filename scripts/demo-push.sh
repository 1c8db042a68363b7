#!/usr/bin/env bash
# Plays GitHub and CI for the demo that scripts/run.sh serves (examples/demo.toml): each call
# is a new commit pushed to octo-org/demo@main, and so a new run.
#   1. GitHub: a signed `push` delivery (X-Hub-Signature-256, as GitHub signs it);
#   2. CI: a `workflow_run` in progress, then the image pushed to the AWS stand-in's ECR
#      under the commit's tag (scripts/demo-aws.py ci: a manifest put with the ECR API, as
#      `docker push` ends up doing), then a signed `workflow_run` completed with success.
# Usage: scripts/demo-push.sh [SHIPGATE_URL]
# Settings (environment): SHIPGATE_URL and SHIPGATE_DEMO_AWS_URL (default: what the running
# demo wrote to SHIPGATE_DEMO_DIR, target/demo), GITHUB_WEBHOOK_SECRET (the demo's default),
# DEMO_CI_SECONDS (how long "CI" builds, default 3), DEMO_ROLLOUT_POLLS (how many ECS polls
# each rollout takes, default 8).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf 'demo-push.sh: %s\n' "$*" >&2; exit 1; }

DEMO_DIR="${SHIPGATE_DEMO_DIR:-$ROOT/target/demo}"
URL="${1:-${SHIPGATE_URL:-$(cat "$DEMO_DIR/shipgate-url" 2>/dev/null || echo http://127.0.0.1:3000)}}"
URL="${URL%/}"
AWS_URL="${SHIPGATE_DEMO_AWS_URL:-$(cat "$DEMO_DIR/aws-url" 2>/dev/null || true)}"
[ -n "$AWS_URL" ] || die "no AWS stand-in found ($DEMO_DIR/aws-url): start the demo with scripts/run.sh first, or set SHIPGATE_DEMO_AWS_URL"
SECRET="${GITHUB_WEBHOOK_SECRET:-shipgate-demo-secret}"
CONFIG="${SHIPGATE_CONFIG:-$ROOT/examples/demo.toml}"
REPO="octo-org/demo"
BRANCH="main"
OWNER="${REPO%%/*}"
NAME="${REPO#*/}"

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
sha="$(random_hex 20)"
tree="$(random_hex 20)"
before="$(cat "$DEMO_DIR/last-sha" 2>/dev/null || printf '0%.0s' $(seq 40))"
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ci_run_id=$((RANDOM * 32768 + RANDOM))

# Sends one delivery, signed with the webhook secret, and prints Shipgate's answer.
deliver() {
  local event="$1" body="$2" sig reply
  sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
  reply="$(curl -sS --fail-with-body -X POST "$URL/webhooks/github" \
    -H 'Content-Type: application/json' -H "X-GitHub-Event: $event" -H 'User-Agent: GitHub-Hookshot/demo' \
    -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" -H "X-Hub-Signature-256: $sig" \
    --data-binary "$body")" || die "the $event delivery to Shipgate at $URL failed${reply:+: $reply} (is scripts/run.sh running?)"
  printf '%s' "$reply"
}

# Parts of GitHub's payloads that several deliveries share.
repository=$(cat <<JSON
{"id":874261,"node_id":"R_kgDOAA1VFQ","name":"$NAME","full_name":"$REPO","private":false,
 "owner":{"login":"$OWNER","id":7183302,"type":"Organization","html_url":"https://github.com/$OWNER"},
 "html_url":"https://github.com/$REPO","url":"https://api.github.com/repos/$REPO",
 "clone_url":"https://github.com/$REPO.git","default_branch":"$BRANCH"}
JSON
)
sender='{"login":"octocat","id":583231,"type":"User","html_url":"https://github.com/octocat"}'
author='{"name":"The Octocat","email":"octocat@example.com","username":"octocat"}'
commit=$(cat <<JSON
{"id":"$sha","tree_id":"$tree","distinct":true,"message":"Demo change pushed at $now","timestamp":"$now",
 "url":"https://github.com/$REPO/commit/$sha","author":$author,"committer":$author,
 "added":[],"removed":[],"modified":["app/greeting.txt"]}
JSON
)

# 1. GitHub: the push.
push=$(cat <<JSON
{"ref":"refs/heads/$BRANCH","before":"$before","after":"$sha","created":false,"deleted":false,"forced":false,
 "base_ref":null,"compare":"https://github.com/$REPO/compare/${before:0:12}...${sha:0:12}",
 "commits":[$commit],"head_commit":$commit,
 "repository":$repository,"pusher":{"name":"octocat","email":"octocat@example.com"},"sender":$sender}
JSON
)
reply="$(deliver push "$push")"
printf '%s\n' "$sha" >"$DEMO_DIR/last-sha" 2>/dev/null || true
run_id="$(printf '%s' "$reply" | python3 -c 'import json, sys; print((json.load(sys.stdin).get("run_ids") or [""])[0])')"
[ -n "$run_id" ] || die "the push started no run: $reply"
say "GitHub: pushed ${sha:0:7} to $REPO@$BRANCH; Shipgate started run #$run_id"

# 2. CI: a workflow run for the commit, as GitHub reports it (requested, in progress, completed).
workflow_run() {
  local action="$1" status="$2" conclusion="$3" updated
  updated="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  cat <<JSON
{"action":"$action",
 "workflow":{"id":16340987,"node_id":"W_kwDOAA1VFc4A-Vf7","name":"CI","path":".github/workflows/ci.yml","state":"active",
   "url":"https://api.github.com/repos/$REPO/actions/workflows/16340987","html_url":"https://github.com/$REPO/blob/$BRANCH/.github/workflows/ci.yml"},
 "workflow_run":{"id":$ci_run_id,"name":"CI","node_id":"WFR_kwLOAA1VFc8AAAAB","head_branch":"$BRANCH","head_sha":"$sha",
   "path":".github/workflows/ci.yml","display_title":"Demo change pushed at $now","run_number":$((run_id + 100)),"event":"push",
   "status":"$status","conclusion":$conclusion,"workflow_id":16340987,"check_suite_id":$((ci_run_id + 1)),
   "url":"https://api.github.com/repos/$REPO/actions/runs/$ci_run_id","html_url":"https://github.com/$REPO/actions/runs/$ci_run_id",
   "pull_requests":[],"created_at":"$now","updated_at":"$updated","run_attempt":1,"run_started_at":"$now",
   "actor":$sender,"triggering_actor":$sender,
   "head_commit":{"id":"$sha","tree_id":"$tree","message":"Demo change pushed at $now","timestamp":"$now",
     "author":{"name":"The Octocat","email":"octocat@example.com"},"committer":{"name":"The Octocat","email":"octocat@example.com"}},
   "repository":$repository,"head_repository":$repository},
 "repository":$repository,"sender":$sender}
JSON
}
deliver workflow_run "$(workflow_run in_progress in_progress null)" >/dev/null
say "CI: workflow \"CI\" run $ci_run_id is building the image (${DEMO_CI_SECONDS:-3} s)"
sleep "${DEMO_CI_SECONDS:-3}"
images="$(python3 "$ROOT/scripts/demo-aws.py" ci "$AWS_URL" --config "$CONFIG" --repository "$REPO" --branch "$BRANCH" \
  --sha "$sha" --polls "${DEMO_ROLLOUT_POLLS:-8}")"
say "CI: pushed to the stand-in's ECR ($AWS_URL):"
printf '%s\n' "$images" | sed 's/^/    /'
deliver workflow_run "$(workflow_run completed completed '"success"')" >/dev/null
say "CI: workflow \"CI\" run $ci_run_id completed with success"

say "Watch run #$run_id: $URL/runs/$run_id"
echo "    staging deploys by itself (rollout in ${DEMO_ROLLOUT_POLLS:-8} steps); production waits there for your click on Approve."
