# Shared by scripts/run.sh and scripts/test.sh: installs only what is missing, so a warm
# machine pays nothing and a fresh one gets everything. Sourced, not run.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Builds live outside the clone, so a fresh clone (as CI makes) starts warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/shipgate/target}"
export PATH="$HOME/.cargo/bin:$PATH"

# Cargo names a workspace crate's build by its path *inside* the workspace, so two checkouts
# sharing this target directory share those builds, and each build remembers the source
# files of the checkout that made it. Building from another checkout whose files are
# older can then reuse the other checkout's crates (stale code, and server-function URLs
# hashed from the other path, which breaks hydration). When the checkout changes, forget
# the workspace crates' fingerprints so they rebuild; dependencies stay warm.
forget_other_checkout() {
  local marker="$CARGO_TARGET_DIR/.shipgate-checkout"
  mkdir -p "$CARGO_TARGET_DIR"
  if [ "$(cat "$marker" 2>/dev/null)" != "$ROOT" ]; then
    find "$CARGO_TARGET_DIR" -maxdepth 5 -path '*/.fingerprint/shipgate*' -prune -exec rm -rf {} + 2>/dev/null || true
    printf '%s\n' "$ROOT" > "$marker"
  fi
}
forget_other_checkout

CARGO_LEPTOS_VERSION="0.3.10"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_build_tools() {
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust 1.95 with rustup first" >&2; exit 1; }
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 15 minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
  fi
  local wb
  wb="$(wasm_bindgen_version)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb" ]; then
    # Not --locked: the CLI's own lockfile names a crate version this registry lacks.
    say "installing wasm-bindgen-cli $wb"
    cargo install wasm-bindgen-cli --version "$wb"
  fi
  command -v wasm-opt >/dev/null || apt_install binaryen
}

ensure_test_tools() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  [ -x /usr/bin/chromium ] || apt_install chromium
  ensure_postgres
  ensure_moto
  say "npm ci (end2end: Playwright and GitHub's webhook examples)"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
}

# moto's server (AWS ECS/ECR/EC2 stand-in), which tests/peers/moto_ecs.py extends with rollouts.
MOTO_VERSION=5.2.1
ensure_moto() {
  command -v python3 >/dev/null || apt_install python3 python3-pip
  if python3 -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null \
     && python3 -c "import werkzeug, flask, flask_cors, openapi_spec_validator" 2>/dev/null; then
    return
  fi
  say "installing moto[server]==$MOTO_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "moto[server]==$MOTO_VERSION"
}

# PostgreSQL on 127.0.0.1:5432 with trust auth, as the store tests expect.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql
    local hba
    hba="$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)"
    # Local test database only: trust connections from this machine.
    sed -i '1i host all all 127.0.0.1/32 trust\nlocal all all trust' "$hba"
  fi
  local version
  version="$(ls /etc/postgresql | sort -n | tail -n1)"
  say "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 1
  done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
  exit 1
}
