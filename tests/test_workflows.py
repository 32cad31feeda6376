"""The DVC workflows of comparing runs, with real `dvc` commands on the small dataset:
change a parameter, rerun, read what moved (params, metrics, plots, experiments)."""

import csv
import io
import json
import re

import pytest
import yaml

from fmnist.results import HEADLINE
from test_pipeline import ran_stages

RETRAINED = ("train_scratch", "train_gluon", "evaluate", "render")
PER_CLASS = "metrics/per_class_accuracy.json"


def declared_metric_files(project) -> set:
    """The JSON files dvc.yaml's top-level `metrics:` names, directories expanded."""
    files = set()
    for entry in yaml.safe_load((project.root / "dvc.yaml").read_text())["metrics"]:
        path = project.root / entry
        files.update(path.rglob("*.json") if path.is_dir() else [path])
    return {str(p.relative_to(project.root)) for p in files}


def check_metrics_and_plots_show(project) -> None:
    """`dvc metrics show` lists every metric of both models as a narrow table;
    `dvc plots show` renders the curves, the confusion plots and every PNG."""
    shown = json.loads(project.dvc("metrics", "show", "--json").stdout)
    data = shown[""]["data"]
    written = {
        str(p.relative_to(project.root))
        for p in (project.root / "metrics").rglob("*")
        if p.is_file()
    }
    assert set(data) == declared_metric_files(project) == written - {PER_CLASS}
    for name in HEADLINE:
        values = data[f"metrics/{name}.json"]["data"]
        assert set(values) == {"scratch", "gluon"}, values
    assert 0 <= data["metrics/agreement.json"]["data"]["agreement"] <= 1

    table = project.dvc("metrics", "show").stdout
    assert max(len(line) for line in table.splitlines()) < 80, table
    assert "per_class" not in table

    # Not declared, but DVC reads it when named: 20 rows, the models of a class adjacent.
    per_class = project.dvc("metrics", "diff", "--all", "--no-path", "--targets", PER_CLASS)
    rows = [line.split()[0] for line in per_class.stdout.splitlines()[1:]]
    assert rows[:3] == ["0_T-shirt-top.gluon", "0_T-shirt-top.scratch", "1_Trouser.gluon"]
    assert len(rows) == 20, per_class.stdout

    html_dir = project.root.parent / "plots_html"
    project.dvc("plots", "show", "-o", str(html_dir))
    html = (html_dir / "index.html").read_text()
    for title in (
        "Training loss per epoch",
        "Train accuracy per epoch",
        "Validation loss per epoch",
        "Validation accuracy per epoch",
        "Confusion matrix, scratch model",
        "Confusion matrix, gluon model",
    ):
        assert title in html
    copied = {p.name for p in (html_dir / "static").iterdir()}
    assert copied == {f"workspace_plots_{p.name}" for p in (project.root / "plots").iterdir()}


@pytest.mark.expensive("two pipeline runs (before and after the lr change) and the diff commands")
def test_show_change_lr_rerun_and_diff(reproduced_project):
    project = reproduced_project
    check_metrics_and_plots_show(project)
    project.commit("baseline run")
    baseline_lr = project.params()["train"]["lr"]
    project.set_params(train={"lr": baseline_lr / 10})

    output = project.dvc("repro").stdout
    assert ran_stages(output) == list(RETRAINED), output
    for stage in ("fetch", "preprocess"):
        assert f"Stage '{stage}' didn't change, skipping" in output

    params = json.loads(project.dvc("params", "diff", "--json").stdout)["params.yaml"]
    assert list(params) == ["train.lr"]
    assert (params["train.lr"]["old"], params["train.lr"]["new"]) == (baseline_lr, baseline_lr / 10)

    metrics = json.loads(project.dvc("metrics", "diff", "--json").stdout)
    for name in ("val_accuracy", "val_log_loss", "test_accuracy", "log_loss", "train_loss"):
        changed = metrics[f"metrics/{name}.json"]
        assert set(changed) == {"scratch", "gluon"}, metrics
    # A tenth of the learning rate learns less in two epochs: the training loss rises.
    for model in ("scratch", "gluon"):
        assert metrics["metrics/train_loss.json"][model]["diff"] > 0
    table = project.dvc("metrics", "diff").stdout
    assert "metrics/train_loss.json" in table and "scratch" in table


@pytest.mark.expensive("a real `dvc exp run` of the training stages, then `dvc exp show`")
def test_experiment_run_is_listed_with_its_params_and_metrics(reproduced_project):
    project = reproduced_project
    project.commit("run")
    output = project.dvc("exp", "run", "-n", "lr-0.3", "-S", "train.lr=0.3").stdout
    assert ran_stages(output) == list(RETRAINED)
    shown = project.dvc("exp", "show", "--csv").stdout
    rows = list(csv.DictReader(io.StringIO(shown)))
    experiment = [row for row in rows if row["Experiment"] == "lr-0.3"]
    assert len(experiment) == 1, shown
    row = experiment[0]
    assert float(row["train.lr"]) == 0.3
    for name in HEADLINE:
        for model in ("scratch", "gluon"):
            assert 0 <= float(row[f"metrics/{name}.json:{model}"]) < 10, (name, model, row)
    assert float(row["metrics/val_accuracy.json:scratch"]) >= 0.85


def test_params_that_cannot_change_a_result_rerun_nothing(reproduced_project, tmp_path):
    project = reproduced_project
    project.commit("run")
    mirrors = project.params()["fetch"]["mirrors"]
    project.set_params(
        fetch={"mirrors": [*mirrors, "http://127.0.0.1:9/unused"], "timeout_s": 7},
        gluon={"timeout_s": 99, "hosts": ["198.18.0.2"]},
    )
    assert "Data and pipelines are up to date." in project.dvc("status").stdout
    assert ran_stages(project.dvc("repro").stdout) == []


@pytest.mark.expensive("a pipeline run, then one rerun per param that changes a result")
def test_a_param_that_changes_results_is_named_and_reruns_its_stages(reproduced_project):
    project = reproduced_project
    project.commit("run")
    project.set_params(train={"lr": project.params()["train"]["lr"] / 2})
    status = project.dvc("status").stdout
    for stage in ("train_scratch", "train_gluon"):
        assert f"{stage}:" in status
    assert re.search(r"modified:\s+train\.lr$", status, re.M), status
    assert ran_stages(project.dvc("repro").stdout) == list(RETRAINED)
