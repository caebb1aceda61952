"""Hostile and half-broken HTTP chart repositories, against the real CLI.

Every fault of tests/support/faults.py is served by a real server on loopback while `check`,
`add` and `sync` run in a subprocess. Expected of each: retries only where retrying is right
and never more than configured, a clear one-line error naming the repository and the cause,
exit code 2, no partial or temp file anywhere, and the lock and vendored folders
byte-identical afterwards. Transient faults that clear up within the retry budget must
instead end in success."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import yaml

from tests.support import faults as F
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.faults import FaultyRepoServer, loopback_alias_available
from tests.support.harness import assert_clean_failure, invoke_cli, leftovers, run_cli, user_state
from tests.support.tls import make_pki, server_context

pytestmark = pytest.mark.reliability

RETRIES = 1  # chartkeeper.yaml of the test deployment: 1 try + 1 retry (keeps backoff waits short)
INDEX = "/index.yaml"
ARCHIVE = "/demo-1.0.0.tgz"


def make_upstream(root: Path, name: str = "demo", versions: tuple[str, ...] = ("1.0.0", "1.1.0")) -> Path:
    """A tiny real chart repository: a few packaged versions of one chart and their index."""
    root.mkdir(parents=True, exist_ok=True)
    src = root.parent / f".src-{root.name}"
    for v in versions:
        chart = write_chart(
            src / v, name, v, app_version=v,
            values={"replicas": 1, "image": {"tag": v}},
            templates={"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  tag: {{ .Values.image.tag | quote }}\n"},
        )
        package_chart(chart, root)
    build_index(root)
    return root


def make_deployment(folder: Path, extra: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"retries": RETRIES, "timeout": 10}
    cfg.update(extra or {})
    (folder / "chartkeeper.yaml").write_text(yaml.safe_dump(cfg))
    return folder


LOCK_DIR = Path("helmfile/charts/external")


@dataclass
class World:
    server: FaultyRepoServer
    deploy: Path
    upstream: Path
    cache: Path

    def state(self) -> dict[str, str]:
        return user_state(self.deploy)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    """One upstream server and one freshly added deployment per module (per xdist worker);
    each test gets its own copy of the deployment and a cleared fault table."""
    tmp = tmp_path_factory.mktemp("faults-http")
    upstream = make_upstream(tmp / "upstream")
    with FaultyRepoServer(upstream) as server:
        template = make_deployment(tmp / "template")
        proc = run_cli(["add", "demo", "--repo", server.url, "--version", "1.0.0"], cwd=template,
                       env={"CHARTKEEPER_CACHE_DIR": str(tmp / "template-cache")})
        assert proc.returncode == 0, proc.stderr
        yield server, upstream, template


@pytest.fixture
def world(base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server, upstream, template = base
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    monkeypatch.setenv("CHARTKEEPER_CACHE_DIR", str(tmp_path / "home-cache"))
    server.clear()
    with server.lock:
        server.requests.clear()
    yield World(server, deploy, upstream, tmp_path / "home-cache")
    server.clear()


@dataclass(frozen=True)
class Case:
    kind: str
    path: str  # which request misbehaves
    fault: Callable[[], F.Fault]
    cause: str  # what the one-line error must say (case-insensitive)
    retried: bool  # True: exactly 1 + RETRIES attempts; False: exactly 1
    env: tuple[tuple[str, str], ...] = ()
    commands: tuple[str, ...] = ("check", "add", "sync")  # those that make the faulty request


CASES = [
    Case("404", INDEX, lambda: F.status(404), "404", False),
    Case("401", INDEX, lambda: F.status(401), "401", False),
    Case("403", INDEX, lambda: F.status(403), "403", False),
    Case("429 + Retry-After", INDEX, lambda: F.retry_after(429, 1), "429", True),
    Case("500", INDEX, lambda: F.status(500), "500", True),
    Case("503", INDEX, lambda: F.status(503), "503", True),
    Case("stall before headers", INDEX, lambda: F.stall(30), "timed out", True, (("CHARTKEEPER_TIMEOUT", "1"),)),
    Case("stall mid-body", INDEX, lambda: F.stall_body(30), "timed out", True, (("CHARTKEEPER_TIMEOUT", "1"),)),
    Case("close mid-body", INDEX, lambda: F.close_mid_body(), "mid-", True),
    Case("truncated index.yaml", INDEX, lambda: F.truncated(fraction=0.5, inside_quote=True), "index", False),
    Case("oversized index.yaml", INDEX, lambda: F.oversized(), "limit", False),
    Case("index.yaml a list", INDEX, lambda: F.body(b"- a\n- b\n", kind="wrong-shape-yaml"), "index", False),
    Case("index.yaml entries a list", INDEX, lambda: F.body(b"apiVersion: v1\nentries: [1, 2]\n", kind="wrong-shape-yaml"), "index", False),
    Case("index.yaml entry without urls", INDEX, lambda: F.body(b"apiVersion: v1\nentries:\n  demo:\n    - {name: demo, version: 1.0.0}\n    - just-a-string\n", kind="wrong-shape-yaml"), "demo", False,
         commands=("add", "sync")),  # `check` skips (and counts) invalid entries, as Helm does
    Case("index.yaml python tag", INDEX, lambda: F.body(b"apiVersion: v1\nentries: !!python/object/apply:os.system ['true']\n", kind="hostile-yaml"), "index", False),
    Case("index.yaml alias bomb", INDEX, lambda: F.body(("a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}" if i else "*a"] * 10) + "]\n" for i in range(8)) + "apiVersion: v1\nentries: {}\n").encode(), kind="hostile-yaml"), "alias", False),
    Case("redirect loop", INDEX, lambda: F.redirect_loop(), "redirect", False),
    Case("archive 404", ARCHIVE, lambda: F.status(404), "404", False),
    Case("archive 503", ARCHIVE, lambda: F.status(503), "503", True),
    Case("archive close mid-body", ARCHIVE, lambda: F.close_mid_body(), "mid-", True),
    Case("archive stall mid-body", ARCHIVE, lambda: F.stall_body(30), "timed out", True, (("CHARTKEEPER_TIMEOUT", "1"),)),
    Case("archive digest mismatch", ARCHIVE, lambda: F.corrupt(), "digest", False),
    Case("archive truncated", ARCHIVE, lambda: F.truncated(), "digest", False),
]

COMMANDS = {
    # name: (argv, which requests it makes)
    "check": (["check"], {INDEX}),
    "add": (["add", "other", "--chart", "demo", "--repo", "{url}", "--version", "1.0.0"], {INDEX, ARCHIVE}),
    "sync": (["sync"], {INDEX, ARCHIVE}),
}

MATRIX = [(c, cmd) for c in CASES for cmd, (_, paths) in COMMANDS.items() if c.path in paths and cmd in c.commands]


def _argv(cmd: str, url: str) -> list[str]:
    return [a.replace("{url}", url) for a in COMMANDS[cmd][0]]


def _prepare(world: World, cmd: str) -> None:
    # A cold cache, so every run really asks the faulty server (a cached archive would hide the fault).
    shutil.rmtree(world.cache, ignore_errors=True)
    if cmd == "sync":
        # A new machine: the lock is there, the vendored folder is not.
        shutil.rmtree(world.deploy / LOCK_DIR / "demo-1.0.0")


@pytest.mark.parametrize("case,cmd", MATRIX, ids=[f"{c.kind}-{cmd}" for c, cmd in MATRIX])
def test_fault_fails_cleanly(world: World, case: Case, cmd: str, reliability) -> None:
    _prepare(world, cmd)
    before = world.state()
    world.server.always(case.path, case.fault())
    with reliability.case("fault", f"http {case.kind} / {cmd}"):
        proc = invoke_cli(_argv(cmd, world.server.url), cwd=world.deploy, env=dict(case.env))
        line = assert_clean_failure(proc, case.cause)
        assert world.server.url in line or "127.0.0.1" in line, f"the error does not name the repository: {line}"
        attempts = world.server.hits(case.path)
        assert attempts == (1 + RETRIES if case.retried else 1) or (
            case.kind == "redirect loop" and attempts <= 12
        ), f"{attempts} requests for {case.path}"
        assert world.state() == before
        assert leftovers(world.deploy) == []


TRANSIENT = [
    ("503 then ok", INDEX, lambda: [F.status(503)]),
    ("429 Retry-After then ok", INDEX, lambda: [F.retry_after(429, 1)]),
    ("reset then ok", INDEX, lambda: [F.close_mid_body()]),
    ("500 then ok", INDEX, lambda: [F.status(500)]),
    ("archive 503 then ok", ARCHIVE, lambda: [F.status(503)]),
    ("archive cut then ok", ARCHIVE, lambda: [F.close_mid_body(fraction=0.3)]),
]
TMATRIX = [(t, cmd) for t in TRANSIENT for cmd, (_, paths) in COMMANDS.items() if t[1] in paths]


@pytest.mark.parametrize("transient,cmd", TMATRIX, ids=[f"{t[0]}-{cmd}" for t, cmd in TMATRIX])
def test_transient_fault_is_retried_to_success(world: World, transient, cmd: str, reliability) -> None:
    kind, path, steps = transient
    _prepare(world, cmd)
    world.server.script(path, *steps())
    stamps: list[float] = []
    orig = world.server.faults[path]

    def timed(h):  # type: ignore[no-untyped-def]
        stamps.append(time.monotonic())
        return orig(h)

    world.server.faults[path] = timed
    with reliability.case("fault", f"http {kind} / {cmd}"):
        proc = invoke_cli(_argv(cmd, world.server.url), cwd=world.deploy)
        assert proc.returncode == 0, proc.stderr
        assert world.server.hits(path) == len(steps()) + 1
        if "Retry-After" in kind:
            assert stamps[1] - stamps[0] >= 0.9, "Retry-After: 1 was not honoured"
        assert leftovers(world.deploy) == []
        if cmd == "sync":
            assert (world.deploy / LOCK_DIR / "demo-1.0.0" / "Chart.yaml").is_file()


def test_redirect_to_another_host_works_without_leaking_credentials(tmp_path: Path, reliability, monkeypatch) -> None:
    """A repository whose index and archives live on another host (a CDN, a blob store): followed,
    and the credentials of the first host are not sent to the second."""
    if not loopback_alias_available():
        pytest.skip("127.0.0.2 cannot be bound here")
    upstream = make_upstream(tmp_path / "upstream")
    with FaultyRepoServer(upstream) as front, FaultyRepoServer(upstream, host="127.0.0.2") as cdn:
        front.require_auth = ("reader", "s3cret-front-only")
        front.always(INDEX, F.redirect(lambda h: cdn.url + INDEX, kind="redirect-other-host"))
        front.always(re.compile(r"\.tgz$"), F.redirect(lambda h: cdn.url + h.path, kind="redirect-other-host"))
        deploy = make_deployment(tmp_path / "deploy")
        from tests.support.harness import basic_auth_forms

        env = _credential_env(front.url, "reader", "s3cret-front-only")
        with reliability.case("fault", "http redirect to another host / add"):
            proc = run_cli(["add", "demo", "--repo", front.url, "--version", "1.0.0"], cwd=deploy, env=env)
            assert proc.returncode == 0, proc.stderr
            assert cdn.hits(INDEX) == 1 and cdn.hits(ARCHIVE) == 1
            for _, _, headers in cdn.requests:
                auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
                assert not any(f in auth for f in basic_auth_forms("reader", "s3cret-front-only")), "credentials sent to another host"
        with reliability.case("fault", "http redirect to another host / check"):
            proc = run_cli(["check"], cwd=deploy, env=env)
            assert proc.returncode == 0, proc.stderr


def _credential_env(url: str, user: str, password: str) -> dict[str, str]:
    from chartkeeper.sources.credentials import env_key

    key = env_key(url)
    return {f"{key}_USERNAME": user, f"{key}_PASSWORD": password}


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("cmd", ["check", "add"])
def test_tls_from_an_unknown_ca_is_refused_then_accepted_with_the_ca_bundle(tmp_path: Path, pki, cmd: str, reliability) -> None:
    upstream = make_upstream(tmp_path / "upstream")
    with FaultyRepoServer(upstream, ssl_context=server_context(pki)) as server:
        deploy = make_deployment(tmp_path / "deploy")
        if cmd == "check":
            ok = run_cli(["add", "demo", "--repo", server.url, "--version", "1.0.0"], cwd=deploy,
                         env={"CHARTKEEPER_CA_BUNDLE": str(pki.ca_pem)})
            assert ok.returncode == 0, ok.stderr
        argv = ["check"] if cmd == "check" else ["add", "demo", "--repo", server.url, "--version", "1.0.0"]
        before = user_state(deploy)
        with reliability.case("fault", f"tls unknown CA / {cmd}"):
            proc = run_cli(argv, cwd=deploy)
            line = assert_clean_failure(proc, "certificate")
            assert "127.0.0.1" in line
            assert user_state(deploy) == before and leftovers(deploy) == []
        with reliability.case("fault", f"tls CA bundle of another CA / {cmd}"):
            proc = run_cli(argv, cwd=deploy, env={"CHARTKEEPER_CA_BUNDLE": str(pki.other_ca_pem)})
            assert_clean_failure(proc, "certificate")
            assert user_state(deploy) == before
        with reliability.case("fault", f"tls custom CA bundle (must work) / {cmd}"):
            (deploy / "chartkeeper.yaml").write_text(yaml.safe_dump({"retries": RETRIES, "caBundle": str(pki.ca_pem)}))
            proc = run_cli(argv, cwd=deploy)
            assert proc.returncode == 0, proc.stderr

