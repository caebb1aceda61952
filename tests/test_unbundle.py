"""`bundle --images` and `unbundle` across two real registries: the suite's docker-registry is upstream (read
through an `images.pullFrom` cache name, as a Harbor proxy would be), a second docker-registry with an access
log is the site. Images are built here: small random layers, a two-platform index, an image two releases
share, an index pinned by digest. The bundle's layout is read back by skopeo, an independent OCI reader."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from chartkeeper.lockfile import load_lock, write_lock
from chartkeeper.settings import Settings
from chartkeeper.sources.distribution import ImageRegistry
from tests.support.charts import write_chart, write_tree
from tests.support.deployment import git, make_deployment, publish
from tests.support.harness import invoke_cli
from tests.support.oci import OCI_MANIFEST_MEDIA, Registry, RegistryFront

pytestmark = pytest.mark.oci

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
UPSTREAM_HOST = "registry.example"  # what the charts name; only reachable through pullFrom
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
{{- range $i, $img := .Values.images }}
        - name: c{{ $i }}
          image: {{ $img | quote }}
{{- end }}
"""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put_manifest(reg: Registry, repo: str, ref: str, doc: dict, media: str) -> tuple[str, int]:
    body = json.dumps(doc, separators=(",", ":")).encode()
    status, _, resp = reg.request("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": media})
    assert status == 201, resp
    return _digest(body), len(body)


def _image(reg: Registry, repo: str, layers: list[bytes], arch: str = "amd64", tag: str | None = None) -> tuple[str, int]:
    """An image manifest (config + gzip layers) pushed by digest (and under `tag`)."""
    blobs = [gzip.compress(layer, mtime=0) for layer in layers]
    config = json.dumps({"architecture": arch, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [_digest(layer) for layer in layers]}}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": reg.push_blob(repo, config),
                      "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": reg.push_blob(repo, b),
                       "size": len(b)} for b in blobs]}
    digest, size = _put_manifest(reg, repo, tag or _digest(json.dumps(doc, separators=(",", ":")).encode()), doc,
                                 OCI_MANIFEST_MEDIA)
    return digest, size


def _index(reg: Registry, repo: str, tag: str, base: bytes) -> tuple[str, dict[str, str]]:
    """A two-platform index under `tag`; its digest and each platform's manifest digest."""
    children, by_arch = [], {}
    for arch in ("amd64", "arm64"):
        d, size = _image(reg, repo, [base, os.urandom(24_000)], arch)
        by_arch[arch] = d
        children.append({"mediaType": OCI_MANIFEST_MEDIA, "digest": d, "size": size,
                         "platform": {"architecture": arch, "os": "linux"}})
    digest, _ = _put_manifest(reg, repo, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}, OCI_INDEX)
    return digest, by_arch


