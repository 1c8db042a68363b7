#!/usr/bin/env bash
# Installs whatever is missing, builds Shipgate, and runs the demo: Shipgate on SQLite with the
# pipeline in examples/demo.toml, against a local AWS stand-in (moto with ECS rollouts) seeded
# with what that pipeline points at, so no AWS account is needed (scripts/demo-serve.sh).
# Open http://127.0.0.1:3000, then send a push with scripts/demo-push.sh.
source "$(dirname "$0")/lib.sh"
ensure_build_tools
ensure_moto # the AWS stand-in (and boto3, which scripts/demo-*.py use)
# scripts/demo-push.sh signs and sends GitHub's deliveries with these.
command -v curl >/dev/null && command -v openssl >/dev/null || apt_install curl openssl
say "cargo leptos build --release"
cargo leptos build --release
SHIPGATE_BIN="$CARGO_TARGET_DIR/release/shipgate" exec "$ROOT/scripts/demo-serve.sh" "$@"
