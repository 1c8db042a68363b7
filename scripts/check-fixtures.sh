#!/usr/bin/env bash
# The webhook payloads the Rust tests and benches read (server/tests/fixtures/webhooks) are
# vendored from npm `@octokit/webhooks-examples`, so `cargo test` needs no npm. This checks
# they still equal the installed package's examples (end2end/node_modules, from `npm ci`),
# so a version bump in end2end/package.json cannot leave them stale unnoticed.
#   scripts/check-fixtures.sh          # fail, with a diff, if any vendored file differs
#   scripts/check-fixtures.sh --write  # rewrite them from the installed package
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
INDEX="${WEBHOOK_EXAMPLES:-$ROOT/end2end/node_modules/@octokit/webhooks-examples/api.github.com/index.json}"
DIR="$ROOT/server/tests/fixtures/webhooks"
# Every event whose examples a Rust test or bench loads; one file each.
EVENTS=(push workflow_run check_suite ping issues star)

if [[ ! -f "$INDEX" ]]; then
  echo "check-fixtures: $INDEX is missing; run \`npm ci\` in end2end/ first" >&2
  exit 1
fi

# One event's examples array, as the vendored file spells it (two-space JSON, final newline).
extract() {
  node -e '
    const all = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const e = all.find(e => e.name === process.argv[2]);
    if (!e || !e.examples || e.examples.length === 0) { console.error(`no ${process.argv[2]} examples`); process.exit(1); }
    process.stdout.write(JSON.stringify(e.examples, null, 2) + "\n");
  ' "$INDEX" "$1"
}

status=0
for event in "${EVENTS[@]}"; do
  if [[ "${1:-}" == "--write" ]]; then
    extract "$event" > "$DIR/$event.json"
  elif ! diff -u --label "vendored $event.json" --label "package $event" "$DIR/$event.json" <(extract "$event") > /dev/null; then
    diff -u --label "vendored $event.json" --label "package $event" "$DIR/$event.json" <(extract "$event") | head -40 >&2 || true
    echo "check-fixtures: server/tests/fixtures/webhooks/$event.json differs from the package; run scripts/check-fixtures.sh --write" >&2
    status=1
  fi
done
exit $status
