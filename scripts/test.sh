#!/usr/bin/env bash
# Installs what the tests need (toolchain pieces, Node packages incl. oidc-provider, Chromium,
# PostgreSQL, moto) and runs every test: the test peers' own checks, unit and table tests,
# integration tests on SQLite and PostgreSQL, and the browser tests with JavaScript on and off.
source "$(dirname "$0")/lib.sh"
ensure_build_tools
ensure_test_tools

say "hygiene: rustfmt, clippy (server and browser builds), no module cycles, vendored webhook fixtures"
cargo fmt --all --check
cargo clippy --locked -p shipgate -p shipgate-app -p shipgate-pipeline --all-targets -- -D warnings
cargo clippy --locked -p shipgate-frontend --target wasm32-unknown-unknown --all-targets -- -D warnings
python3 scripts/module-graph.py server/src --quiet
python3 scripts/module-graph.py pipeline/src --quiet
scripts/check-fixtures.sh

say "AWS stand-in: moto with ECS rollouts (tests/peers), checked against boto3"
python3 -m unittest server/tests/peers/test_moto_ecs.py

say "OpenID provider: oidc-provider as a local peer (end2end/peers), checked with a relying party's code + PKCE flow"
node --test --test-concurrency=1 end2end/peers/

# #[sqlx::test] makes a fresh PostgreSQL database per test from this server.
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
say "cargo test (domain, dashboard, server and engine; store and engine tests on SQLite and PostgreSQL, AWS through moto)"
cargo test --locked

say "cargo leptos build (server binary and hydration bundle for the browser tests)"
cargo leptos build
unset DATABASE_URL

say "end2end: Playwright in Debian Chromium, JavaScript on and off"
export SHIPGATE_BIN="$CARGO_TARGET_DIR/debug/shipgate"
# cargo-leptos writes the site under the workspace (site-root), not under CARGO_TARGET_DIR.
export LEPTOS_SITE_ROOT="$ROOT/target/site"
node --test --test-concurrency=1 end2end/tests/
