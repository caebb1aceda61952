"""The differential corpus: rendered manifests + a kustomization per folder under `corpus/`.

Each case holds `kustomization.yaml` (+ patch files), optionally `input.yaml` (else the shared
`_workloads.yaml`), and what `kubectl kustomize` produced for it: `expected.yaml` (resources in
kind/namespace/name order) or `expected-error.txt` (a fragment of its error). Regenerate those
from a real kubectl with `python -m tests.kustomize.corpus` after adding a case; the tests check
the embedded engine against the files always, and against a live kubectl when one is on PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from chartkeeper import yamlio

CORPUS = Path(__file__).parent / "corpus"


def case_names() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def case_input(name: str) -> list[dict[str, Any]]:
    own = CORPUS / name / "input.yaml"
    path = own if own.exists() else CORPUS / "_workloads.yaml"
    return [d for d in yamlio.loads_all(path.read_text(), path) if d]


def expected(name: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    out, err = CORPUS / name / "expected.yaml", CORPUS / name / "expected-error.txt"
    if out.exists():
        return [d for d in yamlio.loads_all(out.read_text(), out) if d], None
    return None, err.read_text().strip()


def regenerate() -> None:  # pragma: no cover - run by hand with kubectl on PATH
    from chartkeeper.errors import InputError
    from chartkeeper.kustomize import Kustomization, load_kustomization, sort_manifests
    from chartkeeper.kustomize.binary import find_binary, run_binary

    tool = find_binary()
    if tool is None:
        sys.exit("no kubectl/kustomize on PATH")
    for name in case_names():
        folder = CORPUS / name
        for old in ("expected.yaml", "expected-error.txt"):
            (folder / old).unlink(missing_ok=True)
        try:
            kz = load_kustomization(folder)
        except InputError:  # refused by chartkeeper too: record what kustomize says about it
            path = folder / "kustomization.yaml"
            kz = Kustomization(path=path, directory=folder, steps=(), raw=yamlio.load_file(path))
        out, error = run_binary(tool, case_input(name), kz)
        if out is None:
            (folder / "expected-error.txt").write_text(error + "\n")
        else:
            text = "".join("---\n" + yamlio.dumps(m) for m in sort_manifests(out))
            (folder / "expected.yaml").write_text(f"# {tool.label}\n" + text)
        print(f"{name}: {'error' if out is None else 'ok'}")


if __name__ == "__main__":
    regenerate()
