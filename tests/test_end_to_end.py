"""The whole pipeline on the real Fashion-MNIST files, as `make run` does it: it must give
the very bytes committed in dvc.lock (a CPU that computes other bytes fails here instead of
drifting silently), also when the computing stages rerun under threading and instruction-set
variables that a 2-CPU machine with default settings never sets. (The README's tuned
experiment runs, by its exact command line, where the docs' numbers are made and checked:
tests/docs_outputs.py.)"""

import pytest
import yaml

from conftest import PROJECT, copy_reproduced
from fmnist.guards.cpu import pinned
from test_pipeline import PICTURES

COMPUTED_BY_MXNET = ("train_scratch", "train_gluon")
COMPUTED_BY_MXNET_AND_AFTER = (*COMPUTED_BY_MXNET, "evaluate", "render")
# What a user's shell may hold: unpinned, each of these gave other model bytes (1, 2, 3, 4, 8
# threads: five md5s; OpenBLAS's Cooperlake, Prescott and an empty kernel name: another
# scratch.params; MXNet without oneDNN: another gluon.params) or other kernels (SSE41).
# Every variable guards/cpu.py pins appears, and some it removes.
SHELL_SETTINGS = {
    "1 thread, oneDNN and numpy preset to SSE4.1, OpenBLAS's Prescott kernel": {
        "OMP_NUM_THREADS": "1",
        "DNNL_MAX_CPU_ISA": "SSE41",
        "NPY_DISABLE_CPU_FEATURES": "",
        "OPENBLAS_CORETYPE": "Prescott",
    },
    "2 threads, OpenBLAS's Cooperlake kernel, MXNet without oneDNN": {
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_CORETYPE": "Cooperlake",
        "MXNET_MKLDNN_ENABLED": "0",
    },
    "3 threads, 3 engine workers, OpenBLAS's SkylakeX kernel, MXNet's naive engine": {
        "OMP_NUM_THREADS": "3",
        "MXNET_CPU_WORKER_NTHREADS": "3",
        "OPENBLAS_CORETYPE": "SkylakeX",
        "MXNET_ENGINE_TYPE": "NaiveEngine",
    },
    "8 threads, MXNet's own limit and the BLAS ones, an empty OpenBLAS kernel name": {
        "OMP_NUM_THREADS": "8",
        "MXNET_OMP_MAX_THREADS": "8",
        "OPENBLAS_NUM_THREADS": "8",
        "MKL_NUM_THREADS": "8",
        "OPENBLAS_CORETYPE": "",
        "MXNET_SAFE_ACCUMULATION": "1",
    },
}


def output_md5s(lock_text: str, stages=COMPUTED_BY_MXNET_AND_AFTER) -> dict:
    lock = yaml.safe_load(lock_text)["stages"]
    return {out["path"]: out["md5"] for stage in stages for out in lock[stage]["outs"]}


def assert_outputs_match_committed_lock(project, setting="") -> None:
    committed = output_md5s((PROJECT / "dvc.lock").read_text())
    produced = output_md5s((project.root / "dvc.lock").read_text())
    differ = sorted(path for path in committed if produced.get(path) != committed[path])
    assert not differ, (
        f"this machine computed other bytes than the committed run for {differ}{setting}; "
        "see docs/reproducibility.md (x86-64 with AVX2 is required)"
    )


def rerun_under(project, variables: dict, stages) -> str:
    """`dvc repro -f` of these stages with these variables in the shell; its stderr."""
    shell = project.env
    project.env = {**shell, **variables}
    try:
        return project.dvc("repro", "-f", "--single-item", *stages).stderr
    finally:
        project.env = shell


@pytest.mark.slow
@pytest.mark.expensive(
    "the real data through every stage, the computing stages under 4 shell settings"
)
def test_real_data_run_gives_the_committed_bytes_under_every_shell_setting(real_data_run, tmp_path):
    """The run is the session's (the docs' outputs are made from it too); the reruns under
    each setting are this test's, in a copy."""
    project = copy_reproduced(real_data_run.project_root, tmp_path / "project")
    # The committed dvc.lock records the params of the committed outputs; a params.yaml
    # edited since then cannot reproduce them, and `dvc status` said so before the run.
    edited = "params.yaml" in real_data_run.status_before
    if not edited:
        assert_outputs_match_committed_lock(project)
        assert real_data_run.porcelain_after == "", "a run must leave git clean"
        for i, (name, variables) in enumerate(SHELL_SETTINGS.items()):
            # evaluate (onnxruntime on one thread, numpy) and render (numpy, matplotlib) use
            # no MXNet: once, under the first setting (numpy's ISA preset).
            stages = COMPUTED_BY_MXNET_AND_AFTER if i == 0 else COMPUTED_BY_MXNET
            said = rerun_under(project, variables, stages)
            assert_outputs_match_committed_lock(project, f" with {name} ({variables})")
            for stage in stages:  # one line per stage, naming them all
                (note,) = [line for line in said.splitlines() if line.startswith(f"{stage}: note:")]
                replaced = [name for name, value in variables.items() if value != pinned.get(name)]
                assert all(f"{name}=" in note for name in replaced), note
        assert project.git("status", "--porcelain").stdout == ""
    for picture in PICTURES:
        assert (project.root / "plots" / picture).stat().st_size > 10_000
