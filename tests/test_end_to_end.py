"""The whole pipeline on the real Fashion-MNIST files, as `make run` does it, then the
README's tuned experiment, run by its exact command line."""
import json
import re
import shlex

import pytest

from conftest import PROJECT, REAL_DATA, copy_project
from test_pipeline import PICTURES


def readme_tuned_command() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    commands = set(re.findall(r"^dvc exp run -n tuned .*$", text, re.M))
    assert len(commands) == 1, "README.md must show one `dvc exp run -n tuned ...` command"
    return shlex.split(commands.pop())


@pytest.mark.slow
def test_real_data_reaches_tutorial_accuracy_and_tuned_beats_logistic_regression(tmp_path):
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

    # README, "Results": the tuned set passes scikit-learn's LogisticRegression (0.842).
    project.commit("tutorial run")
    project.dvc(*readme_tuned_command()[1:])
    tuned = json.loads((project.root / "metrics/test_accuracy.json").read_text())
    assert tuned["scratch"] >= 0.845
    assert tuned["gluon"] >= 0.845
