"""A server that keeps trickling bytes can never hang a run: an overall deadline per request and a
minimum speed, against real servers on loopback and the real CLI.

Each byte arrives well inside the read timeout, so socket timeouts alone would wait for hours.
The deployment reaches its repository through a mirror: errors must name the mirror (the server
actually contacted) and then the upstream it stands for."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from tests.support import faults as F
from tests.support.faults import FaultyRepoServer
from tests.support.harness import assert_clean_failure, leftovers, invoke_cli, user_state
from tests.test_faults_http import make_upstream

pytestmark = pytest.mark.reliability

UPSTREAM = "https://charts.upstream.invalid/stable"  # never contacted: everything goes to the mirror
TIMEOUT = 2


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("deadlines")
    with FaultyRepoServer(make_upstream(tmp / "upstream")) as server:
        yield server


def _deployment(folder: Path, mirror: FaultyRepoServer, **extra: object) -> Path:
    folder.mkdir(parents=True)
    cfg = {"timeout": TIMEOUT, "retries": 1, "mirrors": {UPSTREAM: mirror.url}, **extra}
    (folder / "chartkeeper.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def _run(args: list[str], cwd: Path, tmp_path: Path) -> tuple[object, float]:
    t0 = time.monotonic()
    proc = invoke_cli(args, cwd=cwd, env={"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}, timeout=120)
    return proc, time.monotonic() - t0


@pytest.fixture
def pinned(mirror: FaultyRepoServer, tmp_path: Path) -> Path:
    mirror.clear()
    deploy = _deployment(tmp_path / "deploy", mirror)
    proc, _ = _run(["add", "demo", "--repo", UPSTREAM, "--version", "1.0.0"], deploy, tmp_path / "warm")
    assert proc.returncode == 0, proc.stderr
    assert f"from {mirror.url} (mirror of {UPSTREAM})" in proc.stderr  # progress names the server contacted
    yield deploy
    mirror.clear()


def test_check_fails_on_an_index_dripping_one_byte_a_second(pinned: Path, mirror: FaultyRepoServer, tmp_path: Path, reliability) -> None:
    mirror.always("/index.yaml", F.drip(1.0))
    with reliability.case("fault", "http index dripping 1 byte/s / check"):
        before = user_state(pinned)
        proc, took = _run(["check"], pinned, tmp_path)
        line = assert_clean_failure(proc, "too slow", mirror.url, f"mirror of {UPSTREAM}")
        assert "below the minimum" in line
        # the speed floor applies once `timeout` seconds have passed; one attempt, no retry of a trickle
        assert took < TIMEOUT + 8, f"took {took:.1f}s"
        assert user_state(pinned) == before


def test_a_server_dripping_its_headers_hits_the_deadline(pinned: Path, mirror: FaultyRepoServer, tmp_path: Path, reliability) -> None:
    # Nothing of the answer ever completes, so only the overall deadline (4 x timeout) can stop it.
    mirror.always("/index.yaml", F.drip(1.0, headers_too=True))
    with reliability.case("fault", "http index dripping its headers / check"):
        proc, took = _run(["check"], pinned, tmp_path)
        assert_clean_failure(proc, "too slow", "deadline", mirror.url)
        assert 4 * TIMEOUT - 1 < took < 4 * TIMEOUT + 8, f"took {took:.1f}s"


def test_deadline_setting_bounds_the_request(pinned: Path, mirror: FaultyRepoServer, tmp_path: Path) -> None:
    cfg = yaml.safe_load((pinned / "chartkeeper.yaml").read_text())
    (pinned / "chartkeeper.yaml").write_text(yaml.safe_dump({**cfg, "deadline": 3}))
    mirror.always("/index.yaml", F.drip(1.0, headers_too=True))
    proc, took = _run(["check"], pinned, tmp_path)
    assert_clean_failure(proc, "too slow", "3s deadline")
    assert took < 3 + 8, f"took {took:.1f}s"


def test_add_fails_on_an_archive_dripping_one_byte_a_second(mirror: FaultyRepoServer, tmp_path: Path, reliability) -> None:
    mirror.clear()
    deploy = _deployment(tmp_path / "deploy", mirror)
    mirror.always(re.compile(r"\.tgz$"), F.drip(1.0))
    with reliability.case("fault", "http archive dripping 1 byte/s / add"):
        before = user_state(deploy)
        proc, took = _run(["add", "demo", "--repo", UPSTREAM, "--version", "1.0.0"], deploy, tmp_path)
        assert_clean_failure(proc, "too slow", mirror.url, f"mirror of {UPSTREAM}")
        assert took < TIMEOUT + 8, f"took {took:.1f}s"
        assert user_state(deploy) == before and not leftovers(deploy)
    mirror.clear()


def test_a_slow_link_passes_once_min_speed_says_so(pinned: Path, mirror: FaultyRepoServer, tmp_path: Path) -> None:
    # The whole (small) index over ~3 s: under the default 10 KiB/s floor that is too slow; a site
    # on a slow link lowers `minSpeed:` and the same mirror is fine, finishing past `timeout`.
    mirror.always("/index.yaml", F.trickle(3.0, pieces=6))
    proc, _ = _run(["check"], pinned, tmp_path)
    assert_clean_failure(proc, "too slow")
    cfg = yaml.safe_load((pinned / "chartkeeper.yaml").read_text())
    (pinned / "chartkeeper.yaml").write_text(yaml.safe_dump({**cfg, "minSpeed": 50}))
    proc, took = _run(["check"], pinned, tmp_path / "again")
    assert proc.returncode in (0, 1), proc.stderr  # 1: an update exists
    assert took > TIMEOUT and "too slow" not in proc.stderr
