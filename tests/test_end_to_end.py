"""The whole pipeline on the real Fashion-MNIST files, as `make run` does it."""
import json

import pytest

from conftest import REAL_DATA, copy_project
from test_pipeline import PICTURES


@pytest.mark.slow
def test_real_data_pipeline_reaches_tutorial_accuracy(tmp_path):
    assert REAL_DATA.is_dir(), (f"{REAL_DATA} is missing: `make test` installs Debian's "
                                "dataset-fashion-mnist; run it that way")
    project = copy_project(tmp_path / "project")
    project.set_params(fetch={"mirrors": [str(REAL_DATA)]})  # never the network in tests
    project.commit("real data")
    output = project.dvc("repro").stdout
    assert "Epoch 5. Loss:" in output
    test_accuracy = json.loads((project.root / "metrics/test_accuracy.json").read_text())
    assert test_accuracy["scratch"] >= 0.80
    assert test_accuracy["gluon"] >= 0.80
    for picture in PICTURES:
        assert (project.root / "plots" / picture).stat().st_size > 10_000
