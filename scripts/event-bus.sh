#!/usr/bin/env bash
# Seed 001's event bus (examples/event_bus), from a fresh machine: starts a local broker and a
# flaky external endpoint, publishes the events of 2,000 orders in three versions of their
# schema (with a retrying producer's copies and one unreadable event), runs the three
# consumers — projection, integration, analytics — as applications of their own, and prints
# what each of them answers.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked --example event_bus
bin="${CARGO_TARGET_DIR:-target}/release/examples/event_bus"
broker_dir=$(mktemp -d)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; scripts/broker.sh stop "$broker_dir"' EXIT
bootstrap=$(scripts/broker.sh start "$broker_dir")
export TRIBUTARY_BOOTSTRAP_SERVERS=$bootstrap
echo "event-bus: local broker at $bootstrap; logs and state in $work"

"$bin" endpoint --listen 127.0.0.1:8099 2>"$work/endpoint.log" &
"$bin" publish --bootstrap "$bootstrap" --topic order-events --orders 2000
for c in projection integration analytics; do
  TRIBUTARY_STATE_DIR="$work/$c" "$bin" --config "examples/event_bus/$c.toml" 2>"$work/$c.log" &
done
for c in projection integration analytics; do
  for _ in $(seq 1 120); do
    grep -q "Rebalancing -> Running" "$work/$c.log" 2>/dev/null && break
    sleep 0.5
  done
  grep -q "Rebalancing -> Running" "$work/$c.log" || { echo "the $c worker did not start; its log:"; cat "$work/$c.log"; exit 1; }
done

echo "waiting until the integration has delivered everything (every third call fails and is retried)"
last=-1
for _ in $(seq 1 240); do
  accepted=$(curl -s http://127.0.0.1:8099/events/summary | sed -n 's/.*"accepted":\([0-9]*\).*/\1/p')
  [ "${accepted:-0}" -gt 0 ] && [ "$accepted" = "$last" ] && break
  last=${accepted:-0}
  sleep 2
done
echo "the endpoint: $(curl -s http://127.0.0.1:8099/events/summary)"
echo "the projection's read model (order-2 was placed with version 1 of the schema, in euros as a float):"
for order in order-2 order-3 order-13; do
  echo "  $order: $(curl -s "http://127.0.0.1:8091/v1/stores/orders/keys/$order")"
done
echo "analytics, OrderPlaced events per minute: $(curl -s "http://127.0.0.1:8093/v1/stores/events-per-type-per-minute/windows/OrderPlaced?from=0&to=9999999999999")"
echo "consumer lag of the projection:"
curl -s http://127.0.0.1:8091/metrics | grep '^tributary_consumer_lag_records{.*order-events' | sed 's/^/  /'
echo "the unreadable event went to each consumer's dead-letter topic (order-<consumer>-dead-letters)."
