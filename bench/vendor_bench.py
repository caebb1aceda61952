"""Vendoring speed: safe extraction, tree checksum, and `sync` cold / verified-idempotent.

Generates a chart shaped like kube-prometheus-stack (hundreds of templates, a few megabyte-sized
CRDs, subcharts embedded as archives), packs it, and measures:

* `safe_extract` (every member checked, streamed, modes normalised) against Python's own
  `tarfile.extractall(filter="data")` and Helm's untar (`helm_python.expand`) on the same archive;
* `tree_checksum` of the unpacked folder (what `verify` pays per chart);
* `chartkeeper sync` of N such charts from a loopback HTTP repository: cold (download, verify,
  unpack, subcharts offline, checksum, swap in) and warm (every chart verified, nothing fetched).

    python bench/vendor_bench.py --charts 5 --runs 3
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chartkeeper.vendoring.bundle import pack_tree  # noqa: E402
from chartkeeper.vendoring.offline import make_offline  # noqa: E402
from chartkeeper.vendoring.treesum import tree_checksum  # noqa: E402
from chartkeeper.vendoring.unpack import ExtractLimits, safe_extract  # noqa: E402


def _template(i: int) -> str:
    lines = [f"{{{{- if .Values.component{i}.enabled }}}}", "apiVersion: apps/v1", "kind: Deployment", "metadata:",
             f"  name: {{{{ .Release.Name }}}}-component-{i}", "spec:", "  template:", "    spec:", "      containers:"]
    for c in range(6):
        lines += [f"        - name: c{c}", f"          image: {{{{ .Values.component{i}.image }}}}:{c}",
                  "          resources: {{- toYaml .Values.resources | nindent 12 }}"]
    return "\n".join(lines * 4) + "\n{{- end }}\n"


def _crd(i: int, size: int) -> str:
    head = f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: thing{i}.example.io\n"
    body = "".join(f"  field{j}:\n    type: string\n    description: property {j} of thing {i} with some prose\n" for j in range(size // 80))
    return head + "spec:\n" + body


def make_chart(parent: Path, name: str, version: str, *, templates: int, crds: int, crd_bytes: int, subcharts: int) -> Path:
    root = parent / name
    (root / "templates").mkdir(parents=True)
    (root / "crds").mkdir()
    deps = []
    for s in range(subcharts):
        sub = make_chart(parent / "subs", f"{name}-sub{s}", "1.0.0", templates=templates // 5, crds=0, crd_bytes=0, subcharts=0)
        (root / "charts").mkdir(exist_ok=True)
        with open(root / "charts" / f"{name}-sub{s}-1.0.0.tgz", "wb") as fh:
            pack_tree(sub, sub.name, fh)
        deps.append(f"  - name: {name}-sub{s}\n    version: 1.0.0\n    repository: https://charts.example.invalid\n")
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: v1\n"
    if deps:
        chart_yaml += "dependencies:\n" + "".join(deps)
    (root / "Chart.yaml").write_text(chart_yaml)
    (root / "values.yaml").write_text("".join(f"component{i}:\n  enabled: true\n  image: example/c{i}\n" for i in range(templates)))
    for i in range(templates):
        (root / "templates" / f"component-{i}.yaml").write_text(_template(i))
    for i in range(crds):
        (root / "crds" / f"crd-{i}.yaml").write_text(_crd(i, crd_bytes))
    return root


def _time(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--charts", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--templates", type=int, default=400)
    ap.add_argument("--crds", type=int, default=10)
    ap.add_argument("--crd-bytes", type=int, default=1_000_000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="chartkeeper-vendor-bench."))
    try:
        src = make_chart(work / "src", "bigstack", "1.0.0", templates=args.templates, crds=args.crds,
                         crd_bytes=args.crd_bytes, subcharts=4)
        archive = work / "bigstack-1.0.0.tgz"
        with open(archive, "wb") as fh:
            pack_tree(src, "bigstack", fh)
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
        unpacked = sum(m.size for m in members)
        print(f"chart: {len(members)} members, {unpacked / 1e6:.1f} MB unpacked, archive {archive.stat().st_size / 1e6:.2f} MB")

        def ours() -> None:
            d = work / "x"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
            safe_extract(archive, d / "bigstack", "bigstack", ExtractLimits())

        def stdlib() -> None:
            d = work / "y"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir()
            with tarfile.open(archive) as tar:
                tar.extractall(d, filter="data")

        t_ours = statistics.median(_time(ours, args.runs))
        t_std = statistics.median(_time(stdlib, args.runs))
        line = f"safe_extract: median {t_ours:.3f} s; tarfile.extractall(filter='data'): {t_std:.3f} s ({t_ours / t_std:.2f}x)"
        try:
            import helm_python

            def helm() -> None:
                d = work / "z"
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir()
                helm_python.expand(str(d), str(archive))

            t_helm = statistics.median(_time(helm, args.runs))
            line += f"; Helm's untar (helm_python.expand): {t_helm:.3f} s ({t_ours / t_helm:.2f}x)"
        except ImportError:
            pass
        print(line)

        folder = work / "x" / "bigstack"
        t_off = _time(lambda: make_offline(folder, fetch_missing=lambda d, w: (_ for _ in ()).throw(RuntimeError(w))), 1)[0]
        print(f"subcharts offline (4 embedded archives unpacked, Chart.yaml rewritten): {t_off:.3f} s")
        t_sum = statistics.median(_time(lambda: tree_checksum(folder), args.runs))
        files = sum(len(f) for _, _, f in os.walk(folder))
        print(f"tree_checksum: median {t_sum:.3f} s for {files} files")

        # sync of N charts from a loopback HTTP repository
        repo = work / "repo"
        repo.mkdir()
        for i in range(args.charts):
            name = f"stack{i}"
            c = make_chart(work / f"src{i}", name, "1.0.0", templates=args.templates, crds=args.crds,
                           crd_bytes=args.crd_bytes, subcharts=4)
            with open(repo / f"{name}-1.0.0.tgz", "wb") as fh:
                pack_tree(c, name, fh)
        import hashlib

        entries = []
        for p in sorted(repo.glob("*.tgz")):
            n = p.name[: -len("-1.0.0.tgz")]
            entries.append(f"  {n}:\n  - apiVersion: v2\n    name: {n}\n    version: 1.0.0\n    digest: {hashlib.sha256(p.read_bytes()).hexdigest()}\n"
                           f"    created: '2025-09-03T10:00:00Z'\n    urls: [{p.name}]\n")
        (repo / "index.yaml").write_text("apiVersion: v1\nentries:\n" + "".join(entries))
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(repo)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        deploy = work / "deploy"
        ext = deploy / "helmfile" / "charts" / "external"
        ext.mkdir(parents=True)
        (ext / "versions.lock").write_text("version: 1\ncharts:\n" + "".join(
            f"  - name: stack{i}\n    repository: {url}\n    version: 1.0.0\n" for i in range(args.charts)))
        env = dict(os.environ, CHARTKEEPER_CACHE_DIR=str(work / "cache"), PYTHONPATH=str(Path(__file__).resolve().parent.parent))
        cmd = [sys.executable, "-m", "chartkeeper", "-q", "sync"]

        def cold() -> None:
            for i in range(args.charts):
                shutil.rmtree(ext / f"stack{i}-1.0.0", ignore_errors=True)
            subprocess.run(cmd, cwd=deploy, env=env, check=True, stdout=subprocess.DEVNULL)

        t_cold = _time(cold, 1)[0]
        t_warm = statistics.median(_time(lambda: subprocess.run(cmd, cwd=deploy, env=env, check=True, stdout=subprocess.DEVNULL), args.runs))
        t_verify = statistics.median(_time(lambda: subprocess.run([sys.executable, "-m", "chartkeeper", "-q", "verify"], cwd=deploy,
                                                                   env=env, check=True, stdout=subprocess.DEVNULL), args.runs))
        server.shutdown()
        print(f"sync of {args.charts} charts over loopback HTTP: cold {t_cold:.2f} s ({t_cold / args.charts:.2f} s/chart); "
              f"warm (all verified, nothing fetched) median {t_warm:.2f} s; verify median {t_verify:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
