"""Stage train_gluon: softmax regression with Gluon (Dense(10), hybridized), also exported."""
import argparse

from fmnist.cli import run_stage
from fmnist.models.gluon import GluonSoftmax
from fmnist.params import load_params
from fmnist.stage_train import run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--prepared-dir", "--model", "--export-prefix", "--live-dir", "--timing"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    params = load_params()
    model = GluonSoftmax.create(params.gluon, params.train)
    run_training(model, params.train, args.prepared_dir, args.model, args.live_dir, args.timing)
    model.export(args.export_prefix)


if __name__ == "__main__":
    run_stage("train_gluon", main)
