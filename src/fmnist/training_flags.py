"""The command line both training stages share (stage_parser's flags: path flags that
dvc.yaml passes), in a module of its own: train_gluon's dist_sync launcher reads it without
importing MXNet, which fmnist.training_stage does."""


def training_flags(model_help: str, export: dict | None = None) -> dict:
    """{flag: (metavar, help)}: the prepared data in, the model (model_help says which file),
    export's flags if any, its ONNX file and its DVCLive history out."""
    return {
        "--prepared-dir": ("DIR", "preprocess's .npy arrays"),
        "--model": ("FILE", f"output: {model_help}"),
        **(export or {}),
        "--onnx": (
            "FILE",
            "output: the same weights as ONNX, for any ONNX runtime (checked in onnxruntime "
            "against the model on the validation set)",
        ),
        "--live-dir": ("DIR", "output: DVCLive's per-epoch train and validation loss and accuracy"),
    }
