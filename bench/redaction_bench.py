"""Benchmark: the share of a large `chartkeeper diff` spent hiding secrets (issue 22; goal <= 5 %).

    python bench/redaction_bench.py [--components 50] [--secrets 40] [--keep]

Builds the kube-prometheus-stack-sized deployment of `diff_bench.py` (281 templates, 3 subcharts,
8 CRDs, three environments), then makes it look like the trees that used to hurt: the CRDs get
properties named like credentials (`password`, `bearerTokenSecret`, `tlsConfig.keySecret`) with long
descriptions, and every environment sets `--secrets` credentials (half distinctive random strings,
half equal to names of the tree: a component, an environment, the namespace).

It runs `chartkeeper diff big 2.0.0 --format json` in this process under cProfile and attributes to
redaction the time of every call into `chartkeeper.masking` made from outside it (masking values,
registering secrets and public tokens, `redact` on every output), then prints that share of the
whole run with the registry's size. cProfile slows Python code more than C code, so the share is an
upper bound of the real one.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets as pysecrets
import shutil
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import diff_bench  # noqa: E402  (the generator of the kube-prometheus-stack-sized chart)

from chartkeeper import cli, masking  # noqa: E402
from chartkeeper.masking import redactor  # noqa: E402

CREDENTIAL_PROPS = {
    "password": {"type": "string", "description": "Password to use for basic authentication against the target. " * 3},
    "bearerTokenSecret": {"type": "object", "description": "Secret to mount to read bearer token for scraping targets.",
                          "properties": {"name": {"type": "string", "description": "Name of the referent."},
                                         "key": {"type": "string", "description": "The key of the secret to select from."}}},
    "tlsConfig": {"type": "object", "properties": {"keySecret": {"type": "object", "properties": {
        "name": {"type": "string"}, "key": {"type": "string"}, "optional": {"type": "boolean"}}}}},
}


def harden(tree: Path, secrets: int) -> None:
    """Credential-named CRD properties in OLD, and credentials in every environment."""
    for crd in (tree / "helmfile" / "charts" / "external" / "big-1.0.0" / "crds").glob("*.yaml"):
        doc = yaml.safe_load(crd.read_text())
        spec = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        for field in list(spec)[:10]:
            spec[field]["properties"].update(CREDENTIAL_PROPS)
        crd.write_text(yaml.safe_dump(doc, sort_keys=False))
    public = ["monitoring", "comp1", "comp2", "dev", "stage", "prod", "grafana", "kube-state-metrics"]
    for env in diff_bench.ENVS:
        path = tree / "helmfile" / "environments" / f"{env}.yaml"
        doc = yaml.safe_load(path.read_text())
        for i in range(secrets):
            value = public[i % len(public)] if i % 2 else f"s3cr3t-{pysecrets.token_hex(8)}"
            doc["big"].setdefault(f"comp{i % 50}", {}).setdefault("auth", {})[f"password{i}"] = value
        path.write_text(yaml.safe_dump(doc, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--components", type=int, default=50)
    ap.add_argument("--secrets", type=int, default=40, help="credentials set in each environment")
    ap.add_argument("--keep", action="store_true", help="keep bench/.work/redaction afterwards")
    args = ap.parse_args()
    work = ROOT / "bench" / ".work" / "redaction"
    tree, _old, _new = diff_bench.build_tree(work, args.components)
    harden(tree, args.secrets)
    os.environ.setdefault("CHARTKEEPER_CACHE_DIR", str(work / "cache"))
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    prof = cProfile.Profile()
    sink = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(sink):
        prof.enable()
        try:
            cli.main(["-q", "-C", str(tree), "diff", "big", "2.0.0", "--json", "--output", str(work / "report.json")])
        except SystemExit as exc:
            code = exc.code
        prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    masking_dir = str(Path(masking.__file__).parent)
    inside = {f for f in stats if f[0].startswith(masking_dir)}
    spent = 0.0
    by_function: dict[str, float] = {}
    for f in inside:  # time of calls into masking from outside it: nested calls counted once
        for caller, (_cc, _nc, _tt, ct) in stats[f][4].items():
            if caller not in inside:
                spent += ct
                by_function[f[2]] = by_function.get(f[2], 0.0) + ct
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in stats.values())
    report = (work / "report.json").stat().st_size
    print(f"chartkeeper diff (exit {code}) under cProfile: {wall:.2f} s wall, {total:.2f} s profiled")
    print(f"registry: {len(redactor.registered_secrets())} secrets registered, "
          f"{sum(1 for s in redactor.registered_secrets() if redactor.is_distinctive(s))} distinctive, "
          f"{len(redactor._REG.public)} public tokens; JSON report {report / 1e6:.1f} MB")
    if os.environ.get("REDACTION_BENCH_CALLERS"):
        pstats.Stats(prof).sort_stats("cumulative").print_callers(r"\(redact\)")
    top = sorted(by_function.items(), key=lambda kv: -kv[1])[:5]
    print("where: " + ", ".join(f"{name} {secs:.3f} s" for name, secs in top))
    print(f"masking and redaction: {spent:.3f} s = {100 * spent / total:.1f} % of the run (goal <= 5 %)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
