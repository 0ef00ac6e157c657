#!/usr/bin/env bash
# The chaos run, longer than the suite's bounded version: three task-list workers on six
# partitions with input arriving throughout, one killed with SIGKILL every few seconds and
# restarted (alternately on its state directory and on an empty one), a fourth joining and
# leaving; then every store is checked against what was written. Prints kills survived,
# events, the at-least-once bound and the longest pause in committed progress.
#
#   scripts/chaos.sh --minutes 10
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    *) echo "usage: scripts/chaos.sh [--minutes N]" >&2; exit 2 ;;
  esac
done
if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [[ "$minutes" -lt 1 ]]; then
  echo "chaos: --minutes takes a whole number of minutes, at least 1" >&2
  exit 2
fi

scripts/setup.sh
export TRIBUTARY_CHAOS_SECONDS=$((minutes * 60))
echo "chaos: $minutes minutes"
scripts/with-broker.sh cargo test --locked --test kafka_two_workers workers_killed_again_and_again -- --nocapture
