"""`make bench-loop`: the user's loop, timed. Change `train.lr`, `dvc repro`: how long it
takes, each stage's command alone (as DVC runs it), and DVC's own share (the rest).

Each tree is a clone in a temporary directory, run once in full first (not timed), then
timed in turns, round after round, so that both see the same machine load. With
`--against REV` the same loop runs on that revision beside this one, and the last line is
the ratio of the two medians. What was timed, with the commits, the time and the machine,
goes to a record (--record) that docs/speed.md shows (fmnist.bench_record).
"""

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .bench_record import (
    LOOP_RECORD,
    LoopRecord,
    Stopwatch,
    TreeTimes,
    git_commit,
    record_destination,
    write_record,
)
from .guards.stage_runner import positive_int

PROJECT = Path(__file__).resolve().parents[2]
RAN = re.compile(r"^Running stage '([\w-]+)':", re.M)
LR_VALUES = (0.1, 0.11)  # alternated: every round is a real param change
VENV_BIN = Path(sys.executable).parent
DVC = VENV_BIN / "dvc"


class Tree:
    """A clone of one revision, driven by the venv's dvc with its own src/ first."""

    def __init__(self, name: str, revision: str, root: Path):
        self.name, self.root = name, root
        subprocess.run(["git", "clone", "-q", str(PROJECT), str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "checkout", "-q", revision], check=True)
        self.env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(root / "src"),
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(root.parent / f"{name}-site-cache"),
        }
        self.repro_s: list[float] = []
        self.stage_s: dict[str, list[float]] = {}

    def run(self, argv, check=True) -> tuple[float, str]:
        """Seconds argv took, and what it printed."""
        started = time.perf_counter()
        done = subprocess.run(
            argv, cwd=self.root, env=self.env, check=check, capture_output=True, text=True
        )
        return time.perf_counter() - started, done.stdout

    def set_lr(self, lr: float) -> None:
        path = self.root / "params.yaml"
        text = path.read_text()
        params = yaml.safe_load(text)
        old = f"lr: {params['train']['lr']}"
        assert text.count(old) == 1, f"params.yaml must hold `{old}` once"
        path.write_text(text.replace(old, f"lr: {lr}"))

    def round(self, lr: float) -> None:
        self.set_lr(lr)
        seconds, said = self.run([DVC, "repro"])
        self.repro_s.append(seconds)
        commands = yaml.safe_load((self.root / "dvc.yaml").read_text())["stages"]
        for stage in RAN.findall(said):  # each alone, on the outputs just written
            seconds, _ = self.run(shlex.split(commands[stage]["cmd"]))
            self.stage_s.setdefault(stage, []).append(seconds)


def median(values) -> float:
    return statistics.median(values) if values else 0.0


def report(tree: Tree) -> float:
    total = median(tree.repro_s)
    stages = {name: median(seconds) for name, seconds in tree.stage_s.items()}
    print(f"{tree.name}: dvc repro after a train.lr change, median of {len(tree.repro_s)}")
    print(f"  {'stage':<16} {'s':>6}")
    for name, seconds in stages.items():
        print(f"  {name:<16} {seconds:6.2f}")
    print(f"  {'(dvc itself)':<16} {total - sum(stages.values()):6.2f}")
    print(f"  {'dvc repro':<16} {total:6.2f}")
    return total


def parse_args():
    parser = argparse.ArgumentParser(
        prog="python -m fmnist.loop_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=3,
        metavar="N",
        help="timed repros per tree (default: 3)",
    )
    parser.add_argument(
        "--against", metavar="REV", help="also time this git revision, in turns with HEAD"
    )
    parser.add_argument(
        "--record",
        type=record_destination,
        default=LOOP_RECORD,
        metavar="FILE",
        help=f"where to write the timings, with the machine and the time (default: {LOOP_RECORD})",
    )
    return parser.parse_args()


def times(tree: Tree) -> TreeTimes:
    return TreeTimes(
        name=tree.name, commit=git_commit(tree.root), repro_s=tree.repro_s, stage_s=tree.stage_s
    )


def main() -> None:
    args = parse_args()
    watch = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="fmnist-loop-") as tmp:
        revisions = {"HEAD": "HEAD"} | ({args.against: args.against} if args.against else {})
        trees = [
            Tree(name, rev, Path(tmp) / f"tree{i}")
            for i, (name, rev) in enumerate(revisions.items())
        ]
        for tree in trees:  # data, models and every output, once, untimed
            tree.run([DVC, "repro"])
        for i in range(args.rounds):
            for tree in trees:
                tree.round(LR_VALUES[(i + 1) % 2])
        totals = [report(tree) for tree in trees]
        timed = [times(tree) for tree in trees]
    if len(totals) == 2:
        print(f"ratio HEAD/{args.against} = {totals[0] / totals[1]:.2f}")
    command = ["python", "-m", "fmnist.loop_bench", *sys.argv[1:]]
    write_record(args.record, LoopRecord(**watch.fields(command, timed[0].commit), trees=timed))
    print(f"Recorded in {args.record}")


if __name__ == "__main__":
    main()
