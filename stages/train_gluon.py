"""Stage train_gluon: softmax regression with Gluon (Dense(10), hybridized), also exported.

gluon.kvstore: dist_sync trains with gluon.workers processes on MXNet's parameter server
(fmnist.distributed); the outputs are the same files either way.
"""

import sys

from fmnist import FmnistError
from fmnist.distributed import check_hosts
from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.params import load_params
from fmnist.training_flags import GLUON_FLAGS


def main() -> None:
    parser = stage_parser("train_gluon", __doc__, "the train and gluon sections", GLUON_FLAGS)
    args = parser.parse_args()
    remove_stale_temporaries(args.model, args.onnx, args.live_dir, args.export_prefix)
    params = load_params()
    check_hosts(params.gluon.workers, params.gluon.hosts)
    if params.gluon.kvstore == "dist_sync":
        # Imported here: the launcher process itself never needs MXNet.
        from fmnist.distributed.launcher import train_on_parameter_server

        train_on_parameter_server(params, args.prepared_dir, sys.argv[1:])
        return
    if params.gluon.workers != 1:
        raise FmnistError(
            f"gluon.workers is {params.gluon.workers} but gluon.kvstore is local "
            "(one process); set gluon.kvstore: dist_sync, or gluon.workers: 1"
        )
    from fmnist.lesson.gluon import GluonSoftmax
    from fmnist.prepared import TRAINING_SPLITS, load_prepared
    from fmnist.training_stage import TrainingOutputs, run_training

    data = load_prepared(args.prepared_dir, TRAINING_SPLITS)
    model = GluonSoftmax.create(params.gluon, params.train)
    outputs = TrainingOutputs(args.model, args.onnx, args.live_dir, args.export_prefix)
    run_training(model, params.train, data, outputs)


if __name__ == "__main__":
    run_stage("train_gluon", main, skip_exit_handlers=True)
