"""Benchmark `chartkeeper check` against a big Helm repository index served on loopback.

    python bench/check_bench.py [--entries 15000] [--charts 500] [--tracked 5] [--runs 5]

Generates a synthetic index.yaml (~9.5 MB, 15,000 entries by default; entries shaped like real
ones: description, annotations, maintainers, keywords, sources, digest, urls) in bench/.work/,
serves it from a real HTTP server on 127.0.0.1 (ETag/304 like a real repository), pins a few
of its charts in a versions.lock and times, each as a fresh process:

* cold `chartkeeper check` (empty cache: download + the per-chart fast path),
* warm `chartkeeper check` (cache present: a 304 revalidation, per-chart extracts reused),
* `chartkeeper --help` (start-up cost),
* when a `helm` binary is on PATH (or in .tools/bin): `helm repo update` + `helm search repo`
  on the same index, with Helm's config/cache in a temp folder,

and prints medians, peak memory (max RSS of the process) and the ratios to helm.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"


def generate_index(path: Path, entries: int, charts: int, seed: int = 7) -> list[str]:
    """Write a Helm-style index (items at the key's indentation, newest first); return chart names."""
    rnd = random.Random(seed)
    words = ["cloud", "native", "metrics", "operator", "gateway", "storage", "gpu", "stream", "cache", "auth",
             "ingress", "backup", "policy", "mesh", "queue", "search", "vault", "log", "trace", "dns"]
    names = sorted({"-".join(rnd.sample(words, 2)) + f"-{i}" for i in range(charts)})
    per = entries // len(names)
    extra = entries - per * len(names)
    out = ["apiVersion: v1", "entries:"]
    for ci, name in enumerate(names):
        count = per + (1 if ci < extra else 0)
        versions = []
        major, minor, patch = rnd.randint(0, 3), 0, 0
        for _ in range(count):
            versions.append(f"{'v' if ci % 7 == 0 else ''}{major}.{minor}.{patch}")
            r = rnd.random()
            if r < 0.6:
                patch += 1
            elif r < 0.95:
                minor, patch = minor + 1, 0
            else:
                major, minor, patch = major + 1, 0, 0
        out.append(f"  {name}:")
        for vi, v in enumerate(reversed(versions)):
            day = 1 + (vi % 28)
            digest = hashlib.sha256(f"{name}{v}".encode()).hexdigest()
            out += [
                "  - annotations:",
                "      artifacthub.io/license: Apache-2.0",
                "    apiVersion: v2",
                f"    appVersion: {v.lstrip('v')}",
                f"    created: \"2025-{1 + vi % 12:02d}-{day:02d}T10:{vi % 60:02d}:00.000000000Z\"",
                f"    description: A Helm chart for {name.replace('-', ' ')} on Kubernetes, maintained by the community",
                f"    digest: {digest}",
                f"    home: https://charts.example.invalid/{name}",
                "    keywords:",
                f"    - {name.split('-')[0]}",
                f"    - {name.split('-')[1]}",
                "    maintainers:",
                "    - email: maintainers@example.invalid",
                "      name: Chart Maintainers",
                f"    name: {name}",
                "    type: application",
                "    urls:",
                f"    - https://charts.example.invalid/{name}-{v}.tgz",
                f"    version: {v}",
            ]
    out.append('generated: "2025-10-20T12:00:00.000000000Z"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    return names


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    etag = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/index.yaml":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == self.etag:
            self.send_response(304)
            self.send_header("ETag", self.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-yaml")
        self.send_header("ETag", self.etag)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def serve(index: Path) -> tuple[ThreadingHTTPServer, str]:
    _Handler.body = index.read_bytes()
    _Handler.etag = '"' + hashlib.sha256(_Handler.body).hexdigest()[:32] + '"'
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process.

    The peak is the kernel's high-water mark of the process's own memory (`VmHWM`), read until
    it exits: `ru_maxrss` would also count the pages of this (big) benchmark process that the
    child carried between fork and exec.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        # The child may exit between poll and read; the last good reading stands.
        hwm = _hwm_kib(proc.pid)
        if hwm is not None:
            peak = max(peak, hwm)
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err}")
    return elapsed, peak


def find_helm() -> str | None:
    found = shutil.which("helm")
    local = REPO / ".tools" / "bin" / "helm"
    return found or (str(local) if local.exists() else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=15000)
    ap.add_argument("--charts", type=int, default=500)
    ap.add_argument("--tracked", type=int, default=5, help="charts pinned in the lock")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    if WORK.exists():
        shutil.rmtree(WORK)
    index = WORK / "repo" / "index.yaml"
    names = generate_index(index, args.entries, args.charts)
    size_mb = index.stat().st_size / 1e6
    server, url = serve(index)

    deploy = WORK / "deploy"
    lock = deploy / "helmfile" / "charts" / "external" / "versions.lock"
    lock.parent.mkdir(parents=True)
    picks = [names[i * len(names) // args.tracked] for i in range(args.tracked)]
    lines = ["version: 1", "charts:"]
    for name in picks:
        lines += [f"  - name: {name}", f"    repository: {url}", "    version: 0.1.0"]
    lock.write_text("\n".join(lines) + "\n")
    cache = WORK / "cache"
    env = dict(os.environ, CHARTKEEPER_CACHE_DIR=str(cache), PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ck = [sys.executable, "-m", "chartkeeper", "-C", str(deploy), "check", "--json"]

    cold, warm, helps = [], [], []
    for _ in range(args.runs):
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(timed(ck, env, deploy))
        warm.append(timed(ck, env, deploy))
        helps.append(timed([sys.executable, "-m", "chartkeeper", "--help"], env, deploy))

    helm_times: list[tuple[float, int]] = []
    helm = find_helm()
    if helm:
        hh = WORK / "helm-home"
        henv = dict(os.environ, HELM_CACHE_HOME=str(hh / "cache"), HELM_CONFIG_HOME=str(hh / "config"),
                    HELM_DATA_HOME=str(hh / "data"), NO_PROXY="127.0.0.1")
        subprocess.run([helm, "repo", "add", "bench", url], env=henv, check=True, capture_output=True)
        for _ in range(args.runs):
            t1, m1 = timed([helm, "repo", "update", "bench"], henv, WORK)
            t2, m2 = timed([helm, "search", "repo", f"bench/{picks[0]}"], henv, WORK)
            helm_times.append((t1 + t2, max(m1, m2)))
    server.shutdown()

    def med(xs: list[tuple[float, int]]) -> tuple[float, int]:
        return statistics.median(t for t, _ in xs), max(m for _, m in xs)

    (c, cm), (w, wm), (h, hm) = med(cold), med(warm), med(helps)
    print(f"index: {size_mb:.1f} MB, {args.entries} entries, {len(names)} charts; {args.tracked} charts pinned; "
          f"median of {args.runs} runs; python {sys.version.split()[0]}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':30} {'seconds':>8} {'peak MiB':>9} {'vs helm':>8}")
    ht = med(helm_times)[0] if helm_times else None

    def row(label: str, t: float, m: int, ratio: bool = True) -> None:
        r = f"{t / ht:.2f}x" if ht and ratio else "-"
        print(f"{label:30} {t:8.3f} {m / 1024:9.1f} {r:>8}")

    row("chartkeeper check (cold)", c, cm)
    row("chartkeeper check (warm, 304)", w, wm)
    row("chartkeeper --help", h, hm, ratio=False)
    if helm_times:
        hmed, hmem = med(helm_times)
        row("helm repo update + search", hmed, hmem, ratio=False)
        print(f"goals: cold < 0.5x helm: {'met' if c < 0.5 * hmed else 'MISSED'}; "
              f"warm < 0.1x helm: {'met' if w < 0.1 * hmed else 'MISSED'}; --help < 0.5 s: {'met' if h < 0.5 else 'MISSED'}")
    else:
        print("helm: not found on PATH or in .tools/bin (scripts/install-tools.sh installs it); no ratio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
