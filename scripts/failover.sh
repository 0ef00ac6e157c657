#!/usr/bin/env bash
# Failover with and without a standby replica, on a store of N distinct keys: two
# word-count workers on a local broker, one killed with SIGKILL; prints the records the
# survivor restored and the time until it answered for the dead worker's keys, both ways.
#
#   scripts/failover.sh --keys 1000000
set -euo pipefail
cd "$(dirname "$0")/.."

keys=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keys) keys="$2"; shift 2 ;;
    *) echo "usage: scripts/failover.sh [--keys N]" >&2; exit 2 ;;
  esac
done
if ! [[ "$keys" =~ ^[0-9]+$ ]] || [[ "$keys" -lt 1000 ]]; then
  echo "failover: --keys takes a whole number, at least 1000" >&2
  exit 2
fi

scripts/setup.sh
export TRIBUTARY_FAILOVER_KEYS="$keys"
echo "failover: $keys keys"
scripts/with-broker.sh cargo test --release --locked --test kafka_standby -- --nocapture
