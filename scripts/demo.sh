#!/usr/bin/env bash
# The demo, from a fresh machine: installs build dependencies, starts a local Kafka-compatible
# broker (unless --bootstrap-servers names a cluster), and runs seed 000's task-list
# projection on it while a generator writes task events. Extra flags go to
# `tributary demo` (see `cargo run --release -- demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --bin tributary

if [[ " $* " == *" --bootstrap-servers "* ]]; then
  exec "${CARGO_TARGET_DIR:-target}/release/tributary" demo "$@"
fi
broker_dir=$(mktemp -d)
trap 'scripts/broker.sh stop "$broker_dir"' EXIT
bootstrap=$(scripts/broker.sh start "$broker_dir")
echo "demo: local broker at $bootstrap (log: $broker_dir/broker.log)"
"${CARGO_TARGET_DIR:-target}/release/tributary" demo --bootstrap-servers "$bootstrap" "$@"
