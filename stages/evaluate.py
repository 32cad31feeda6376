"""Stage evaluate: both models on the test set -> one metrics file per metric, the rows of
the confusion plots, and the test-set probabilities render draws from."""
import argparse

from fmnist.atomic import remove_stale_temporaries, staged_outputs
from fmnist.cli import run_stage
from fmnist.data import load_prepared
from fmnist.evaluate import (load_models, metric_files, predict_all, write_metric_files,
                             write_predicted_classes)
from fmnist.params import load_params
from fmnist.results import load_histories, save_probabilities

FLAGS = ("--prepared-dir", "--scratch-model", "--gluon-model", "--scratch-live", "--gluon-live",
         "--metrics-dir", "--predicted-classes-dir", "--probabilities-dir")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in FLAGS:
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    outputs = (args.probabilities_dir, args.predicted_classes_dir, args.metrics_dir)
    remove_stale_temporaries(*outputs)
    load_params()
    data = load_prepared(args.prepared_dir)
    models = load_models({"scratch": args.scratch_model, "gluon": args.gluon_model})
    probas = predict_all(models, data.test_x)
    histories = load_histories({"scratch": args.scratch_live, "gluon": args.gluon_live})
    files = metric_files(data.test_y, probas, histories)
    with staged_outputs() as stage:  # all three or none
        save_probabilities(probas, stage(args.probabilities_dir))
        write_predicted_classes(data.test_y, probas, stage(args.predicted_classes_dir))
        write_metric_files(files, stage(args.metrics_dir))
    for name in probas:
        print(f"evaluate: {name} test accuracy {files['test_accuracy.json'][name]:.4f}, "
              f"macro F1 {files['macro_f1.json'][name]:.4f}, "
              f"log-loss {files['log_loss.json'][name]:.4f}")
    print(f"evaluate: the models agree on {files['agreement.json']['agreement']:.2%} "
          "of the test images")


if __name__ == "__main__":
    run_stage("evaluate", main)
