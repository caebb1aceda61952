"""A real deployment repository for `bump` tests: helmfile files, a lock, vendored charts, git.

The upstream is a real chart repository folder (served over HTTP on loopback by the
`repo_server` fixture); the first version is vendored with chartkeeper's own vendoring code,
the same way `chartkeeper add` does, and committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Iterator, Mapping

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.httpserver import ChartRepoServer

HELMFILE = """\
# Entry point of the demo deployment: environments first, releases after.
bases:
  - environments.yaml
---
releases:
  # The demo application; its chart is vendored and pinned in versions.lock.
  - name: {name}          # keep the release name stable: dashboards use it
    namespace: {name}
    chart: {chart}   # vendored by chartkeeper
    values:
      - values/{name}.yaml
  - name: {name}-canary
    namespace: {name}
    chart: "{chart}"
    values:
      - values/{name}.yaml
"""

ENVIRONMENTS = """\
environments:
  dev:
    values:
      - environments/dev.yaml
  prod:
    values:
      - environments/prod.yaml
"""

CHANGELOG = """\
# Changelog

All notable changes to this deployment.

## [Unreleased]

### Added
- the demo release

## [1.0.0] - 2025-09-01
- first deployment
"""


def demo_chart_versions(parent: Path, name: str, versions: Mapping[str, Mapping[str, str]]) -> list[Path]:
    """One chart folder per version; `versions` maps version -> {"tag": image tag, ...}."""
    folders = []
    for version, opts in versions.items():
        values = {
            "replicaCount": 1,
            "image": {"repository": "registry.example.invalid/demo", "tag": opts.get("tag", version)},
            "service": {"port": int(opts.get("port", 80))},
        }
        templates = {
            "deployment.yaml": (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
                "spec:\n  replicas: {{ .Values.replicaCount }}\n  selector:\n    matchLabels: {app: demo}\n"
                "  template:\n    metadata:\n      labels: {app: demo}\n    spec:\n      containers:\n"
                "        - name: demo\n          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"
                "          ports:\n            - containerPort: {{ .Values.service.port }}\n"
            ),
        }
        if opts.get("broken"):
            templates["broken.yaml"] = "{{ fail \"this chart version does not render\" }}\n"
        folders.append(
            write_chart(parent / version, name, version, values=values, templates=templates, app_version=version)
        )
    return folders


def publish(repo_dir: Path, charts: list[Path]) -> None:
    for c in charts:
        package_chart(c, repo_dir)
    build_index(repo_dir)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def vendor(root: Path, name: str, repository: str, version: str, *, path: str | None = None) -> None:
    """Vendor `name` `version` into the deployment at `root` and pin it in the lock."""
    from chartkeeper.lockfile import load_lock, write_lock
    from chartkeeper.settings import load_settings
    from chartkeeper.vendoring.stage import install, stage_chart

    settings = load_settings(root)
    lock = load_lock(settings.lock_file, missing_ok=True)
    staged = stage_chart(
        settings, name=name, chart=name, repository=repository, version=version,
        staging_parent=settings.lock_file.parent, path=path,
    )
    install(staged, settings.lock_file.parent)
    write_lock(lock.upsert(staged.entry), settings.lock_file)


def make_deployment(root: Path, repository: str, charts: Mapping[str, str], *, constraint: Mapping[str, str] | None = None,
                    paths: Mapping[str, str] | None = None, exist_ok: bool = False) -> Path:
    """A committed deployment repository at `root` using `charts` ({name: version}) from `repository`."""
    from chartkeeper.lockfile import load_lock, write_lock

    root.mkdir(parents=True, exist_ok=exist_ok)
    git(root, "init", "-q", "-b", "main")
    hf = root / "helmfile"
    (hf / "environments").mkdir(parents=True)
    (hf / "values").mkdir()
    (hf / "environments.yaml").write_text(ENVIRONMENTS)
    (hf / "environments" / "dev.yaml").write_text("replicas: 1\n")
    (hf / "environments" / "prod.yaml").write_text("replicas: 3\n")
    (root / "CHANGELOG.md").write_text(CHANGELOG)
    docs = []
    for name, version in charts.items():
        path = (paths or {}).get(name)
        vendor(root, name, repository, version, path=path)
        folder = path or f"{name}-{version}"
        docs.append(HELMFILE.format(name=name, chart=f"./charts/external/{folder}"))
        (hf / "values" / f"{name}.yaml").write_text(f"# overrides for {name}\nimage:\n  tag: pinned\n")
        (root / "patches" / name).mkdir(parents=True)
        (root / "patches" / name / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
        )
    first, *rest = docs
    text = first + "".join(d.split("---\n", 1)[1].replace("releases:\n", "", 1) for d in rest)
    (hf / "helmfile.yaml").write_text(text)
    if constraint:
        lock_file = root / "helmfile" / "charts" / "external" / "versions.lock"
        lock = load_lock(lock_file)
        for name, c in constraint.items():
            lock = lock.upsert(lock.require(name).with_changes(constraint=c))
        write_lock(lock, lock_file)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "deployment")
    return root


@contextlib.contextmanager
def served_demo_deployment(tmp: Path) -> Iterator[tuple[str, Path]]:
    """The demo chart at 1.0.0 and 1.1.0 served on loopback, and a committed deployment at
    `tmp/template` pinning 1.0.0: (repository URL, deployment). Tests copy the deployment."""
    repo = tmp / "repo"
    repo.mkdir()
    publish(repo, demo_chart_versions(tmp / "src", "demo", {"1.0.0": {}, "1.1.0": {}}))
    with ChartRepoServer(repo) as server:
        yield server.url, make_deployment(tmp / "template", server.url, {"demo": "1.0.0"})


def snapshot(root: Path) -> dict[str, object]:
    """Everything the user can see of a checkout: every file (tracked or not), index, HEAD, branch."""
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d == ".git")]
        for fn in filenames:
            p = Path(dirpath) / fn
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                files[rel] = "link:" + os.readlink(p)
            else:
                files[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{oct(p.stat().st_mode)}"
    g = root / ".git"
    return {
        "files": files,
        "index": hashlib.sha256((g / "index").read_bytes()).hexdigest(),
        "HEAD": (g / "HEAD").read_text(),
        "head_commit": git(root, "rev-parse", "HEAD"),
        "stash": subprocess.run(["git", "stash", "list"], cwd=root, capture_output=True, text=True).stdout,
    }
