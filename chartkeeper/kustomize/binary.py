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
from chartkeeper.fsutil import resolves_inside, scratch_env, temp_folder
from chartkeeper.kustomize.loader import KUSTOMIZATION_NAMES
from chartkeeper.kustomize.model import Kustomization

RENDERED_NAME = "chartkeeper-rendered.yaml"
TIMEOUT = 120


# The embedded engine and the differential corpus follow kustomize v5 (kyaml merge2, v5 patch
# ordering); an older kustomize merges differently, so its output is not used.
MIN_KUSTOMIZE = (5, 0, 0)


@dataclass(frozen=True)
class Binary:
    command: tuple[str, ...]  # e.g. ("/usr/bin/kubectl", "kustomize")
    label: str  # e.g. "kubectl 1.35.2 (kustomize v5.7.1)": shown in reports, never a path
    kind: str = "kubectl"  # "kubectl" or "kustomize"
    kustomize_version: tuple[int, ...] | None = None  # None when it cannot be told

    @property
    def supported(self) -> bool:
        return self.kustomize_version is not None and self.kustomize_version >= MIN_KUSTOMIZE

    @property
    def unsupported_reason(self) -> str | None:
        if self.supported:
            return None
        if self.kustomize_version is None:
            return f"{self.label}: its kustomize version cannot be told"
        return (f"{self.label}: kustomize older than v{'.'.join(map(str, MIN_KUSTOMIZE))}, whose merges differ "
                "from what chartkeeper models")


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return tuple(int(x) for x in m.groups()) if m else None


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
        return Binary((path, "kustomize"), label, "kubectl", _version_tuple(kz.group(1)))
    version = re.search(r"(v?\d+\.\d+\.\d+)", text)
    found = version.group(1) if version else None
    return Binary((path, "build"), f"kustomize {found or '?'}", "kustomize", _version_tuple(found))


def find_tool(kind: str) -> Binary | None:
    """`kubectl` (with kustomize built in) or `kustomize` first on PATH, supported or not; None when absent."""
    path = shutil.which(kind)
    return _probe(path, kind) if path else None


def find_binary() -> Binary | None:
    """A supported `kubectl` on PATH, else a supported `kustomize`; None when neither is there and works."""
    for kind in ("kubectl", "kustomize"):
        found = find_tool(kind)
        if found is not None and found.supported:
            return found
    return None


def _refuse_special_files(directory: Path) -> None:
    """The kustomization folder is copied for the tool, symlinks followed: refuse a link leaving it
    or anything but plain files and folders (`zero -> /dev/zero` would be read forever)."""
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_symlink() and not resolves_inside(path, directory):
            raise InputError(f"{directory.name}/{rel}: a symlink leading outside the kustomization folder "
                             f"({path.resolve()})", hint="put the file itself in the folder")
        if not (path.is_file() or path.is_dir()):  # both follow links: a device, a pipe, a broken link
            raise InputError(f"{directory.name}/{rel}: not a regular file or folder (a device, a pipe or a broken link)",
                             hint="the kustomize binary gets a copy of the folder: keep only its files there")


def run_binary(
    binary: Binary, manifests: list[dict[str, Any]], kustomization: Kustomization
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(patched manifests, None) or (None, the tool's error message: for logs and tests, not for reports)."""
    with temp_folder("kustomize-") as tmp:
        work = tmp / "kustomization"
        _refuse_special_files(kustomization.directory)
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
                [*binary.command, str(work)], capture_output=True, text=True, timeout=TIMEOUT, check=False,
                env=scratch_env(),
            )
        except subprocess.TimeoutExpired:
            return None, f"{binary.label} did not finish within {TIMEOUT} s"
        except OSError as exc:
            return None, f"{binary.label} could not run: {exc.strerror}"
    if proc.returncode != 0:
        return None, _error_of(proc.stderr, proc.returncode)
    try:
        docs = yamlio.loads_all(proc.stdout, f"{binary.label} output")
    except InputError as exc:
        return None, str(exc)
    return [d for d in docs if isinstance(d, dict)], None


_KLOG = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] "(?P<msg>[^"]*)"(?: err="(?P<err>(?:[^"\\]|\\.)*)")?')


def _error_of(stderr: str, code: int) -> str:
    """The tool's error in one line: the `error:` line, or the `err=` of a klog line (builds that log
    through klog print `E1201 15:19:18.119014 13396 run.go:72] "command failed" err="..."`)."""
    for line in reversed(stderr.splitlines()):
        line = line.strip()
        if line.lower().startswith("error:"):
            return line.split(":", 1)[1].strip()
        m = _KLOG.match(line)
        if m:
            return (m.group("err") or m.group("msg")).replace('\\"', '"')
    return f"exit code {code}"
