"""Provenance: a `.prov` published next to the archive must verify against the configured keyring."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from chartkeeper.lockfile import load_lock
from tests.support.charts import build_index, package_chart, write_chart
from tests.support.harness import assert_clean_failure, invoke_cli, leftovers, tree_state
from tests.support.httpserver import ChartRepoServer

EXT = Path("helmfile/charts/external")


def _keyring(home: Path, uid: str) -> tuple[Path, Path]:
    home.mkdir(mode=0o700, parents=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    # RSA: Helm's OpenPGP library reads no EdDSA keys
    subprocess.run(gpg + ["--quick-generate-key", uid, "rsa2048", "sign", "never"], env=env, check=True, capture_output=True)
    pub, sec = home / "pub.gpg", home / "sec.gpg"
    pub.write_bytes(subprocess.run(["gpg", "--batch", "--export"], env=env, check=True, capture_output=True).stdout)
    sec.write_bytes(subprocess.run(gpg + ["--export-secret-keys"], env=env, check=True, capture_output=True).stdout)
    return pub, sec


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is needed to make test keys")
    base = tmp_path_factory.mktemp("gpg")
    return {"trusted": _keyring(base / "a", "Chart Signer <signer@example.invalid>"),
            "other": _keyring(base / "b", "Someone Else <else@example.invalid>")}


def test_signed_archive_verifies_and_a_foreign_signature_is_refused(repo_server: ChartRepoServer, tmp_path: Path, keys) -> None:
    import helm_python

    for name in ("good", "forged", "unsigned"):
        src = write_chart(tmp_path / "src", name, "1.0.0")
        package_chart(src, repo_server.root)
    helm_python.sign(str(repo_server.root / "good-1.0.0.tgz"), key="Chart Signer", keyring=str(keys["trusted"][1]))
    helm_python.sign(str(repo_server.root / "forged-1.0.0.tgz"), key="Someone Else", keyring=str(keys["other"][1]))
    build_index(repo_server.root)
    root = tmp_path / "deploy"
    (root / EXT).mkdir(parents=True)
    (root / "chartkeeper.yaml").write_text(f"keyring: {keys['trusted'][0]}\n")

    proc = invoke_cli(["add", "good", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "/good-1.0.0.tgz.prov" in repo_server.paths_requested()

    before = tree_state(root)
    proc = invoke_cli(["add", "forged", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root)
    assert_clean_failure(proc, "forged: forged 1.0.0: provenance does not verify")
    assert tree_state(root) == before and leftovers(root) == []

    proc = invoke_cli(["add", "unsigned", "--repo", repo_server.url, "--version", "1.0.0"], cwd=root)
    assert proc.returncode == 0 and "has no .prov file; provenance not checked" in proc.stderr
    assert {e.name for e in load_lock(root / EXT / "versions.lock").entries} == {"good", "unsigned"}
