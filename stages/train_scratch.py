"""Stage train_scratch: softmax regression with mxnet.nd + autograd, from scratch."""

from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.lesson.scratch import ScratchSoftmax
from fmnist.params import load_params
from fmnist.prepared import TRAINING_SPLITS, load_prepared
from fmnist.training_flags import SCRATCH_FLAGS
from fmnist.training_stage import TrainingOutputs, run_training


def main() -> None:
    parser = stage_parser("train_scratch", __doc__, "the train and scratch sections", SCRATCH_FLAGS)
    args = parser.parse_args()
    remove_stale_temporaries(args.model, args.onnx, args.live_dir)
    params = load_params()
    data = load_prepared(args.prepared_dir, TRAINING_SPLITS)
    model = ScratchSoftmax.create(params.scratch, params.train)
    outputs = TrainingOutputs(args.model, args.onnx, args.live_dir)
    run_training(model, params.train, data, outputs)


if __name__ == "__main__":
    run_stage("train_scratch", main, skip_exit_handlers=True)
