"""Redaction never touches structure: a credential that is also a public token of the deployment
(a chart, environment or namespace name, part of an image) is masked at its key only, and every
other line of every output is the same as with a random credential (issue 22)."""

from __future__ import annotations

import json
import re
import secrets as pysecrets
from pathlib import Path

import pytest

from tests.support.charts import build_index, package_chart, write_chart
from tests.support.deployment import git, make_deployment
from tests.support.harness import invoke_cli
from tests.support.httpserver import ChartRepoServer

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      serviceAccountName: {{ .Release.Name }}
      automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
      containers:
        - name: server
          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: DB_HOST
              value: "{{ .Release.Name }}-db.{{ .Release.Namespace }}"
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-auth
stringData:
  admin-password: {{ .Values.auth.adminPassword | quote }}
  user-password: {{ .Values.auth.userPassword | quote }}
  db-password: {{ .Values.db.password | quote }}
"""

PUBLIC = {"admin": "keycloak", "user": "astrago", "db": "platform"}  # the chart, an environment (and image part), the namespace


def _chart(src: Path, version: str, tag: str, automount: bool) -> Path:
    return write_chart(
        src / version, "keycloak", version, app_version=tag,
        values={"image": {"registry": "docker.io", "repository": "xiilab/astrago-backend", "tag": tag},
                "auth": {"adminPassword": "", "userPassword": ""}, "db": {"password": ""},
                "serviceAccount": {"automountServiceAccountToken": automount}},
        templates={"deployment.yaml": DEPLOYMENT},
    )


def _values(creds: dict[str, str]) -> str:
    return (f"auth:\n  adminPassword: {creds['admin']}\n  userPassword: {creds['user']}\n"
            f"db:\n  password: {creds['db']}\nimage:\n  tag: pinned-1\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("public-secrets")
    repo = tmp / "repo"
    repo.mkdir()
    for version, tag, automount in (("1.0.0", "1.0.0", True), ("1.1.0", "1.1.0", False)):
        package_chart(_chart(tmp / "src", version, tag, automount), repo)
    build_index(repo)
    with ChartRepoServer(repo) as server:
        root = make_deployment(tmp / "deploy", server.url, {"keycloak": "1.0.0"})
        hf = root / "helmfile"
        (hf / "environments.yaml").write_text(
            "environments:\n  default:\n    values:\n      - environments/dev.yaml\n"
            "  astrago:\n    values:\n      - environments/prod.yaml\n")
        (hf / "helmfile.yaml").write_text(
            "bases:\n  - environments.yaml\n---\nreleases:\n  - name: keycloak\n    namespace: platform\n"
            "    chart: ./charts/external/keycloak-1.0.0\n    values:\n      - values/keycloak.yaml\n")
        (hf / "values" / "keycloak.yaml").write_text(_values(PUBLIC))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "keycloak with the credentials a team really uses")
        yield root, server


COMMANDS = [
    ["images", "--env", "default", "--format", "list"],
    ["images", "--json"],
    ["lint", "--json"],
    ["releases", "--json"],
    ["values", "keycloak", "-e", "astrago", "--explain"],
    ["diff", "keycloak", "1.1.0", "--json"],
    ["diff", "keycloak", "1.1.0", "--format", "md"],
    ["bump", "keycloak", "1.1.0"],
]


def _run_all(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for argv in COMMANDS:
        proc = invoke_cli(argv, cwd=root)
        out[" ".join(argv)] = proc.stdout + proc.stderr
        assert proc.returncode in (0, 1), (argv, proc.stderr[-2000:])
    branch = "chartkeeper/keycloak-1.1.0"
    out["commit message"] = git(root, "log", "-1", "--format=%B", branch)
    for path in git(root, "diff", "--name-only", f"HEAD..{branch}").splitlines():
        if path.startswith("reports/"):
            out[path] = git(root, "show", f"{branch}:{path}")
    return out


def _reset(root: Path) -> None:
    git(root, "checkout", "-q", "main")
    git(root, "branch", "-q", "-D", "chartkeeper/keycloak-1.1.0")


def test_public_credentials_change_no_line_but_their_own(site) -> None:
    root, _server = site
    public = _run_all(root)
    _reset(root)
    hf = root / "helmfile"
    random = {k: "rnd" + pysecrets.token_hex(6) for k in PUBLIC}
    (hf / "values" / "keycloak.yaml").write_text(_values(random))
    git(root, "commit", "-qam", "random credentials")
    try:
        other = _run_all(root)
    finally:
        _reset(root)
        git(root, "reset", "-q", "--hard", "HEAD~1")
    assert public.keys() == other.keys()
    for name in public:
        a = _comparable(public[name])
        b = _comparable(other[name])
        assert a == b, f"{name} differs:\n" + "\n".join(
            f"- {x}\n+ {y}" for x, y in zip(a, b) if x != y)[:3000]
    # the identifiers really are there, unmasked, and the credentials are masked at their keys
    assert "docker.io/xiilab/astrago-backend:pinned-1" in public["images --env default --format list"]
    assert "--environment astrago" in public["bump keycloak 1.1.0"]
    assert re.search(r"adminPassword: .?\*\*\*", public["values keycloak -e astrago --explain"])
    assert "Chartkeeper-Bump: keycloak 1.0.0 -> 1.1.0" in public["commit message"]
    # the weak credentials are listed as already true before the upgrade, never as upgrade findings
    weak = [f for f in json.loads(public["diff keycloak 1.1.0 --json"])["findings"] if f["code"].startswith("secrets.")]
    assert {f["path"] for f in weak} == {"auth.adminPassword", "auth.userPassword", "db.password"}
    assert all(f["introduced"] is False for f in weak)
    assert not [f for f in json.loads(other["diff keycloak 1.1.0 --json"])["findings"] if f["code"].startswith("secrets.")]


_SHA = re.compile(r"\b[0-9a-f]{7,40}\b")
_SECS = re.compile(r"\d{4}-\d\d-\d\dT[\d:]+Z|\d+(\.\d+)?\s?(s|ms)\b")


_ALREADY = re.compile(r",? ?\(?and \d+ already true[^)\n]*\)?|,? \d+ already true[^,)\n]*")
_FREF = re.compile(r"\b[Ff]\d+\b")


def _comparable(text: str) -> list[str]:
    """Lines with commit ids, timings and finding numbers normalised, and the credential findings
    (which only the public credentials have: lint's, and the report's "already true" section) left
    out: everything else must be the same line for line."""
    if text.lstrip().startswith("{") and '"findings"' in text:
        try:
            doc = json.loads(text[: text.rindex("}") + 1])
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("findings"), list):
            doc["findings"] = [f for f in doc["findings"] if not str(f.get("code", "")).startswith("secrets.")]
            for key in ("counts", "ok", "actions"):
                doc.pop(key, None)
            text = json.dumps(doc, indent=2)
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line.startswith("## Already true before this upgrade")
        if skipping or re.search(r"\bsecrets\.(public-value|known-default|plaintext)\b|^already true before", line):
            continue
        line = _ALREADY.sub("", _FREF.sub("F#", line))
        out.append(_SECS.sub("<t>", _SHA.sub("<sha>", line)))
    return out


def test_bump_twice_with_a_credential_equal_to_the_chart_name_recognises_its_branch(site) -> None:
    root, _server = site
    first = invoke_cli(["bump", "keycloak", "1.1.0"], cwd=root)
    try:
        assert first.returncode in (0, 1), first.stderr
        assert "Chartkeeper-Bump: keycloak 1.0.0 -> 1.1.0" in git(root, "log", "-1", "--format=%B", "chartkeeper/keycloak-1.1.0")
        again = invoke_cli(["bump", "keycloak", "1.1.0"], cwd=root)
        assert again.returncode == 0, again.stderr
        assert "did not make" not in again.stderr and "already holds" in again.stdout + again.stderr
    finally:
        git(root, "checkout", "-q", "main")
        git(root, "branch", "-q", "-D", "chartkeeper/keycloak-1.1.0")


def test_lint_names_weak_credentials_by_key_and_line_never_by_value(site) -> None:
    root, _server = site
    proc = invoke_cli(["lint", "--json"], cwd=root)
    doc = json.loads(proc.stdout)
    found = {(f["code"], f["path"]): f for f in doc["findings"] if f["code"].startswith("secrets.")}
    assert set(found) == {("secrets.public-value", p) for p in ("auth.adminPassword", "auth.userPassword", "db.password")}
    admin = found[("secrets.public-value", "auth.adminPassword")]
    assert admin["file"] == "helmfile/values/keycloak.yaml" and admin["line"] == 2
    assert "the chart name `keycloak`" in admin["message"] or "`keycloak`" in admin["message"]
    assert "environment name `astrago`" in found[("secrets.public-value", "auth.userPassword")]["message"]
    assert "namespace `platform`" in found[("secrets.public-value", "db.password")]["message"]
    # identical findings of the two environments are one row naming both
    assert admin["environments"] == ["default", "astrago"]


def test_lint_reports_plaintext_credentials_once_per_file_where_the_tree_keeps_other_secrets(site) -> None:
    root, _server = site
    values = root / "helmfile" / "values" / "keycloak.yaml"
    text = values.read_text()
    assert not any(f["code"] == "secrets.plaintext" for f in json.loads(invoke_cli(["lint", "--json"], cwd=root).stdout)["findings"])
    values.write_text(text + "smtp:\n  password: ref+vault://secret/keycloak#smtp\n")  # the tree does use a secrets mechanism
    try:
        doc = json.loads(invoke_cli(["lint", "--json"], cwd=root).stdout)
    finally:
        values.write_text(text)
    plain = [f for f in doc["findings"] if f["code"] == "secrets.plaintext"]
    assert len(plain) == 1 and plain[0]["file"] == "helmfile/values/keycloak.yaml" and plain[0]["severity"] == "info"
    assert "3 credential(s)" in plain[0]["message"] and "keycloak" not in plain[0]["message"].split(":", 1)[1]
