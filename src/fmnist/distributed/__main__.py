"""`python -m fmnist.distributed scheduler|server|worker ...`: one process of a dist_sync job.

The launcher starts these with the DMLC_* variables set; they are not meant to be run by hand.
"""

import argparse
import json
import os
import signal
import sys

from ..guards.forked import die_with_parent
from ..guards.stage_runner import run_stage
from ..params import parse_params
from ..training_flags import GLUON_FLAGS
from . import DistributedError


def run_scheduler_or_server(role: str) -> None:
    if os.environ.get("DMLC_ROLE") != role:
        raise DistributedError(f"DMLC_ROLE must be {role!r} here; the launcher sets it")
    # ps-lite runs in C from here on, where a Python SIGTERM handler would never get to run.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import mxnet  # noqa: F401  (for these roles the import runs the node until the job ends)


def main() -> None:
    # A launcher killed outright must not leave a job behind that waits for ever. On another
    # host the parent is the sshd session, which exits when the launcher's ssh ends (1-2 s).
    die_with_parent()
    parser = argparse.ArgumentParser(prog="python -m fmnist.distributed", description=__doc__)
    commands = parser.add_subparsers(dest="role", required=True)
    commands.add_parser("scheduler", help="ps-lite's scheduler (one per job)")
    commands.add_parser("server", help="a ps-lite server: sums the workers' gradients")
    worker = commands.add_parser("worker", help="train on one shard")
    for flag, (metavar, text) in GLUON_FLAGS.items():  # train_gluon's own, passed on
        worker.add_argument(flag, required=True, metavar=metavar, help=text)
    worker.add_argument(
        "--index",
        type=int,
        required=True,
        help="this worker's place in the job, 0..N-1: its shard; 0 writes",
    )
    worker.add_argument(
        "--params",
        required=True,
        help="the launcher's params as JSON (this host's params.yaml is not read)",
    )
    worker.add_argument(
        "--data-digest",
        required=True,
        help="the launcher's fmnist.prepared.prepared_digest: the data must match",
    )
    args = parser.parse_args()
    if args.role != "worker":
        run_scheduler_or_server(args.role)
        return
    from .worker import run_worker  # imports mxnet: only now, as a worker

    run_worker(
        args.index,
        parse_params(json.loads(args.params)),
        args.data_digest,
        args.prepared_dir,
        args.model,
        args.onnx,
        args.export_prefix,
        args.live_dir,
    )


if __name__ == "__main__":
    run_stage(f"train_gluon {' '.join(sys.argv[1:2])}", main)
