"""The built-in offline demo: build a Helm repository from chart sources and serve it on loopback.

    python scripts/demo_server.py build examples/demo/charts OUT      # OUT/<chart>-<version>.tgz + OUT/index.yaml
    python scripts/demo_server.py serve OUT --url-file FILE           # http://127.0.0.1:<port>, until killed

`build` expects `<charts>/<chart>/<version>/Chart.yaml` and an optional `<charts>/published.yaml`
({chart: {version: time}}) for the index's `created`. Archives are packaged the way
`helm package` lays them out (one top folder named after the chart), deterministically (fixed
mtimes, sorted members), so no helm binary is needed. `serve` answers conditional requests
(Last-Modified), so a second `check` revalidates like against a real repository.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path
from typing import Any

from chartkeeper import yamlio
from chartkeeper.versions import ChartVersion

FIXED_MTIME = 1_700_000_000


def package(chart_dir: Path, out_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Package one chart folder into `out_dir/<name>-<version>.tgz`; returns it and its Chart.yaml."""
    meta = yamlio.load_file(chart_dir / "Chart.yaml")
    name, version = str(meta["name"]), str(meta["version"])
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buf, mode="wb", mtime=FIXED_MTIME) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for p in sorted(chart_dir.rglob("*")):
                if not p.is_file():
                    continue
                data = p.read_bytes()
                info = tarfile.TarInfo(f"{name}/{p.relative_to(chart_dir).as_posix()}")
                info.size, info.mtime, info.mode = len(data), FIXED_MTIME, 0o644
                tar.addfile(info, io.BytesIO(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{name}-{version}.tgz"
    archive.write_bytes(buf.getvalue())
    return archive, meta


def build_repository(charts_dir: Path, out_dir: Path) -> Path:
    """Package every `<chart>/<version>/` under `charts_dir` and write `out_dir/index.yaml`."""
    published_file = charts_dir / "published.yaml"
    published = yamlio.load_file(published_file) if published_file.exists() else {}
    entries: dict[str, list[dict[str, Any]]] = {}
    for chart_yaml in sorted(charts_dir.glob("*/*/Chart.yaml")):
        archive, meta = package(chart_yaml.parent, out_dir)
        name, version = str(meta["name"]), str(meta["version"])
        entry = {k: meta[k] for k in ("apiVersion", "name", "version", "appVersion", "description", "type", "kubeVersion",
                                      "dependencies", "annotations") if k in meta}
        entry["created"] = str((published.get(name) or {}).get(version) or "2025-01-01T00:00:00Z")
        entry["digest"] = hashlib.sha256(archive.read_bytes()).hexdigest()
        entry["urls"] = [archive.name]
        entries.setdefault(name, []).append(entry)
    for name in entries:  # newest first, as Helm writes them
        entries[name].sort(key=lambda e: ChartVersion.parse(e["version"]), reverse=True)
    index = {"apiVersion": "v1", "entries": dict(sorted(entries.items())), "generated": "2025-10-20T12:00:00Z"}
    path = out_dir / "index.yaml"
    path.write_text(yamlio.dumps(index), encoding="utf-8")
    return path


def serve(folder: Path, url_file: Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        server = ThreadingHTTPServer((host, port), partial(Quiet, directory=str(folder)))
    except OSError as exc:
        raise SystemExit(f"error: cannot serve on {host}:{port}: {exc.strerror} (stop what listens there and retry)") from None
    url = f"http://{host}:{server.server_address[1]}"
    if url_file is not None:
        tmp = url_file.with_suffix(".tmp")
        tmp.write_text(url + "\n")
        tmp.replace(url_file)  # the script waits for the file: it must appear whole
    else:
        print(url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/demo_server.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="package the demo charts and write index.yaml")
    b.add_argument("charts", type=Path)
    b.add_argument("out", type=Path)
    s = sub.add_parser("serve", help="serve a repository folder on 127.0.0.1")
    s.add_argument("folder", type=Path)
    s.add_argument("--url-file", type=Path)
    s.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        index = build_repository(args.charts, args.out)
        print(f"demo repository: {index.parent} ({sum(1 for _ in args.out.glob('*.tgz'))} archives)", file=sys.stderr)
        return 0
    serve(args.folder, args.url_file, port=args.port)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
