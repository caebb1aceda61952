"""After the commit: is the branch ready for the existing `helmfile -e <env> apply`?

Two proofs, both reported, neither changes anything:
* verify — every vendored folder matches its lock entry's tree checksum on the branch;
* render — every environment renders with the new chart: `helmfile template` when a helmfile
  binary is on PATH (the real deploy path: state files, values, the chart), otherwise the
  embedded Helm engine on each release that uses the chart, with its effective values.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chartkeeper import helmfile, limits
from chartkeeper.bump import releases as rel_mod
from chartkeeper.errors import ChartkeeperError
from chartkeeper.fsutil import scratch_env
from chartkeeper.helm.render import prepare_chart
from chartkeeper.helmfile import binary
from chartkeeper.lockfile import load_lock
from chartkeeper.settings import Settings
from chartkeeper.vendoring.report import chart_report_lines
from chartkeeper.vendoring.verify import CLEAN, verify_tree


def verify_lock(settings: Settings) -> tuple[list[str], list[str]]:
    """`chartkeeper verify` on the result: every pinned chart, unowned folders, leftovers."""
    lock = load_lock(settings.lock_file)
    report = verify_tree(settings, lock)
    problems: list[str] = []
    for r in report.charts:
        if r.state != CLEAN:  # strict, as `verify --strict`: the branch must deploy offline
            problems.append("verify: " + "; ".join(ln.strip() for ln in chart_report_lines(r)))
    problems += [f"verify: {name}: a folder next to the lock that no entry owns" for name in report.unowned]
    problems += [f"verify: {name}: left over from an interrupted run" for name in report.leftovers]
    checks = [] if problems else [f"verify: {len(report.charts)} vendored chart(s) match versions.lock"]
    return checks, problems


def _helm_for_helmfile() -> str | None:
    # helmfile 0.16x runs `helm version --client`, which Helm v4 rejects: prefer a v3 binary.
    return os.environ.get("CHARTKEEPER_HELMFILE_HELM") or shutil.which("helm3") or shutil.which("helm")


def render_with_helmfile(settings: Settings, binary: str, envs: list[str]) -> tuple[list[str], list[str]]:
    """`helmfile template` of each environment; the environments run side by side (each is a helmfile
    process and its helm processes, mostly waiting on each other), the results are read in their order."""
    helm = _helm_for_helmfile()
    state = helmfile.entry_file(settings)  # as it exists: `helmfile.yaml.gotmpl`, say
    seconds = limits.current().render_seconds

    def one(env: str) -> tuple[str | None, str | None]:
        cmd = [binary, "--file", str(state), "--environment", env]
        if helm:
            cmd += ["--helm-binary", helm]
        cmd += ["template", "--skip-deps"]
        try:
            proc = subprocess.run(
                cmd, cwd=state.parent, capture_output=True, text=True, timeout=seconds,
                env={**scratch_env(), "HELMFILE_UPGRADE_NOTICE_DISABLED": "1"},
            )
        except subprocess.TimeoutExpired:
            return None, f"render {env}: helmfile template timed out after {seconds:.0f}s ({limits.key_of('render_seconds')})"
        if proc.returncode != 0:
            tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-3:]
            return None, f"render {env}: helmfile template failed: {' | '.join(tail) or proc.returncode}"
        return f"render {env}: helmfile template succeeded", None

    with ThreadPoolExecutor(max_workers=max(1, min(len(envs), os.cpu_count() or 1, 4))) as pool:
        results = list(pool.map(one, envs))
    return [c for c, _ in results if c], [p for _, p in results if p]


def render_embedded(settings: Settings, applied: Any, envs: list[str]) -> tuple[list[str], list[str]]:
    """Render each release that uses the new chart, in each environment, with the Helm engine."""
    checks: list[str] = []
    problems: list[str] = []
    with prepare_chart(Path(applied.new_folder), kube_version=settings.kube_version,
                       api_versions=settings.api_versions) as chart:
        for env in envs:
            try:
                uses = rel_mod.releases_using(settings, applied.entry.name, env)
            except ChartkeeperError as exc:
                problems.append(f"render {env}: {exc.message}")
                continue
            if not uses:
                # No helmfile release uses it (or no helmfile state): the chart must still render on its defaults.
                uses = [(applied.entry.name, "default", {})]
            for release, namespace, values in uses:
                try:
                    result = chart.render(values, release=release, namespace=namespace)
                except ChartkeeperError as exc:
                    problems.append(f"render {env}/{release}: {exc.message}")
                    continue
                checks.append(
                    f"render {env}/{release}: {len(result.manifests)} manifest(s) with {result.engine_version}"
                )
    return checks, problems


def helmfile_binary(settings: Settings) -> str | None:
    """The helmfile binary to prove the branch with, only when the user allowed running the
    repository's templates (`--allow-exec`, `renderer: helmfile`) and never one inside the
    repository; `$CHARTKEEPER_HELMFILE=none` turns it off."""
    if binary.renderer_mode() == "embedded":
        return None
    found = binary.find_helmfile(settings.root)
    return str(found) if found else None


def check_ready(settings: Settings, applied: Any, analysis: Any) -> tuple[list[str], list[str]]:
    checks, problems = verify_lock(settings)
    envs = list(getattr(analysis, "envs", ()) or ())
    if not envs:
        envs = rel_mod.environments(settings)
    exe = helmfile_binary(settings)
    if exe:
        c, p = render_with_helmfile(settings, exe, envs or ["default"])
    else:
        c, p = render_embedded(settings, applied, envs or ["default"])
    return checks + c, problems + p
