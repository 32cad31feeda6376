"""`python -m fmnist.distributed worker --index I <train_gluon's flags>`: one worker process.

The launcher starts it with the DMLC_* variables set; it is not meant to be run by hand.
"""
import argparse

from ..cli import run_stage
from .worker import run_worker


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fmnist.distributed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="train as one worker of a dist_sync job")
    for flag in ("--prepared-dir", "--model", "--export-prefix", "--live-dir", "--timing"):
        worker.add_argument(flag, required=True)
    worker.add_argument("--index", type=int, required=True,
                        help="this worker's place in the job, 0..N-1: its shard; 0 writes")
    args = parser.parse_args()
    run_worker(args.index, args.prepared_dir, args.model, args.export_prefix, args.live_dir,
               args.timing)


if __name__ == "__main__":
    run_stage("train_gluon worker", main)
