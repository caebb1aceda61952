#!/usr/bin/env bash
# Run the reliability suite (fault injection including trickling servers, hostile inputs,
# interrupted runs including every `bump --in-place` stage and its recovery, concurrent runs, a
# full disk, secrets) with its figures recorded, then regenerate docs/reliability.md from that run.
# The disk-full trials mount a small tmpfs and need root (CI runs as root); otherwise they are
# skipped with the reason in pytest's summary and counted as none tried.
# Usage: scripts/reliability.sh [--seed N] [--kills N] [extra pytest args]
#   --seed   the seed that picks the kill points (default 20261126; CI uses the default)
#   --kills  kill points per command (default 50)
# Uses .venv (as scripts/test.sh makes it) or $PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

SEED=${CHARTKEEPER_KILL_SEED:-20261126}
KILLS=${CHARTKEEPER_KILL_POINTS:-50}
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) SEED=$2; shift 2 ;;
    --kills) KILLS=$2; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PATH="$PWD/.tools/bin:$PATH"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/chartkeeper-reliability.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

export CHARTKEEPER_RELIABILITY_OUT="$OUT" CHARTKEEPER_KILL_SEED="$SEED" CHARTKEEPER_KILL_POINTS="$KILLS"
start=$(date +%s)
set +e
"$PY" -m pytest -m reliability -n "${PYTEST_WORKERS:-2}" -q -p no:cacheprovider ${ARGS[@]+"${ARGS[@]}"}
status=$?
set -e
end=$(date +%s)
"$PY" scripts/reliability.py "$OUT/summary.json" --seconds $((end - start)) --seed "$SEED" --kills "$KILLS" \
  --workers "${PYTEST_WORKERS:-2}" --pytest-args="${ARGS[*]-}" --out docs/reliability.md
exit $status
