"""What a reviewer gets from `chartkeeper diff` on the largest fixtures: report size and action count.

    python bench/report_bench.py [--components 50] [--keep]

Two deployments, each diffed with `--format md --output` in a fresh process:

1. the kube-prometheus-stack-sized chart `big` of `diff_bench.py` (~250 templates, 3 subcharts, CRDs,
   three environments);
2. the GPU-Operator-like chart of the golden report test (`tests/support/operator_fixture.py`: ~200
   resources, 40 operands, a renamed key, a masked default, a CRD losing its storage version).

For each it prints the Markdown report's size in characters, the number of "Before merging"
actions, the verdict, the counts and the `.diff` file's size, so a change to the report's layout
shows what it did to what a person has to read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from diff_bench import build_tree  # noqa: E402
from tests.support.httpserver import ChartRepoServer  # noqa: E402
from tests.support.operator_fixture import NEW, operator_deployment  # noqa: E402


def _diff(tree: Path, chart: str, version: str, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = [sys.executable, "-m", "chartkeeper", "-q", "-C", str(tree), "diff", chart, version]
    md = out / f"{chart}.md"
    subprocess.run(base + ["--format", "md", "--output", str(md)], env=env, check=True, capture_output=True)
    js = subprocess.run(base + ["--json"], env=env, check=True, capture_output=True, text=True)
    report = json.loads(js.stdout)
    diff = next(out.glob(f"*{version}.diff"), None)
    return {"markdown": len(md.read_text()), "actions": len(report["actions"]), "verdict": report["verdict"],
            "counts": report["counts"], "diff": len(diff.read_text()) if diff else 0}


def _show(name: str, r: dict) -> None:
    c = r["counts"]
    print(f"{name}: Markdown {r['markdown']:,} characters, {r['actions']} actions, verdict {r['verdict']} "
          f"({c['breaking']} breaking, {c['review']} review, {c['info']} info); .diff {r['diff']:,} characters")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--components", type=int, default=50, help="components of the generated chart (5 templates each)")
    ap.add_argument("--keep", action="store_true", help="keep bench/.work/ afterwards")
    args = ap.parse_args()
    work = ROOT / "bench" / ".work" / "report"
    shutil.rmtree(work, ignore_errors=True)
    tree, _old, _new = build_tree(work / "big", args.components)
    (work / "out-big").mkdir(parents=True)
    _show("big (kube-prometheus-stack sized)", _diff(tree, "big", "2.0.0", work / "out-big"))
    (work / "repo").mkdir()
    with ChartRepoServer(work / "repo") as server:
        root = operator_deployment(work / "operator", work / "repo", server.url)
        (work / "out-op").mkdir()
        _show("gpu-operator fixture", _diff(root, "gpu-operator", NEW, work / "out-op"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
