"""Canary secrets: planted everywhere a deployment keeps them, found nowhere chartkeeper writes.

Unique canaries go into a values file (rendered into a Secret manifest by the chart), a
`secrets:` file of the release, an environment variable read by a `.gotmpl` values file (and
one that nothing reads), and the repository's basic-auth password. Templated copies: canaries
set under masked keys of the environment values are copied by a `.gotmpl` values file into a
container's postStart command string, an env var value, a ConfigMap, a URL
(`https://user:CANARY@…`) and, base64-encoded, into a Secret — so they reach output under keys
nothing masks, inside longer strings: only redaction that follows the value can hide them. Every command then runs
with `--json`, with Markdown reports, and with `-vv`; afterwards every byte of output, every
file under the test's temp folder and the cache (gzip files decompressed), every commit
message and every file the bump branch added are searched for each canary in plain, URL-encoded
and base64 form (a Secret's `data:` holds base64). The only places a canary may be are the
files the user planted it in."""

from __future__ import annotations

import base64
import os
import secrets as pysecrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.deployment import git, make_deployment
from tests.support.harness import basic_auth_forms, canary_forms, find_canaries, invoke_cli
from tests.support.httpserver import ChartRepoServer

pytestmark = pytest.mark.reliability

SECRET_TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-auth
type: Opaque
stringData:
  password: {{ .Values.auth.password | quote }}
  dbPassword: {{ .Values.db.password | default "" | quote }}
data:
  token: {{ .Values.auth.token | b64enc | quote }}
  blob: {{ .Values.encodedBlob | default "" | quote }}
"""

CONFIGMAP_TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  app.properties: {{ .Values.configText | default "" | quote }}
  database-url: {{ .Values.databaseUrl | default "" | quote }}
"""

DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: demo}
  template:
    metadata:
      labels: {app: demo}
    spec:
      containers:
        - name: demo
          image: "registry.example.invalid/demo:{{ .Values.image.tag }}"
          env:
            - name: GREETING
              value: {{ .Values.greeting | quote }}
            - name: ADMIN_INIT
              value: {{ .Values.adminInit | default "" | quote }}
          lifecycle:
            postStart:
              exec:
                command: ["sh", "-c", {{ .Values.startup.command | default "true" | quote }}]
"""

# Copies secrets of the environment values (masked at their keys) into places no key masks.
TEMPLATED_VALUES = """\
startup:
  command: "init --admin-password={{ .Values.demoAdmin.adminPassword }} --wait"
