#!/usr/bin/env bash
# Installs whatever is missing, builds Shipgate, and runs it on SQLite with a demo pipeline.
# Open http://127.0.0.1:3000, then send a push with scripts/demo-push.sh.
source "$(dirname "$0")/lib.sh"
ensure_build_tools
say "cargo leptos build --release"
cargo leptos build --release
export GITHUB_WEBHOOK_SECRET="${GITHUB_WEBHOOK_SECRET:-shipgate-demo-secret}"
# cargo-leptos writes the site under the workspace (site-root), not under CARGO_TARGET_DIR.
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-$ROOT/target/site}"
say "Shipgate on http://127.0.0.1:3000 (SQLite: ./shipgate.db). Send a demo push: scripts/demo-push.sh"
exec "$CARGO_TARGET_DIR/release/shipgate" serve --config "${SHIPGATE_CONFIG:-examples/demo.toml}" "$@"
