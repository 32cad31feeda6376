"""Stage evaluate: both models' ONNX files, run by onnxruntime, on the validation and the
test set -> one metrics file per metric, the rows of the confusion plots, and the test-set
probabilities render draws from. The only stage that reads the test set. No MXNet: each
training stage checked its ONNX file against its MXNet model (the onnx_* metrics)."""

from fmnist.guards.atomic import remove_stale_temporaries, staged_outputs
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.onnx_files import OnnxFile
from fmnist.params import load_params
from fmnist.prepared import load_prepared
from fmnist.results import (
    MODELS,
    load_histories,
    metric_files,
    save_probabilities,
    write_metric_files,
    write_predicted_classes,
)

FLAGS = {
    "--prepared-dir": ("DIR", "preprocess's .npy arrays (the validation and test sets)"),
    "--scratch-onnx": ("FILE", "train_scratch's model as ONNX"),
    "--gluon-onnx": ("FILE", "train_gluon's model as ONNX"),
    "--scratch-live": (
        "DIR",
        "train_scratch's DVCLive history (its last epoch's train loss and accuracy, and its "
        "ONNX check)",
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
    parser = stage_parser("evaluate", __doc__, "none", FLAGS)
    args = parser.parse_args()
    outputs = (args.probabilities_dir, args.predicted_classes_dir, args.metrics_dir)
    remove_stale_temporaries(*outputs)
    load_params()
    data = load_prepared(args.prepared_dir, ("val", "test"))
    onnx_paths = {"scratch": args.scratch_onnx, "gluon": args.gluon_onnx}
    models = {name: OnnxFile(onnx_paths[name], f"train_{name}").load() for name in MODELS}
    probas = {name: model.probabilities(data.test_x) for name, model in models.items()}
    validation = (data.val_y, {name: m.probabilities(data.val_x) for name, m in models.items()})
    histories = load_histories({"scratch": args.scratch_live, "gluon": args.gluon_live})
    files = metric_files(data.test_y, probas, histories, validation)
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
            f"evaluate: {onnx_paths[name]} in onnxruntime gave the same class as MXNet's "
            f"{name} model on {files['onnx_agreement.json'][name]:.2%} of the validation "
            f"images, probabilities within {files['onnx_max_difference_ppm.json'][name]:.2f}e-6"
        )


if __name__ == "__main__":
    run_stage("evaluate", main)
