"""`chart:` lines rewritten in place: every other byte of the helmfile files stays as it was."""

from __future__ import annotations

from pathlib import Path

from chartkeeper.helmfile.rewrite import rewrite_chart_paths, rewrite_text, state_files

RELEASES = """\
# Infrastructure releases. Keep gpu-operator first: others need its CRDs.
bases:
  - ./_base.yaml

releases:
  - name: gpu-operator          # the NVIDIA stack
    namespace: gpu-operator
    chart: ../../charts/external/gpu-operator-v25.3.2   # pinned in versions.lock
    values:
      - ../../values/templates/gpu-operator.yaml.gotmpl
  - name: gpu-operator-canary
    chart: "../../charts/external/gpu-operator-v25.3.2/"
  - name: other
    chart: '../../charts/external/gpu-operator-v25.3.20'
  - chart: ../../charts/external/gpu-operator-v25.3.2\r
    name: crlf
"""


def test_only_matching_chart_lines_change(tmp_path: Path) -> None:
    d = tmp_path / "helmfile"
    f = d / "releases" / "infra" / "gpu.yaml"
    f.parent.mkdir(parents=True)
    f.write_bytes(RELEASES.encode())
    old = d / "charts" / "external" / "gpu-operator-v25.3.2"
    new = d / "charts" / "external" / "gpu-operator-v25.10.0"
    changes = rewrite_chart_paths([f], old, new)
    assert [c.line for c in changes] == [8, 12, 15]
    want = (
        RELEASES.replace(
            "chart: ../../charts/external/gpu-operator-v25.3.2   #",
            "chart: ../../charts/external/gpu-operator-v25.10.0   #",
        )
        .replace('"../../charts/external/gpu-operator-v25.3.2/"', '"../../charts/external/gpu-operator-v25.10.0/"')
        .replace("gpu-operator-v25.3.2\r", "gpu-operator-v25.10.0\r")
    )
    assert f.read_bytes() == want.encode()
    assert "gpu-operator-v25.3.20" in f.read_text()  # a different folder sharing a prefix is untouched


def test_path_resolved_relative_to_the_file_that_names_it(tmp_path: Path) -> None:
    old = tmp_path / "helmfile" / "charts" / "external" / "x-1.0.0"
    new = tmp_path / "helmfile" / "charts" / "external" / "x-1.1.0"
    text = "releases:\n- name: x\n  chart: charts/external/x-1.0.0\n"
    # From helmfile/ the path resolves; from helmfile/releases/ the same text names another folder.
    assert rewrite_text(text, tmp_path / "helmfile" / "helmfile.yaml", old, new)[1]
    assert not rewrite_text(text, tmp_path / "helmfile" / "releases" / "a.yaml", old, new)[1]


def test_templated_path_in_gotmpl_state(tmp_path: Path) -> None:
    old = tmp_path / "charts" / "external" / "x-1.0.0"
    new = tmp_path / "charts" / "external" / "x-1.1.0"
    text = '{{ $d := "charts" }}\nreleases:\n  - name: x\n    chart: {{ .Values.chartsDir }}/x-1.0.0\n'
    out, changes = rewrite_text(text, tmp_path / "helmfile.yaml.gotmpl", old, new)
    assert out == text.replace("}}/x-1.0.0", "}}/x-1.1.0")
    assert changes[0].templated


def test_state_files_skip_charts(tmp_path: Path) -> None:
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "a.yaml").write_text("releases: []\n")
    (tmp_path / "helmfile.yaml.gotmpl").write_text("")
    chart = tmp_path / "charts" / "external" / "x-1.0.0"
    chart.mkdir(parents=True)
    (chart / "Chart.yaml").write_text("name: x\n")
    (chart / "values.yaml").write_text("chart: x\n")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in state_files(tmp_path))
    assert names == ["helmfile.yaml.gotmpl", "releases/a.yaml"]
