"""Images across the air gap: `bundle --images` and `unbundle` throughput against `cp` of the same bytes.

Starts two docker-registry instances on loopback (upstream and site, storage in one temp folder, so every
byte is read and written on the same disk), pushes IMAGES images of LAYERS random layers each (random
bytes: layers are compressed already, as real ones are), then, in one run and interleaved:

* `chartkeeper bundle b.tgz --images` (a fresh process: pull every blob, check its digest, pack);
* `chartkeeper unbundle b.tgz --registry <site>/<new prefix>` (unpack and hash every blob, push it all);
* `cp` of the bundle file to a new file in the same folder (the same bytes, the same disk);
* the registries alone: every blob read with bare HTTP GETs from upstream (into memory, nothing checked
  or written) and written with bare monolithic uploads to the site (from memory): the ceiling any
  client meets with docker-registry on this machine.

Throughput is the images' bytes over the wall time; the ratio is against cp (goal >= 0.5x).

    python bench/carry_bench.py --images 4 --layers 4 --layer-mb 16 --runs 3
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.oci import OCI_MANIFEST_MEDIA, Registry  # noqa: E402


def _registry_alone(up: Registry, site: Registry, blobs: list[tuple[str, str, bytes]]) -> tuple[float, float]:
    """Seconds to GET every blob from upstream, and to upload every blob to a new repository of the site."""
    t0 = time.perf_counter()
    for repo, digest, _ in blobs:
        status, _, body = up.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert status == 200 and body
    t1 = time.perf_counter()
    target = "bare" + uuid.uuid4().hex[:6]
    for _, _, data in blobs:
        site.push_blob(target, data)
    return t1 - t0, time.perf_counter() - t1


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
        with Registry(work / "upstream") as up, Registry(work / "site") as site:
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
            times: dict[str, list[float]] = {"bundle": [], "unbundle": [], "cp": [], "get": [], "put": []}
            bundle = work / "b.tgz"
            for run in range(opts.runs):
                bundle.unlink(missing_ok=True)
                times["bundle"].append(_timed([*cli, "bundle", str(bundle), "--images"], root))
                copy = work / f"copy-{run}.tgz"
                times["cp"].append(_timed(["cp", str(bundle), str(copy)], root))
                copy.unlink()
                prefix = "site" + uuid.uuid4().hex[:6]
                times["unbundle"].append(_timed([*cli, "unbundle", str(bundle), "--registry", f"{site.host}/{prefix}"], root))
                get, put = _registry_alone(up, site, blobs)
                times["get"].append(get)
                times["put"].append(put)
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
                      f"({'bare GETs from upstream' if alone == 'get' else 'bare uploads to the site'}): "
                      f"median {bare:.2f} s ({layer_bytes / 1e6 / bare:.0f} MB/s)")


if __name__ == "__main__":
    main()
