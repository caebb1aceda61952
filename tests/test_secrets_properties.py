"""Property: for random trees and a credential drawn from the tree's own identifiers (a release,
namespace, environment, chart or image name, or a piece of one), no identifier field of any JSON
output changes: the outputs equal those of the same tree with a random credential (issue 22)."""

from __future__ import annotations

import json
import secrets as pysecrets
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.harness import invoke_cli

NAME = st.from_regex(r"[a-z][a-z0-9]{3,9}", fullmatch=True)

CHART = "apiVersion: v2\nname: {chart}\nversion: 0.1.0\n"
DEFAULTS = "image: {{repository: registry.example.invalid/{org}/{app}, tag: \"1.0\"}}\nauth: {{password: \"\"}}\n"
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-{{ .Chart.Name }}}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: main
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - {name: PASSWORD, valueFrom: {secretKeyRef: {name: {{ .Release.Name }}-auth, key: password}}}
---
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-auth}
stringData: {password: {{ .Values.auth.password | quote }}}
"""
HELMFILE = """\
environments:
  {env1}: {{}}
  {env2}: {{}}
---
releases:
  - name: {release}
    namespace: {namespace}
    chart: ./charts/custom/{chart}
    values:
      - values/{release}.yaml
"""


def _tree(root: Path, ids: dict[str, str], password: str) -> None:
    chart = root / "helmfile" / "charts" / "custom" / ids["chart"]
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(CHART.format(**ids))
    (chart / "values.yaml").write_text(DEFAULTS.format(**ids))
    (chart / "templates" / "app.yaml").write_text(TEMPLATE)
    (root / "helmfile" / "values").mkdir(parents=True, exist_ok=True)
    (root / "helmfile" / "helmfile.yaml").write_text(HELMFILE.format(**ids))
    (root / "helmfile" / "values" / f"{ids['release']}.yaml").write_text(f"auth:\n  password: {password}\n")
    (root / "chartkeeper.yaml").write_text("")


def _outputs(root: Path, ids: dict[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for argv in (["releases", "--json"], ["images", "--json"], ["lint", "--json"],
                 ["values", ids["release"], "-e", ids["env2"], "--json"]):
        proc = invoke_cli(argv, cwd=root)
        assert proc.returncode in (0, 1), (argv, proc.stderr)
        doc = json.loads(proc.stdout)
        if argv[0] == "lint":  # the credential findings are the one thing allowed to differ
            doc = [f for f in doc["findings"] if not f["code"].startswith("secrets.")]
        out[argv[0]] = doc
    return out


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.fixed_dictionaries({k: NAME for k in ("release", "namespace", "env1", "env2", "chart", "org", "app")}),
       pick=st.sampled_from(["release", "namespace", "env1", "env2", "chart", "org", "app"]),
       piece=st.booleans())
def test_a_credential_drawn_from_the_trees_identifiers_changes_no_identifier(tmp_path_factory, ids, pick, piece) -> None:
    if len(set(ids.values())) < len(ids) or ids["env1"] == "default" or ids["env2"] == "default":
        return  # two fields with one name say nothing more
    token = ids[pick]
    password = token[1:] if piece and len(token) >= 5 else token  # the identifier, or a piece of it
    public_root = tmp_path_factory.mktemp("public")
    random_root = tmp_path_factory.mktemp("random")
    _tree(public_root, ids, password)
    _tree(random_root, ids, "rnd" + pysecrets.token_hex(8))
    public, other = _outputs(public_root, ids), _outputs(random_root, ids)
    assert public == other
    assert ids["release"] in json.dumps(public["releases"]) and ids["org"] in json.dumps(public["images"])
