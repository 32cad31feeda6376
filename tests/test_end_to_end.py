"""The whole pipeline on the real Fashion-MNIST files, as `make run` does it: it must give
the very bytes committed in dvc.lock (a CPU that computes other bytes fails here instead of
drifting silently). Then the README's tuned experiment, run by its exact command line."""

import json
import re
import shlex

import pytest
import yaml

from conftest import PROJECT, REAL_DATA, copy_project
from test_pipeline import PICTURES

COMPUTED_BY_MXNET_AND_AFTER = ("train_scratch", "train_gluon", "export_onnx", "evaluate", "render")


def readme_tuned_command() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    commands = set(re.findall(r"^dvc exp run -n tuned .*$", text, re.M))
    assert len(commands) == 1, "README.md must show one `dvc exp run -n tuned ...` command"
    return shlex.split(commands.pop())


def output_md5s(lock_text: str, stages=COMPUTED_BY_MXNET_AND_AFTER) -> dict:
    lock = yaml.safe_load(lock_text)["stages"]
    return {out["path"]: out["md5"] for stage in stages for out in lock[stage]["outs"]}


def assert_outputs_match_committed_lock(project) -> None:
    committed = output_md5s((PROJECT / "dvc.lock").read_text())
    produced = output_md5s((project.root / "dvc.lock").read_text())
    differ = sorted(path for path in committed if produced.get(path) != committed[path])
    assert not differ, (
        f"this machine computed other bytes than the committed run for {differ}; "
        "see docs/reproducibility.md (x86-64 with AVX2 is required)"
    )


@pytest.mark.slow
def test_real_data_run_gives_the_committed_bytes_and_the_tuned_set_beats_logistic_regression(
    tmp_path,
):
    assert REAL_DATA.is_dir(), (
        f"{REAL_DATA} is missing: `make test` installs Debian's "
        "dataset-fashion-mnist; run it that way"
    )
    project = copy_project(tmp_path / "project")
    project.set_params(fetch={"mirrors": [str(REAL_DATA)]})  # never the network in tests
    project.commit("real data")
    # The committed dvc.lock records the params of the committed outputs; a params.yaml
    # edited since then cannot reproduce them, and `dvc status` says so.
    edited = "params.yaml" in project.dvc("status", "train_scratch", "train_gluon").stdout
    project.dvc("repro")
    if not edited:
        assert_outputs_match_committed_lock(project)
        assert project.git("status", "--porcelain").stdout == "", "a run must leave git clean"
    for picture in PICTURES:
        assert (project.root / "plots" / picture).stat().st_size > 10_000

    # README, "Results": the tuned set passes scikit-learn's LogisticRegression (0.842).
    project.commit("committed params")
    project.dvc(*readme_tuned_command()[1:])
    tuned = json.loads((project.root / "metrics/test_accuracy.json").read_text())
    assert tuned["scratch"] >= 0.845
    assert tuned["gluon"] >= 0.845
