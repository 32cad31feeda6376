"""Stage train_scratch: softmax regression with mxnet.nd + autograd, from scratch."""

from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.lesson.scratch import ScratchSoftmax
from fmnist.params import load_params
from fmnist.prepared import TRAINING_SPLITS, load_prepared
from fmnist.training_flags import training_flags
from fmnist.training_stage import TrainingOutputs, run_training


def main() -> None:
    flags = training_flags("the trained weights W and b (MXNet's nd.save format)")
    parser = stage_parser("train_scratch", __doc__, "the train and scratch sections", flags)
    args = parser.parse_args()
    remove_stale_temporaries(args.model, args.onnx, args.live_dir)
    params = load_params()
    data = load_prepared(args.prepared_dir, TRAINING_SPLITS)
    model = ScratchSoftmax.create(params.scratch, params.train)
    outputs = TrainingOutputs(args.model, args.onnx, args.live_dir)
    run_training(model, params.train, data, outputs)


if __name__ == "__main__":
    run_stage("train_scratch", main, skip_exit_handlers=True)
