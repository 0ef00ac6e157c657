#!/usr/bin/env bash
# Seed 003's ERP returns (examples/erp_returns), from a fresh machine: starts a local broker,
# has User Support publish refund requests, runs the four departments as workers of their own
# applications, stops manufacturing while more requests arrive and starts it again, adds an
# audit log that replays everything, and prints what each department answers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --example erp_returns
bin="${CARGO_TARGET_DIR:-target}/release/examples/erp_returns"
broker_dir=$(mktemp -d)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; scripts/broker.sh stop "$broker_dir"' EXIT
bootstrap=$(scripts/broker.sh start "$broker_dir")
export TRIBUTARY_BOOTSTRAP_SERVERS=$bootstrap
echo "erp-returns: local broker at $bootstrap; logs and state in $work"

department() { # department NAME: a worker of the department's application, in the background
  TRIBUTARY_STATE_DIR="$work/$1" "$bin" --config "examples/erp_returns/$1.toml" 2>"$work/$1.log" &
  eval "pid_$1=$!"
}
ask() { # ask PORT STORE KEY: a department's answer
  printf '  %-32s %-14s %s\n' "$2" "$3" "$(curl -s "http://127.0.0.1:$1/v1/stores/$2/keys/$3")"
}
settled() { # settled PORT STORE KEY VALUE: waits until the department answers VALUE
  for _ in $(seq 1 120); do
    curl -s "http://127.0.0.1:$1/v1/stores/$2/keys/$3" | grep -q "\"value\":$4[,}]" && return
    sleep 0.5
  done
}
running() { # running NAME: waits until the department's worker runs
  for _ in $(seq 1 120); do
    grep -q "Rebalancing -> Running" "$work/$1.log" 2>/dev/null && return
    sleep 0.5
  done
  echo "the $1 worker did not start; its log:"; cat "$work/$1.log"; exit 1
}

"$bin" publish --bootstrap "$bootstrap" --topic refund-audit --count 0   # creates the audit log's topic
"$bin" publish --bootstrap "$bootstrap" --topic refund-requests --count 5000
for d in sales inventory manufacturing accounting; do department "$d"; done
for d in sales inventory manufacturing accounting; do running "$d"; done
sleep 5
echo "manufacturing stops; 5,000 more refund requests arrive"
kill "$pid_manufacturing"; wait "$pid_manufacturing" || true
"$bin" publish --bootstrap "$bootstrap" --topic refund-requests --count 5000 --from 5000
settled 8081 refunds-per-customer customer-7 20
echo "sales and inventory have them all already:"
ask 8081 refunds-per-customer customer-7
ask 8081 refunded-cents-per-customer customer-7
ask 8082 shipments-per-model phone-x
echo "manufacturing starts again and catches up; an audit log replays every request"
: >"$work/manufacturing.log"
department manufacturing
department audit
running manufacturing
running audit
settled 8083 disassembly-orders-per-location austin 5000
ask 8083 disassembly-orders-per-location eindhoven
ask 8083 disassembly-orders-per-location austin
ask 8084 disposal-cents-per-cost-centre cc-emea
ask 8082 reserved-per-warehouse rotterdam
echo "(10,000 refund requests from 500 customers: 20 for each customer)"
