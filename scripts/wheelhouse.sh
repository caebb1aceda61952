#!/usr/bin/env bash
# Install chartkeeper on a machine with no network, from a wheelhouse (README, "Installing
# chartkeeper on an offline machine").
#
#   scripts/wheelhouse.sh download DIR   connected side: chartkeeper and every dependency as wheels in DIR
#   scripts/wheelhouse.sh install DIR    offline side: a virtualenv ($VENV, default .venv-offline)
#                                        installed from DIR alone (pip --no-index)
#   scripts/wheelhouse.sh check          both, in a temp folder, then the installed chartkeeper must
#                                        run (--version, --help with argument help); CI runs this
#
# The wheelhouse is for the connected machine's OS, CPU and Python minor version: helm-python-sdk
# ships a native library per platform. Uses $PYTHON, else .venv/bin/python, else python3.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

download() {
  "$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$1" .
  echo "wheelhouse: $(ls "$1" | wc -l) wheels in $1" >&2
}

install() {
  local venv=${VENV:-.venv-offline}
  "$PY" -m venv "$venv"
  # --no-index: the index is never asked, so a wheel missing from the folder fails here, not later
  PIP_CONFIG_FILE=/dev/null "$venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
    --find-links "$1" chartkeeper
  echo "installed: $("$venv/bin/chartkeeper" --version) in $venv" >&2
}

check() {
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/chartkeeper-wheelhouse.XXXXXX")
  # shellcheck disable=SC2064  # expanded now: `tmp` is local, gone when the trap runs
  trap "rm -rf '$tmp'" EXIT
  download "$tmp/wheelhouse"
  VENV="$tmp/venv" install "$tmp/wheelhouse"
  "$tmp/venv/bin/chartkeeper" --help >/dev/null
  # the pinned click/typer pair shows argument help (click 8.5 drops it)
  "$tmp/venv/bin/chartkeeper" diff --help | grep -q "The pinned chart (its name in versions.lock)"
  # the native Helm engine loads from the installed wheel
  "$tmp/venv/bin/python" -c "import helm_python"
  echo "wheelhouse check: ok" >&2
}

case "${1:-}" in
  download) download "${2:?usage: $0 download DIR}" ;;
  install) install "${2:?usage: $0 install DIR}" ;;
  check) check ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
