"""Sweeps: one command queues a grid of experiments, one runs the queue, and `dvc exp show`
compares them in a narrow table (the commands of docs/dvc-tools.md, on the small dataset)."""

import csv
import io
import shlex
import subprocess

import pytest

from conftest import PROJECT, VENV_BIN
from fmnist.bench_record import SWEEP_RECORD, read_record
from test_docs import commands

# docs/dvc-tools.md shows these flags; the test checks it does.
NARROW_TABLE = (
    "--drop",
    ".*",
    "--keep",
    r"Experiment|train\.lr$|train\.momentum|.*val_accuracy.*|agreement",
)
DOCS = PROJECT / "docs" / "dvc-tools.md"
GRID = {"train.lr": ("0.05", "0.5"), "train.momentum": ("0", "0.9")}


@pytest.mark.expensive(
    "a queued grid of real `dvc exp` runs, each a pipeline in its own temporary copy"
)
def test_a_queued_grid_runs_and_exp_show_lists_it(reproduced_project):
    project = reproduced_project
    project.commit("baseline run")
    queued = project.dvc(
        "exp",
        "run",
        "--queue",
        *[arg for key, values in GRID.items() for arg in ("-S", f"{key}={','.join(values)}")],
    ).stdout
    assert queued.count("Queued experiment") == 4, queued
    try:
        project.dvc("exp", "run", "--run-all", "-j", "2", timeout=300)
    finally:
        project.dvc("queue", "stop", "--kill", check=False)  # no worker outlives the test

    rows = list(csv.DictReader(io.StringIO(project.dvc("exp", "show", "--csv").stdout)))
    experiments = [row for row in rows if row["typ"].startswith("branch_")]  # not baselines
    assert len(experiments) == 4, rows
    grid = {(float(row["train.lr"]), float(row["train.momentum"])) for row in experiments}
    assert grid == {
        (float(lr), float(m)) for lr in GRID["train.lr"] for m in GRID["train.momentum"]
    }
    for row in experiments:
        assert row["State"] == "Success" and row["agreement"]
        for model in ("scratch", "gluon"):
            assert 0 < float(row[f"metrics/val_accuracy.json:{model}"]) <= 1
            assert float(row[f"metrics/log_loss.json:{model}"]) > 0
    # Different params, different results: each experiment ran its own training.
    assert len({row["metrics/log_loss.json:gluon"] for row in experiments}) == 4

    for table_format in ((), ("--md",)):
        # A terminal 160 columns wide: the table fits, nothing cut to "…".
        table = subprocess.run(
            [str(VENV_BIN / "dvc"), "exp", "show", "--no-pager", *table_format, *NARROW_TABLE],
            cwd=project.root,
            env={**project.env, "COLUMNS": "160"},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        lines = table.splitlines()
        assert len(lines) >= 2 + 6 and max(map(len, lines)) <= 160, table
        assert "train.momentum" in table and "…" not in table, table
        assert "val_accuracy" in table and "test_accuracy" not in table, table


def test_docs_show_the_sweep_commands():
    docs = DOCS.read_text()
    for command in (
        "dvc exp run --queue -S",
        "dvc exp run --run-all -j 2",
        f"dvc exp show --md --hide-failed --drop '.*' --keep '{NARROW_TABLE[3]}'",
    ):
        assert command in docs, command


def test_the_recorded_sweep_ran_the_commands_the_docs_show():
    """docs/measured/sweep.json (`make sweep`), whose table dvc-tools.md shows, holds what
    the doc's own commands printed."""
    record = read_record(PROJECT / SWEEP_RECORD)
    shown = [shlex.split(command) for _, command in commands(DOCS.read_text())]
    missing = [shlex.join(command) for command in record.commands if command not in shown]
    assert not missing, f"docs/dvc-tools.md does not show what make sweep ran: {missing}"
