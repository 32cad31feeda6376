"""`make sweep`: the sweep that docs/dvc-tools.md shows, on the real data, recorded. In a
clone of the committed tree it runs the defaults (`dvc repro`) and commits them on a branch
`sweep`, then the doc's three commands: queue the grid, run it two at a time, show it ranked
by validation accuracy. What `dvc exp show` printed goes to a record
(docs/measured/sweep.json) with the commands, the commit, the time and the machine; the doc
shows it through fmnist.bench_record, and the docs test checks that the doc shows these
commands."""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from .bench_record import (
    SWEEP_RECORD,
    Stopwatch,
    SweepRecord,
    git_commit,
    record_destination,
    write_record,
)
from .loop_bench import DVC, Tree

QUEUE = ["dvc", "exp", "run", "--queue", "-S", "train.epochs=30", "-S", "train.lr_schedule=cosine"]
QUEUE += ["-S", "train.lr=0.05,0.1,0.5,1.0", "-S", "train.momentum=0,0.9"]
RUN_ALL = ["dvc", "exp", "run", "--run-all", "-j", "2"]
SHOW = ["dvc", "exp", "show", "--md", "--hide-failed", "--drop", ".*", "--keep"]
SHOW += [r"Experiment|train\.lr$|train\.momentum|.*val_accuracy.*|agreement"]
COMMANDS = (QUEUE, RUN_ALL, SHOW)
AUTHOR = {"GIT_AUTHOR_NAME": "sweep", "GIT_AUTHOR_EMAIL": "sweep@example.invalid"}
AUTHOR |= {"GIT_COMMITTER_NAME": "sweep", "GIT_COMMITTER_EMAIL": "sweep@example.invalid"}


def dvc(tree: Tree, argv: list[str]) -> str:
    return tree.run([DVC, *argv[1:]])[1]


def sweep(tree: Tree) -> str:
    """The defaults run committed on `sweep`, then the grid queued, run, and shown."""
    tree.env |= AUTHOR
    dvc(tree, ["dvc", "repro"])
    # The defaults run gives the committed bytes, so the commit may be empty.
    commit = ["commit", "-q", "--allow-empty", "-m", "defaults run"]
    for git in (["checkout", "-q", "-b", "sweep"], ["add", "-A"], commit):
        subprocess.run(["git", *git], cwd=tree.root, env=tree.env, check=True)
    try:
        dvc(tree, QUEUE)
        dvc(tree, RUN_ALL)
    finally:  # no queue worker outlives the clone
        tree.run([DVC, "queue", "stop", "--kill"], check=False)
    return dvc(tree, SHOW)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fmnist.sweep_record", description=__doc__)
    parser.add_argument(
        "--record",
        type=record_destination,
        default=SWEEP_RECORD,
        metavar="FILE",
        help=f"where to write the table, with the machine and the time (default: {SWEEP_RECORD})",
    )
    args = parser.parse_args()
    watch = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="fmnist-sweep-") as tmp:
        tree = Tree("HEAD", "HEAD", Path(tmp) / "fmnist")
        table = sweep(tree)
        commit = git_commit(Path("."))
    command = ["python", "-m", "fmnist.sweep_record", *sys.argv[1:]]
    record = SweepRecord(**watch.fields(command, commit), commands=COMMANDS, table=table)
    write_record(args.record, record)
    print(table)
    print(f"Recorded in {args.record}")


if __name__ == "__main__":
    main()
