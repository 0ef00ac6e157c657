#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs build dependencies, checks
# formatting, lints with clippy (warnings are errors), starts a local Kafka-compatible broker
# (Tansu, see scripts/broker.sh) and runs every test (unit, property, integration against the
# broker, and doc tests). The broker is stopped when the suite ends.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

scripts/with-broker.sh cargo test --workspace --locked
