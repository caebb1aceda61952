"""Hostile and honest chart archives through safe_extract: refused precisely, nothing left behind."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from chartkeeper.errors import IntegrityError
from chartkeeper.vendoring.unpack import ExtractLimits, safe_extract
from tests.support.charts import package_chart, raw_archive, write_chart

CHART_YAML = b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    ti.size = size
    ti.mode = mode
    return ti


def _write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "in" / "demo-1.0.0.tgz"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _assert_nothing_written(parent: Path) -> None:
    assert sorted(os.listdir(parent)) == [], os.listdir(parent)


def test_honest_chart_unpacks_with_normalised_modes(tmp_path: Path) -> None:
    src = write_chart(tmp_path / "src", "demo", "1.0.0", templates={"cm.yaml": "kind: ConfigMap\n"})
    (src / "run.sh").write_text("#!/bin/sh\n")
    tgz = package_chart(src, tmp_path / "pkg")
    # package_chart writes 0644 everywhere; add an executable member to check the exec bit survives.
    data = raw_archive([("demo/Chart.yaml", CHART_YAML), ("demo/templates/cm.yaml", b"kind: ConfigMap\n")])
    out = tmp_path / "out"
    out.mkdir()
    dest = safe_extract(tgz, out / "demo-1.0.0", "demo")
    assert (dest / "Chart.yaml").is_file()
    assert (dest / "templates" / "cm.yaml").read_text() == "kind: ConfigMap\n"
    assert stat.S_IMODE((dest / "templates").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "values.yaml").stat().st_mode) == 0o644
    assert sorted(os.listdir(out)) == ["demo-1.0.0"]
    assert data  # raw_archive builds


def test_exec_bit_kept_other_bits_dropped(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data, mode in [("demo/Chart.yaml", CHART_YAML, 0o666), ("demo/hook.sh", b"#!/bin/sh\n", 0o4777)]:
            ti = _info(name, size=len(data), mode=mode)
            tar.addfile(ti, io.BytesIO(data))
    tgz = _write(tmp_path, buf.getvalue())
    dest = safe_extract(tgz, tmp_path / "demo", "demo")
    assert stat.S_IMODE((dest / "Chart.yaml").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "hook.sh").stat().st_mode) == 0o755


@pytest.mark.parametrize(
    "members,needle",
    [
        ([("demo/Chart.yaml", CHART_YAML), ("demo/../../evil.txt", b"x")], "'demo/../../evil.txt'"),
        ([("demo/Chart.yaml", CHART_YAML), ("/etc/evil.txt", b"x")], "absolute path"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/templates/passwd", tarfile.SYMTYPE, linkname="/etc/passwd")], "'demo/templates/passwd'"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/etc", tarfile.SYMTYPE, linkname="../../../etc")], "outside the chart"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/link", tarfile.LNKTYPE, linkname="/etc/shadow")], "hard link"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/null", tarfile.CHRTYPE)], "device file"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/disk", tarfile.BLKTYPE)], "device file"),
        ([("demo/Chart.yaml", CHART_YAML), _info("demo/pipe", tarfile.FIFOTYPE)], "FIFO"),
        ([("demo/Chart.yaml", CHART_YAML), ("demo/templates/A.yaml", b"a"), ("demo/templates/a.yaml", b"b")], "case is folded"),
        ([("demo/Chart.yaml", CHART_YAML), ("demo/Templates/x.yaml", b"a"), ("demo/templates/y.yaml", b"b")], "case is folded"),
        ([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", b"a"), ("demo/values.yaml", b"b")], "appears twice"),
        ([("demo/Chart.yaml", CHART_YAML), ("other/values.yaml", b"a")], "top folder"),
        ([("evil/Chart.yaml", CHART_YAML)], "top folder"),
        ([("demo/Chart.yaml", b"apiVersion: v2\nname: other\nversion: 1.0.0\n")], "names the chart 'other'"),
        ([("demo/values.yaml", b"a: 1\n")], "no demo/Chart.yaml"),
        (
            [("demo/Chart.yaml", CHART_YAML), _info("demo/sub", tarfile.SYMTYPE, linkname="templates"), ("demo/sub/x.yaml", b"x")],
            "written through",
        ),
        ([("demo/Chart.yaml", CHART_YAML), ("demo/a\\..\\..\\x", b"x")], "backslash"),
        (
            [("demo/Chart.yaml", CHART_YAML), _info("demo/d/self", tarfile.SYMTYPE, linkname=".."),
             _info("demo/escape", tarfile.SYMTYPE, linkname="d/self/..")],
            "symlink to",
        ),
    ],
    ids=["dotdot", "absolute", "symlink-etc", "symlink-up", "hardlink", "chardev", "blockdev", "fifo",
         "casefold", "casefold-dir", "duplicate", "second-top", "wrong-top", "wrong-name", "no-chart-yaml",
         "through-symlink", "backslash", "symlink-chain"],
)
def test_hostile_archives_are_refused_and_leave_nothing(tmp_path: Path, members: list, needle: str) -> None:
    tgz = _write(tmp_path, raw_archive(members))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError) as exc:
        safe_extract(tgz, out / "demo", "demo")
    assert needle in str(exc.value)
    assert str(exc.value).startswith("demo-1.0.0.tgz: ")
    _assert_nothing_written(out)
    assert not (tmp_path / "evil.txt").exists()


def test_internal_symlink_is_kept(tmp_path: Path) -> None:
    tgz = _write(tmp_path, raw_archive([("demo/Chart.yaml", CHART_YAML), ("demo/files/a.txt", b"a"),
                                        _info("demo/templates/a.txt", tarfile.SYMTYPE, linkname="../files/a.txt")]))
    dest = safe_extract(tgz, tmp_path / "demo", "demo")
    assert os.readlink(dest / "templates" / "a.txt") == "../files/a.txt"


def _bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        tar.addfile(_info("demo/Chart.yaml", size=len(CHART_YAML)), io.BytesIO(CHART_YAML))
        ti = _info("demo/templates/zeros.yaml", size=size)

        class Zeros(io.RawIOBase):
            left = size

            def read(self, n: int = -1) -> bytes:
                n = min(n if n >= 0 else self.left, self.left)
                self.left -= n
                return b"\0" * n

        tar.addfile(ti, Zeros())
    return buf.getvalue()


def test_decompression_bomb_is_refused_while_streaming(tmp_path: Path) -> None:
    data = _bomb(64 << 20)  # 64 MiB of zeros gzip to ~64 KiB
    assert len(data) < 200_000
    tgz = _write(tmp_path, data)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError) as exc:
        safe_extract(tgz, out / "demo", "demo", ExtractLimits(max_bytes=1 << 30, ratio_floor=1 << 20))
    assert "compression ratio" in str(exc.value) and "demo/templates/zeros.yaml" in str(exc.value)
    _assert_nothing_written(out)


def test_size_limit_is_checked_on_bytes_not_headers(tmp_path: Path) -> None:
    tgz = _write(tmp_path, _bomb(8 << 20))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError) as exc:
        safe_extract(tgz, out / "demo", "demo", ExtractLimits(max_bytes=4 << 20, max_ratio=1e9))
    assert "limit" in str(exc.value)
    _assert_nothing_written(out)


def test_file_count_limit(tmp_path: Path) -> None:
    members = [("demo/Chart.yaml", CHART_YAML)] + [(f"demo/templates/t{i}.yaml", b"x") for i in range(20)]
    tgz = _write(tmp_path, raw_archive(members))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError) as exc:
        safe_extract(tgz, out / "demo", "demo", ExtractLimits(max_files=10))
    assert "more than 10 members" in str(exc.value)
    _assert_nothing_written(out)


def test_not_an_archive(tmp_path: Path) -> None:
    tgz = _write(tmp_path, b"<html>404</html>")
    with pytest.raises(IntegrityError, match="not a gzip-compressed chart archive"):
        safe_extract(tgz, tmp_path / "demo", "demo")
    truncated = _write(tmp_path, raw_archive([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", b"a" * 5000)])[:60])
    with pytest.raises(IntegrityError):
        safe_extract(truncated, tmp_path / "demo", "demo")
    assert not (tmp_path / "demo").exists()


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTKEEPER_MAX_CHART_FILES", "7")
    assert ExtractLimits.from_settings().max_files == 7
