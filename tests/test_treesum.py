from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from chartkeeper.vendoring.treesum import (
    checksum_of_manifest,
    diff_tree,
    parse_manifest,
    read_manifest,
    render_manifest,
    tree_checksum,
    tree_manifest,
    write_manifest,
)
from tests.support.charts import write_chart


def _chart(tmp_path: Path) -> Path:
    return write_chart(tmp_path, "demo", "1.0.0", templates={"cm.yaml": "kind: ConfigMap\n"}, files={"files/a b.txt": "x"})


def test_checksum_ignores_mtime_owner_and_location(tmp_path: Path) -> None:
    a = _chart(tmp_path / "a")
    first = tree_checksum(a)
    assert first.startswith("sha256:") and len(first) == 71
    os.utime(a / "values.yaml", (1, 1))
    os.chmod(a / "values.yaml", 0o600)  # only the exec bit counts
    b = tmp_path / "elsewhere" / "copy"
    shutil.copytree(a, b)
    assert tree_checksum(a) == first == tree_checksum(b)


def test_checksum_sees_content_exec_bit_names_and_links(tmp_path: Path) -> None:
    a = _chart(tmp_path / "a")
    base = tree_checksum(a)
    (a / "values.yaml").write_text((a / "values.yaml").read_text() + " ")
    assert tree_checksum(a) != base
    a2 = _chart(tmp_path / "b")
    os.chmod(a2 / "values.yaml", 0o755)
    assert tree_checksum(a2) != base
    a3 = _chart(tmp_path / "c")
    os.symlink("values.yaml", a3 / "link")
    with_link = tree_checksum(a3)
    os.unlink(a3 / "link")
    os.symlink("Chart.yaml", a3 / "link")
    assert tree_checksum(a3) != with_link != base


def test_checksum_is_the_same_in_another_process(tmp_path: Path) -> None:
    a = _chart(tmp_path / "a")
    code = "import sys; from pathlib import Path; from chartkeeper.vendoring.treesum import tree_checksum; print(tree_checksum(Path(sys.argv[1])))"
    out = subprocess.run([sys.executable, "-c", code, str(a)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert out == tree_checksum(a)


def test_manifest_roundtrip_and_drift(tmp_path: Path) -> None:
    a = _chart(tmp_path / "a")
    (a / "odd\nname\\x").write_text("weird")
    m = tree_manifest(a)
    assert parse_manifest(render_manifest(m)) == m
    write_manifest(tmp_path, "demo", m)
    assert read_manifest(tmp_path, "demo", checksum_of_manifest(m)) == m
    assert read_manifest(tmp_path, "demo", "sha256:" + "0" * 64) is None  # stale manifests are not trusted
    (a / "templates" / "cm.yaml").write_text("kind: ConfigMaq\n")
    (a / "templates" / "new.yaml").write_text("")
    (a / "files" / "a b.txt").unlink()
    d = diff_tree(a, m)
    assert d.modified == ("templates/cm.yaml",)
    assert d.added == ("templates/new.yaml",)
    assert d.removed == ("files/a b.txt",)
    assert not d.clean
