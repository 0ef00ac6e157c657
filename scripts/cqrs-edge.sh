#!/usr/bin/env bash
# Seed 004's CQRS edge (examples/cqrs_edge), from a fresh machine: starts a local broker, runs
# the edge and the task-list projection behind it, and sends a few commands — malformed ones
# (400), ones breaking a rule (409), good ones (202) — then queries the read model.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --example cqrs_edge
bin="${CARGO_TARGET_DIR:-target}/release/examples/cqrs_edge"
broker_dir=$(mktemp -d)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; scripts/broker.sh stop "$broker_dir"' EXIT
bootstrap=$(scripts/broker.sh start "$broker_dir")
echo "cqrs-edge: local broker at $bootstrap; log and state in $work"
TRIBUTARY_BOOTSTRAP_SERVERS=$bootstrap TRIBUTARY_STATE_DIR=$work/state \
  "$bin" --config examples/cqrs_edge/app.toml 2>"$work/edge.log" &
for _ in $(seq 1 120); do
  grep -q "Rebalancing -> Running" "$work/edge.log" && break
  sleep 0.5
done
edge=http://127.0.0.1:8090

send() { # send PATH [BODY]: a command, with the edge's answer
  printf '%-22s %-58s -> ' "POST $1" "${2:-}"
  curl -s -w ' (%{http_code})\n' -X POST -H 'content-type: application/json' "$edge$1" ${2:+-d "$2"}
}
query() { # query PATH: the read model's answer
  printf '%-22s -> %s\n' "GET $1" "$(curl -s "$edge$1")"
}

send /tasks '{"title":"no id"}'
send /tasks '{"task_id":"t-1","title":"Write the docs"}'
sleep 1   # the read model shows a command's event once the projection applied it
send /tasks '{"task_id":"t-1","title":"Write the docs again"}'
send /tasks/t-2/assign '{"user":"ann"}'
send /tasks/t-1/assign '{"user":"ann"}'
send /tasks '{"task_id":"t-2","title":"Review the docs","assignee":"bob"}'
sleep 1
send /tasks/t-1/complete
sleep 1
send /tasks/t-1/complete
query /tasks/t-1
query /users/bob/open-tasks
