#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs build dependencies, then checks
# formatting, lints with clippy (warnings are errors) and runs every test (unit, property,
# integration and doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
