"""Leaking a credential into a commit: every credential chartkeeper can see is masked, used or not.

A one-line change in a merge request makes a values template copy the CI job's registry token into
the image tag the chart renders: `{{ env "CHARTKEEPER_AUTH_…_TOKEN" | quote }}`. The token is for a
registry this run never contacts, so no request would have registered it. `bump` must still keep
it out of everything it writes: no file of the bump commit (git grep across the branch), no
report, nothing it prints. The same for a token only in Docker's `config.json` and a password only
in `~/.netrc`.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.deployment import git, served_demo_deployment
from tests.support.harness import find_canaries, git_state, invoke_cli

pytestmark = pytest.mark.reliability

TOKEN = "glcbt-64_Zq8rV2mXwK4pT7nLs9Hd"
DOCKER_TOKEN = "dckr_pat_Yh3Kq9Lm2Wv7Xr5Tz"
NETRC_PASSWORD = "netrc-Pw-4f8Jk2Lq9Zx"
VARIABLE = "CHARTKEEPER_AUTH_HARBOR_CORP_INTERNAL_8443_TOKEN"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    with served_demo_deployment(tmp_path_factory.mktemp("hostile-credentials")) as (_, deploy):
        values = deploy / "helmfile" / "values"
        (values / "demo.yaml").unlink()
        # each credential lands in a value the chart renders (the image tag, an annotation-free plain key)
        (values / "demo.yaml.gotmpl").write_text(
            f'image:\n  tag: {{{{ env "{VARIABLE}" | quote }}}}\n'
            'note: {{ readFile "copied.txt" | quote }}\n')
        (values / "copied.txt").write_text(f"{DOCKER_TOKEN} {NETRC_PASSWORD}")
        hf = deploy / "helmfile" / "helmfile.yaml"
        hf.write_text(hf.read_text().replace("values/demo.yaml", "values/demo.yaml.gotmpl"))
        git(deploy, "add", "-A")
        git(deploy, "commit", "-q", "-m", "image tag from the CI job")
        yield deploy


def test_a_token_copied_by_a_values_template_reaches_no_commit(template: Path, tmp_path: Path, reliability) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(template, deploy, symlinks=True)
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps(
        {"auths": {"registry.corp.invalid": {"auth": base64.b64encode(f"ci:{DOCKER_TOKEN}".encode()).decode()}}}))
    (home / ".netrc").write_text(f"machine git.corp.invalid login ci password {NETRC_PASSWORD}\n")
    before = git_state(deploy)
    env = {VARIABLE: TOKEN, "HOME": str(home), "CHARTKEEPER_CACHE_DIR": str(tmp_path / "cache"),
           "CHARTKEEPER_HELMFILE": "none", "GIT_OPTIONAL_LOCKS": "0"}
    with reliability.case("canary", "CHARTKEEPER_AUTH_* token, Docker config and netrc secrets copied by a values template (bump)"):
        proc = invoke_cli(["-C", str(deploy), "bump", "demo", "1.1.0", "--json"], cwd=deploy, env=env)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        result = json.loads(proc.stdout)
        branch = result["branch"]
        assert git_state(deploy) == before  # bump writes on its branch only
        secrets = [TOKEN, DOCKER_TOKEN, NETRC_PASSWORD]
        # the committed tree of the branch, every file (git grep exits 1 when nothing matches)
        for secret in secrets:
            grep = subprocess.run(["git", "-C", str(deploy), "grep", "-F", "-l", secret, branch],
                                  capture_output=True, text=True)
            leaked = [p for p in grep.stdout.splitlines() if not p.endswith(("values/demo.yaml.gotmpl", "values/copied.txt"))]
            assert grep.returncode in (0, 1) and not leaked, f"{secret[:6]}… in the bump commit: {leaked}"
        message = git(deploy, "log", "-1", "--format=%B", branch)
        report = git(deploy, "show", f"{branch}:{result['report']}")
        assert TOKEN not in report and "***" in report  # the template's copy is there, masked
        assert not find_canaries(secrets, texts={"stdout": proc.stdout, "stderr": proc.stderr, "message": message})