adminInit: "{{ .Values.demoAdmin.initToken }}"
configText: "admin.password={{ .Values.demoAdmin.configPassword }}"
databaseUrl: "https://ck-user:{{ .Values.demoAdmin.dbPassword }}@db.example.invalid/app"
encodedBlob: "{{ .Values.demoAdmin.blobSecret | b64enc }}"
"""


CONTROL = "ckcontrolplain" + pysecrets.token_hex(8)


def _canary(kind: str) -> str:
    return f"ckcanary{kind}{pysecrets.token_hex(8)}"


@dataclass
class Planted:
    values: str = field(default_factory=lambda: _canary("values"))
    secrets_file: str = field(default_factory=lambda: _canary("secretsfile"))
    env_read: str = field(default_factory=lambda: _canary("envread"))
    env_unread: str = field(default_factory=lambda: _canary("envunread"))
    repo_password: str = field(default_factory=lambda: _canary("repopass"))
    secret_data: str = field(default_factory=lambda: _canary("secretdata"))
    tmpl_command: str = field(default_factory=lambda: _canary("tmplcommand"))
    tmpl_env_var: str = field(default_factory=lambda: _canary("tmplenvvar"))
    tmpl_configmap: str = field(default_factory=lambda: _canary("tmplconfigmap"))
    tmpl_url: str = field(default_factory=lambda: _canary("tmplurl"))
    tmpl_base64: str = field(default_factory=lambda: _canary("tmplbase64"))

    def all(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items()}


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return canary_forms(value) + [base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")]


def _chart_versions(src: Path, repo: Path) -> None:
    for version in ("1.0.0", "1.1.0"):
        chart = write_chart(
            src / version, "demo", version, app_version=version,
            values={"replicaCount": 1, "image": {"tag": version}, "greeting": "hello",
                    "auth": {"password": "", "token": ""}, "db": {}, "startup": {"command": ""}, "adminInit": "",
                    "configText": "", "databaseUrl": "", "encodedBlob": ""},
            # 1.1.0 changes both manifests, so the rendered diff has to show (and mask) them
            templates={
                "deployment.yaml": DEPLOYMENT_TEMPLATE if version == "1.0.0" else DEPLOYMENT_TEMPLATE.replace("GREETING", "WELCOME_TEXT"),
                "secret.yaml": SECRET_TEMPLATE if version == "1.0.0" else SECRET_TEMPLATE.replace("dbPassword", "databasePassword").replace("token:", "apiToken:"),
                "configmap.yaml": CONFIGMAP_TEMPLATE if version == "1.0.0" else CONFIGMAP_TEMPLATE.replace("app.properties", "application.properties"),
            },
        )
        package_chart(chart, repo)
    build_index(repo)


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    c = Planted()
    repo = tmp_path / "repo"
    repo.mkdir()
    _chart_versions(tmp_path / "src", repo)
    cache = tmp_path / "cache"
    monkeypatch.setenv("CHARTKEEPER_CACHE_DIR", str(cache))
    monkeypatch.setenv("CHARTKEEPER_HELMFILE", "none")
    monkeypatch.setenv("GIT_OPTIONAL_LOCKS", "0")
    monkeypatch.setenv("CK_DB_PASSWORD", c.env_read)
    monkeypatch.setenv("CK_UNRELATED_TOKEN", c.env_unread)
    with ChartRepoServer(repo) as server:
        from chartkeeper.sources.credentials import env_key

        key = env_key(server.url)
        monkeypatch.setenv(f"{key}_USERNAME", "ck-reader")
        monkeypatch.setenv(f"{key}_PASSWORD", c.repo_password)
        deploy = make_deployment(tmp_path / "deploy", server.url, {"demo": "1.0.0"}, constraint={"demo": "~1.0 || ~1.1"})
        server.require_auth = ("ck-reader", c.repo_password)  # from now on the repository wants the canary
        hf = deploy / "helmfile"
        (hf / "values" / "demo.yaml").write_text(
            "# overrides for demo\nimage:\n  tag: pinned\n"
            f"auth:\n  password: {c.values}\n  token: {c.secret_data}\n"
            f"note: {CONTROL}\n"  # not a secret: the scan must find it in `values` output (a control)
        )
        (hf / "values" / "demo-db.yaml.gotmpl").write_text('db:\n  password: {{ requiredEnv "CK_DB_PASSWORD" }}\n')
        (hf / "values" / "demo-templated.yaml.gotmpl").write_text(TEMPLATED_VALUES)
        for env in ("dev", "prod"):
            with (hf / "environments" / f"{env}.yaml").open("a") as fh:
                fh.write(f"demoAdmin:\n  adminPassword: {c.tmpl_command}\n  initToken: {c.tmpl_env_var}\n"
                         f"  configPassword: {c.tmpl_configmap}\n  dbPassword: {c.tmpl_url}\n  blobSecret: {c.tmpl_base64}\n")
        (hf / "secrets").mkdir()
        (hf / "secrets" / "demo.yaml").write_text(f"greeting: {c.secrets_file}\n")
        text = (hf / "helmfile.yaml").read_text()
        text = text.replace(
            "    values:\n      - values/demo.yaml\n",
            "    values:\n      - values/demo.yaml\n      - values/demo-db.yaml.gotmpl\n      - values/demo-templated.yaml.gotmpl\n"
            "    secrets:\n      - secrets/demo.yaml\n",
            1,
        )
        (hf / "helmfile.yaml").write_text(text)
        git(deploy, "add", "-A")
        git(deploy, "commit", "-q", "-m", "values with secrets")
        yield c, deploy, server, cache


ALLOWED = {
    # canary -> files it was planted in (relative to the deployment)
    "values": {"helmfile/values/demo.yaml"},
    "secret_data": {"helmfile/values/demo.yaml"},
    "secrets_file": {"helmfile/secrets/demo.yaml"},
    **{f"tmpl_{k}": {"helmfile/environments/dev.yaml", "helmfile/environments/prod.yaml"}
       for k in ("command", "env_var", "configmap", "url", "base64")},
}
PLANTED_IN = ("values", "secrets", "environments")  # folders of helmfile/ the user planted canaries in

RUNS = [
    ["check"], ["check", "--json"], ["-vv", "check"],
    ["verify"], ["verify", "--json"],
    ["sync", "--force"], ["-vv", "sync", "--force", "--json"],
    ["releases"], ["releases", "--json"],
    ["values", "demo", "-e", "dev"], ["values", "demo", "-e", "prod", "--json"], ["-vv", "values", "demo", "-e", "dev", "--explain"],
    ["env-diff", "dev", "prod"], ["env-diff", "dev", "prod", "--json"],
    ["diff", "demo", "1.1.0"], ["diff", "demo", "1.1.0", "--format", "md"], ["diff", "demo", "1.1.0", "--json"],
    ["-vv", "diff", "demo", "1.1.0", "--format", "md", "--output", "{out}/report.md"],
    ["diff", "demo", "1.1.0", "--json", "--output", "{out}/report.json"],
    ["lint"], ["lint", "--json"], ["-vv", "lint"],
    ["images"], ["images", "--json"], ["check", "--format", "md"],
    ["bundle", "{out}/bundle.tgz"],
    ["-vv", "bump", "demo", "1.1.0", "--dry-run"],
    ["-vv", "bump", "demo", "1.1.0", "--json"],
    ["add", "other", "--chart", "demo", "--repo", "{url}", "--version", "1.0.0", "--json"],  # last: it dirties the tree
]


def test_no_canary_leaks_anywhere(planted, tmp_path: Path, reliability) -> None:
    c, deploy, server, cache = planted
    out = tmp_path / "out"
    out.mkdir()
    texts: dict[str, str] = {}
    codes: dict[str, int] = {}
    for argv in RUNS:
        args = [a.replace("{out}", str(out)).replace("{url}", server.url) for a in argv]
        proc = invoke_cli(args, cwd=deploy, timeout=300)
        label = " ".join(argv)
        texts[f"stdout of `{label}`"] = proc.stdout
        texts[f"stderr of `{label}`"] = proc.stderr
        codes[label] = proc.returncode
    # The runs must have done their work, or "nothing leaked" would mean nothing ran.
    bad = {k: v for k, v in codes.items() if v not in (0, 1)}
    assert not bad, {k: (v, texts[f"stderr of `{k}`"][-500:]) for k, v in bad.items()}
    branch = "chartkeeper/demo-1.1.0"
    assert branch in git(deploy, "branch", "--list", branch)
    texts["commit messages"] = git(deploy, "log", "--all", "--format=%H%n%B")
    for path in git(deploy, "diff", "--name-only", f"HEAD..{branch}").splitlines():
        texts[f"{branch}:{path}"] = git(deploy, "show", f"{branch}:{path}")
    assert any(p.startswith(f"{branch}:reports/") for p in texts), "the bump branch holds no report"
    texts["versions.lock"] = (deploy / "helmfile/charts/external/versions.lock").read_text()
    # the control proves the scan sees what the commands print
    assert find_canaries([CONTROL], texts={"values": texts["stdout of `values demo -e dev`"]}) != []
    # and the templated copies did travel: the command line is there, its secret part redacted
    values_out = texts["stdout of `values demo -e dev`"]
    assert "init --admin-password=*** --wait" in values_out and "https://***@db.example.invalid/app" in values_out, values_out
    assert "admin.password=***" in texts["stdout of `diff demo 1.1.0 --json`"]
    # every file on disk, except the ones the user planted a canary in
    roots = [p for p in tmp_path.iterdir() if p.name not in ("deploy", "repo", "src")] + [
        p for p in deploy.iterdir() if p.name not in ("helmfile", ".git")
    ] + [p for p in (deploy / "helmfile").iterdir() if p.name not in PLANTED_IN] + [Path(os.environ["HOME"])]
    leaks: dict[str, list[str]] = {}
    for name, value in c.all().items():
        forms = _forms(value)
        if name == "repo_password":
            forms += basic_auth_forms("ck-reader", value)
        label = name.replace("_", " ").replace("tmpl ", "templated copy: ")
        try:
            with reliability.case("canary", f"{label} ({len(RUNS)} runs, every file, git)"):
                hits = find_canaries(forms, roots=roots + [cache], texts=texts)
                for folder in PLANTED_IN:
                    for f in (deploy / "helmfile" / folder).rglob("*"):
                        rel = f.relative_to(deploy).as_posix()
                        if f.is_file() and rel not in ALLOWED.get(name, set()):
                            hits += find_canaries(forms, roots=[], texts={rel: f.read_text(errors="replace")})
                assert hits == []
        except AssertionError:
            leaks[name] = hits[:8]
    assert leaks == {}, f"canaries leaked: {leaks}"
