"""Every computing process runs with one thread and AVX2 kernels whatever the shell says
(fmnist.guards.cpu); a variable set otherwise is replaced, and the stage says so in one
line. (That the bytes then equal the committed ones: tests/test_end_to_end.py.)"""

import json
import subprocess
import sys

import pytest

from conftest import PROJECT
from fmnist.guards.cpu import PINNED

STAGE = "from fmnist.guards.stage_runner import run_stage; run_stage('stage', lambda: None)"
# What a process started by a stage sees (dist_sync workers inherit the launcher's environment).
CHILD = (
    "import fmnist, subprocess, sys; subprocess.run([sys.executable, '-c', "
    "'import json, os; print(json.dumps(dict(os.environ)))'])"
)


def run(code: str, **variables) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(PROJECT / "src"), **variables}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_stage_names_every_variable_it_replaced_in_one_line():
    shell = {"OMP_NUM_THREADS": "4", "DNNL_MAX_CPU_ISA": "SSE41", "MKL_NUM_THREADS": "1"}
    result = run(STAGE, **shell)
    assert result.stderr == (
        "stage: note: replaced DNNL_MAX_CPU_ISA='SSE41' by 'AVX2', OMP_NUM_THREADS='4' by "
        "'1': every computation runs on one thread with AVX2 kernels, as the committed "
        "results did (docs/reproducibility.md)\n"
    )


@pytest.mark.parametrize("shell", [{}, {"OMP_NUM_THREADS": "1", "DNNL_MAX_CPU_ISA": "AVX2"}])
def test_a_stage_says_nothing_when_nothing_was_replaced(shell):
    assert run(STAGE, **shell).stderr == ""


def test_processes_a_stage_starts_inherit_the_pinned_values():
    result = run(CHILD, OMP_NUM_THREADS="8", MXNET_OMP_MAX_THREADS="8")
    seen = json.loads(result.stdout)
    assert {name: seen[name] for name in PINNED} == PINNED
