# Shared by the scripts in this folder: strict mode, the workspace root, logging, and the build
# environment that makes `cargo test` and the server build share one compilation cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
fail() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"
# Read by leptos at compile time: the bundle is /pkg/switchboard.{js,wasm,css}.
export LEPTOS_OUTPUT_NAME=switchboard
# Debug builds erase component types (much faster to compile). The flag must be identical for the test
# build and the server build, or cargo rebuilds every crate twice.
debug_rustflags() { export RUSTFLAGS="--cfg erase_components"; }

# The wasm-bindgen CLI must match the wasm-bindgen crate version in Cargo.lock exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
