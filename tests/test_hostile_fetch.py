"""Fetching and crashing at analysis time: a chart's schema `$ref` is never followed off the chart.

`diff`, `lint` and every render read `values.schema.json`; a `$ref` in it is an address chosen by
the chart's author. Before issue 25, `diff` fetched it from the CI runner (both through jsonschema
and through Helm's engine, on every render), hung on a server that never answers, and `lint`
crashed with `_WrappedReferencingError: Unresolvable` on a site that cannot reach it -- the normal
state of an air-gapped site. Now the reference is a NOT CHECKED line naming it.

The `$ref` target is served on a loopback server of the test's own that accepts connections and
never answers: a fetch would hang the run past the time bound, and every connection is counted.
Each trial (own child process, tests/support/measured.py) asserts: exit 0/1/2, never 3; the
reference named; peak memory and wall time bounded; the checkout unchanged; zero connections to
the `$ref` server; requests to the configured repository only for what it serves."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import git_state
from tests.support.httpserver import ChartRepoServer
from tests.support.measured import Measured, run_measured

pytestmark = pytest.mark.reliability

PEAK_MB = 300
SECONDS = 30


class SilentServer:
    """Accepts TCP connections on 127.0.0.1, counts them, never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self._held:
            c.close()


def _schema(ref: str) -> str:
    return json.dumps({"type": "object", "properties": {"image": {"$ref": ref}, "replicaCount": {"type": "integer"}}})


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory):
    """demo 1.0.0 (vendored) and 1.1.0, both shipping a schema whose `$ref` points at the silent server."""
    silent = SilentServer()
    tmp = tmp_path_factory.mktemp("fetch")
    repo = tmp / "repo"
    repo.mkdir()
    folders = demo_chart_versions(tmp / "src", "demo", {"1.0.0": {}, "1.1.0": {}})
    refs = {}
    for f in folders:
        refs[f.parent.name] = f"http://127.0.0.1:{silent.port}/schemas/{f.parent.name}/image.json"
        (f / "values.schema.json").write_text(_schema(refs[f.parent.name]))
    publish(repo, folders)
    with ChartRepoServer(repo) as server:
        yield server, silent, refs, make_deployment(tmp / "template", server.url, {"demo": "1.0.0"})
    silent.close()


@pytest.fixture
def deploy(upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", "none")
    monkeypatch.setenv("CHARTKEEPER_CACHE_DIR", str(tmp_path / "cache"))
    server, _, _, template = upstream
    server.requests.clear()
    root = tmp_path / "deploy"
    shutil.copytree(template, root, symlinks=True)
    return root


def _trial(root: Path, argv: list[str], upstream, row: dict, *, ref: str) -> Measured:
    server, silent, _, _ = upstream
    connections = silent.connections
    before = git_state(root)
    run = run_measured(argv, cwd=root, timeout=SECONDS * 3)
    row.update(peak_mb=run.peak_mb, seconds=run.seconds, bound_mb=PEAK_MB, bound_s=SECONDS)
    detail = run.detail()
    assert run.returncode in (0, 1, 2), detail
    assert "Traceback" not in run.output and "internal error" not in run.output, detail
    assert "NOT CHECKED" in run.output and ref in run.output, detail
    assert "never fetched" in run.output, detail
    assert run.peak_mb < PEAK_MB, detail
    assert run.seconds < SECONDS, detail
    assert silent.connections == connections, "the $ref target was contacted"
    assert git_state(root) == before, detail
    served = {p.name for p in server.root.iterdir()}
    assert all(path.lstrip("/") in served for _, path, _ in server.requests), server.requests
    return run


def test_diff_does_not_fetch_a_remote_ref_of_new_schema(deploy: Path, upstream, reliability) -> None:
    _, _, refs, _ = upstream
    with reliability.case("fetch", "NEW values.schema.json $ref to a server that never answers (diff)") as row:
        run = _trial(deploy, ["diff", "demo", "1.1.0"], upstream, row, ref=refs["1.1.0"])
        assert run.returncode == 2, run.detail()  # a check that could not run: exit 2 without --allow-unchecked
        # the renders did not fetch either: Helm follows http refs on every render unless they are left out


def test_lint_of_a_vendored_schema_with_an_unreachable_ref(deploy: Path, upstream, reliability) -> None:
    _, _, refs, _ = upstream
    with reliability.case("fetch", "vendored values.schema.json $ref unreachable from the site (lint)") as row:
        run = _trial(deploy, ["lint", "--allow-unchecked"], upstream, row, ref=refs["1.0.0"])
        assert run.returncode in (0, 1), run.detail()
