"""Stage render: PNG pictures of the data, the predictions and the training curves."""
import argparse
from pathlib import Path

from fmnist import figures
from fmnist.cli import run_stage
from fmnist.data import load_prepared
from fmnist.evaluate import load_models, predict_all
from fmnist.params import load_params
from fmnist.tracking import read_history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--prepared-dir", "--scratch-model", "--gluon-model", "--scratch-live",
                 "--gluon-live", "--out-dir"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    load_params()
    out = Path(args.out_dir)
    data = load_prepared(args.prepared_dir)
    models = load_models({"scratch": args.scratch_model, "gluon": args.gluon_model})
    first = slice(0, 9)
    predicted = {name: proba.argmax(axis=1)
                 for name, proba in predict_all(models, data.test_x[first]).items()}
    figures.save_png(figures.sample_grid(data.train_x[:10], data.train_y[:10],
                                         "The first ten training images"), out / "samples.png")
    figures.save_png(figures.prediction_grid(data.test_x[first], data.test_y[first], predicted,
                                             "Test images 0-8: true and predicted classes"),
                     out / "predictions.png")
    histories = {"scratch": read_history(args.scratch_live), "gluon": read_history(args.gluon_live)}
    figures.save_png(figures.training_curves(histories), out / "training_curves.png")
    print(f"render: pictures in {out}/")


if __name__ == "__main__":
    run_stage("render", main)
