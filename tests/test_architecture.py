"""The layers of docs/architecture.md hold: import-linter's contracts pass, and no module hides an
import inside a function unless it says why (a lazy load of a heavy module)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chartkeeper"

# The command line loads each command's module when that command runs, so `chartkeeper --help`
# imports none of them: lazy imports are that module's design.
LAZY_BY_DESIGN = {"cli.py"}
LAZY_MARK = "# lazy:"


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "lint-imports (import-linter, in the `test` extra) is not installed"
    return exe


def test_import_contracts_hold() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [_lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout, proc.stdout


def test_every_module_has_a_layer() -> None:
    # import-linter ignores a module no layer names: a new top-level module must be given its place.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    tops = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    tops |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert tops - named == set(), f"not in any layer of [tool.importlinter]: {sorted(tops - named)}"


def function_local_imports(source: str) -> list[tuple[int, str]]:
    """(line, text) of every import inside a function that lacks a `# lazy:` reason on its line."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    text = lines[sub.lineno - 1]
                    if LAZY_MARK not in text:
                        found.append((sub.lineno, text.strip()))
    return sorted(set(found))


def test_no_unexplained_function_local_imports() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in LAZY_BY_DESIGN:
            continue
        offenders += [f"chartkeeper/{rel}:{line}: {text}" for line, text in function_local_imports(path.read_text())]
    assert not offenders, "imports inside functions (move them to the top, or add `# lazy: <why>`):\n" + "\n".join(offenders)


def test_the_function_local_import_check_sees_them() -> None:
    # The check above passes vacuously if it finds nothing to look at: show it catches both forms.
    src = (
        "import os\n"
        "def f():\n"
        "    import json\n"
        "    from pathlib import Path\n"
        "    import helm_python  # lazy: heavy native library\n"
        "    class C:\n"
        "        def m(self):\n"
        "            import re\n"
    )
    assert function_local_imports(src) == [(3, "import json"), (4, "from pathlib import Path"), (8, "import re")]


def test_the_contracts_reject_an_upward_import(tmp_path: Path) -> None:
    # A copy of the package where a foundation imports a feature must break the layers contract.
    copy = tmp_path / "chartkeeper"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    findings = copy / "findings.py"
    findings.write_text(findings.read_text() + "\nfrom chartkeeper.lint import lint as _upward  # noqa\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run(
        [_lint_imports(), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0, proc.stdout
    assert "chartkeeper.findings -> chartkeeper.lint" in proc.stdout, proc.stdout


def test_no_tracked_symlink_points_outside_the_repository() -> None:
    """A symlink to a folder of one machine (a developer's `.tools` linked to another checkout) is a
    machine path in the repository, and checked out over that folder it replaces what it pointed at."""
    listing = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t", 1)[1] for line in listing.splitlines() if line.startswith("120000 ")]
    outside = []
    for rel in links:
        target = os.readlink(ROOT / rel) if (ROOT / rel).is_symlink() else ""
        if os.path.isabs(target) or not (ROOT / rel).resolve().is_relative_to(ROOT):
            outside.append(f"{rel} -> {target}")
    assert not outside, outside
