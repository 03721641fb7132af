#!/usr/bin/env bash
# Builds the site (browser bundle, stylesheet, public assets under target/site) and the `switchboard`
# binary. The same layout cargo-leptos produces, without needing it.
#
#   scripts/build.sh           debug: fast to compile; what the tests use
#   scripts/build.sh --release optimised server, size-optimised wasm (wasm-opt when available)
source "$(dirname "$0")/lib.sh"

release=false
[[ "${1:-}" == "--release" ]] && release=true
site="target/site"
pkg="$site/pkg"

if $release; then
  unset RUSTFLAGS
  wasm_profile=(--profile wasm-release); wasm_dir=wasm-release
  server_profile=(--release); server_dir=release
else
  debug_rustflags
  wasm_profile=(); wasm_dir=debug
  server_profile=(); server_dir=debug
fi

step "Browser bundle (wasm32, feature hydrate)"
cargo build -p switchboard-app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate "${wasm_profile[@]}"
mkdir -p "$pkg"
wasm-bindgen --target web --no-typescript --out-name switchboard --out-dir "$pkg" \
  "target/wasm32-unknown-unknown/$wasm_dir/app.wasm"
# Leptos loads /pkg/<name>.wasm (cargo-leptos's naming), not wasm-bindgen's <name>_bg.wasm.
mv -f "$pkg/switchboard_bg.wasm" "$pkg/switchboard.wasm"
if $release; then
  wasm_opt="end2end/node_modules/.bin/wasm-opt"
  if [[ -x "$wasm_opt" ]]; then
    note "wasm-opt -Oz ($("$wasm_opt" --version))"
    "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      "$pkg/switchboard.wasm" -o "$pkg/switchboard.wasm"
  else
    note "wasm-opt not found (run scripts/setup.sh); the bundle stays unoptimised"
  fi
fi
note "$(du -h "$pkg/switchboard.wasm" | cut -f1) $pkg/switchboard.wasm"

step "Stylesheet and public assets"
# main.css first (variables, layout, shared pieces), then each page family's own file.
cat style/main.css $(ls style/*.css | grep -v '^style/main.css$' | sort) > "$pkg/switchboard.css"
cp -R public/. "$site/"

step "Server binary switchboard (${server_dir})"
cargo build -p switchboard --bin switchboard "${server_profile[@]}"
note "target/$server_dir/switchboard"
