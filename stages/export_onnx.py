"""Stage export_onnx: both trained models as ONNX files, which onnxruntime (or any ONNX
runtime) serves without MXNet. Each graph is built from the model's weights: Gemm, then
Softmax; input 'pixels' float32 (N, 784), output 'probabilities' (N, 10); opset 13."""

from fmnist.guards.atomic import remove_stale_temporaries, staged_outputs
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.onnx_graph import OPSET, model_bytes, trained_weights
from fmnist.params import load_params

FLAGS = {
    "--scratch-model": ("FILE", "train_scratch's weights"),
    "--gluon-model": ("FILE", "train_gluon's parameters"),
    "--scratch-onnx": ("FILE", "output: the scratch model as ONNX"),
    "--gluon-onnx": ("FILE", "output: the Gluon model as ONNX"),
}


def main() -> None:
    parser = stage_parser("export_onnx", __doc__, "none")
    for flag, (metavar, text) in FLAGS.items():
        parser.add_argument(flag, required=True, metavar=metavar, help=text)
    args = parser.parse_args()
    outputs = {"scratch": args.scratch_onnx, "gluon": args.gluon_onnx}
    remove_stale_temporaries(*outputs.values())
    load_params()
    # Read checked completely (shapes, float32, finite) by fmnist.saved_models.
    weights = trained_weights({"scratch": args.scratch_model, "gluon": args.gluon_model})
    with staged_outputs() as stage:  # both or none
        for name, path in outputs.items():
            with open(stage(path), "wb") as f:
                f.write(model_bytes(*weights[name], name))
    for name, path in outputs.items():
        print(f"export_onnx: {path} ({name} model, opset {OPSET})")


if __name__ == "__main__":
    run_stage("export_onnx", main)
