#!/usr/bin/env bash
# One node against three through one Redis: fan-out latency (same-node and cross-node), frames
# per server CPU-second, Redis calls per frame, and the time from a node's kill to its clients
# resumed. Run it on a quiet machine (nothing else running) from the project root:
#
#   DSN=postgresql://postgres@127.0.0.1:5432/roomserver_bench bench/cluster.sh var/bench-cluster
#
# Each case runs RUNS times (default 3) on a freshly started cluster; the JSON reports land in
# OUTDIR, one per run, named <case>-<run>.json.
set -euo pipefail
OUT=${1:-var/bench-cluster}
DSN=${DSN:?set DSN to an empty PostgreSQL database}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20}
PY=.venv/bin/python
mkdir -p "$OUT"
# The project's config.toml (the sandbox's keys), with this database and Redis.
export ROOMSERVER_POSTGRES_DSN="$DSN" ROOMSERVER_REDIS_URL="$REDIS_URL"

CLUSTER_PID=""
start_cluster() {
  "$PY" -m roomserver --config config.toml cluster --nodes "$1" --sandbox > "$OUT/cluster.log" 2>&1 &
  CLUSTER_PID=$!
  for n in $(seq 1 "$1"); do
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$((8780 + n))/ready" > /dev/null && break
      sleep 0.2
    done
  done
}
stop_cluster() {
  kill "$CLUSTER_PID" 2> /dev/null || true
  wait "$CLUSTER_PID" 2> /dev/null || true
  sleep 1
}
pids() { for n in $(seq 1 "$1"); do printf -- '--server-pid %s ' "$(cat var/cluster/node-$n.pid)"; done; }
urls() { seq 1 "$1" | sed 's|.*|ws://127.0.0.1:877&/ws|' | paste -sd, -; }

fanout() {  # nodes members rate run
  start_cluster "$1"
  # shellcheck disable=SC2046
  "$PY" -m loadtest fanout --url "$(urls "$1")" $(pids "$1") --api-url http://127.0.0.1:8781 \
    --redis-url "$REDIS_URL" --rooms 1 --fresh-rooms --connections "$2" --rate "$3" --duration "$DURATION" \
    --quiet --report "$OUT/fanout-$1n-$2-$4.json"
  stop_cluster
}

for run in $(seq 1 "$RUNS"); do
  for nodes in 1 3; do
    fanout "$nodes" 10 40 "$run"
    fanout "$nodes" 500 200 "$run"
    fanout "$nodes" 5000 200 "$run"
  done
  start_cluster 3
  # shellcheck disable=SC2046
  "$PY" -m loadtest failover --url "$(urls 3)" --kill-url ws://127.0.0.1:8771/ws \
    --kill-pid "$(cat var/cluster/node-1.pid)" $(pids 3) --api-url http://127.0.0.1:8782 \
    --redis-url "$REDIS_URL" --rooms 1 --connections 1000 --rate 20 --duration 20 \
    --kill-after 5 --quiet --report "$OUT/failover-1000-$run.json"
  stop_cluster
done
