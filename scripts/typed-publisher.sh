#!/usr/bin/env bash
# Seed 002's typed publisher (examples/typed_publisher), from a fresh machine: starts a local
# broker, publishes 100 checkouts as typed messages (one transaction each), shows a message
# refused by its schema and a flush that fails part-way, and reads everything back through
# typed handlers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --example typed_publisher
bin="${CARGO_TARGET_DIR:-target}/release/examples/typed_publisher"
broker_dir=$(mktemp -d)
trap 'scripts/broker.sh stop "$broker_dir"' EXIT
bootstrap=$(scripts/broker.sh start "$broker_dir")
echo "typed-publisher: local broker at $bootstrap"
TRIBUTARY_BOOTSTRAP_SERVERS=$bootstrap "$bin" --config examples/typed_publisher/bus.toml --orders 100
