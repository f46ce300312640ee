#!/usr/bin/env bash
# Regenerates <journey>.expected.jsonl from the current runtime. Review the
# diff against the tables in ../README.md before committing: `make test`
# checks the simulator's output equals these files line for line.
set -euo pipefail
cd "$(dirname "$0")/../.."
CAIRN=${CAIRN:-build/engine/app/cairn}
for events in journeys/examples/*.events.jsonl; do
  "$CAIRN" simulate --no-profile --journeys journeys --events "$events" > "${events%.events.jsonl}.expected.jsonl"
done
