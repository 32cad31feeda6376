"""Every computing process runs with one thread, AVX2 kernels and the libraries' defaults
whatever the shell says (fmnist.guards.cpu): a pinned variable set otherwise is replaced, any
other variable of the computing libraries' families is removed, and the stage says so in one
line. (That the bytes then equal the committed ones: tests/test_end_to_end.py.)"""

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROJECT
from fmnist.guards.cpu import CLOSED_FAMILIES, OPENBLAS_KERNEL, close_environment, cpu_flags
from settings_faults import SETTINGS_FAULTS

STAGE = "from fmnist.guards.stage_runner import run_stage; run_stage('stage', lambda: None)"
# What a process started by a stage sees (dist_sync workers inherit the launcher's environment).
CHILD = (
    "import fmnist, subprocess, sys; subprocess.run([sys.executable, '-c', "
    "'import json, os; print(json.dumps(dict(os.environ)))'])"
)
# The kernel OpenBLAS (in MXNet's wheel, on the scratch model's `dot` path) really chose.
OPENBLAS_CORE = (
    "import fmnist, ctypes, mxnet; lib = mxnet.base._LIB; "
    "lib.openblas_get_corename.restype = ctypes.c_char_p; "
    "print(lib.openblas_get_corename().decode())"
)
HAS_AVX2 = {"avx2", "fma"} <= cpu_flags()


def run(code: str, **variables) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(PROJECT / "src"), "PATH": os.environ["PATH"], **variables}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def pinned_in_child() -> dict:
    return json.loads(
        run("import json, fmnist.guards.cpu as c; print(json.dumps(c.pinned))").stdout
    )


def test_a_stage_names_every_variable_it_replaced_or_removed_in_one_line():
    shell = {
        "OMP_NUM_THREADS": "4",
        "DNNL_MAX_CPU_ISA": "SSE41",
        "MKL_NUM_THREADS": "1",
        "MXNET_MKLDNN_ENABLED": "0",
    }
    result = run(STAGE, **shell)
    assert result.stderr == SETTINGS_FAULTS["threads"].message(stage="stage") + "\n"


def test_a_stage_says_nothing_when_nothing_was_replaced():
    assert run(STAGE).stderr == ""
    assert run(STAGE, **pinned_in_child()).stderr == ""


def test_processes_a_stage_starts_inherit_the_closed_environment():
    result = run(CHILD, OMP_NUM_THREADS="8", MXNET_OMP_MAX_THREADS="8", MXNET_ENGINE_TYPE="x")
    seen = json.loads(result.stdout)
    pins = pinned_in_child()
    assert {name: seen[name] for name in pins} == pins
    assert not [name for name in seen if name.startswith(CLOSED_FAMILIES) and name not in pins]


@pytest.mark.skipif(not HAS_AVX2, reason="OpenBLAS's AVX2 kernel is pinned only on AVX2 CPUs")
@pytest.mark.parametrize("asked", [None, "", "Cooperlake", "SkylakeX", "Prescott", "Zen"])
def test_openblas_runs_its_avx2_kernel_whatever_the_shell_or_the_cpu_says(asked):
    shell = {} if asked is None else {"OPENBLAS_CORETYPE": asked}
    assert run(OPENBLAS_CORE, **shell).stdout.strip() == OPENBLAS_KERNEL


names = st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True)


@given(st.dictionaries(names, st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)))
def test_closing_leaves_the_pins_and_no_other_variable_of_the_families(shell):
    pins = {"OMP_NUM_THREADS": "1", "OPENBLAS_CORETYPE": OPENBLAS_KERNEL}
    environ = dict(shell)
    changed = close_environment(environ, pins)
    assert {name: environ[name] for name in pins} == pins
    closed = {name for name in environ if name.startswith(CLOSED_FAMILIES)}
    assert closed == set(pins)
    assert {n: v for n, v in environ.items() if n not in closed} == {
        n: v for n, v in shell.items() if not n.startswith(CLOSED_FAMILIES)
    }
    assert changed == {
        n: v for n, v in shell.items() if n.startswith(CLOSED_FAMILIES) and pins.get(n) != v
    }
