#!/usr/bin/env bash
# The benchmarks, from a fresh machine: installs build dependencies, starts a local broker
# for the end-to-end benchmark, and runs `cargo bench` with any arguments given, e.g.
#   scripts/bench.sh --bench end_to_end
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
broker_dir=$(mktemp -d)
trap 'scripts/broker.sh stop "$broker_dir"' EXIT
TRIBUTARY_BOOTSTRAP=$(scripts/broker.sh start "$broker_dir")
export TRIBUTARY_BOOTSTRAP
echo "bench: local broker at $TRIBUTARY_BOOTSTRAP (log: $broker_dir/broker.log)"
cargo bench --locked "$@"
