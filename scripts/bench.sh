#!/usr/bin/env bash
# The benchmarks, from a fresh machine: installs build dependencies, starts a local broker
# for the end-to-end benchmark, and runs `cargo bench` with any arguments given, e.g.
#   scripts/bench.sh --bench end_to_end
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/with-broker.sh cargo bench --locked "$@"
