"""The command-line grammar every command shares (README, "Command line conventions").

Help is read through the in-process CLI (`invoke_cli`: the same click and typer code, the versions
installed); shell completion asks a real `python -m chartkeeper` process, as bash would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main

from chartkeeper.cli import COMMANDS, app
from tests.support.harness import assert_clean_failure, invoke_cli


def _help(*args: str) -> str:
    proc = invoke_cli([*args, "--help"], cwd=Path.cwd(), env={"COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    return re.sub(r"\s+", " ", proc.stdout)


def _commands() -> dict[str, click.Command]:
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    return dict(group.commands)


def test_command_table_is_what_the_cli_offers() -> None:
    assert list(_commands()) == [name for name, _ in COMMANDS]


@pytest.mark.parametrize("name", [name for name, _ in COMMANDS])
def test_help_shows_every_argument_help_every_choice_and_an_example(name: str) -> None:
    command = _commands()[name]
    text = _help(name)
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        help_text = getattr(param, "help", None)
        assert help_text, f"{name}: {param.name} has no help"
        assert re.sub(r"\s+", " ", help_text) in text, f"{name} --help lacks the help of {param.name}"
        if isinstance(param.type, click.Choice):
            assert "[" + "|".join(param.type.choices) + "]" in text, f"{name} --help lacks the choices of {param.name}"
    assert "Examples:" in text and f"chartkeeper {name}" in text.split("Examples:", 1)[1]
    for global_opt in ("-C, --root", "--lock", "-v, --verbose", "-q, --quiet"):
        assert global_opt in text, f"{name} --help does not offer the global option {global_opt}"


def test_root_help_lists_commands_and_completion() -> None:
    text = _help()
    for name, _ in COMMANDS:
        assert f" {name} " in text
    assert "--install-completion" in text


def test_global_options_before_or_after_the_subcommand(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "nowhere"
    before = invoke_cli(["-C", str(missing), "lint"], cwd=tmp_path)
    after = invoke_cli(["lint", "-C", str(missing)], cwd=tmp_path)
    assert before.returncode == after.returncode == 2
    no_help = [re.sub(r" \(see .*", "", p.stderr) for p in (before, after)]
    assert no_help[0] == no_help[1] and "nowhere" in no_help[0] and "does not exist" in no_help[0]
    assert list(tmp_path.iterdir()) == []


def test_values_takes_one_environment_and_refuses_two(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "chartkeeper.yaml").write_text("kubeVersion: v1.30.0\n")  # a deployment (outside one, that is the error)
    proc = invoke_cli(["values", "demo", "-e", "dev", "-e", "prod"], cwd=tmp_path)
    assert_clean_failure(proc, "one environment", "-e dev -e prod")


def test_json_is_the_machine_switch_and_format_chooses_a_human_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert_clean_failure(invoke_cli(["diff", "demo", "--json", "--format", "md"], cwd=tmp_path), "--json", "--format md")
    assert_clean_failure(invoke_cli(["diff", "demo", "--format", "pdf"], cwd=tmp_path), "--format", "pdf")


def test_deprecated_spellings_warn_and_still_work(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # the lock is missing, so both runs fail after parsing: what matters is the warning and the same outcome
    old = invoke_cli(["diff", "demo", "--format", "json"], cwd=tmp_path)
    new = invoke_cli(["diff", "demo", "--json"], cwd=tmp_path)
    assert "warning: --format json is deprecated" in old.stderr and "use --json" in old.stderr
    assert old.returncode == new.returncode == 2
    assert old.stderr.splitlines()[1:] == new.stderr.splitlines()
    bundle = invoke_cli(["bundle", "out.tgz", "--chart", "demo"], cwd=tmp_path)
    assert "warning: bundle --chart NAME is deprecated" in bundle.stderr
    assert bundle.returncode == 2


@pytest.mark.parametrize(
    "args, needle",
    [
        (["nosuch"], "nosuch"),
        (["diff"], "CHART"),
        (["lint", "--nope"], "--nope"),
        (["bump", "demo", "--fail-on", "sometimes"], "--fail-on"),
        (["diff", "demo", "--engine", "docker"], "--engine"),
        (["add", "demo"], "--repo"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    proc = invoke_cli(args, cwd=tmp_path)
    line = assert_clean_failure(proc, needle)
    assert "--help" in line
    assert proc.stderr.strip() == line  # no usage block, no "Try ..." lines
    assert list(tmp_path.iterdir()) == []


def test_bare_command_prints_help(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = invoke_cli([], cwd=tmp_path)
    assert "Usage: chartkeeper" in proc.stdout and "Commands:" in proc.stdout


@pytest.mark.parametrize(
    "words, cword, expected",
    [
        ("chartkeeper di", 1, ["diff"]),
        ("chartkeeper diff demo --eng", 3, ["--engine"]),
        ("chartkeeper diff demo --engine ", 4, ["auto", "embedded", "helm"]),
        ("chartkeeper bump demo --fail-on ", 4, ["breaking", "review"]),
    ],
)
def test_shell_completion_completes_commands_options_and_choices(tmp_path, words: str, cword: int, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    """What `chartkeeper --install-completion` wires into bash: the program answers completion requests."""
    env = {"PATH": "/usr/bin:/bin", "_CHARTKEEPER_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = subprocess.run([sys.executable, "-m", "chartkeeper"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected


def test_a_mistyped_command_or_option_gets_the_near_one_suggested(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cases = {
        ("chek",): ("no such command: chek (did you mean check?)",),
        ("imgaes",): ("no such command: imgaes (did you mean images?)",),
        ("diff", "demo", "--fromat", "md"): ("no such option: --fromat (did you mean --format?)",),
        ("bump", "demo", "--remot", "x"): ("no such option: --remot (did you mean --remote?)",),
    }
    for args, needles in cases.items():
        assert_clean_failure(invoke_cli(list(args), cwd=tmp_path), *needles)
    far = invoke_cli(["diff", "demo", "--zzz"], cwd=tmp_path)
    assert "did you mean" not in assert_clean_failure(far, "no such option: --zzz")
