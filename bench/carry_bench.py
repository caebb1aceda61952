"""Images across the air gap: `bundle --images` and `unbundle` throughput against `cp` of the same bytes.

Starts two docker-registry instances on loopback (upstream and site, storage in one temp folder, so every
byte is read and written on the same disk), pushes IMAGES images of LAYERS random layers each (random
bytes: layers are compressed already, as real ones are), then, in one run and interleaved:

* `chartkeeper bundle b.tgz --images` (a fresh process: pull every blob, check its digest, pack);
* `chartkeeper unbundle b.tgz --registry <site>/<new prefix>` (unpack and hash every blob, push it all);
* `cp` of the bundle file to a new file in the same folder (the same bytes, the same disk);
* the registries alone: every blob read with bare HTTP GETs from upstream (into memory, nothing checked
  or written) and written with bare monolithic uploads, four at once, to an empty site (from memory): the
  ceiling any client meets with docker-registry on this machine;
* skopeo, when installed, a real peer on the same images: `skopeo copy docker://… oci:DIR:…` for every
  image (bundle's job without packing the bundle file), then `skopeo copy oci:DIR:… docker://<site>/…`
  (unbundle's job without unpacking one), each push to an empty site of its own.

Throughput is the images' bytes over the wall time; the ratios are against cp (goal >= 0.5x) and skopeo.

    python bench/carry_bench.py --images 4 --layers 4 --layer-mb 16 --runs 3
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.oci import OCI_MANIFEST_MEDIA, Registry  # noqa: E402


def _registry_alone(up: Registry, site: Registry, blobs: list[tuple[str, str, bytes]]) -> tuple[float, float]:
    """Seconds to GET every blob from upstream, and to upload every blob to an empty site from memory, four at
    a time as chartkeeper does (docker-registry takes in about 210 MB/s on one connection here, 400 on four)."""
    t0 = time.perf_counter()
    for repo, digest, _ in blobs:
        status, _, body = up.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert status == 200 and body
    t1 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda blob: site.push_blob("bare/bench", blob[2]), blobs))
    return t1 - t0, time.perf_counter() - t1


def _skopeo_pull(up: Registry, count: int, layout: Path) -> float | None:
    """Seconds for skopeo, a real peer, to pull every image from upstream into a new OCI layout (digests
    checked, shared blobs stored once): bundle's job without packing the bundle file. None: no skopeo."""
    return _skopeo_copies([(f"docker://{up.host}/up/bench/img{i}:1.0", f"oci:{layout}:img{i}") for i in range(count)],
                          "--src-tls-verify=false")


def _skopeo_push(layout: Path, count: int, site: Registry) -> float | None:
    """Seconds for skopeo to push every image of that layout to an empty site: unbundle's job without
    unpacking a bundle file. (A site that held the blobs under other names would let skopeo link them
    instead of uploading: its blob cache remembers where it put them.)"""
    return _skopeo_copies([(f"oci:{layout}:img{i}", f"docker://{site.host}/bench/img{i}:1.0") for i in range(count)],
                          "--dest-tls-verify=false")


def _skopeo_copies(pairs: list[tuple[str, str]], tls: str) -> float | None:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        return None
    t0 = time.perf_counter()
    for src, dst in pairs:
        subprocess.run([skopeo, "copy", "--quiet", "--insecure-policy", tls, src, dst], check=True, capture_output=True)
    return time.perf_counter() - t0


def _push_image(reg: Registry, repo: str, layers: list[bytes]) -> int:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST_MEDIA,
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": reg.push_blob(repo, config),
                      "size": len(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": reg.push_blob(repo, b),
                       "size": len(b)} for b in layers]}
    reg.push_manifest(repo, "1.0", doc)
    return sum(len(b) for b in layers) + len(config)


