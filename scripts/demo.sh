#!/usr/bin/env bash
# The README's first command: install chartkeeper into .venv and run it on the built-in offline
# example. No network: the demo upstream repository is built from the chart sources under
# examples/demo/charts and served on 127.0.0.1; the demo deployment (examples/demo/deployment)
# is copied to a scratch folder whose chartkeeper.yaml mirrors the lock's upstream URL to it.
#
# Steps are functions: check, then bump (which ends with the path of the upgrade report).
# KEEP=1 keeps the scratch folder (its path is printed; the kept deployment is a git repository
# on `main`, the bump on its branch); `scripts/demo.sh serve DIR` serves that folder's demo
# repository again (the first server stopped with the demo) on the port the kept deployment's
# mirror records, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO_ROOT=$PWD

if [ "${1:-}" = serve ]; then
  KEPT=${2:?usage: scripts/demo.sh serve DIR   (the scratch folder KEEP=1 kept)}
  [ -f "$KEPT/repo/index.yaml" ] && [ -f "$KEPT/deployment/chartkeeper.yaml" ] \
    || { echo "error: $KEPT is not a kept demo folder (no repo/index.yaml or deployment/chartkeeper.yaml)" >&2; exit 2; }
  PY=${PYTHON:-python3}
  [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && PY=.venv/bin/python
  # Serve on the port the kept deployment's committed chartkeeper.yaml records, so the kept
  # repository stays clean and `chartkeeper bump` keeps working there.
  DEMO_URL=$(sed -n 's#^  https://charts.example.invalid/demo: \(http://127.0.0.1:[0-9][0-9]*\)$#\1#p' "$KEPT/deployment/chartkeeper.yaml")
  [ -n "$DEMO_URL" ] || { echo "error: $KEPT/deployment/chartkeeper.yaml names no demo mirror (http://127.0.0.1:PORT)" >&2; exit 2; }
  rm -f "$KEPT/url"
  "$PY" scripts/demo_server.py serve "$KEPT/repo" --url-file "$KEPT/url" --port "${DEMO_URL##*:}" &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT INT TERM
  for _ in $(seq 1 100); do
    [ -s "$KEPT/url" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || exit 2  # it could not listen there and said why
    sleep 0.05
  done
  echo "demo: repository served again at $DEMO_URL, the mirror $KEPT/deployment records (Ctrl-C stops)" >&2
  wait "$SERVER_PID"
  exit 0
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -e .

WORK=$(mktemp -d "${TMPDIR:-/tmp}/chartkeeper-demo.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "demo: scratch folder kept at $WORK (its repository server stopped; serve it again with: bash scripts/demo.sh serve $WORK)" >&2
  else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ -t 2 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi  # no escapes in logs and pipes
step() { printf '\n%s$ %s%s\n' "$BOLD" "$*" "$PLAIN" >&2; }

demo_repository() {
  python scripts/demo_server.py build examples/demo/charts "$WORK/repo"
  python scripts/demo_server.py serve "$WORK/repo" --url-file "$WORK/url" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do [ -s "$WORK/url" ] && break; sleep 0.05; done
  DEMO_URL=$(cat "$WORK/url")
  echo "demo: upstream repository served at $DEMO_URL" >&2
}

demo_deployment() {
  DEPLOY="$WORK/deployment"
  cp -R examples/demo/deployment "$DEPLOY"
  rm -f "$DEPLOY/helmfile/charts/external/.gitkeep"
  cat > "$DEPLOY/chartkeeper.yaml" <<CFG
# The lock names the real upstream; here it is reached through a mirror (as in an air-gapped site).
mirrors:
  https://charts.example.invalid/demo: $DEMO_URL
CFG
  export CHARTKEEPER_CACHE_DIR="$WORK/cache"
  cd "$DEPLOY"
  step chartkeeper sync
  chartkeeper sync
}

demo_check() {
  step chartkeeper check
  chartkeeper check
  step chartkeeper check --json demo-web
  chartkeeper check --json demo-web
}

demo_repository
demo_deployment
demo_check

# `bump` works on a git repository: the scratch copy becomes one (committed), then the upgrade is
# made on its own branch; the checkout stays as it was. The run ends with the report's path.
demo_bump() {
  step "git init && git commit   (the scratch deployment becomes a repository)"
  git init -q -b main .
  git config user.name "chartkeeper demo"
  git config user.email "demo@example.invalid"
  git add -A
  git commit -q -m "demo deployment"
  step chartkeeper bump demo-operator
  chartkeeper bump demo-operator
  BRANCH=$(git for-each-ref --format='%(refname:short)' 'refs/heads/chartkeeper/demo-operator-*' | head -n 1)
  REPORT=$(git show --name-only --format= "$BRANCH" -- reports | grep '\.md$' | head -n 1)
  # read from the branch: the kept checkout stays on main, clean, ready for the next `bump`
  step "git show $BRANCH:$REPORT | head -n 12"
  git show "$BRANCH:$REPORT" | head -n 12
  echo
  if [ "${KEEP:-0}" = 1 ]; then
    echo "report: $REPORT on branch $BRANCH of $DEPLOY"
  else
    echo "(the report is on branch $BRANCH of the scratch deployment, removed on exit; KEEP=1 keeps it)"
  fi
}

demo_bump
