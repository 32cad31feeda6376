"""`--help` explains itself: every stage script and the benchmark describe each flag (the
benchmark with its default) and say which settings they take from params.yaml."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import PROJECT

STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]
OPTION = re.compile(r"^  (--[a-z-]+)(?: [A-Z]+)?(?: {2,}(\S.*))?$")


def run_help(*argv) -> str:
    result = subprocess.run(
        [sys.executable, *argv, "--help"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(PROJECT / "src")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def option_texts(help_text: str) -> dict:
    """{"--flag": its help text, continuation lines joined} from argparse's options list."""
    texts, current = {}, None
    for line in help_text.splitlines():
        if match := OPTION.match(line):
            current = match.group(1)
            texts[current] = match.group(2) or ""
        elif current and line.startswith(" " * 8):
            texts[current] = (texts[current] + " " + line.strip()).strip()
        else:
            current = None
    return texts


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_explains_every_flag_dvc_passes_and_where_its_settings_are(stage):
    cmd = STAGES[stage]["cmd"].split()
    text = run_help(cmd[1])
    documented = option_texts(text)
    assert set(documented) == {arg for arg in cmd if arg.startswith("--")}, text
    assert all(documented.values()), f"a flag of {cmd[1]} has no help text:\n{text}"
    assert "Settings from params.yaml: " in text and f"dvc repro {stage}" in text


def test_the_benchmark_explains_every_flag_with_its_default():
    text = run_help("-m", "fmnist.bench")
    documented = option_texts(text)
    flags = {"--raw-dir", "--epochs", "--rounds", "--tutorial-epochs", "--profile", "--record"}
    assert flags <= set(documented), text
    for flag, help_text in documented.items():
        assert re.search(r"\S.*\(default: .+\)$", help_text), f"{flag}: {help_text!r}"
    assert "Settings from params.yaml: " in text


def test_the_loop_benchmark_explains_its_flags():
    documented = option_texts(run_help("-m", "fmnist.loop_bench"))
    assert {"--rounds", "--against", "--record"} <= set(documented)
    assert all(documented.values())
