from pathlib import Path

import pytest

from chartkeeper.errors import InputError
from chartkeeper.lockfile import LockEntry, load_lock, parse_lock, render_lock, write_lock

GOOD = """# Pinned external charts. Edit with chartkeeper.
# Second comment line.

version: 1
charts:
  - name: gpu-operator
    repository: https://helm.ngc.nvidia.com/nvidia
    version: v25.3.2
    constraint: v25.x
  - name: csi-driver-nfs
    repository: https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts
    version: v4.9.0
    digest: sha256:%s
""" % ("a" * 64)


def test_roundtrip_is_stable_and_keeps_header(tmp_path: Path) -> None:
    p = tmp_path / "versions.lock"
    p.write_text(GOOD)
    lock = load_lock(p)
    assert [e.name for e in lock.entries] == ["gpu-operator", "csi-driver-nfs"]
    assert lock.require("gpu-operator").chart == "gpu-operator"
    write_lock(lock)
    first = p.read_bytes()
    assert first.startswith(b"# Pinned external charts. Edit with chartkeeper.\n# Second comment line.\n")
    write_lock(load_lock(p))
    assert p.read_bytes() == first
    text = first.decode()
    assert text.index("name: csi-driver-nfs") < text.index("name: gpu-operator")  # sorted


@pytest.mark.parametrize(
    "mutation,message",
    [
        (("version: v4.9.0", 'version: "25.3"'), 'charts[1].version: "25.3" is not a valid chart version'),
        (("version: v4.9.0", "version: 4.10"), "charts[1].version: 4.1 must be quoted"),
        (("constraint: v25.x", "constraint: '>>1'"), "charts[0].constraint"),
        (("digest: sha256:", "digest: md5:"), "charts[1].digest"),
        (("    version: v25.3.2\n", "    version: v25.3.2\n    colour: blue\n"), "charts[0]: unknown field(s) colour"),
        (("  - name: csi-driver-nfs", "  - name: gpu-operator"), "pinned twice"),
        (("version: 1\n", "version: 7\n"), "lock schema"),
        (("    repository: https://helm.ngc.nvidia.com/nvidia\n", ""), "charts[0].repository: is required"),
    ],
)
def test_invalid_fields_are_named(mutation: tuple[str, str], message: str) -> None:
    old, new = mutation
    assert old in GOOD
    with pytest.raises(InputError) as err:
        parse_lock(GOOD.replace(old, new, 1))
    assert message in str(err.value)
    assert str(err.value).startswith("versions.lock: ")


def test_malformed_yaml_names_line() -> None:
    with pytest.raises(InputError, match=r"versions.lock: line \d+: invalid YAML"):
        parse_lock("charts:\n  - name: [unclosed\n")


def test_write_is_atomic_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "versions.lock"
    p.write_text(GOOD)
    before = p.read_bytes()
    lock = load_lock(p)
    bad = lock.upsert(LockEntry(name="x", chart="x", repository="r", version="not-a-version"))
    with pytest.raises(InputError):
        write_lock(bad)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["versions.lock"]


def test_render_quotes_ambiguous_scalars() -> None:
    lock = parse_lock(GOOD).upsert(LockEntry(name="n", chart="n", repository="file://./bundle", version="1.10.0", app_version="1.10"))
    again = parse_lock(render_lock(lock))
    assert again.require("n").app_version == "1.10"
    assert again.require("n").version == "1.10.0"
