"""Running the repository's code: chartkeeper never runs what the deployment repository brings.

One small deployment (a real chart repository on loopback, a real git repository) is made hostile
one way per trial:

- a values template that `exec`s a command: with a real helmfile on PATH and no opt-in, `values`,
  `lint` and `diff` name the function as NOT CHECKED (exit 2) and run nothing; with `--allow-exec`
  helmfile evaluates it (the opt-in works, so the refusal above is the gate, not a broken setup);
- a `helmfile` committed at `.tools/bin/helmfile` (and on PATH, as a developer's shell has it): never run,
  even with `--allow-exec`;
- git hooks (`core.hooksPath` and `.git/hooks/post-checkout`, `pre-commit`, `post-commit`) and a clean
  filter from the repository's config: `bump` runs none of them, and its branch is ready.

Every trial: exit 0/1/2 (never 3), the marker file the repository's code would write never appears,
`git status` and the tree unchanged where the command is not meant to write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chartkeeper.safegit import config_env
from tests.support.deployment import git, served_demo_deployment
from tests.support.harness import git_state, invoke_cli

pytestmark = pytest.mark.reliability

TOOLS = Path(__file__).resolve().parents[1] / ".tools" / "bin"


def _helmfile_dir() -> Path | None:
    found = shutil.which("helmfile")
    if found:
        return Path(found).parent
    return TOOLS if (TOOLS / "helmfile").exists() else None


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    with served_demo_deployment(tmp_path_factory.mktemp("hostile-exec")) as (_, deploy):
        yield deploy


def _copy(template: Path, tmp_path: Path) -> Path:
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    return deploy


def _with_exec_values(deploy: Path, marker: Path) -> None:
    """The release's values file becomes a template that runs a command."""
    values = deploy / "helmfile" / "values"
    (values / "demo.yaml").unlink()
    (values / "demo.yaml.gotmpl").write_text(
        f'image:\n  tag: {{{{ exec "sh" (list "-c" "touch {marker}; echo ran") | quote }}}}\n')
    hf = deploy / "helmfile" / "helmfile.yaml"
    hf.write_text(hf.read_text().replace("values/demo.yaml", "values/demo.yaml.gotmpl"))
    git(deploy, "add", "-A")
    git(deploy, "commit", "-q", "-m", "values rendered by a command")


def _env(tmp_path: Path, path_dirs: list[Path], *, other_helmfiles: bool = True) -> dict[str, str]:
    rest = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if other_helmfiles or not (Path(d) / "helmfile").exists()]
    return {"CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"), "GIT_OPTIONAL_LOCKS": "0",
            "PATH": os.pathsep.join([str(d) for d in path_dirs] + rest)}


@pytest.mark.parametrize("argv", [["values", "demo", "-e", "dev"], ["lint"], ["diff", "demo", "1.1.0"]],
                         ids=lambda a: a[0])
