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

`--big` adds (`--only-big`: only) the line for a large tree shaped like the public repositories
of issue 18: 60 sub-helmfiles with 150 releases in all, each sub-helmfile with a `bases:`
environments file, a `templates:` anchor (`<<: *default`) carrying `chart`, `namespace`,
`installedTemplate` and a values list templated on `{{ .Release.Name }}`, a shared `.gotmpl`
values template with `include` of a `_helpers.tpl` define, `get` with defaults, `toYaml`. It
times chartkeeper computing every release's values of one environment in a fresh process
against `helmfile write-values --skip-deps` for the same environment, in the same run
(goal <= 0.5x), and checks the values are identical.

Every run also prints the one-release line: `chartkeeper values <release> -e prod --json` (the
real CLI, a fresh process: interpreter, imports, model) against `helmfile --skip-deps
write-values` for that release alone (`--selector name=<release>`), interleaved in the same run,
and the ratio (goal <= 1.5x).
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


BIG_ENV = "prod"


def generate_big(root: Path, n_subs: int = 60, n_releases: int = 150) -> Settings:
    """The issue-18 shaped tree (see the module docstring)."""
    files: dict[str, str] = {
        "helmfile.yaml": "environments:\n  dev:\n    values:\n    - environments/common.yaml\n    - environments/dev.yaml\n"
        "  prod:\n    values:\n    - environments/common.yaml\n    - environments/prod.yaml\n---\nhelmfiles:\n"
        + "".join(f"- path: services/s{i:02d}/helmfile.yaml\n" for i in range(n_subs)),
        "environments.yaml": "environments:\n  dev:\n    values:\n    - ../../environments/common.yaml\n    - ../../environments/dev.yaml\n"
        "  prod:\n    values:\n    - ../../environments/common.yaml\n    - ../../environments/prod.yaml\n",
        "environments/common.yaml": "registry: registry.local:5000\ndomain: example.org\nresources:\n  limits: {cpu: 500m, memory: 512Mi}\n"
        "replicas: 1\ndisabled: []\nmonitoring: {enabled: true, interval: 30s}\n",
        "environments/dev.yaml": "domain: dev.example.org\ndisabled: [r003, r010]\n",
        "environments/prod.yaml": "replicas: 3\ndisabled: [r005]\nresources:\n  limits: {cpu: '2', memory: 2Gi}\n",
        "values/_helpers.tpl": '{{- define "image" }}{{ .registry }}/{{ .name }}:{{ .tag }}{{ end }}\n',
        "values/common.yaml.gotmpl": (
            "image: {{ include \"image\" (dict \"registry\" .Values.registry \"name\" .Release.Name \"tag\" \"1.0\") }}\n"
            "replicaCount: {{ .Values.replicas }}\n"
            "ingress:\n  host: {{ .Release.Name }}.{{ .Values.domain }}\n"
            "resources:\n{{ toYaml .Values.resources | indent 2 }}\n"
            "monitoring: {{ .Values | get \"monitoring\" dict | toJson }}\n"
            "storageClass: {{ .Values | get \"storageClass\" \"standard\" }}\n"
            "namespace: {{ .Release.Namespace }}\n"
        ),
    }
    for k in range(10):
        files[f"charts/c{k}/Chart.yaml"] = f"apiVersion: v2\nname: c{k}\nversion: 1.0.{k}\n"
        files[f"charts/c{k}/values.yaml"] = "image: x\n"
    for n in range(n_releases):
        sub = n % n_subs
        name = f"r{n:03d}"
        files[f"services/s{sub:02d}/values/{name}.yaml"] = (
            f"service:\n  port: {8000 + n}\nenv:\n" + "".join(f"  VAR_{j}: value-{n}-{j}\n" for j in range(15))
        )
    for sub in range(n_subs):
        names = [f"r{n:03d}" for n in range(sub, n_releases, n_subs)]
        files[f"services/s{sub:02d}/helmfile.yaml"] = (
            "bases:\n- ../../environments.yaml\n---\n"
            "templates:\n  default: &default\n"
            f"    chart: ../../charts/c{sub % 10}\n    namespace: team{sub % 7}\n"
            "    installedTemplate: '{{`{{ not (has .Release.Name .Environment.Values.disabled) }}`}}'\n"
            "    values:\n    - ../../values/common.yaml.gotmpl\n    - values/{{`{{ .Release.Name }}`}}.yaml\n"
            "releases:\n"
            + "".join(
                f"- name: {nm}\n  <<: *default\n  labels: {{service: s{sub:02d}}}\n  set:\n  - name: image.tag\n    value: \"1.{i}\"\n"
                for i, nm in enumerate(names)
            )
        )
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return Settings(root=root.resolve(), helmfile_path=Path("helmfile.yaml"))


def embedded_env(settings: Settings, env: str) -> dict:
    state = load_state(settings, env)
    return {(r.namespace, r.name): effective_values(state, r).file_values for r in state.releases if r.active}