def _head(reg: Registry, path: str) -> tuple[int, str | None]:
    status, headers, _ = reg.request("HEAD", path, headers={"Accept": f"{OCI_INDEX}, {OCI_MANIFEST_MEDIA}"})
    return status, headers.get("docker-content-digest")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    with Registry(tmp_path_factory.mktemp("site-registry"), access_log=True) as registry:
        yield registry


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, oci_registry: Registry):
    """Upstream images, a deployment on git (main: web + worker; branch `bump`: worker gains two images), and
    the bundles made from it, all once for the module."""
    up = oci_registry
    cache = "cache" + uuid.uuid4().hex[:8]  # the pullFrom cache's project on the upstream registry
    base = os.urandom(40_000)  # a layer every image shares: stored once in the bundle
    app, _ = _image(up, f"{cache}/ns/app", [base, os.urandom(30_000)], tag="1.0")
    multi, multi_arch = _index(up, f"{cache}/ns/multi", "2.0", base)
    pinned, pinned_arch = _index(up, f"{cache}/ns/pinned", "3.0", base)
    extra, _ = _image(up, f"{cache}/ns/extra", [os.urandom(20_000)], tag="4.0")
    refs = {"app": f"{UPSTREAM_HOST}/ns/app:1.0", "multi": f"{UPSTREAM_HOST}/ns/multi:2.0",
            "pinned": f"{UPSTREAM_HOST}/ns/pinned:3.0@{pinned}", "extra": f"{UPSTREAM_HOST}/ns/extra:4.0"}

    root = tmp_path_factory.mktemp("deploy")
    hf = root / "helmfile"
    write_tree(root, {
        "chartkeeper.yaml": f"timeout: 5\nretries: 1\nimages:\n  pullFrom:\n    {UPSTREAM_HOST}: {up.host}/{cache}\n",
        "helmfile/helmfile.yaml": ("releases:\n"
                                   "  - {name: web, namespace: web, chart: ./charts/app, values: [values/web.yaml]}\n"
                                   "  - {name: worker, namespace: web, chart: ./charts/app, values: [values/worker.yaml]}\n"),
        "helmfile/values/web.yaml": f"images: [{refs['app']}, {refs['multi']}]\n",
        "helmfile/values/worker.yaml": f"images: [{refs['app']}]\n",  # the image both releases pull
    })
    write_chart(hf / "charts", "app", "0.1.0", templates={"deploy.yaml": TEMPLATE}, folder="app", values={"images": []})
    lock_file = hf / "charts" / "external" / "versions.lock"
    lock_file.parent.mkdir(parents=True)
    write_lock(load_lock(lock_file, missing_ok=True), lock_file)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "deployment")
    git(root, "switch", "-q", "-c", "bump")
    (hf / "values" / "worker.yaml").write_text(f"images: [{refs['app']}, {refs['pinned']}, {refs['extra']}]\n")
    git(root, "commit", "-q", "-am", "worker: pinned and extra")

    out = tmp_path_factory.mktemp("bundles")
    delta = invoke_cli(["-C", str(root), "bundle", str(out / "delta.tgz"), "--images", "--since", "main", "--json"], cwd=root)
    assert delta.returncode == 0, delta.stderr
    full = invoke_cli(["-C", str(root), "bundle", str(out / "full.tgz"), "--images", "--json"], cwd=root)
    assert full.returncode == 0, full.stderr
    return {"root": root, "refs": refs, "out": out, "delta": json.loads(delta.stdout), "full": json.loads(full.stdout),
            "digests": {"app": app, "multi": multi, "multi_amd64": multi_arch["amd64"], "pinned": pinned,
                        "pinned_arm64": pinned_arch["arm64"], "extra": extra}}


def _unpack(bundle: Path, dest: Path) -> Path:
    with tarfile.open(bundle) as tar:
        tar.extractall(dest, filter="data")
    return dest / "chartkeeper-bundle"


def test_since_carries_exactly_what_the_upgrade_adds(world: dict) -> None:
    refs = world["refs"]
    assert sorted(i["image"] for i in world["delta"]["images"]) == sorted([refs["pinned"], refs["extra"]])
    assert sorted(i["image"] for i in world["full"]["images"]) == sorted(refs.values())


def test_bundle_is_an_oci_layout_skopeo_reads(world: dict, tmp_path: Path) -> None:
    top = _unpack(world["out"] / "full.tgz", tmp_path)
    record = json.loads((top / "images.json").read_text())
    by = {i["image"]: i for i in record["images"]}
    d, refs = world["digests"], world["refs"]
    assert by[refs["app"]]["digest"] == d["app"]  # a single-platform manifest keeps its digest
    assert by[refs["multi"]]["digest"] == d["multi_amd64"] and by[refs["multi"]]["platforms"] == ["linux/amd64"]
    assert by[refs["pinned"]]["digest"] == d["pinned"] and by[refs["pinned"]]["wholeIndex"] is True
    assert by[refs["app"]]["pulledFrom"].endswith("/ns/app:1.0")
    assert (top / "images.txt").read_text().split() == sorted(refs.values())
    assert load_lock(top / "versions.lock").entries == ()
    # the shared base layer is stored once; the arm64 half of the pinned index is there, the multi one's is not
    blobs = {p.name for p in (top / "images" / "blobs" / "sha256").iterdir()}
    assert d["pinned_arm64"].split(":")[1] in blobs and d["multi"].split(":")[1] not in blobs

    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo (Debian) reads the layout back: apt-get install skopeo (scripts/test.sh does it)"
    for name in ("app", "multi", "extra"):
        got = subprocess.run([skopeo, "inspect", "--raw", f"oci:{top / 'images'}:{refs[name]}"], capture_output=True)
        assert got.returncode == 0, got.stderr.decode()
        assert _digest(got.stdout) == by[refs[name]]["digest"]
    # skopeo checks every layer's digest as it copies the image out of the layout
    copied = subprocess.run([skopeo, "copy", "--quiet", f"oci:{top / 'images'}:{refs['multi']}", f"dir:{tmp_path / 'copy'}"],
                            capture_output=True)
    assert copied.returncode == 0, copied.stderr.decode()


