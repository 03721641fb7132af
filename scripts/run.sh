#!/usr/bin/env bash
# Command 1: set up, build (release) and run the console on embedded SQLite with demo traffic.
# Extra arguments go to `switchboard serve` (e.g. --no-demo, --listen 0.0.0.0:3000).
source "$(dirname "$0")/lib.sh"

bash scripts/setup.sh
bash scripts/build.sh --release
step "Starting Switchboard (it prints the address it listens on)"
exec target/release/switchboard serve "$@"