def big_line(work: Path, runs: int) -> bool:
    """One environment of the big tree: chartkeeper in a fresh process against helmfile write-values."""
    import subprocess

    from chartkeeper.helmfile import binary

    settings = generate_big(work / "big")
    exe = find_helmfile(REPO)
    code = (
        "import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
        "from pathlib import Path\nfrom chartkeeper.settings import Settings\nimport values_bench as vb\n"
        "vb.embedded_env(Settings(root=Path(%r), helmfile_path=Path('helmfile.yaml')), %r)\n"
    ) % (str(REPO), str(Path(__file__).parent), str(settings.root), BIG_ENV)
    ours_t, theirs_t = [], []
    theirs: dict = {}
    for _ in range(runs):  # interleaved, so a busy machine slows both sides alike
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        ours_t.append(time.perf_counter() - t0)
        if exe is not None:
            binary._write_values_cached.cache_clear()
            t0 = time.perf_counter()
            theirs = write_values(exe, settings.helmfile_file, BIG_ENV)
            theirs_t.append(time.perf_counter() - t0)
    ours = embedded_env(settings, BIG_ENV)
    med = statistics.median
    print(f"big tree: 60 sub-helmfiles, 150 releases ({len(ours)} installed in {BIG_ENV}), templates and anchors, {runs} interleaved runs")
    print(f"  chartkeeper, fresh process, every release of {BIG_ENV}: median {med(ours_t):.3f} s")
    if exe is None:
        print("  helmfile: not found (PATH, $CHARTKEEPER_HELMFILE, .tools/bin); no ratio")
        return True
    print(f"  helmfile write-values --skip-deps -e {BIG_ENV}: median {med(theirs_t):.3f} s")
    print(f"  ratio chartkeeper / helmfile: {med(ours_t) / med(theirs_t):.3f}x (goal <= 0.5x)")
    same = ours == theirs
    print(f"  values identical: {same}")
    return same


ONE_ENV = "prod"


def one_release_line(settings: Settings, exe: Path | None, runs: int, release: str = "app00") -> bool:
    """`chartkeeper values` for one release in a fresh process against helmfile write-values for it."""
    import json
    import os
    import subprocess

    from chartkeeper.helmfile.binary import find_helm_for

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    ours_cmd = [sys.executable, "-m", "chartkeeper", "-C", str(settings.root), "values", release, "-e", ONE_ENV, "--json"]
    theirs_cmd = None
    if exe is not None:
        theirs_cmd = [str(exe), "--file", str(settings.helmfile_file), "--environment", ONE_ENV, "--quiet",
                      "--selector", f"name={release}"]
        helm = find_helm_for(exe)
        if helm is not None:
            theirs_cmd += ["--helm-binary", str(helm)]
    ours_t, theirs_t = [], []
    with tempfile.TemporaryDirectory(prefix="ck-one-release-") as tmp:
        template = str(Path(tmp) / "{{ .Release.Name }}.yaml")
        for _ in range(runs):  # interleaved, so a busy machine slows both sides alike
            t0 = time.perf_counter()
            proc = subprocess.run(ours_cmd, check=True, capture_output=True, text=True, env=env)
            ours_t.append(time.perf_counter() - t0)
            assert json.loads(proc.stdout)["releases"][0]["name"] == release, proc.stdout[:200]
            if theirs_cmd is not None:
                t0 = time.perf_counter()
                subprocess.run(theirs_cmd + ["write-values", "--skip-deps", "--output-file-template", template],
                               check=True, capture_output=True, cwd=settings.helmfile_file.parent)
                theirs_t.append(time.perf_counter() - t0)
        import yaml

        theirs = yaml.safe_load((Path(tmp) / f"{release}.yaml").read_text()) if theirs_cmd is not None else None
    med = statistics.median
    print(f"one release ({release}, {ONE_ENV}), each in a fresh process, {runs} interleaved runs:")
    print(f"  chartkeeper values {release} -e {ONE_ENV} --json: median {med(ours_t):.3f} s")
    if theirs_cmd is None:
        print("  helmfile: not found (PATH, $CHARTKEEPER_HELMFILE, .tools/bin); no ratio")
        return True
    print(f"  helmfile --skip-deps write-values --selector name={release} -e {ONE_ENV}: median {med(theirs_t):.3f} s")
    print(f"  ratio chartkeeper / helmfile: {med(ours_t) / med(theirs_t):.2f}x (goal <= 1.5x)")
    # write-values leaves `set:` out, so compare what the values files give (the CLI adds `set:` on top)
    ours = [v for (ns, name), v in embedded_env(settings, ONE_ENV).items() if name == release]
    same = ours == [theirs]
    print(f"  values identical (values files; `set:` entries aside): {same}")
    return same


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
    ap.add_argument("--big", action="store_true", help="also time the 60 x 150 tree (one environment)")
    ap.add_argument("--only-big", action="store_true", help="only time the 60 x 150 tree")
    args = ap.parse_args()
    if args.only_big:
        work = Path(tempfile.mkdtemp(prefix="ck-values-bench-"))
        try:
            return 0 if big_line(work, args.runs) else 1
        finally:
            shutil.rmtree(work, ignore_errors=True)
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
        same = one_release_line(settings, exe, args.runs) and same
        if args.big:
            same = big_line(work, args.runs) and same
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