def test_every_platform_asked_for_keeps_the_index_as_published(world: dict, tmp_path: Path) -> None:
    root, refs = world["root"], world["refs"]
    proc = invoke_cli(["-C", str(root), "bundle", str(tmp_path / "all.tgz"), "--images", "--platform", "linux/amd64",
                       "--platform", "linux/arm64", "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    by = {i["image"]: i for i in json.loads(proc.stdout)["images"]}
    assert by[refs["multi"]]["digest"] == world["digests"]["multi"]
    assert by[refs["multi"]]["platforms"] == ["linux/amd64", "linux/arm64"]
    missing = invoke_cli(["-C", str(root), "bundle", str(tmp_path / "s390x.tgz"), "--images", "--platform", "linux/s390x"],
                         cwd=root)
    assert missing.returncode == 2 and "no linux/s390x" in missing.stderr and "linux/arm64" in missing.stderr
    assert not (tmp_path / "s390x.tgz").exists() and not list(tmp_path.glob(".chartkeeper-staging-*"))


def _site_config(root: Path, site: Registry, prefix: str) -> None:
    text = (root / "chartkeeper.yaml").read_text().split("  mirror:")[0]
    (root / "chartkeeper.yaml").write_text(text + f"  mirror: {site.host}/{prefix}\n")


def test_unbundle_pushes_every_image_with_its_digests(world: dict, site: Registry) -> None:
    root, refs, d = world["root"], world["refs"], world["digests"]
    prefix = "m" + uuid.uuid4().hex[:8]
    proc = invoke_cli(["-C", str(root), "unbundle", str(world["out"] / "full.tgz"), "--registry", f"{site.host}/{prefix}",
                       "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert all(i["present"] for i in data["images"]) and data["missing"] == []
    assert data["mounted"] >= 1  # the shared base layer is linked into the other repositories, not uploaded again

    def at_site(ref: str) -> str:
        return f"/v2/{prefix}/{ref.split('@')[0].rsplit(':', 1)[0]}/manifests/"

    assert _head(site, at_site(refs["app"]) + "1.0") == (200, d["app"])
    assert _head(site, at_site(refs["multi"]) + "2.0") == (200, d["multi_amd64"])
    assert _head(site, at_site(refs["pinned"]) + "3.0") == (200, d["pinned"])
    assert _head(site, at_site(refs["pinned"]) + d["pinned_arm64"])[0] == 200  # the whole pinned index
    # `images --check` with the site's mapping in chartkeeper.yaml: every image is there
    _site_config(root, site, prefix)
    check = invoke_cli(["-C", str(root), "images", "--check"], cwd=root)
    assert check.returncode == 0, check.stderr + check.stdout
    # a second run finds everything there and uploads nothing
    again = invoke_cli(["-C", str(root), "unbundle", str(world["out"] / "full.tgz"), "--json"], cwd=root)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["uploaded"] == 0


def _retar(src: Path, dest: Path, damage: str) -> None:
    """Copy a bundle, flipping one byte of the member whose name ends with `damage`."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
            if data is not None and m.name.endswith(damage):
                data = bytes([data[0] ^ 1]) + data[1:]
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


def test_a_tampered_blob_is_refused_before_anything_is_pushed(world: dict, site: Registry, tmp_path: Path) -> None:
    victim = world["digests"]["extra"]  # a manifest; a layer would do as well
    layer = json.loads(_unpack(world["out"] / "delta.tgz", tmp_path / "x").joinpath(
        "images", "blobs", "sha256", victim.split(":")[1]).read_text())["layers"][0]["digest"]
    bad = tmp_path / "bad.tgz"
    _retar(world["out"] / "delta.tgz", bad, layer.split(":")[1])
    prefix = "t" + uuid.uuid4().hex[:8]
    proc = invoke_cli(["-C", str(world["root"]), "unbundle", str(bad), "--registry", f"{site.host}/{prefix}"],
                      cwd=world["root"])
    assert proc.returncode == 2 and "damaged" in proc.stderr and layer in proc.stderr
    assert not [r for r in site.requests_logged() if f"/{prefix}/" in r[1]]  # not even a HEAD


def _uploads(site: Registry, prefix: str) -> list[str]:
    """Digests of the completed blob uploads into repositories under `prefix`."""
    return [path.split("digest=")[1].split("&")[0].replace("%3A", ":")
            for method, path, status in site.requests_logged()
            if method == "PUT" and f"/{prefix}/" in path and "digest=" in path and status == 201]


def test_a_killed_unbundle_resumes_without_pushing_a_blob_twice(world: dict, site: Registry) -> None:
    root = world["root"]
    prefix = "k" + uuid.uuid4().hex[:8]
    args = [sys.executable, "-m", "chartkeeper", "-C", str(root), "unbundle", str(world["out"] / "full.tgz"),
            "--registry", f"{site.host}/{prefix}"]
    proc = subprocess.Popen(args, cwd=root, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            env={**os.environ, "CHARTKEEPER_TEST_PAUSE_AT": "unbundle-blob-pushed"})
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if b"paused at unbundle-blob-pushed" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = _uploads(site, prefix)
    assert first  # killed after uploads started (the other uploads of that image may have finished too)
    rerun = invoke_cli(["-C", str(root), "unbundle", str(world["out"] / "full.tgz"), "--registry", f"{site.host}/{prefix}",
                        "--json"], cwd=root)
    assert rerun.returncode == 0, rerun.stderr
    every = _uploads(site, prefix)
    assert len(every) == len(set(every)) and set(first) < set(every)  # finished, and nothing uploaded twice
    assert json.loads(rerun.stdout)["alreadyPresent"] >= 1


def test_dry_run_pushes_nothing_and_bad_input_is_one_line(world: dict, site: Registry, tmp_path: Path) -> None:
    root = world["root"]
    prefix = "d" + uuid.uuid4().hex[:8]
    proc = invoke_cli(["-C", str(root), "unbundle", str(world["out"] / "delta.tgz"), "--registry", f"{site.host}/{prefix}",
                       "--dry-run", "--json"], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["toUpload"]) >= 3
    unpacked = _unpack(world["out"] / "delta.tgz", tmp_path / "unpacked")  # the folder the bundle was unpacked into
    same = invoke_cli(["-C", str(root), "unbundle", str(unpacked.parent), "--registry", f"{site.host}/{prefix}",
                       "--dry-run", "--json"], cwd=root)
    assert same.returncode == 0 and json.loads(same.stdout)["toUpload"] == json.loads(proc.stdout)["toUpload"]
    assert not [r for r in site.requests_logged() if f"/{prefix}/" in r[1] and r[0] in ("POST", "PUT")]
    for args, needle in ((["unbundle", str(tmp_path / "nope.tgz"), "--registry", site.host], "no such bundle"),
                         (["unbundle", str(world["out"] / "delta.tgz"), "--registry", "https://x"], "--registry"),
                         (["bundle", str(tmp_path / "b.tgz"), "--since", "main"], "--images"),
                         (["bundle", str(tmp_path / "b.tgz"), "--images", "--platform", "amd64"], "--platform")):
        bad = invoke_cli(["-C", str(root), *args], cwd=root)
        assert bad.returncode == 2 and needle in bad.stderr, bad.stderr
    # a mapping that places none of the images: refused, never pushed back to their upstream registry
    elsewhere = tmp_path / "elsewhere"
    write_tree(elsewhere, {"chartkeeper.yaml": f"images:\n  rewrite:\n    quay.io/x: {site.host}/x\n"})
    bad = invoke_cli(["-C", str(elsewhere), "unbundle", str(world["out"] / "delta.tgz")], cwd=elsewhere)
    assert bad.returncode == 2 and "no place on the site" in bad.stderr and UPSTREAM_HOST in bad.stderr, bad.stderr
    none = invoke_cli(["-C", str(tmp_path), "unbundle", str(world["out"] / "delta.tgz")], cwd=tmp_path)
    assert none.returncode == 2 and "--registry" in none.stderr


def test_the_image_client_uses_docker_logins_and_anonymous_tokens(oci_registry: Registry, oci_registry_auth: Registry,
                                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(root=tmp_path, timeout=5, retries=0, cache_dir=tmp_path / "cache")
    repo = "c" + uuid.uuid4().hex[:8] + "/app"
    layer = os.urandom(5_000)
    # a registry that wants basic credentials: found in Docker's config.json (what `docker login` writes)
    user, password = oci_registry_auth.auth  # type: ignore[misc]
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps(
        {"auths": {oci_registry_auth.host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    secure = ImageRegistry(oci_registry_auth.host, settings)
    with open(tmp_path / "blob", "w+b") as fh:
        fh.write(layer)
        assert secure.push_blob(repo, _digest(layer), fh) is False and secure.has_blob(repo, _digest(layer))
    # a registry behind an anonymous bearer-token realm (Docker Hub, GHCR): the token dance, then the bytes
    digest, _ = _image(oci_registry, repo, [layer], tag="1.0")
    with RegistryFront(oci_registry) as front:
        public = ImageRegistry(front.host, settings)
        manifest = public.manifest(repo, "1.0")
        assert manifest is not None and manifest.digest == digest
        blob = json.loads(manifest.data)["layers"][0]["digest"]
        with open(tmp_path / "got", "w+b") as fh:
            assert public.blob_into(repo, blob, fh) == blob
        assert any(p.startswith("/token") for _, p, _ in front.requests)


def test_the_bundle_command_bump_prints_carries_what_the_upgrade_adds(oci_registry: Registry, repo_server,
                                                                      tmp_path: Path) -> None:
    cache = "cache" + uuid.uuid4().hex[:8]
    sidecar = f"{UPSTREAM_HOST}/ns/sidecar:5.0"  # what version 1.1.0 of the chart adds
    digest, _ = _image(oci_registry, f"{cache}/ns/sidecar", [os.urandom(10_000)], tag="5.0")
    old_image = f"{UPSTREAM_HOST}/ns/app:1.0"  # never pulled: the base already had it
    publish(repo_server.root, [
        write_chart(tmp_path / "src" / v, "web", v, templates={"deploy.yaml": TEMPLATE}, values={"images": images})
        for v, images in (("1.0.0", [old_image]), ("1.1.0", [old_image, sidecar]))])
    root = make_deployment(tmp_path / "deploy", repo_server.url, {"web": "1.0.0"})
    (root / "chartkeeper.yaml").write_text(f"timeout: 5\nretries: 1\nimages:\n  pullFrom:\n    {UPSTREAM_HOST}: "
                                           f"{oci_registry.host}/{cache}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pull through the cache")
    bumped = invoke_cli(["-C", str(root), "bump", "web", "--json"], cwd=root, env={"CHARTKEEPER_HELMFILE": "none"})
    assert bumped.returncode == 0, bumped.stderr
    steps = json.loads(bumped.stdout)["nextSteps"]
    switch, bundle = steps[0], next(s for s in steps if s.startswith("chartkeeper bundle "))
    assert bundle == "chartkeeper bundle web-1.1.0.tgz --images --since main"
    git(root, *shlex.split(switch)[1:])
    made = invoke_cli(["-C", str(root), *shlex.split(bundle)[1:], "--json"], cwd=root)
    assert made.returncode == 0, made.stderr
    assert [(i["image"], i["digest"]) for i in json.loads(made.stdout)["images"]] == [(sidecar, digest)]
    # the charts travel in the same file: `sync --from` restores them and passes over the images
    shutil.rmtree(root / "helmfile" / "charts" / "external" / "web-1.1.0")
    synced = invoke_cli(["-C", str(root), "sync", "--from", str(root / "web-1.1.0.tgz")], cwd=root)
    assert synced.returncode == 0, synced.stderr
    assert (root / "helmfile" / "charts" / "external" / "web-1.1.0" / "Chart.yaml").is_file()
