"""Run a real `kubectl kustomize` / `kustomize build` over rendered manifests.

The kustomization folder is copied into a temporary folder, the manifests are written next to it
as the only resource, and the copy's kustomization lists just that file (the placeholder the
post-renderer would have filled). Nothing in the user's folder is touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chartkeeper import yamlio
from chartkeeper.errors import InputError
from chartkeeper.fsutil import temp_folder
from chartkeeper.kustomize.loader import KUSTOMIZATION_NAMES
from chartkeeper.kustomize.model import Kustomization

RENDERED_NAME = "chartkeeper-rendered.yaml"
TIMEOUT = 120


@dataclass(frozen=True)
class Binary:
    command: tuple[str, ...]  # e.g. ("/usr/bin/kubectl", "kustomize")
    label: str  # e.g. "kubectl 1.35.2 (kustomize v5.7.1)"


@lru_cache(maxsize=8)
def _probe(path: str, kind: str) -> Binary | None:
    args = [path, "version", "--client"] if kind == "kubectl" else [path, "version"]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout + out.stderr
    if kind == "kubectl":
        client = re.search(r"Client Version:\s*v?([0-9][^\s]*)", text)
        kz = re.search(r"Kustomize Version:\s*(v?[0-9][^\s]*)", text)
        if not kz:
            return None  # a kubectl without built-in kustomize (older than 1.14) cannot help
        label = f"kubectl {client.group(1) if client else '?'} (kustomize {kz.group(1)})"
        return Binary((path, "kustomize"), label)
    version = re.search(r"(v?\d+\.\d+\.\d+)", text)
    return Binary((path, "build"), f"kustomize {version.group(1) if version else '?'}")


def find_binary() -> Binary | None:
    """`kubectl` (with kustomize built in) on PATH, else `kustomize`; None when neither works."""
    for name, kind in (("kubectl", "kubectl"), ("kustomize", "kustomize")):
        path = shutil.which(name)
        if path:
            found = _probe(path, kind)
            if found is not None:
                return found
    return None


def run_binary(
    binary: Binary, manifests: list[dict[str, Any]], kustomization: Kustomization
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(patched manifests, None) or (None, the tool's error message)."""
    with temp_folder("kustomize-") as tmp:
        work = tmp / "kustomization"
        shutil.copytree(kustomization.directory, work, symlinks=False)
        for name in KUSTOMIZATION_NAMES:
            (work / name).unlink(missing_ok=True)
        raw = {k: v for k, v in kustomization.raw.items() if k not in ("resources", "bases")}
        raw["resources"] = [RENDERED_NAME]
        (work / "kustomization.yaml").write_text(yamlio.dumps(raw), encoding="utf-8")
        (work / RENDERED_NAME).write_text(
            "".join("---\n" + yamlio.dumps(m) for m in manifests), encoding="utf-8"
        )
        try:
            proc = subprocess.run(
                [*binary.command, str(work)], capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"{binary.label} did not finish within {TIMEOUT} s"
        except OSError as exc:
            return None, f"{binary.label} could not run: {exc.strerror}"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("# Warning")]
        return None, (lines[-1] if lines else f"exit code {proc.returncode}").removeprefix("error: ")
    try:
        docs = yamlio.loads_all(proc.stdout, f"{binary.label} output")
    except InputError as exc:
        return None, str(exc)
    return [d for d in docs if isinstance(d, dict)], None
