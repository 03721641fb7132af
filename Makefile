# The two commands of the README, and a few conveniences. Each target calls a script in scripts/.
.PHONY: run test build release dev clean cluster

## Set up, build and run the console on embedded SQLite with demo traffic (http://127.0.0.1:3000).
run:
	bash scripts/run.sh

## Install what the tests need and run every test (Rust on SQLite and PostgreSQL, then the browser).
test:
	bash scripts/test.sh

## Debug build of the site and the server (what the tests use).
build:
	bash scripts/build.sh

## Release build of the site and the server.
release:
	bash scripts/build.sh --release

## Rebuild and restart on every change, with cargo-leptos (installs the pinned version first; ~14 min once).
dev:
	bash scripts/setup.sh
	command -v cargo-leptos >/dev/null && cargo leptos --version | grep -q '0.3.10' || \
		cargo install cargo-leptos --version 0.3.10 --locked --features no_downloads
	PATH="$(CURDIR)/end2end/node_modules/.bin:$$PATH" cargo leptos watch

## Three nodes on one local PostgreSQL (ports 3001-3003), demo traffic from the leader.
cluster:
	bash scripts/cluster.sh

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results
