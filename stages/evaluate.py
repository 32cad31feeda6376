"""Stage evaluate: both models on the test set -> metrics JSON and confusion-matrix rows."""
import argparse
from pathlib import Path

from fmnist.cli import run_stage
from fmnist.data import load_prepared
from fmnist.evaluate import (evaluation_metrics, load_models, predict_all,
                             write_confusion_rows, write_metrics)
from fmnist.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--prepared-dir", "--scratch-model", "--gluon-model", "--metrics",
                 "--confusion-dir"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    load_params()
    data = load_prepared(args.prepared_dir)
    models = load_models({"scratch": args.scratch_model, "gluon": args.gluon_model})
    probas = predict_all(models, data.test_x)
    metrics = evaluation_metrics(data.test_y, probas)
    for name, proba in probas.items():
        path = Path(args.confusion_dir) / f"confusion_{name}.csv"
        write_confusion_rows(data.test_y, proba.argmax(axis=1), path)
    write_metrics(metrics, args.metrics)
    for name in probas:
        print(f"evaluate: {name} test accuracy {metrics[name]['test_accuracy']:.4f}, "
              f"macro F1 {metrics[name]['macro_f1']:.4f}, log-loss {metrics[name]['log_loss']:.4f}")
    print(f"evaluate: the models agree on {metrics['agreement']:.2%} of the test images")


if __name__ == "__main__":
    run_stage("evaluate", main)
