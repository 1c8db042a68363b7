#!/usr/bin/env bash
# Sends a push delivery to a running Shipgate, signed as GitHub signs it, for the demo
# pipeline in examples/demo.toml. Each call is a new delivery and so starts a new run.
set -euo pipefail
URL="${1:-http://127.0.0.1:3000}"
SECRET="${GITHUB_WEBHOOK_SECRET:-shipgate-demo-secret}"
sha="$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')"
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
body=$(cat <<JSON
{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"$sha","created":false,"deleted":false,"forced":false,
 "compare":"https://github.com/octo-org/demo/compare/main","pusher":{"name":"octocat","email":"octocat@example.com"},
 "head_commit":{"id":"$sha","message":"Demo change pushed at $now","timestamp":"$now","url":"https://github.com/octo-org/demo/commit/$sha",
   "author":{"name":"The Octocat","email":"octocat@example.com","username":"octocat"}},
 "repository":{"full_name":"octo-org/demo","html_url":"https://github.com/octo-org/demo"}}
JSON
)
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)"
curl -sS -X POST "$URL/webhooks/github" \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: demo-$(date +%s%N)" -H "X-Hub-Signature-256: $sig" \
  --data-binary "$body"
echo
