"""How long the embedded helmfile model takes to compute every release's values, against helmfile.

Generates a ten-release deployment shaped like the Astrago tree (environments layered base ->
env, one sub-helmfile per tier with a shared `_base.yaml`, a `.gotmpl` values template per
release using `.Values.offline.registry`, a plain values file and an inline map, `set:` entries),
then times, for every environment:

- the embedded model: `load_state` + `effective_values` for every release (a fresh model per
  run; the first run in the process also pays for loading Helm's engine and is reported apart);
- `helmfile write-values --skip-deps` on the same tree, when a helmfile binary is found
  (PATH, $CHARTKEEPER_HELMFILE or .tools/bin), and the ratio embedded / helmfile (goal < 0.1);
  once more without `--skip-deps`, as helmfile runs by default.

It also checks that both give the same values, so the timing compares equal work.

    python bench/values_bench.py [--releases 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chartkeeper.helmfile import effective_values, list_environments, load_state  # noqa: E402
from chartkeeper.helmfile.binary import find_helmfile, write_values  # noqa: E402
from chartkeeper.settings import Settings  # noqa: E402

TIERS = ["infrastructure", "monitoring", "security", "applications"]
ENVS = ["dev", "stage", "prod"]


def generate(root: Path, n_releases: int) -> Settings:
    hf = root / "helmfile"
    envs = "\n".join(
        f"  {e}:\n    values:\n    - environments/base/values.yaml\n    - environments/{e}/values.yaml" for e in ENVS
    )
    files: dict[str, str] = {
        "helmfile/helmfile.yaml": f"environments:\n{envs}\nhelmDefaults:\n  wait: true\n  timeout: 600\n---\nhelmfiles:\n"
        + "".join(f"- path: releases/{t}/_base.yaml\n" for t in TIERS),
        "helmfile/environments/base/values.yaml": "offline:\n  registry: \"\"\nglobal:\n  domain: example.local\n  storageClass: nfs\n"
        "  resources: {limits: {cpu: 1, memory: 1Gi}}\nreplicas: 1\n",
        "helmfile/.helmfile/environments.yaml": "environments:\n"
        + "\n".join(
            f"  {e}:\n    values:\n    - ../../environments/base/values.yaml\n    - ../../environments/{e}/values.yaml" for e in ENVS
        )
        + "\n",
    }
    for i, e in enumerate(ENVS):
        reg = '"registry.airgap.internal:5000"' if e == "prod" else '""'
        files[f"helmfile/environments/{e}/values.yaml"] = (
            f"offline:\n  registry: {reg}\nglobal:\n  domain: {e}.example.org\nreplicas: {i + 1}\n"
        )
    per_tier: dict[str, list[str]] = {t: [] for t in TIERS}
    for n in range(n_releases):
        name = f"app{n:02d}"
        tier = TIERS[n % len(TIERS)]
        per_tier[tier].append(name)
        files[f"helmfile/charts/external/{name}-1.0.{n}/Chart.yaml"] = f"apiVersion: v2\nname: {name}\nversion: 1.0.{n}\n"
        files[f"helmfile/charts/external/{name}-1.0.{n}/values.yaml"] = "image: {repository: x, tag: y}\n"
        files[f"helmfile/values/templates/{name}.yaml.gotmpl"] = (
            "image:\n"
            "  repository: {{ .Values.offline.registry | default \"docker.io\" }}/example/" + name + "\n"
            "replicaCount: {{ .Values.replicas }}\n"
            "ingress:\n  host: " + name + ".{{ .Values.global.domain }}\n"
            "env: {{ .Environment.Name }}\n"
            "release: {{ .Release.Name }}\n"
            "resources:\n{{ toYaml .Values.global.resources | indent 2 }}\n"
            "persistence:\n  storageClass: {{ .Values | get \"global.storageClass\" \"standard\" }}\n"
        )
        files[f"helmfile/values/{name}.yaml"] = (
            "service:\n  type: ClusterIP\n  port: 80\nnodeSelector: {}\ntolerations:\n- key: dedicated\n  value: " + name + "\n"
            "podAnnotations: null\n" + "".join(f"extra{k}:\n  a: {k}\n  b: [1, 2, 3]\n" for k in range(20))
        )
        files[f"helmfile/releases/{tier}/{name}.yaml"] = (
            f"releases:\n- name: {name}\n  namespace: {tier}\n  chart: ../../charts/external/{name}-1.0.{n}\n"
            f"  labels: {{tier: {tier}}}\n  values:\n  - ../../values/templates/{name}.yaml.gotmpl\n"
            f"  - ../../values/{name}.yaml\n  - inline: {{from: state}}\n"
            f"  set:\n  - name: image.tag\n    value: \"1.0.{n}\"\n"
        )
    for tier, names in per_tier.items():
        files[f"helmfile/releases/{tier}/_base.yaml"] = "bases:\n  - ../../.helmfile/environments.yaml\n" + "".join(
            f"  - {n}.yaml\n" for n in names
        ) + "helmDefaults:\n  wait: true\n"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    del hf
    return Settings(root=root.resolve(), helmfile_path=Path("helmfile/helmfile.yaml"))


def embedded(settings: Settings) -> dict:
    out = {}
    for env in list_environments(settings):
        state = load_state(settings, env)
        for r in state.releases:
            if r.active:
                out[(env, r.namespace, r.name)] = effective_values(state, r).file_values
    return out


def _helmfile_default_mode(exe: Path, settings: Settings, work: Path) -> float:
    import subprocess

    from chartkeeper.helmfile.binary import find_helm_for

    helm = find_helm_for(exe)
    t0 = time.perf_counter()
    for env in ENVS:
        cmd = [str(exe), "--file", str(settings.helmfile_file), "--environment", env, "--quiet"]
        if helm is not None:
            cmd += ["--helm-binary", str(helm)]
        out = str(work / "default-mode" / "{{ .Release.Name }}.yaml")
        subprocess.run(cmd + ["write-values", "--output-file-template", out], check=True, capture_output=True)
    return time.perf_counter() - t0


def _fresh_process(settings: Settings) -> float:
    """Wall time of a new Python process computing every environment's values (what a CLI run pays)."""
    import subprocess

    code = (
        "import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
        "from pathlib import Path\nfrom chartkeeper.settings import Settings\nimport values_bench as vb\n"
        "vb.embedded(Settings(root=Path(%r), helmfile_path=Path('helmfile/helmfile.yaml')))\n"
    ) % (str(REPO), str(Path(__file__).parent), str(settings.root))
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        took = time.perf_counter() - t0
        best = took if best is None else min(best, took)
    assert best is not None
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--releases", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from chartkeeper.helmfile import binary, clear_caches

    work = Path(tempfile.mkdtemp(prefix="ck-values-bench-"))
    try:
        settings = generate(work, args.releases)
        t0 = time.perf_counter()
        import helm_python  # noqa: F401 - the one-time cost of loading Helm's engine

        engine = time.perf_counter() - t0
        exe = find_helmfile(REPO)
        ours = embedded(settings)
        cold, warm, hf = [], [], []
        theirs: dict = {}
        # interleaved, so a busy machine slows both sides alike
        for _ in range(args.runs):
            clear_caches()
            t0 = time.perf_counter()
            embedded(settings)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            embedded(settings)
            warm.append(time.perf_counter() - t0)
            if exe is not None:
                binary._write_values_cached.cache_clear()
                t0 = time.perf_counter()
                for env in ENVS:
                    for (ns, name), vals in write_values(exe, settings.helmfile_file, env).items():
                        theirs[(env, ns, name)] = vals
                hf.append(time.perf_counter() - t0)
        fresh = _fresh_process(settings)
        med = statistics.median
        print(f"deployment: {args.releases} releases x {len(ENVS)} environments ({len(ours)} release values), {args.runs} interleaved runs")
        print(f"loading Helm's engine (import helm_python, once per process): {engine:.3f} s")
        print(f"embedded model, first pass in a process (caches empty): median {med(cold):.3f} s")
        print(f"embedded model, again in the same process (files unchanged): median {med(warm):.3f} s")
        print(f"embedded model, fresh process (interpreter, imports, engine, all environments): best of 3 {fresh:.3f} s")
        if exe is None:
            print("helmfile: not found (PATH, $CHARTKEEPER_HELMFILE, .tools/bin); no ratio")
            return 0
        h = med(hf)
        print(f"helmfile write-values --skip-deps, the same {len(ENVS)} environments: median {h:.3f} s")
        print(
            f"ratio embedded / helmfile: first pass {med(cold) / h:.3f}x, again {med(warm) / h:.3f}x, "
            f"fresh process {fresh / h:.3f}x (goal < 0.1x)"
        )
        full = _helmfile_default_mode(exe, settings, work)
        print(
            f"helmfile write-values as a user runs it (no --skip-deps: `helm dependency build` per local chart), "
            f"once: {full:.3f} s; ratio first pass {med(cold) / full:.3f}x, again {med(warm) / full:.3f}x"
        )
        same = ours == theirs
        print(f"values identical: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
