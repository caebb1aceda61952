"""Memory and time: huge or hostile input ends in a clear error, within a memory and a time bound.

An upgrade check runs in CI on every merge request; one bad chart or values file must not take the
runner down. Each trial runs the real CLI in a child process of its own (tests/support/measured.py)
on a copy of a committed deployment whose upstream is a real chart repository on loopback, and
asserts: exit 0/1/2, never 3; the file or source named; the child's peak memory and the wall time
under the bounds below; the checkout (files, index, HEAD, `git status`) unchanged; no request but
to the configured repository. Where a limit proves the mechanism, the trial sets a low one in
`chartkeeper.yaml` (`limits:`) rather than feeding an input that takes seconds to blow up.

Before these budgets (issue 25): `values` grew to 5.2 GB on a string alias bomb, a NEW template
looping `range until 100000` twice never ended and ignored Ctrl-C, a schema nested 200,000 deep or
`{"$ref": "#"}` crashed with RecursionError, a Latin-1 byte in charts.json crashed with
UnicodeDecodeError, a duplicate `version:` in versions.lock was accepted silently."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.deployment import demo_chart_versions, make_deployment, publish
from tests.support.harness import git_state
from tests.support.httpserver import ChartRepoServer
from tests.support.measured import Measured, run_measured

pytestmark = pytest.mark.reliability

PEAK_MB = 300  # the CLI alone is ~45 MB, with the Helm engine loaded ~100 MB; a bomb that expanded would be GBs
SECONDS = 30  # each trial takes 1-6 s on a loaded 2-core runner; the failures it guards against took minutes

# A few aliased long strings: 1,000 nodes, 3 GB once expanded (the values handed to Helm are copies).
STRING_BOMB = ('s: &s "' + "x" * 100_000 + '"\n'
               + "a: &a [" + ", ".join(["*s"] * 30) + "]\n"
               + "b: &b [" + ", ".join(["*a"] * 30) + "]\n"
               + "c: [" + ", ".join(["*b"] * 30) + "]\n")
# 10^10 turns of a loop: minutes of CPU whatever the machine. It prints nothing: a loop that printed would
# grow Go's output buffer as fast as the CPU goes until the process ends (290 MB in 3 s on a loaded
# runner, 520 MB in 4 s on a quiet one), so a memory bound on it measures the CPU, not chartkeeper.
RUNAWAY = "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}x\n"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory):
    """The demo chart: 1.0.0 vendored; each later version hostile in one way."""
    tmp = tmp_path_factory.mktemp("budgets")
    repo = tmp / "repo"
    repo.mkdir()
    folders = demo_chart_versions(tmp / "src", "demo", {v: {} for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0")})
    by_version = {f.parent.name: f for f in folders}
    (by_version["1.1.0"] / "values.yaml").write_text(STRING_BOMB)
    (by_version["1.2.0"] / "templates" / "runaway.yaml").write_text(RUNAWAY)
    (by_version["1.3.0"] / "values.schema.json").write_text("[" * 200_000 + "]" * 200_000)
    (by_version["1.4.0"] / "values.schema.json").write_text(json.dumps({"$ref": "#"}))
    (by_version["1.5.0"] / "templates" / "fail.yaml").write_text('{{ fail (repeat 250000 "x") }}\n')
    publish(repo, folders)
    with ChartRepoServer(repo) as server:
        yield server, make_deployment(tmp / "template", server.url, {"demo": "1.0.0"})


@pytest.fixture
def deploy(upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", "none")
    monkeypatch.setenv("CHARTKEEPER_CACHE_DIR", str(tmp_path / "cache"))
    server, template = upstream
    server.requests.clear()
    root = tmp_path / "deploy"
    shutil.copytree(template, root, symlinks=True)
    return root


def _commit(root: Path, files: dict[str, str | bytes]) -> None:
    """The hostile file, committed: a refusal must then leave `git status` clean as it found it."""
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (root / rel).write_bytes(content)
        else:
            (root / rel).write_text(content)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "hostile"], cwd=root, check=True)


def _trial(root: Path, argv: list[str], upstream, row: dict, *, names: str, codes: tuple[int, ...] = (2,), error: bool = True,
           peak_mb: float = PEAK_MB, seconds: float = SECONDS, errors: int = 1, **kw) -> Measured:
    server, _ = upstream
    before = git_state(root)
    run = run_measured(argv, cwd=root, timeout=seconds * 3, **kw)
    row.update(peak_mb=run.peak_mb, seconds=run.seconds, bound_mb=peak_mb, bound_s=seconds)
    detail = run.detail()
    assert run.returncode in codes, detail
    assert "Traceback" not in run.output and "internal error" not in run.output, detail
    if error:
        assert len(run.error_lines()) == errors and all(names in e for e in run.error_lines()), detail
    else:
        assert names in run.output, detail
    assert run.peak_mb < peak_mb, detail
    assert run.seconds < seconds, detail
    assert git_state(root) == before, detail
    served = {p.name for p in server.root.iterdir()}
    assert all(path.lstrip("/") in served for _, path, _ in server.requests), server.requests
    return run


def test_string_alias_bomb_in_environment_values(deploy: Path, upstream, reliability) -> None:
    _commit(deploy, {"helmfile/values/demo.yaml": STRING_BOMB})
    with reliability.case("budget", "string alias bomb in a values file (values)") as row:
        run = _trial(deploy, ["values", "demo", "-e", "dev"], upstream, row, names="demo.yaml")
        assert "limits.yamlBytes" in run.error_lines()[0]


def test_string_alias_bomb_in_new_chart_values(deploy: Path, upstream, reliability) -> None:
    with reliability.case("budget", "string alias bomb in NEW values.yaml (diff)") as row:
        _trial(deploy, ["diff", "demo", "1.1.0"], upstream, row, names="values.yaml")


def test_read_file_of_dev_zero_in_a_values_template(deploy: Path, upstream, reliability) -> None:
    helmfile = (deploy / "helmfile/helmfile.yaml").read_text().replace("values/demo.yaml", "values/demo.yaml.gotmpl")
    _commit(deploy, {"helmfile/helmfile.yaml": helmfile,
                     "helmfile/values/demo.yaml.gotmpl": 'blob: {{ readFile "/dev/zero" | quote }}\n'})
    with reliability.case("budget", "readFile /dev/zero in a values template (values)") as row:
        _trial(deploy, ["values", "demo", "-e", "dev"], upstream, row, names="demo.yaml.gotmpl")


def test_runaway_values_template_hits_the_template_limit(deploy: Path, upstream, reliability) -> None:
    helmfile = (deploy / "helmfile/helmfile.yaml").read_text().replace("values/demo.yaml", "values/demo.yaml.gotmpl")
    _commit(deploy, {"chartkeeper.yaml": "limits:\n  templateSeconds: 1\n", "helmfile/helmfile.yaml": helmfile,
                     "helmfile/values/demo.yaml.gotmpl": "x: " + RUNAWAY})
    with reliability.case("budget", "values template looping 10^10 times (values, templateSeconds 1)") as row:
        # one error per release (`values` shows both); the second does not start the template again;
        # the abandoned template keeps running until the process ends (Go cannot be stopped from outside)
        run = _trial(deploy, ["values", "demo", "-e", "dev"], upstream, row, names="demo.yaml.gotmpl", seconds=15,
                     errors=2)
        assert "took longer than 1 s (limits.templateSeconds" in run.error_lines()[0], run.detail()
        assert "(not tried again)" in run.error_lines()[1], run.detail()


def test_runaway_template_in_new_chart_hits_the_render_limit(deploy: Path, upstream, reliability) -> None:
    _commit(deploy, {"chartkeeper.yaml": "limits:\n  renderSeconds: 2\n"})
    with reliability.case("budget", "NEW template looping 10^10 times (diff, renderSeconds 2)") as row:
        run = _trial(deploy, ["diff", "demo", "1.2.0"], upstream, row, names="took longer than 2 s", codes=(0, 1, 2),
                     error=False, seconds=12)
        assert "limits.renderSeconds" in run.output and "not tried again" in run.output, run.detail()
        assert "render.failed" in run.output, run.detail()


def test_a_quarter_megabyte_failure_message_in_new_chart(deploy: Path, upstream, reliability) -> None:
    with reliability.case("budget", "NEW template failing with a 250 KB message (diff)") as row:
        run = _trial(deploy, ["diff", "demo", "1.5.0"], upstream, row, names="render.failed", codes=(0, 1, 2),
                     error=False)
        assert len(run.output) < 2_000_000, run.detail()
        row["output_bytes"] = len(run.output)


def test_ctrl_c_interrupts_a_runaway_render_within_a_second(deploy: Path, upstream, reliability) -> None:
    stopped: list[float] = []

    def interrupt(proc: subprocess.Popen[bytes]) -> None:
        time.sleep(4)  # well into the render: loading and the OLD render take ~1.5 s
        proc.send_signal(signal.SIGINT)
        stopped.append(time.monotonic())

    with reliability.case("budget", "Ctrl-C during a runaway render (diff; time: from SIGINT to exit)") as row:
        before = git_state(deploy)
        run = run_measured(["diff", "demo", "1.2.0"], cwd=deploy, timeout=60, during=interrupt)
        ended = time.monotonic()
        row.update(peak_mb=run.peak_mb, seconds=ended - stopped[0], bound_mb=PEAK_MB, bound_s=1)
        assert run.returncode == 130, run.detail()
        assert ended - stopped[0] < 1.0, run.detail()
        assert run.peak_mb < PEAK_MB, run.detail()
        assert git_state(deploy) == before


def test_schema_nested_200000_deep(deploy: Path, upstream, reliability) -> None:
    with reliability.case("budget", "NEW values.schema.json nested 200,000 deep (diff)") as row:
        run = _trial(deploy, ["diff", "demo", "1.3.0"], upstream, row, names="values.schema.json")
        assert "nests deeper than 200 levels" in run.error_lines()[0]


def test_schema_referring_to_itself(deploy: Path, upstream, reliability) -> None:
    with reliability.case("budget", 'NEW values.schema.json {"$ref": "#"} (diff)') as row:
        run = _trial(deploy, ["diff", "demo", "1.4.0"], upstream, row, names="values.schema.json", error=False)
        assert "NOT CHECKED" in run.output and "loop without end" in run.output, run.detail()


def test_index_with_too_many_versions_of_one_chart(deploy: Path, upstream, tmp_path: Path, reliability) -> None:
    server, _ = upstream
    many = tmp_path / "many"
    many.mkdir()
    entries = "".join(f"  - name: demo\n    version: 1.0.{i}\n    digest: {'a' * 64}\n    urls: [demo-1.0.{i}.tgz]\n"
                      for i in range(20_000))
    (many / "index.yaml").write_text(f"apiVersion: v1\nentries:\n  demo:\n{entries}")  # 2.4 MB
    with ChartRepoServer(many) as big:
        lock = deploy / "helmfile/charts/external/versions.lock"
        _commit(deploy, {"chartkeeper.yaml": f"limits:\n  indexChartBytes: 1048576\nmirrors:\n  {server.url}: {big.url}\n",
                         lock.relative_to(deploy).as_posix(): lock.read_text()})
        with reliability.case("budget", "an index with 20,000 versions of one chart (check, indexChartBytes 1 MiB)") as row:
            run = _trial(deploy, ["check"], upstream, row, names="index.yaml")
            assert "limits.indexChartBytes" in run.error_lines()[0] or "limits.indexChartBytes" in run.output
        assert [p for _, p, _ in big.requests] == ["/index.yaml"]


def test_index_in_json_nested_100000_deep(deploy: Path, upstream, tmp_path: Path, reliability) -> None:
    server, _ = upstream
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "index.yaml").write_text('{"apiVersion": "v1", "entries": {"demo": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    with ChartRepoServer(deep) as mirror:
        _commit(deploy, {"chartkeeper.yaml": f"mirrors:\n  {server.url}: {mirror.url}\n"})
        with reliability.case("budget", "an index in JSON nested 100,000 deep (check)") as row:
            run = _trial(deploy, ["check"], upstream, row, names="index.yaml")
            assert "malformed index" in run.output, run.detail()
        assert [p for _, p, _ in mirror.requests] == ["/index.yaml"]


@pytest.mark.parametrize("file,argv", [
    ("helmfile/charts/external/versions.lock", ["check"]),
    ("chartkeeper.yaml", ["verify"]),
])
def test_duplicate_key_names_both_lines(deploy: Path, upstream, file: str, argv: list[str], reliability) -> None:
    path = deploy / file
    text = path.read_text() if path.exists() else "timeout: 30\n"
    if file.endswith("versions.lock"):
        text = text.replace('    version: "1.0.0"\n', '    version: "1.0.0"\n    version: "1.1.0"\n', 1)
    else:
        text += "retries: 3\ntimeout: 60\n"
    _commit(deploy, {file: text})
    with reliability.case("budget", f"strict: a key given twice in {Path(file).name} ({argv[0]})") as row:
        run = _trial(deploy, argv, upstream, row, names=Path(file).name)
        assert "duplicate key" in run.error_lines()[0] and "first at line" in run.error_lines()[0]


def test_latin1_byte_in_charts_json(deploy: Path, upstream, reliability) -> None:
    text = '{"repositories": {"demo": "http://x.invalid"}, "charts": {"d\xe9mo": {}}}'
    _commit(deploy, {"legacy/charts.json": text.encode("latin-1")})
    with reliability.case("budget", "strict: a Latin-1 byte in charts.json (import)") as row:
        run = _trial(deploy, ["import", "--charts-json", "legacy/charts.json"], upstream, row, names="charts.json")
        assert f"offset {text.index(chr(0xe9))}: cannot read 0xe9" in run.error_lines()[0], run.detail()
