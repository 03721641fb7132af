#!/usr/bin/env bash
# Installs what building (and, with `--test`, testing) Switchboard needs on a fresh machine.
# Idempotent: each step checks first and skips what is already in place.
#
#   scripts/setup.sh          the wasm target, wasm-bindgen-cli, npm packages (binaryen's wasm-opt)
#   scripts/setup.sh --test   also Debian's chromium for the browser tests, and starts local PostgreSQL
source "$(dirname "$0")/lib.sh"

for_tests=false
[[ "${1:-}" == "--test" ]] && for_tests=true

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    note "apt-get update"
    apt-get update -qq
    apt_updated=true
  fi
  note "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

step "Rust target wasm32-unknown-unknown"
command -v cargo >/dev/null || fail "cargo is not installed (https://rustup.rs)"
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  note "already installed"
else
  rustup target add wasm32-unknown-unknown
fi

step "wasm-bindgen-cli $(wasm_bindgen_version)"
want="$(wasm_bindgen_version)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [[ "$have" == "$want" ]]; then
  note "already installed"
else
  # No --locked: its lockfile pins a webpki-roots release the registry mirror here does not carry.
  cargo install wasm-bindgen-cli --version "$want"
fi

step "Node.js and the npm packages in end2end/"
if ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
if [[ -d end2end/node_modules && end2end/node_modules/.package-lock.json -nt end2end/package-lock.json ]]; then
  note "already installed"
else
  (cd end2end && npm ci --no-audit --no-fund)
fi

if $for_tests; then
  step "Chromium for the browser tests"
  if [[ -x /usr/bin/chromium ]]; then
    note "already installed"
  else
    apt_install chromium
  fi

  step "PostgreSQL for the database tests"
  if ! command -v pg_ctlcluster >/dev/null; then
    note "not installed here; set SWITCHBOARD_TEST_DATABASE_URL to a reachable server"
  elif pg_isready -q -h 127.0.0.1 -p 5432; then
    note "running on 127.0.0.1:5432"
  else
    for version in /etc/postgresql/*; do
      note "starting cluster $(basename "$version")/main"
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -h 127.0.0.1 -p 5432 || note "PostgreSQL did not come up"
  fi
fi
