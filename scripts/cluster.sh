#!/usr/bin/env bash
# Three Switchboard nodes on one PostgreSQL, on this machine (ports 3001, 3002, 3003), with demo traffic
# from whichever node leads. Ctrl-C stops all three gracefully (each hands its instances back).
#
#   scripts/cluster.sh                   uses postgres://postgres@127.0.0.1:5432/switchboard_cluster
#   SWITCHBOARD_DATABASE_URL=… scripts/cluster.sh
#   NODES=5 scripts/cluster.sh           more nodes (ports 3001…)
#
# Logs: target/cluster/node-N.log. Kill one (kill -9, or kill -STOP) and watch the others take its runs
# over on the overview of any node.
source "$(dirname "$0")/lib.sh"

url="${SWITCHBOARD_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/switchboard_cluster}"
nodes="${NODES:-3}"
binary="target/release/switchboard"
[[ -x "$binary" ]] || bash scripts/build.sh --release

# Create the database if it is missing (the nodes apply the migrations themselves).
admin="${url%/*}/postgres"
name="${url##*/}"
if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
  note "creating database $name"
  psql "$admin" -qc "CREATE DATABASE \"$name\""
fi

mkdir -p target/cluster
pids=()
stopped=false
stop_all() {
  $stopped && return
  stopped=true
  step "Stopping the nodes (each hands its runs back)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all EXIT INT TERM
for n in $(seq 1 "$nodes"); do
  port=$((3000 + n))
  "$binary" serve --database-url "$url" --listen "127.0.0.1:$port" --node-id "node-$n" \
    >"target/cluster/node-$n.log" 2>&1 &
  pids+=($!)
  note "node-$n on http://127.0.0.1:$port (pid $!, log target/cluster/node-$n.log)"
  if [[ $n == 1 ]]; then
    # The first node applies the migrations and creates the first admin; the others join after it.
    for _ in $(seq 1 120); do
      curl -sf "http://127.0.0.1:$port/api/health" >/dev/null && break
      kill -0 "${pids[0]}" 2>/dev/null || fail "node-1 stopped; see target/cluster/node-1.log"
      sleep 0.5
    done
  fi
done
step "$nodes nodes running on ${url%%@*}@…; Ctrl-C stops them"
if [[ -z "${SWITCHBOARD_ADMIN_PASSWORD:-}" ]] && grep -q "First start" target/cluster/node-1.log; then
  note "first start: the password of \`admin\` is printed in target/cluster/node-1.log"
fi
wait
