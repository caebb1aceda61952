"""Hostile chart archives, published with a correct digest, through the real CLI.

The digest matches (the repository is the attacker), so safe extraction is the only gate.
`add` and `sync` must refuse each archive with one error line naming the archive and the
offending member, exit 2, write nothing into the deployment (no folder, no lock change, no
staging leftovers), and never touch anything outside it (the traversal targets stay absent)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.support.charts import FIXED_MTIME, raw_archive
from tests.support.harness import assert_clean_failure, invoke_cli, leftovers, user_state
from tests.support.httpserver import ChartRepoServer

pytestmark = pytest.mark.reliability

CHART_YAML = b"apiVersion: v2\nname: demo\nversion: 1.0.0\n"
MiB = 1 << 20


def _info(name: str, kind: bytes = tarfile.REGTYPE, *, linkname: str = "", size: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    ti.size = size
    ti.mtime = FIXED_MTIME
    ti.mode = 0o644
    return ti


def _stream_archive(members: list[tuple[str, int, bytes]]) -> bytes:
    """A .tgz whose members are `size` bytes of a repeated pattern, written without holding them in memory."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=FIXED_MTIME, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            tar.addfile(_info("demo/Chart.yaml", size=len(CHART_YAML)), io.BytesIO(CHART_YAML))
            for name, size, pattern in members:

                class _Reader(io.RawIOBase):
                    left = size

                    def readable(self) -> bool:
                        return True

                    def readinto(self, b) -> int:  # type: ignore[no-untyped-def, override]
                        n = min(len(b), self.left)
                        chunk = (pattern * (n // len(pattern) + 1))[:n]
                        b[:n] = chunk
                        self.left -= n
                        return n

                tar.addfile(_info(name, size=size), io.BufferedReader(_Reader()))
    return buf.getvalue()


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _lie_about_size() -> bytes:
    """A member whose header claims a terabyte (the bytes are not there)."""
    raw = bytearray(raw_archive([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", b"a: 1\n")]))
    tar = bytearray(gzip.decompress(bytes(raw)))
    # second header block starts after Chart.yaml's header (512) and its padded data (512)
    hdr = 1024
    size_field = f"{1 << 40:011o}\0".encode()
    tar[hdr + 124 : hdr + 136] = size_field
    tar[hdr + 148 : hdr + 156] = b"        "
    chk = sum(tar[hdr : hdr + 512])
    tar[hdr + 148 : hdr + 156] = f"{chk:06o}\0 ".encode()
    return gzip.compress(bytes(tar), mtime=FIXED_MTIME)


HOSTILE: dict[str, tuple[object, str]] = {
    # kind: (members or a builder, what the error must name)
    "path traversal": ([("demo/Chart.yaml", CHART_YAML), ("demo/../../../escaped.txt", b"pwned")], "escaped.txt"),
    "absolute path": ([("demo/Chart.yaml", CHART_YAML), ("/tmp/ck-absolute-escaped.txt", b"pwned")], "absolute"),
    "symlink leaving the chart": ([("demo/Chart.yaml", CHART_YAML), _info("demo/templates/x", tarfile.SYMTYPE, linkname="/etc/passwd")], "symlink"),
    "symlink up and out": ([("demo/Chart.yaml", CHART_YAML), _info("demo/up", tarfile.SYMTYPE, linkname="../../..")], "symlink"),
    "write through a symlink": ([("demo/Chart.yaml", CHART_YAML), _info("demo/t", tarfile.SYMTYPE, linkname="templates"), ("demo/t/x.yaml", b"x")], "through"),
    "symlink chain escaping": ([("demo/Chart.yaml", CHART_YAML), _info("demo/d/self", tarfile.SYMTYPE, linkname=".."), _info("demo/out", tarfile.SYMTYPE, linkname="d/self/..")], "symlink"),
    "hard link to /etc/shadow": ([("demo/Chart.yaml", CHART_YAML), _info("demo/shadow", tarfile.LNKTYPE, linkname="/etc/shadow")], "hard link"),
    "hard link inside the chart": ([("demo/Chart.yaml", CHART_YAML), _info("demo/copy", tarfile.LNKTYPE, linkname="demo/Chart.yaml")], "hard link"),
    "character device": ([("demo/Chart.yaml", CHART_YAML), _info("demo/null", tarfile.CHRTYPE)], "device"),
    "block device": ([("demo/Chart.yaml", CHART_YAML), _info("demo/sda", tarfile.BLKTYPE)], "device"),
    "fifo": ([("demo/Chart.yaml", CHART_YAML), _info("demo/pipe", tarfile.FIFOTYPE)], "fifo"),
    "case-fold collision": ([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", b"a: 1\n"), ("demo/Values.yaml", b"a: 2\n")], "case"),
    "member listed twice": ([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", b"a: 1\n"), ("demo/values.yaml", b"a: 2\n")], "twice"),
    "second top folder": ([("demo/Chart.yaml", CHART_YAML), ("evil/x.yaml", b"x")], "top folder"),
    "Chart.yaml names another chart": ([("demo/Chart.yaml", b"apiVersion: v2\nname: evil\nversion: 1.0.0\n")], "evil"),
    "no Chart.yaml": ([("demo/values.yaml", b"a: 1\n")], "Chart.yaml"),
    "Chart.yaml with a python tag": ([("demo/Chart.yaml", b"apiVersion: v2\nname: !!python/object/apply:os.system ['touch /tmp/ck-pwned']\nversion: 1.0.0\n")], "Chart.yaml"),
    "Chart.yaml alias bomb": ([("demo/Chart.yaml", b"apiVersion: v2\nname: demo\nversion: 1.0.0\n" + b"".join(
        (f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else "x"] * 12) + "]\n").encode() for i in range(9)))], "alias"),
    "Chart.yaml not a mapping": ([("demo/Chart.yaml", b"- just\n- a list\n")], "Chart.yaml"),
    "not gzip": (lambda: b"PK\x03\x04 this is a zip, not a chart", "gzip"),
    "truncated gzip": (lambda: _cut(raw_archive([("demo/Chart.yaml", CHART_YAML), ("demo/values.yaml", os.urandom(20000).hex().encode())])), "archive"),
    "header claims a terabyte": (_lie_about_size, "demo/values.yaml"),
    "compression bomb (ratio)": (lambda: _stream_archive([("demo/zeros.bin", 40 * MiB, b"\0")]), "ratio"),
    "gigantic member (size limit)": (lambda: _stream_archive([("demo/big.bin", 6 * MiB, os.urandom(4096))]), "limit"),
}

# The size limit is a setting (extractLimits in chartkeeper.yaml); the suite lowers it so the
# gigantic member stays cheap to build. The ratio bomb runs under the default limits.
ENV = {"CHARTKEEPER_MAX_CHART_BYTES": str(4 * MiB)}


def _publish(root: Path, data: bytes) -> None:
    (root / "demo-1.0.0.tgz").write_bytes(data)
    index = {"apiVersion": "v1", "generated": "2025-09-03T10:00:00Z", "entries": {"demo": [{
        "apiVersion": "v2", "name": "demo", "version": "1.0.0", "created": "2025-09-03T10:00:00Z",
        "digest": hashlib.sha256(data).hexdigest(), "urls": ["demo-1.0.0.tgz"]}]}}
    (root / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=False))


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("cmd", ["add", "sync"])
def test_hostile_archive_is_refused_and_nothing_is_written(kind: str, cmd: str, tmp_path: Path, reliability) -> None:
    spec, needle = HOSTILE[kind]
    data = spec() if callable(spec) else raw_archive(spec)  # type: ignore[arg-type, operator]
    repo = tmp_path / "repo"
    repo.mkdir()
    _publish(repo, data)
    deploy = tmp_path / "deploy" / "a" / "b"  # deep, so '../../..' has somewhere to land inside tmp_path
    deploy.mkdir(parents=True)
    (tmp_path / "cache").mkdir()
    env = {**(ENV if "size limit" in kind else {}), "CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache")}
    with ChartRepoServer(repo) as server:
        if cmd == "sync":
            lock = deploy / "helmfile/charts/external/versions.lock"
            lock.parent.mkdir(parents=True)
            lock.write_text(
                "version: 1\ncharts:\n  - name: demo\n    chart: demo\n"
                f"    repository: {server.url}\n    version: \"1.0.0\"\n"
                f"    digest: sha256:{hashlib.sha256(data).hexdigest()}\n"
            )
        before = user_state(tmp_path / "deploy")
        outside = sorted(p.name for p in tmp_path.iterdir())
        with reliability.case("hostile", f"archive: {kind} ({cmd})"):
            argv = ["add", "demo", "--repo", server.url, "--version", "1.0.0"] if cmd == "add" else ["sync"]
            proc = invoke_cli(argv, cwd=deploy, env=env)
            line = assert_clean_failure(proc, needle)
            assert "demo" in line
            assert user_state(tmp_path / "deploy") == before
            assert leftovers(tmp_path / "deploy") == []
            assert sorted(p.name for p in tmp_path.iterdir()) == outside  # nothing escaped next to it
            assert not Path("/tmp/ck-absolute-escaped.txt").exists() and not Path("/tmp/ck-pwned").exists()