def _deployment(root: Path, images: list[str], upstream: Registry) -> None:
    hf = root / "helmfile"
    (hf / "charts" / "app" / "templates").mkdir(parents=True)
    (hf / "charts" / "external").mkdir(parents=True)
    (hf / "charts" / "external" / "versions.lock").write_text("")
    (hf / "charts" / "app" / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 0.1.0\n")
    (hf / "charts" / "app" / "values.yaml").write_text("images: []\n")
    (hf / "charts" / "app" / "templates" / "d.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n"
        "{{- range $i, $img := .Values.images }}\n        - name: c{{ $i }}\n          image: {{ $img | quote }}\n{{- end }}\n")
    (hf / "helmfile.yaml").write_text("releases:\n  - {name: app, namespace: app, chart: ./charts/app, values: [values.yaml]}\n")
    (hf / "values.yaml").write_text("images:\n" + "".join(f"  - {i}\n" for i in images))
    (root / "chartkeeper.yaml").write_text(f"images:\n  pullFrom:\n    registry.example: {upstream.host}/up\n")


def _timed(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:5])}…: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layer-mb", type=float, default=16)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="carry-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        with Registry(work / "upstream") as up:
            total = 0
            images = []
            blobs: list[tuple[str, str, bytes]] = []
            for i in range(opts.images):
                layers = [gzip.compress(os.urandom(int(opts.layer_mb * 1e6)), compresslevel=0, mtime=0)
                          for _ in range(opts.layers)]
                total += _push_image(up, f"up/bench/img{i}", layers)
                blobs += [(f"up/bench/img{i}", "sha256:" + hashlib.sha256(b).hexdigest(), b) for b in layers]
                images.append(f"registry.example/bench/img{i}:1.0")
            root = work / "deploy"
            _deployment(root, images, up)
            cli = [sys.executable, "-m", "chartkeeper", "-C", str(root), "-q"]
            print(f"{opts.images} image(s) x {opts.layers} layer(s) of {opts.layer_mb:g} MB: {total / 1e6:.0f} MB of blobs, "
                  f"{opts.runs} interleaved runs, storage in {work}")
            times: dict[str, list[float]] = {"bundle": [], "unbundle": [], "cp": [], "get": [], "put": [],
                                             "skopeo pull": [], "skopeo push": []}
            bundle = work / "b.tgz"
            for run in range(opts.runs):
                bundle.unlink(missing_ok=True)
                times["bundle"].append(_timed([*cli, "bundle", str(bundle), "--images"], root))
                copy = work / f"copy-{run}.tgz"
                times["cp"].append(_timed(["cp", str(bundle), str(copy)], root))
                copy.unlink()
                # every push goes to an empty site of its own: nothing there to skip or link
                with Registry(work / f"site-{run}") as site:
                    times["unbundle"].append(_timed([*cli, "unbundle", str(bundle), "--registry", f"{site.host}/site"], root))
                with Registry(work / f"bare-{run}") as site:
                    get, put = _registry_alone(up, site, blobs)
                times["get"].append(get)
                times["put"].append(put)
                layout = work / f"skopeo-{run}"
                pulled = _skopeo_pull(up, opts.images, layout)
                if pulled is not None:
                    times["skopeo pull"].append(pulled)
                    with Registry(work / f"skopeo-site-{run}") as site:
                        times["skopeo push"].append(_skopeo_push(layout, opts.images, site) or 0.0)
                for used in work.glob(f"*-{run}"):  # the sites' storage and the layout: one run's on the disk at a time
                    shutil.rmtree(used, ignore_errors=True)
            size = bundle.stat().st_size
            cp = statistics.median(times["cp"])
            print(f"  bundle file: {size / 1e6:.0f} MB")
            print(f"  cp of the bundle file: median {cp:.2f} s ({size / 1e6 / cp:.0f} MB/s)")
            layer_bytes = sum(len(b) for _, _, b in blobs)
            for name, alone in (("bundle", "get"), ("unbundle", "put")):
                t = statistics.median(times[name])
                bare = statistics.median(times[alone])
                print(f"  chartkeeper {name}: median {t:.2f} s ({total / 1e6 / t:.0f} MB/s), "
                      f"{(total / t) / (size / cp):.2f}x of cp (goal >= 0.5x); the registry alone "
                      f"({'bare GETs from upstream' if alone == 'get' else 'bare uploads to an empty site, 4 at once'}): "
                      f"median {bare:.2f} s ({layer_bytes / 1e6 / bare:.0f} MB/s)")
            for name, peer in (("bundle", "skopeo pull"), ("unbundle", "skopeo push")):
                if times[peer]:
                    t, p = statistics.median(times[name]), statistics.median(times[peer])
                    print(f"  {peer} (the same images, a layout for {name}'s job without the bundle file): median "
                          f"{p:.2f} s ({total / 1e6 / p:.0f} MB/s); chartkeeper {name} is {p / t:.2f}x its speed")
                else:
                    print(f"  {peer}: no skopeo on PATH (apt-get install skopeo), the peer is left out")


if __name__ == "__main__":
    main()
