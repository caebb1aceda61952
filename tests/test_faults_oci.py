"""Faults on the OCI registry path: the real docker-registry behind a fault proxy on loopback.

`check` (tag listing) and `add` (manifest, then the chart layer blob) run against
`oci://<proxy>/charts/demo` while the proxy misbehaves on the tags, manifest or blob requests,
or demands credentials through the bearer-token flow. Same expectations as the HTTP path:
bounded retries where retrying is right, one error line naming the registry and the cause,
exit 2, nothing written."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support import faults as F
from tests.support.charts import package_chart, write_chart
from tests.support.faults import FaultProxy
from tests.support.harness import assert_clean_failure, basic_auth_forms, find_canaries, leftovers, invoke_cli, user_state

pytestmark = [pytest.mark.reliability, pytest.mark.oci]

RETRIES = 1
TAGS = re.compile(r"/tags/list$")
MANIFEST = re.compile(r"/manifests/")
BLOB = re.compile(r"/blobs/sha256:")


@pytest.fixture(scope="module")
def pushed(oci_registry, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("oci-faults")
    ns = f"faults{uuid.uuid4().hex[:8]}"
    for v in ("1.0.0", "1.1.0"):
        chart = write_chart(tmp / "src" / v, "demo", v, values={"image": {"tag": v}},
                            templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"})
        oci_registry.push_chart(package_chart(chart, tmp / "pkg"), ns)
    with FaultProxy(oci_registry.url) as proxy:
        template = tmp / "template"
        template.mkdir()
        (template / "chartkeeper.yaml").write_text(yaml.safe_dump({"retries": RETRIES, "plainHttp": [proxy.hostport]}))
        url = f"oci://{proxy.hostport}/{ns}"
        proc = invoke_cli(["add", "demo", "--repo", url, "--version", "1.0.0"], cwd=template,
                       env={"CHARTKEEPER_CACHE_DIR": str(tmp / "cache0")})
        assert proc.returncode == 0, proc.stderr
        yield proxy, template, url


CASES = [
    # kind, path pattern, fault, cause in the error, retried?, commands
    ("tags 404", TAGS, lambda: F.status(404), "no chart named", False, ("check",)),
    ("tags 401 (no credentials)", TAGS, lambda: F.status(401, headers={"WWW-Authenticate": 'Basic realm="r"'}), "credentials", False, ("check",)),
    ("tags 500", TAGS, lambda: F.status(500), "500", True, ("check",)),
    ("tags 503", TAGS, lambda: F.status(503), "503", True, ("check",)),
    ("tags 429 + Retry-After", TAGS, lambda: F.retry_after(429, 1), "429", True, ("check",)),
    ("tags stall", TAGS, lambda: F.stall(30), "timed out", True, ("check",)),
    ("tags close mid-body", TAGS, lambda: F.close_mid_body(), "mid-", True, ("check",)),
    ("tags not JSON", TAGS, lambda: F.body(b"<html>proxy error</html>", kind="wrong-shape-json", content_type="application/json"), "", False, ("check",)),
    ("tags wrong shape", TAGS, lambda: F.body(b'{"name": "x", "tags": {"a": 1}}', kind="wrong-shape-json", content_type="application/json"), "", False, ("check",)),
    ("tags redirect loop", TAGS, lambda: F.redirect_loop(), "redirect", False, ("check",)),
    ("manifest 404", MANIFEST, lambda: F.status(404), "not found", False, ("add",)),
    ("manifest 503", MANIFEST, lambda: F.status(503), "503", True, ("add",)),
    ("manifest not JSON", MANIFEST, lambda: F.body(b"not json", kind="wrong-shape-json"), "", False, ("add",)),
    ("blob 500", BLOB, lambda: F.status(500), "500", True, ("add",)),
    ("blob close mid-body", BLOB, lambda: F.close_mid_body(), "mid-", True, ("add",)),
    ("blob digest mismatch", BLOB, lambda: F.corrupt(), "digest", False, ("add",)),
    ("blob stall mid-body", BLOB, lambda: F.stall_body(30), "timed out", True, ("add",)),
]
MATRIX = [(c, cmd) for c in CASES for cmd in c[5]]


@pytest.mark.parametrize("case,cmd", MATRIX, ids=[f"{c[0]}-{cmd}" for c, cmd in MATRIX])
def test_oci_fault_fails_cleanly(pushed, case, cmd: str, tmp_path: Path, reliability) -> None:
    proxy, template, url = pushed
    kind, pattern, fault, cause, retried, _ = case
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    before = user_state(deploy)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    if "stall" in kind:
        env["CHARTKEEPER_TIMEOUT"] = "1"
    argv = ["check"] if cmd == "check" else ["add", "other", "--chart", "demo", "--repo", url, "--version", "1.1.0"]
    proxy.clear()
    with proxy.lock:
        proxy.requests.clear()
    proxy.always(pattern, fault())
    try:
        with reliability.case("fault", f"oci {kind} / {cmd}"):
            proc = invoke_cli(argv, cwd=deploy, env=env, timeout=120)
            line = assert_clean_failure(proc, cause)
            assert proxy.hostport in line or "demo" in line, line
            from collections import Counter

            per_path = Counter(p for p in proxy.paths_requested() if pattern.search(p))
            hits = max(per_path.values(), default=0)  # a pull reads two blobs (config, chart): count per blob
            if kind != "tags redirect loop":
                assert hits == (1 + RETRIES if retried else 1), f"{hits} requests matching {pattern.pattern}"
            assert user_state(deploy) == before
            assert leftovers(deploy) == []
    finally:
        proxy.clear()


def test_oci_token_flow_with_canary_credentials(pushed, tmp_path: Path, reliability, monkeypatch) -> None:
    """A registry that wants a bearer token for basic credentials: works with them, refuses
    cleanly without them, and the password shows up nowhere."""
    proxy, template, url = pushed
    from chartkeeper.sources.credentials import env_key

    password = "ckcanaryoci" + uuid.uuid4().hex
    token = "ckcanarytoken" + uuid.uuid4().hex
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    proxy.require_auth, proxy.token = ("robot", password), token
    try:
        with reliability.case("fault", "oci bearer token without credentials / check"):
            proc = invoke_cli(["check"], cwd=deploy, env=env)
            assert_clean_failure(proc, "401")
        key = env_key(url)
        monkeypatch.setenv(f"{key}_USERNAME", "robot")
        monkeypatch.setenv(f"{key}_PASSWORD", password)
        outputs = {}
        with reliability.case("fault", "oci bearer token flow (must work) / check+add"):
            for argv in (["check", "--json"], ["-vv", "add", "other", "--chart", "demo", "--repo", url, "--version", "1.1.0"]):
                proc = invoke_cli(argv, cwd=deploy, env=env)
                assert proc.returncode == 0, proc.stderr
                outputs[" ".join(argv)] = proc.stdout + proc.stderr
        with reliability.case("canary", "registry password and bearer token (oci)"):
            forms = [password, token, *basic_auth_forms("robot", password)]
            assert find_canaries(forms, roots=[deploy, tmp_path / "cache"], texts=outputs) == []
    finally:
        proxy.require_auth, proxy.token = None, None


# --- a registry that trickles: the overall deadline and the speed floor (issue 19) ------------

DRIP_TIMEOUT = 2


@pytest.mark.parametrize("what,pattern,cmd", [("tags list", TAGS, "check"), ("chart blob", BLOB, "add")])
def test_oci_dripping_one_byte_a_second_is_too_slow(pushed, what: str, pattern, cmd: str, tmp_path: Path, reliability) -> None:
    """Each byte arrives well inside the read timeout, so only the speed floor (after `timeout`
    seconds) stops the request: exit 2 within a bound, one line naming the registry."""
    proxy, template, url = pushed
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    before = user_state(deploy)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"), "CHARTKEEPER_TIMEOUT": str(DRIP_TIMEOUT)}
    argv = ["check"] if cmd == "check" else ["add", "other", "--chart", "demo", "--repo", url, "--version", "1.1.0"]
    proxy.clear()
    proxy.always(pattern, F.drip(1.0))
    try:
        with reliability.case("fault", f"oci {what} dripping 1 byte/s / {cmd}"):
            t0 = time.monotonic()
            proc = invoke_cli(argv, cwd=deploy, env=env, timeout=120)
            took = time.monotonic() - t0
            line = assert_clean_failure(proc, "too slow", proxy.hostport)
            assert "below the minimum" in line, line
            # the floor applies once `timeout` seconds have passed; a trickle is not retried
            assert took < DRIP_TIMEOUT + 8, f"took {took:.1f}s"
            assert user_state(deploy) == before
            assert leftovers(deploy) == []
    finally:
        proxy.clear()


def test_oci_dripping_its_headers_hits_the_deadline(pushed, tmp_path: Path, reliability) -> None:
    # Nothing of the answer ever completes, so only the overall deadline (4 x timeout) stops it.
    proxy, template, _ = pushed
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    env = {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"), "CHARTKEEPER_TIMEOUT": str(DRIP_TIMEOUT)}
    proxy.clear()
    proxy.always(TAGS, F.drip(1.0, headers_too=True))
    try:
        with reliability.case("fault", "oci tags list dripping its headers / check"):
            t0 = time.monotonic()
            proc = invoke_cli(["check"], cwd=deploy, env=env, timeout=120)
            took = time.monotonic() - t0
            assert_clean_failure(proc, "too slow", "deadline", proxy.hostport)
            assert 4 * DRIP_TIMEOUT - 1 < took < 4 * DRIP_TIMEOUT + 8, f"took {took:.1f}s"
    finally:
        proxy.clear()
