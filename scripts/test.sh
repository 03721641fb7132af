#!/usr/bin/env bash
# Command 2: every test. Installs what the tests need, builds once (debug), then runs
#   1. clippy on the native and the browser build (warnings are errors),
#   2. the Rust tests: unit, HTTP, and the database tests on SQLite and on PostgreSQL,
#   3. the browser tests: Playwright in Debian's Chromium against a freshly started server on a free
#      port with a temporary database.
# With CI=true an unreachable PostgreSQL fails the run instead of skipping its tests.
source "$(dirname "$0")/lib.sh"

started=$SECONDS
bash scripts/setup.sh --test
bash scripts/build.sh
debug_rustflags

step "Clippy (server, engine, console; browser bundle)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p switchboard-app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings

step "Rust tests on SQLite and PostgreSQL"
export SWITCHBOARD_TEST_DATABASE_URL="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
note "PostgreSQL: ${SWITCHBOARD_TEST_DATABASE_URL%%@*}@… (CI=${CI:-false})"
cargo test --workspace

step "Browser tests (Playwright, Chromium)"
e2e_dir="$(mktemp -d -t switchboard-e2e.XXXXXX)"
trap 'rm -rf "$e2e_dir"' EXIT
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
note "server on 127.0.0.1:$port, database $e2e_dir/switchboard.db"
(
  cd end2end
  SWITCHBOARD_E2E_PORT="$port" SWITCHBOARD_E2E_DATABASE_URL="sqlite:$e2e_dir/switchboard.db" npx playwright test
)

step "All tests passed in $(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s"
