"""Stage evaluate: both models on the validation and the test set -> one metrics file per
metric, the rows of the confusion plots, and the test-set probabilities render draws from.
The only stage that reads the test set's labels. Each model's ONNX
file is run by onnxruntime on the same images and checked against MXNet's answers."""

from fmnist.guards.atomic import remove_stale_temporaries, staged_outputs
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.model_files import load_models, predict_all
from fmnist.model_runtimes import OnnxFile
from fmnist.onnx_graph import require_faithful
from fmnist.params import load_params
from fmnist.prepared import load_prepared
from fmnist.results import (
    load_histories,
    metric_files,
    onnx_check_files,
    save_probabilities,
    write_metric_files,
    write_predicted_classes,
)

FLAGS = {
    "--prepared-dir": ("DIR", "preprocess's .npy arrays (the validation and test sets)"),
    "--scratch-model": ("FILE", "train_scratch's weights"),
    "--gluon-model": ("FILE", "train_gluon's parameters"),
    "--scratch-onnx": ("FILE", "export_onnx's scratch model, checked against MXNet's answers"),
    "--gluon-onnx": ("FILE", "export_onnx's Gluon model, checked likewise"),
    "--scratch-live": (
        "DIR",
        "train_scratch's DVCLive history (its last epoch's train loss and accuracy)",
    ),
    "--gluon-live": ("DIR", "train_gluon's DVCLive history"),
    "--metrics-dir": (
        "DIR",
        "output: one JSON file per metric, scratch and gluon side by "
        "side, and per_class_accuracy.json",
    ),
    "--predicted-classes-dir": (
        "DIR",
        "output: <model>.csv, the true and predicted class of "
        "each test image (DVC's confusion plots)",
    ),
    "--probabilities-dir": (
        "DIR",
        "output: <model>.npy, the test-set class probabilities (for render)",
    ),
}


def main() -> None:
    parser = stage_parser("evaluate", __doc__, "none")
    for flag, (metavar, text) in FLAGS.items():
        parser.add_argument(flag, required=True, metavar=metavar, help=text)
    args = parser.parse_args()
    outputs = (args.probabilities_dir, args.predicted_classes_dir, args.metrics_dir)
    remove_stale_temporaries(*outputs)
    load_params()
    data = load_prepared(args.prepared_dir)
    models = load_models({"scratch": args.scratch_model, "gluon": args.gluon_model})
    probas = predict_all(models, data.test_x)
    onnx_paths = {"scratch": args.scratch_onnx, "gluon": args.gluon_onnx}
    onnx_probas = {
        name: OnnxFile(path).load().probabilities(data.test_x) for name, path in onnx_paths.items()
    }
    onnx_check = onnx_check_files(probas, onnx_probas)
    require_faithful(onnx_check, onnx_paths)  # before anything is written
    histories = load_histories({"scratch": args.scratch_live, "gluon": args.gluon_live})
    validation = (data.val_y, predict_all(models, data.val_x))
    files = metric_files(data.test_y, probas, histories, validation) | onnx_check
    with staged_outputs() as stage:  # all three or none
        save_probabilities(probas, stage(args.probabilities_dir))
        write_predicted_classes(data.test_y, probas, stage(args.predicted_classes_dir))
        write_metric_files(files, stage(args.metrics_dir))
    for name in probas:
        print(
            f"evaluate: {name} validation accuracy {files['val_accuracy.json'][name]:.4f}, "
            f"log-loss {files['val_log_loss.json'][name]:.4f}; "
            f"test accuracy {files['test_accuracy.json'][name]:.4f}, "
            f"macro F1 {files['macro_f1.json'][name]:.4f}, "
            f"log-loss {files['log_loss.json'][name]:.4f}"
        )
    print(
        f"evaluate: the models agree on {files['agreement.json']['agreement']:.2%} "
        "of the test images"
    )
    for name in onnx_paths:
        print(
            f"evaluate: {onnx_paths[name]} in onnxruntime gives the same class on "
            f"{onnx_check['onnx_agreement.json'][name]:.2%} of the test images, probabilities "
            f"within {onnx_check['onnx_max_difference_ppm.json'][name]:.2f}e-6 of MXNet's"
        )


if __name__ == "__main__":
    run_stage("evaluate", main)
