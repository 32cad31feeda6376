"""docs/failure-modes.md, "Model files and the ONNX check": each fault and its exact line
(tests/fault_lines.py says how the rows are used), asserted by tests/test_models.py,
test_onnx.py, test_predict.py, test_predict_models.py and test_model_fuzz.py."""

from fault_lines import Fault, Varies

DO = "; use a model this project made (`dvc repro {stage}`)"
RERUN_SCRATCH = "; rerun the train_scratch stage (dvc repro -f train_scratch)"
PREDICT = "predict: error: "
GLUON_EXPORT = {"file": "d20-symbol.json + d20-0000.params", "stage": "train_gluon"}
GLUON_ONNX = {"file": "d20.onnx", "stage": "train_gluon"}

MODEL_FAULTS = {
    "missing": Fault(
        "`predict` or evaluate with the model missing",
        "{file}: missing; run the {stage} stage (dvc repro {stage}) or fetch it (dvc pull)",
        "Exit 1; with `--runtime mxnet`, the export's path. Outside a project, the line says "
        "which flag names the model instead.",
        ({"file": "models/gluon.onnx", "stage": "train_gluon"},),
        prefix=PREDICT,
    ),
    "too large": Fault(
        "A model file larger than 1 MiB (this project's are 31-32 KB)",
        "{file}: {size} bytes, more than any file of this project's models (at most 1048576)" + DO,
        "Refused from its size, before it is read; a FIFO or a device is refused as not a "
        "regular file, without being read.",
        ({"file": "gluon.onnx", "size": Varies("1080611", r"\d+"), "stage": "train_gluon"},),
        prefix=PREDICT,
    ),
    "not ONNX": Fault(
        "`predict --onnx` with a file that is not ONNX",
        "{file}: not an ONNX model (Protobuf parsing failed)" + DO,
        "Exit 1.",
        ({"file": "text.onnx", "stage": "train_gluon"},),
        prefix=PREDICT,
    ),
    "graph": Fault(
        "`predict` with an ONNX file whose graph is not this project's (a Loop of 10**15 "
        "steps; 31 KB that allocate a 4 GB tensor)",
        "{file}: runs Gemm, {operators}, Softmax, expected this project's Gemm, Softmax" + DO,
        "An allow-list, not a budget: a file runs only if it is byte for byte what the "
        "training stages build from its own W and b, checked before onnxruntime sees it (it "
        "then gets those bytes, not the path). So what runs costs what this project's models "
        "cost.",
        (
            {"file": "gluon.onnx", "operators": "Loop", "stage": "train_gluon"},
            {
                "file": "gluon.onnx",
                "operators": "ConstantOfShape, ReduceSum, Add",
                "stage": "train_gluon",
            },
        ),
        prefix=PREDICT,
        elide_before="runs",
    ),
    "export graph": Fault(
        "`predict --runtime mxnet` with an export whose graph groups two outputs",
        "{file}: has 2 outputs, expected 1 (the 10 class scores)" + DO,
        "The symbol JSON is checked against the graph train_gluon exports before MXNet loads it.",
        ({"file": "hostile-symbol.json + project-0000.params", "stage": "train_gluon"},),
        prefix=PREDICT,
    ),
    "20 wide": Fault(
        "`predict` with a model whose output is 20 wide (MXNet Dense(20), or an ONNX file)",
        "{file}: gives 20 values per picture, expected 10 classes" + DO,
        "The same words on both runtimes; no picture is classified.",
        (GLUON_EXPORT, GLUON_ONNX),
        prefix=PREDICT,
    ),
    "784 inputs": Fault(
        "`predict` with an ONNX model that does not take 784 inputs",
        "{file}: does not take 784 values per picture (it takes shape ['N', 100])" + DO,
        "Exit 1. An MXNet export of the same says `its weights: holds weight (10, 100) "
        "float32, ...`.",
        ({"file": "inputs100.onnx", "stage": "train_gluon"},),
        prefix=PREDICT,
    ),
    "weights": Fault(
        "A model file of the right shapes but float16, int32 or float64",
        "{file}: holds W (784, 10) float16, b (10,) float32, expected W (784, 10) float32, "
        "b (10,) float32" + RERUN_SCRATCH,
        "One check for every model file (`fmnist.model_sources.weights_problem`): the Gluon "
        "files (`weight`, `bias`) and the ONNX files' W and b are checked the same way.",
        ({"file": "models/scratch.params"},),
        prefix=PREDICT,
    ),
    "NaN weights": Fault(
        "NaN or Inf weights",
        "{file}: W holds NaN or infinite values" + RERUN_SCRATCH,
        "Refused before use: no metrics file ever holds NaN or Infinity.",
        ({"file": "models/scratch.params"},),
        prefix=PREDICT,
    ),
    "not MXNet": Fault(
        "A file that is not an MXNet parameter file",
        "{file}: not an MXNet parameter file (it ends too early)" + RERUN_SCRATCH,
        "One line, not MXNet's C++ traceback. The layout is read before MXNet loads it (at "
        "most 2 dense arrays of at most 7,840 values): 4 mutated bytes of a 31 KB file made "
        "`nd.load` take 13-18 s.",
        ({"file": "models/scratch.params"},),
        prefix=PREDICT,
    ),
    "overflow": Fault(
        "Finite weights whose probabilities overflow float32",
        "{file}: gives NaN or infinite values (weights too large for float32?)" + DO,
        "Refused rather than scored: evaluate writes nothing.",
        ({"file": "models/scratch.onnx", "stage": "train_scratch"},),
        prefix="evaluate: error: ",
    ),
    "history": Fault(
        "A DVCLive history holding NaN",
        "{dir}: no readable training history ({dir}/plots/metrics/loss.tsv holds NaN or "
        "infinite values); rerun the train_scratch stage (dvc repro train_scratch)",
        "evaluate writes nothing.",
        ({"dir": "dvclive/scratch"},),
        prefix="evaluate: error: ",
    ),
    "unfaithful": Fault(
        "An ONNX file that does not answer as its MXNet model (checked by the training stage "
        "that writes both, on the validation set)",
        "{file}: onnxruntime differs from MXNet's {model} model on the validation set "
        "(largest probability difference {difference}, allowed 1e-05, agreement "
        "{agreement}); no output was kept",
        "The stage keeps no output; dvc.lock is unchanged. A NaN difference fails too; a tie "
        "whose class changes within the bound does not.",
        (
            {
                "file": "models/gluon.onnx",
                "model": "gluon",
                "difference": Varies("2.9e-03", r"\d\.\de-0\d"),
                "agreement": Varies("1.0000", r"[01]\.\d{4}"),
            },
        ),
        prefix="train_gluon: error: ",
    ),
}
