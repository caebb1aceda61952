"""Benchmark `chartkeeper diff` on a chart the size of kube-prometheus-stack, across three environments.

    python bench/diff_bench.py [--components 50] [--keep]

Generates (under bench/.work/, ignored by git) a deployment tree — helmfile.yaml with dev/stage/prod, one
release of a generated chart `big` (~250 templates, ~5,000-line values.yaml, 3 subcharts, CRDs) vendored
at 1.0.0 — and a local chart repository holding 2.0.0. Then, in the same run:

1. `chartkeeper diff big 2.0.0 --json` as a real process, twice: first with an empty cache of the bench's
   own (the CRD files of both sides are parsed and kept), then again (they are read back, as in every later
   command on the tree): wall time and peak RSS;
2. the renders alone, the floor a diff cannot go below: OLD and NEW rendered with each environment's
   values by the same embedded engine (one process, wall time and peak RSS);
3. `helm template` for the same six renders as a baseline, when a helm binary is on PATH (or in .tools/bin).

Goal: the diff within 2x the renders it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.charts import build_index, package_chart, write_chart  # noqa: E402

import yaml  # noqa: E402

ENVS = ("dev", "stage", "prod")

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "big.fullname" . }}-NAME
  labels: {{ include "big.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.NAME.replicas }}
  selector:
    matchLabels:
      app.kubernetes.io/component: NAME
  template:
    metadata:
      labels:
        app.kubernetes.io/component: NAME
      annotations: {{ toYaml .Values.NAME.podAnnotations | nindent 8 }}
    spec:
      serviceAccountName: {{ include "big.fullname" . }}-NAME
      nodeSelector: {{ toYaml .Values.NAME.nodeSelector | nindent 8 }}
      tolerations: {{ toYaml .Values.NAME.tolerations | nindent 8 }}
      containers:
        - name: NAME
          image: "{{ .Values.global.imageRegistry | default .Values.NAME.image.registry }}/{{ .Values.NAME.image.repository }}:{{ .Values.NAME.image.tag }}"
          args: {{ toYaml .Values.NAME.args | nindent 12 }}
          resources: {{ toYaml .Values.NAME.resources | nindent 12 }}
          {{- if .Values.NAME.probes.enabled }}
          livenessProbe: {{ toYaml .Values.NAME.probes.liveness | nindent 12 }}
          readinessProbe: {{ toYaml .Values.NAME.probes.readiness | nindent 12 }}
          {{- end }}
          env:
            {{- range $k, $v := .Values.NAME.env }}
            - name: {{ $k }}
              value: {{ $v | quote }}
            {{- end }}
          ports:
            - containerPort: {{ .Values.NAME.service.port }}
          securityContext: {{ toYaml .Values.NAME.securityContext | nindent 12 }}
"""
SERVICE = """{{- if .Values.NAME.service.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "big.fullname" . }}-NAME
  labels: {{ include "big.labels" . | nindent 4 }}
spec:
  type: {{ .Values.NAME.service.type }}
  ports:
    - port: {{ .Values.NAME.service.port }}
      targetPort: {{ .Values.NAME.service.port }}
  selector:
    app.kubernetes.io/component: NAME
{{- end }}
"""
CONFIG = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "big.fullname" . }}-NAME
data:
  config.yaml: |
{{ toYaml .Values.NAME.config | indent 4 }}
"""
SA = """apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "big.fullname" . }}-NAME
  annotations: {{ toYaml .Values.NAME.serviceAccount.annotations | nindent 4 }}