def test_a_template_exec_runs_only_when_allowed(template: Path, tmp_path: Path, argv: list[str], reliability) -> None:
    helmfile_dir = _helmfile_dir()
    if helmfile_dir is None:
        pytest.skip("no helmfile binary (scripts/install-tools.sh installs one)")
    deploy = _copy(template, tmp_path)
    marker = tmp_path / "exec-ran"
    _with_exec_values(deploy, marker)
    before = git_state(deploy)
    env = _env(tmp_path, [helmfile_dir])
    with reliability.case("exec", f"values template with exec, helmfile on PATH, no opt-in ({argv[0]})"):
        proc = invoke_cli(["-C", str(deploy), *argv], cwd=deploy, env=env)
        both = proc.stdout + proc.stderr
        assert proc.returncode == 2, both
        assert "`exec`" in both and "demo.yaml.gotmpl" in both, both
        assert "--allow-exec" in both, both  # the way out is named
        assert not marker.exists(), "the repository's command ran without the opt-in"
        assert git_state(deploy) == before
    if argv[0] == "values":  # the opt-in works: helmfile evaluates the template (and so runs its command)
        proc = invoke_cli(["-C", str(deploy), "--allow-exec", *argv], cwd=deploy, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert marker.exists() and "ran" in proc.stdout
        marker.unlink()  # the same opt-in, written down for the repository: `renderer: helmfile`
        (deploy / "chartkeeper.yaml").write_text("renderer: helmfile\n")
        proc = invoke_cli(["-C", str(deploy), *argv], cwd=deploy, env=env)
        assert proc.returncode == 0 and marker.exists(), proc.stdout + proc.stderr
        (deploy / "chartkeeper.yaml").write_text("renderer: yes-please\n")
        proc = invoke_cli(["-C", str(deploy), *argv], cwd=deploy, env=env)
        assert proc.returncode == 2 and "renderer" in proc.stderr, proc.stderr


def test_a_helmfile_inside_the_repository_is_never_run(template: Path, tmp_path: Path, reliability) -> None:
    deploy = _copy(template, tmp_path)
    marker = tmp_path / "repo-binary-ran"
    _with_exec_values(deploy, tmp_path / "exec-ran")
    tool = deploy / ".tools" / "bin" / "helmfile"
    tool.parent.mkdir(parents=True)
    tool.write_text(f"#!/bin/sh\ntouch {marker}\nexit 0\n")
    tool.chmod(0o755)
    git(deploy, "add", "-A")
    git(deploy, "commit", "-q", "-m", "a helmfile of our own")
    before = git_state(deploy)
    # on PATH too, as `export PATH=$PWD/.tools/bin:$PATH` leaves a shell; and opted in
    env = _env(tmp_path, [tool.parent], other_helmfiles=False)  # the repository's is the only one
    with reliability.case("exec", "helmfile committed at .tools/bin in the repository, --allow-exec"):
        proc = invoke_cli(["-C", str(deploy), "--allow-exec", "values", "demo", "-e", "dev"], cwd=deploy, env=env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert any(ln.startswith("error:") and "demo.yaml.gotmpl" in ln for ln in proc.stderr.splitlines()), proc.stderr
        assert not marker.exists(), "a binary inside the repository ran"
        assert git_state(deploy) == before


def test_bump_runs_no_hook_and_no_filter_of_the_repository(template: Path, tmp_path: Path, reliability) -> None:
    deploy = _copy(template, tmp_path)
    ran = tmp_path / "ran"
    ran.mkdir()
    (deploy / ".gitattributes").write_text("*.yaml filter=reformat\n")
    git(deploy, "add", "-A")
    git(deploy, "commit", "-q", "-m", "a filter for YAML files")
    hooks = deploy / ".githooks"  # untracked: `git status` shows it before and after alike
    hooks.mkdir()
    for folder in (hooks, deploy / ".git" / "hooks"):
        for hook in ("pre-commit", "post-checkout", "post-commit", "reference-transaction", "commit-msg"):
            (folder / hook).write_text(f"#!/bin/sh\ntouch {ran}/{folder.name}-{hook}\nexit 1\n")
            (folder / hook).chmod(0o755)
    git(deploy, "config", "core.hooksPath", ".githooks")
    git(deploy, "config", "filter.reformat.clean", f"touch {ran}/filter-clean; sed s/a/b/")
    git(deploy, "config", "filter.reformat.smudge", f"touch {ran}/filter-smudge; cat")
    git(deploy, "config", "filter.reformat.required", "true")
    before = git_state(deploy)
    for name in os.listdir(ran):  # our own `git status` just now may run the filter: only chartkeeper's runs count
        (ran / name).unlink()
    with reliability.case("exec", "git hooks (core.hooksPath, .git/hooks) and a clean filter, bump"):
        proc = invoke_cli(["-C", str(deploy), "bump", "demo", "1.1.0", "--json"], cwd=deploy,
                          env=_env(tmp_path, []) | {"CHARTKEEPER_HELMFILE": "none"})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(os.listdir(ran)) == [], "the repository's hooks or filters ran"
        assert '"ready": true' in proc.stdout, proc.stdout
        assert git_state(deploy) == before
        # the committed chart files are the upstream bytes: no filter touched them on the way in
        lock = git(deploy, "show", "chartkeeper/demo-1.1.0:helmfile/charts/external/demo-1.1.0/values.yaml")
        assert "replicaCount" in lock


def test_config_the_environment_gives_git_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI runners pass git config through GIT_CONFIG_COUNT (`safe.directory`): ours comes after it, not over it."""
    git(tmp_path, "init", "-q")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "*")
    env = {**os.environ, **config_env(tmp_path)}

    def value(key: str) -> str:
        return subprocess.run(["git", "config", key], cwd=tmp_path, env=env, capture_output=True, text=True).stdout.strip()

    assert value("safe.directory") == "*"
    assert Path(value("core.hooksPath")).is_dir() and not any(Path(value("core.hooksPath")).iterdir())
    assert value("core.fsmonitor") == "false"
