#!/usr/bin/env bash
# Runs a command with a local test broker: starts Tansu (scripts/broker.sh) on a free
# loopback port, exports its address as TRIBUTARY_BOOTSTRAP, runs the command, and stops
# the broker when the command ends, however it ends.
#
#   scripts/with-broker.sh cargo test --test kafka_standby
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -eq 0 ]]; then
  echo "usage: scripts/with-broker.sh COMMAND [ARGS…]" >&2
  exit 2
fi
broker_dir=$(mktemp -d)
trap 'scripts/broker.sh stop "$broker_dir"' EXIT
TRIBUTARY_BOOTSTRAP=$(scripts/broker.sh start "$broker_dir")
export TRIBUTARY_BOOTSTRAP
echo "broker at $TRIBUTARY_BOOTSTRAP (log: $broker_dir/broker.log)"
"$@"
