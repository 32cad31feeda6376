"""Stage train_scratch: softmax regression with mxnet.nd + autograd, from scratch."""
import argparse

from fmnist.atomic import remove_stale_temporaries
from fmnist.cli import run_stage
from fmnist.models.scratch import ScratchSoftmax
from fmnist.params import load_params
from fmnist.stage_train import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--prepared-dir", "--model", "--live-dir"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    remove_stale_temporaries(args.model, args.live_dir)
    params = load_params()
    model = ScratchSoftmax.create(params.scratch, params.train)
    run_training(model, params.train, args.prepared_dir, args.model, args.live_dir)


if __name__ == "__main__":
    run_stage("train_scratch", main)
