"""Same params, same bytes: a forced rerun of the training stages reproduces their model
and metrics files exactly."""

import hashlib

from fmnist.results import HISTORY_SERIES

TRAINING_OUTPUTS = (
    "models/scratch.params",
    "models/gluon.params",
    "models/gluon-export/gluon-symbol.json",
    "models/gluon-export/gluon-0000.params",
    "dvclive/scratch/metrics.json",
    "dvclive/gluon/metrics.json",
    *(
        f"dvclive/{model}/plots/metrics/{name}.tsv"
        for model in ("scratch", "gluon")
        for name in HISTORY_SERIES
    ),
)


def md5s(root) -> dict:
    return {name: hashlib.md5((root / name).read_bytes()).hexdigest() for name in TRAINING_OUTPUTS}


def test_forced_rerun_of_the_training_stages_gives_identical_files(reproduced_project):
    project = reproduced_project
    first, lock = md5s(project.root), (project.root / "dvc.lock").read_bytes()

    rerun = project.dvc("repro", "--force", "--single-item", "train_scratch", "train_gluon")
    for stage in ("train_scratch", "train_gluon"):
        assert f"Running stage '{stage}'" in rerun.stdout
    assert "Running stage 'preprocess'" not in rerun.stdout
    assert md5s(project.root) == first
    assert (project.root / "dvc.lock").read_bytes() == lock  # nothing volatile is recorded
