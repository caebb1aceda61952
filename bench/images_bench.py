"""Benchmark `chartkeeper images`: what the image extractor adds to the renders it reads.

    python bench/images_bench.py [--releases 10] [--envs 4] [--runs 5] [--keep]

Generates (under bench/.work/, ignored by git) a deployment of RELEASES releases x ENVS environments:
releases cycle through three local charts shaped like real ones — a GPU Operator (operator Deployment and a
ClusterPolicy with nine operands in repository/image/version parts, two disabled), a Bitnami-style database
(StatefulSet with init and sidecar containers, a custom resource with registry/repository/tag) and an
application chart (Deployment, CronJob, Job, DaemonSet, 30 ConfigMaps and Services the extractor skips) —
and a kustomize `images:` patch on one of them. Each environment sets its own image tags.

Then, in one process, warm (charts prepared, helmfile files parsed: one untimed pass first), RUNS times:
`build_inventory` over every release of every environment. It times the renders (Helm engine + kustomize)
and the extractor separately; the figure is the extractor's share of the render time.

Goal: the extraction adds <= 10 % to the renders.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chartkeeper.images.inventory import build_inventory  # noqa: E402
from chartkeeper.settings import load_settings  # noqa: E402
from tests.support.charts import write_chart, write_tree  # noqa: E402
from tests.test_images_extract import BITNAMI_TEMPLATES, BITNAMI_VALUES, GPU_OPERATOR_TEMPLATES, GPU_OPERATOR_VALUES  # noqa: E402

APP_TEMPLATES = {
    "deploy.yaml": """\
{{- range $i, $c := .Values.components }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ $c }}
spec:
  selector: {matchLabels: {app: {{ $c }}}}
  template:
    metadata: {labels: {app: {{ $c }}}}
    spec:
      initContainers:
        - name: wait
          image: "{{ $.Values.registry }}/tools/wait:{{ $.Values.tag }}"
      containers:
        - name: {{ $c }}
          image: "{{ $.Values.registry }}/app/{{ $c }}:{{ $.Values.tag }}"
          env: [{name: A, value: "1"}, {name: B, value: "2"}]
          resources: {limits: {cpu: 100m, memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: {{ $.Release.Name }}-{{ $c }}}
spec: {ports: [{port: 80}], selector: {app: {{ $c }}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ $.Release.Name }}-{{ $c }}}
data: {image: "{{ $.Values.registry }}/built/at-runtime:{{ $.Values.tag }}", config.yaml: "a: 1\\nb: 2\\n"}
---
{{- end }}
apiVersion: batch/v1
kind: CronJob
metadata: {name: {{ .Release.Name }}-backup}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: backup, image: "{{ .Values.registry }}/tools/backup:{{ .Values.tag }}"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: {{ .Release.Name }}-agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "{{ .Values.registry }}/tools/agent:{{ .Values.tag }}"}]
""",
}


def make_deployment(work: Path, releases: int, envs: int) -> Path:
    root = work / "deploy"
    if root.exists():
        shutil.rmtree(root)
    hf = root / "helmfile"
    env_names = [f"env{i}" for i in range(envs)]
    files: dict[str, str] = {}
    lines = ["environments:"]
    for i, e in enumerate(env_names):
        lines += [f"  {e}:", "    values:", f"      - environments/{e}.yaml"]
        files[f"environments/{e}.yaml"] = f"tag: \"1.{i}.0\"\n"
    lines += ["---", "releases:"]
    kinds = ("gpu", "db", "app")
    for r in range(releases):
        kind = kinds[r % 3]
        lines += [f"  - name: {kind}-{r}", f"    namespace: ns-{r}", f"    chart: ./charts/{kind}",
                  "    values:", f"      - values/{kind}.yaml.gotmpl"]
    files["helmfile.yaml"] = "\n".join(lines) + "\n"
    files["values/gpu.yaml.gotmpl"] = "operator:\n  version: v25.3.{{ .Environment.Values.tag | replace \".\" \"\" }}\n"
    files["values/db.yaml.gotmpl"] = "image:\n  tag: \"7.4.{{ .Environment.Values.tag }}\"\n"
    files["values/app.yaml.gotmpl"] = "tag: {{ .Environment.Values.tag | quote }}\n"
    write_tree(hf, files)
    (root / "chartkeeper.yaml").write_text("kubeVersion: v1.31.0\n")  # the deployment root (not this repository)
    write_chart(hf / "charts", "gpu", "1.0.0", values=GPU_OPERATOR_VALUES, templates=GPU_OPERATOR_TEMPLATES, folder="gpu")
    write_chart(hf / "charts", "db", "1.0.0", values=BITNAMI_VALUES, templates=BITNAMI_TEMPLATES, folder="db")
    write_chart(hf / "charts", "app", "1.0.0", templates=APP_TEMPLATES, folder="app",
                values={"registry": "registry.example.internal", "tag": "1.0",
                        "components": [f"c{i}" for i in range(30)]})
    write_tree(root / "patches" / "app", {"kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
        "images:\n  - name: registry.example.internal/tools/agent\n    newTag: pinned\n")})
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--releases", type=int, default=10)
    ap.add_argument("--envs", type=int, default=4)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep bench/.work/ afterwards")
    args = ap.parse_args()
    work = ROOT / "bench" / ".work" / "images"
    work.mkdir(parents=True, exist_ok=True)
    root = make_deployment(work, args.releases, args.envs)
    settings = load_settings(root)
    try:
        build_inventory(settings)  # warm-up: imports, engine load, helmfile parse caches
        walls, renders, extracts = [], [], []
        inv = None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            inv = build_inventory(settings)
            walls.append(time.perf_counter() - t0)
            renders.append(inv.render_seconds)
            extracts.append(inv.extract_seconds)
        assert inv is not None
        print(f"deployment: {args.releases} releases x {args.envs} environments = {inv.renders} renders; "
              f"{len(inv.images)} distinct images, {len(inv.invalid)} invalid, errors: {len(inv.errors)}; {args.runs} warm runs")
        r, x, w = statistics.median(renders), statistics.median(extracts), statistics.median(walls)
        print(f"build_inventory, warm: median {w:.3f} s (best {min(walls):.3f} s)")
        print(f"  renders (Helm engine + kustomize): median {r:.3f} s ({r / w:.0%} of the run)")
        print(f"  image extraction: median {x * 1000:.1f} ms = {x / r:.1%} of the render time (goal <= 10%)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