"""
MONITOR = """{{- if and .Values.NAME.serviceMonitor.enabled (semverCompare ">=1.21-0" .Capabilities.KubeVersion.GitVersion) }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "big.fullname" . }}-NAME
spec:
  endpoints:
    - port: http
      interval: {{ .Values.NAME.serviceMonitor.interval }}
  selector:
    matchLabels:
      app.kubernetes.io/component: NAME
{{- end }}
"""
HELPERS = """{{- define "big.fullname" -}}{{ .Release.Name | trunc 40 }}{{- end }}
{{- define "big.labels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}
"""


def component_values(i: int, version: int) -> dict:
    config = {f"setting{j}": {"enabled": j % 3 == 0, "value": f"v{j}", "threshold": j * 10, "labels": {"a": "b", "c": str(j)}}
              for j in range(12)}
    if version == 2 and i % 7 == 0:
        config["setting0"]["enabled"] = not config["setting0"]["enabled"]
    return {
        "enabled": True,
        "replicas": 1 if not (version == 2 and i % 11 == 0) else 2,
        "image": {"registry": "quay.io", "repository": f"example/component-{i}", "tag": f"v1.{i}.0" if version == 1 or i % 4 else f"v2.{i}.0"},
        "args": [f"--component={i}", "--log-level=info", "--metrics"],
        "podAnnotations": {},
        "nodeSelector": {},
        "tolerations": [],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "probes": {"enabled": True, "liveness": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                   "readiness": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5}},
        "env": {f"VAR_{j}": f"value-{j}" for j in range(5)},
        "service": {"enabled": True, "type": "ClusterIP", "port": 8080},
        "serviceAccount": {"annotations": {}},
        "serviceMonitor": {"enabled": True, "interval": "30s" if version == 1 else ("30s" if i % 5 else "15s")},
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
        "config": config,
    }


# kube-prometheus-stack's CRDs run from 30 KB to 800 KB (prometheuses, alertmanagers, thanosrulers carry the
# whole pod template schema); the sizes below are theirs, rounded
CRD_KB = (800, 600, 500, 450, 200, 100, 60, 50, 40, 30)


def _crd_schema(i: int, kb: int, version: int) -> dict:
    """An openAPIV3Schema of about `kb` KB shaped like controller-gen's: nested objects with a description
    on every field. NEW edits descriptions throughout (as upstream regenerations do), adds an optional object
    with a required field, and in CRD 0 makes an existing field required."""
    leaf_text = "Description of the field as controller-gen copies it from the Go doc comment, one line of it."
    subs = 10

    def leaf(j: int, k: int) -> dict:
        text = leaf_text if version == 1 or (j + k) % 5 else leaf_text.replace("one line", "a line")
        return {"description": text, "type": "integer" if k % 4 == 0 else "string"}

    def group(j: int) -> dict:
        return {"description": f"Group {j} of settings.", "type": "object",
                "properties": {f"sub{k}": leaf(j, k) for k in range(subs)}}

    n = max(1, kb * 1024 // 1500)
    props = {f"field{j}": group(j) for j in range(n)}
    props["interval"] = {"type": "string", "description": "Scrape interval."}
    props["endpoints"] = {"type": "array", "items": {"type": "object", "properties": {
        "port": {"type": "string"}, "interval": {"type": "string"}, "path": {"type": "string"}}}}
    props["selector"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    spec: dict = {"type": "object", "properties": props}
    if version == 2:
        props["tls"] = {"type": "object", "required": ["ca"], "properties": {"ca": {"type": "string", "description": "CA."}}}
        if i == 0:
            spec["required"] = ["endpoints"]
    return {"type": "object", "properties": {"spec": spec, "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def crd(i: int, version: int) -> str:
    # CRD 0 is the one our ServiceMonitors use: its custom resources are checked against NEW
    group, kind, plural = ("monitoring.coreos.com", "ServiceMonitor", "servicemonitors") if i == 0 else (
        "monitoring.example.com", f"Thing{i}", f"things{i}")
    doc = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"{plural}.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"kind": kind, "plural": plural},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": _crd_schema(i, CRD_KB[i % len(CRD_KB)], version)}}]}}
    return yaml.safe_dump(doc, sort_keys=False)


def subchart(parent: Path, name: str, version: int) -> Path:
    values = {f"part{i}": component_values(100 + i, version) for i in range(3)}
    templates = {"_helpers.tpl": HELPERS.replace("big.", f"{name}.")}
    for i in range(3):
        for kind, text in (("deploy", DEPLOY), ("svc", SERVICE), ("cm", CONFIG)):
            templates[f"part{i}-{kind}.yaml"] = text.replace("NAME", f"part{i}").replace("big.", f"{name}.")
    return write_chart(parent, name, f"{version}.0.0", values=values, templates=templates)


def big_chart(parent: Path, version: int, components: int, folder: str, scratch: Path) -> Path:
    values: dict = {"global": {"imageRegistry": ""}}
    templates = {"_helpers.tpl": HELPERS}
    for i in range(components):
        name = f"comp{i}"
        values[name] = component_values(i, version)
        for kind, text in (("deploy", DEPLOY), ("svc", SERVICE), ("cm", CONFIG), ("sa", SA), ("monitor", MONITOR)):
            templates[f"{name}/{kind}.yaml"] = text.replace("NAME", name)
    # subcharts are written in `scratch`, not next to the lock (a folder there that no entry owns is drift)
    subs = [subchart(scratch / f"subs-{version}", n, version) for n in ("grafana", "kube-state-metrics", "node-exporter")]
    return write_chart(parent, "big", f"{version}.0.0", values=values, templates=templates, app_version=f"v{version}.0.0",
                       dependencies=[{"name": s.name, "version": f"{version}.0.0"} for s in subs], subcharts=subs,
                       crds={f"crd-{i}.yaml": crd(i, version) for i in range(len(CRD_KB))}, folder=folder)


def env_values(env: str, components: int) -> dict:
    big: dict = {}
    for i in range(0, components, 3):
        big[f"comp{i}"] = {"replicas": {"dev": 1, "stage": 2, "prod": 3}[env], "image": {"tag": f"v1.{i}.1"},
                           "podAnnotations": {"team": "ml"}, "resources": {"limits": {"memory": "1Gi"}}}
    big["global"] = {"imageRegistry": "harbor.internal" if env == "prod" else ""}
    big["grafana"] = {"part0": {"replicas": 2}}
    return {"big": big}


def build_tree(work: Path, components: int) -> tuple[Path, Path, Path]:
    if work.exists():
        shutil.rmtree(work)
    tree = work / "deploy"
    ext = tree / "helmfile" / "charts" / "external"
    ext.mkdir(parents=True)
    old = big_chart(ext, 1, components, "big-1.0.0", work / "scratch")
    repo = work / "repo"
    new = big_chart(work / "src", 2, components, "big-2.0.0", work / "scratch")
    package_chart(new, repo)
    build_index(repo)
    (ext / "versions.lock").write_text(
        f"version: 1\ncharts:\n  - name: big\n    chart: big\n    repository: {repo}\n    version: 1.0.0\n    constraint: 2.x\n")
    hf = tree / "helmfile"
    (hf / "environments").mkdir()
    for env in ENVS:
        (hf / "environments" / f"{env}.yaml").write_text(yaml.safe_dump(env_values(env, components), sort_keys=False))
    (hf / "values").mkdir()
    (hf / "values" / "big.yaml.gotmpl").write_text("{{ .Values.big | toYaml }}\n")
    (hf / "helmfile.yaml").write_text(
        "environments:\n" + "".join(f"  {e}:\n    values:\n      - environments/{e}.yaml\n" for e in ENVS)
        + "---\nreleases:\n  - name: monitoring\n    namespace: monitoring\n    chart: charts/external/big-1.0.0\n"
        "    values:\n      - values/big.yaml.gotmpl\n")
    (tree / "chartkeeper.yaml").write_text("kubeVersion: v1.31.0\n")
    return tree, old, new


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user+sys) and peak RSS (MiB) of `cmd`, and its stdout.

    A tiny Python wrapper runs the command so RUSAGE_CHILDREN holds that one process only. CPU time is
    printed next to wall time because wall time on a loaded machine measures the other processes too.
    """
    wrapper = ("import resource,subprocess,sys,time,json;t=time.perf_counter();"
               "p=subprocess.run(sys.argv[1:],capture_output=True);"
               "w=time.perf_counter()-t;"
               "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
               "sys.stdout.write(json.dumps({'wall':w,'cpu':u.ru_utime+u.ru_stime,'rss':u.ru_maxrss/1024,"
               "'rc':p.returncode,'out':p.stdout.decode()[-20000:],'err':p.stderr.decode()[-3000:]}))")
    res = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=env)
    data = json.loads(res.stdout)
    if data["rc"] != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{data['err']}")
    return data["wall"], data["cpu"], data["rss"], data["out"]


def bump_measured(tree: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """`chartkeeper bump big 2.0.0` on the tree made a git repository (its own identity, no user config)."""
    genv = dict(env, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.invalid", GIT_COMMITTER_NAME="bench",
                GIT_COMMITTER_EMAIL="bench@example.invalid", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "deployment"]):
        subprocess.run(["git", *cmd], cwd=tree, env=genv, check=True, capture_output=True)
    wall, cpu, rss, _ = measured([sys.executable, "-m", "chartkeeper", "-q", "-C", str(tree), "bump", "big", "2.0.0"], genv)
    return wall, cpu, rss


RENDERS_ONLY = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from chartkeeper.helm.render import prepare_chart
from chartkeeper import yamlio
old, new, envdir = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
t = time.perf_counter()
with prepare_chart(old, kube_version="v1.31.0") as a, prepare_chart(new, kube_version="v1.31.0") as b:
    n = 0
    for env in ("dev", "stage", "prod"):
        values = yamlio.load_file(envdir / f"{env}.yaml")["big"]
        n += len(a.render(values, release="monitoring", namespace="monitoring").manifests)
        n += len(b.render(values, release="monitoring", namespace="monitoring").manifests)
print(json.dumps({"seconds": time.perf_counter() - t, "manifests": n}))
"""


def helm_binary() -> str | None:
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.exists() else shutil.which("helm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--components", type=int, default=50, help="components of the generated chart (5 templates each)")
    ap.add_argument("--keep", action="store_true", help="keep bench/.work/ afterwards")
    args = ap.parse_args()
    work = ROOT / "bench" / ".work" / "diff"
    tree, old, new = build_tree(work, args.components)
    n_templates = sum(1 for _ in old.rglob("templates/**/*.yaml")) + sum(1 for _ in old.rglob("templates/*.tpl"))
    n_values = len((old / "values.yaml").read_text().splitlines())
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"chart: {n_templates} templates, values.yaml {n_values} lines, 3 subcharts, {len(CRD_KB)} CRDs ({sum(CRD_KB)} KB of schema); environments: {', '.join(ENVS)}")

    # a cache of the bench's own, empty at first: the first diff parses both sides' CRD files, the second one
    # reads them from `<cache>/parsed/` as every later command on this tree does (and bump after it)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               CHARTKEEPER_CACHE_DIR=str(work / "cache"))
    out_json = work / "report.json"
    diff_cmd = [sys.executable, "-m", "chartkeeper", "-q", "-C", str(tree), "diff", "big", "2.0.0", "--json",
                "--output", str(out_json)]
    cold_wall, cold_cpu, cold_rss, _ = measured(diff_cmd, env)
    report = json.loads(out_json.read_text())
    diff_wall, diff_cpu, diff_rss, _ = measured(diff_cmd, env)
    print(f"chartkeeper diff, first run: {cold_wall:6.2f} s wall, {cold_cpu:6.2f} s CPU, peak RSS {cold_rss:4.0f} MiB "
          "(CRD files parsed and kept in the cache)")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(RENDERS_ONLY)
        script = fh.name
    try:
        r_wall, r_cpu, r_rss, r_out = measured([sys.executable, script, str(ROOT), str(old), str(new / "../big-2.0.0"),
                                         str(tree / "helmfile" / "environments")], env)
    finally:
        os.unlink(script)
    renders = json.loads(r_out.strip().splitlines()[-1])
    print(f"chartkeeper diff, again:     {diff_wall:6.2f} s wall, {diff_cpu:6.2f} s CPU, peak RSS {diff_rss:4.0f} MiB "
          f"(verdict {report['verdict']}, {sum(report['counts'].values())} findings, {len(report['releases'])} releases)")
    print(f"renders alone:     {r_wall:6.2f} s wall, {r_cpu:6.2f} s CPU, peak RSS {r_rss:4.0f} MiB "
          f"({renders['seconds']:.2f} s in the 6 renders of {renders['manifests']} manifests, the rest is start-up)")
    print(f"ratio diff/renders: {diff_wall / r_wall:.2f}x wall, {diff_cpu / r_cpu:.2f}x CPU (goal: <= 2x)")
    bump_wall, bump_cpu, bump_rss = bump_measured(tree, env)
    print(f"chartkeeper bump:  {bump_wall:6.2f} s wall, {bump_cpu:6.2f} s CPU, peak RSS {bump_rss:4.0f} MiB "
          "(a git branch with NEW vendored, the report, every environment rendered again)")
    print(f"goals (issue 23, for the real chart): diff <= 1.5 s: {'met' if diff_wall <= 1.5 else 'MISSED'} "
          f"(first run: {'met' if cold_wall <= 1.5 else 'MISSED'}); "
          f"bump <= 4 s: {'met' if bump_wall <= 4 else 'MISSED'} (wall)")
    helm = helm_binary()
    if helm:
        t0 = time.perf_counter()
        c0 = os.times()
        for e in ENVS:
            vals = yaml.safe_load((tree / "helmfile" / "environments" / f"{e}.yaml").read_text())["big"]
            vf = work / f"{e}.values.yaml"
            vf.write_text(yaml.safe_dump(vals))
            for chart in (old, new):
                subprocess.run([helm, "template", "monitoring", str(chart), "-n", "monitoring", "--kube-version", "v1.31.0",
                                "--include-crds", "-f", str(vf)], check=True, capture_output=True)
        c1 = os.times()
        cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
        print(f"helm template x6:  {time.perf_counter() - t0:6.2f} s wall, {cpu:6.2f} s CPU (baseline: {Path(helm).name} binary)")
    else:
        print("helm template: no helm binary on PATH or in .tools/bin (baseline skipped)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
