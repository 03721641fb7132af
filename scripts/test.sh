#!/usr/bin/env bash
# Command 2: every test. Installs what the tests need, builds once (debug), then runs
#   1. clippy on the native and the browser build (warnings are errors), and a build of the server
#      library with the console's views unerased, as release builds lay them out,
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

step "Release-only compile errors: the console's views laid out unerased"
# Debug builds erase component types (RUSTFLAGS above); release builds do not, and deep view types can
# then overflow the compiler's query depth ("queries overflow the depth limit!") when the server crate
# lays them out. `cargo check` does not lay types out, so it misses this; a debug build of the server
# library without the flag does (checked: it fails with the server's recursion_limit removed, as a
# release build does, with or without debug info). Without debug info it takes ~2 GB instead of ~21 GB
# and a few minutes less; its own target folder keeps the erased cache above intact.
env -u RUSTFLAGS CARGO_PROFILE_DEV_DEBUG=0 cargo build -p switchboard --lib --target-dir target/unerased

step "Rust tests on SQLite and PostgreSQL"
export SWITCHBOARD_TEST_DATABASE_URL="${SWITCHBOARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
note "PostgreSQL: ${SWITCHBOARD_TEST_DATABASE_URL%%@*}@… (CI=${CI:-false})"
cargo test --workspace

step "Browser tests (Playwright, Chromium), on SQLite and on PostgreSQL"
e2e_dir="$(mktemp -d -t switchboard-e2e.XXXXXX)"
pg_admin="${SWITCHBOARD_TEST_DATABASE_URL}"
pg_database="switchboard_e2e_$$_${RANDOM}"
cleanup() {
  rm -rf "$e2e_dir"
  psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_database" >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
browser_tests() { # $1: database URL, $2: name of the results folder
  local port
  port="$(free_port)"
  note "server on 127.0.0.1:$port, database ${1%%@*}…, results in end2end/$2"
  (
    cd end2end
    SWITCHBOARD_E2E_PORT="$port" SWITCHBOARD_E2E_DATABASE_URL="$1" npx playwright test --output "$2"
  )
}
browser_tests "sqlite:$e2e_dir/switchboard.db" test-results/sqlite
if psql "$pg_admin" -qc "CREATE DATABASE $pg_database" >/dev/null 2>&1; then
  browser_tests "${pg_admin%/*}/$pg_database" test-results/postgres
elif [[ "${CI:-false}" == "true" ]]; then
  fail "cannot create a PostgreSQL database for the browser tests at ${pg_admin%%@*}@…"
else
  note "PostgreSQL unreachable: browser tests on PostgreSQL skipped (CI=true makes this an error)"
fi

step "All tests passed in $(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s"
