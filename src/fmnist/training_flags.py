"""The command lines of the training stages (stage_parser's flags: path flags that dvc.yaml
passes), in a module of their own: train_gluon's dist_sync launcher passes its flags on to
the workers, whose parser (fmnist.distributed) reads GLUON_FLAGS here without importing
MXNet, which fmnist.training_stage does."""


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


SCRATCH_FLAGS = training_flags("the trained weights W and b (MXNet's nd.save format)")
GLUON_FLAGS = training_flags(
    "the trained parameters (Gluon's save_parameters)",
    {
        "--export-prefix": (
            "PREFIX",
            "output: the net exported for deployment, PREFIX-symbol.json and PREFIX-0000.params",
        )
    },
)
