"""docs/failure-modes.md, "Raw and prepared data": each fault and its exact line
(tests/fault_lines.py says how the rows are used), asserted by tests/test_prepare.py,
tests/test_data.py and tests/test_train.py. The numbers are those of the tests' small
dataset (300 training images, 60 of them held out, 100 test images)."""

from fault_lines import Fault

RAW = {"raw": "data/raw"}
PREPARED = {"prepared": "data/prepared"}
# preprocess's every error about a raw file ends with this second line.
RECOVERY = (
    "data/raw should hold the files fetch verified: restore them with "
    "`dvc checkout data/raw` or fetch again with `dvc repro -f fetch`"
)
SAME = "Same."
RERUN = "; rerun the preprocess stage (dvc repro -f preprocess)"

RAW_FAULTS = {
    "wrong magic": Fault(
        "A raw file with the wrong magic number",
        "{raw}/train-images-idx3-ubyte.gz: magic number 0x00000801 (that is IDX labels), "
        "expected 0x00000803 (IDX images of 28x28); is this the right file?",
        f"No `data/prepared/`. Every raw-file error ends with the line `` {RECOVERY} ``.",
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "wrong dimensions": Fault(
        "Images of the wrong size",
        "{raw}/t10k-images-idx3-ubyte.gz: images are 32x32, expected 28x28",
        SAME,
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "counts differ": Fault(
        "Image and label counts differ",
        "{raw}/train-images-idx3-ubyte.gz holds 300 images but "
        "{raw}/train-labels-idx1-ubyte.gz holds 299 labels; every image needs exactly one label",
        SAME,
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "label outside 0-9": Fault(
        "A label outside 0-9",
        "{raw}/train-labels-idx1-ubyte.gz: label 12 at index 7 is outside 0-9",
        SAME,
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "truncated gzip": Fault(
        "A truncated .gz",
        "{raw}/train-images-idx3-ubyte.gz: truncated gzip file (the compressed data ends early)",
        SAME,
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "truncated IDX": Fault(
        "A truncated IDX file",
        "{raw}/t10k-labels-idx1-ubyte.gz: 95 bytes after the header, expected 100 for 100 "
        "labels; the file is truncated",
        SAME,
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "too much data": Fault(
        "More data than the header says (e.g. a gzip bomb)",
        "{raw}/train-labels-idx1-ubyte.gz: more data than the 300 bytes its header announces "
        "for 300 labels; the file is corrupt",
        "Decompression stops one byte past the size the header announces, and a header "
        "announcing more than 60,000 items is refused before reading on.",
        (RAW,),
        prefix="preprocess: error: ",
    ),
    "missing": Fault(
        "A raw file is missing",
        "{raw}/t10k-images-idx3-ubyte.gz: missing; run the fetch stage first (dvc repro fetch)",
        "No `data/prepared/`.",
        (RAW,),
        prefix="preprocess: error: ",
    ),
}

PREPARED_FAULTS = {
    "labels": Fault(
        "Prepared labels outside 0-9",
        "{prepared}/{name}.npy: labels must be 0-9, found {low} to {high}" + RERUN,
        "Every stage that reads prepared data checks it (also train_gluon, evaluate, render).",
        (
            {**PREPARED, "name": "train_y", "low": 0, "high": 10},
            {**PREPARED, "name": "test_y", "low": -1, "high": 9},
            {**PREPARED, "name": "val_y", "low": 0, "high": 11},
        ),
        prefix="train_scratch: error: ",
        elide_before=PREPARED["prepared"],
    ),
    "array": Fault(
        "Prepared data of the wrong dtype, features outside [0, 1], no examples",
        "{prepared}/{name}.npy: {why}" + RERUN,
        SAME,
        (
            {**PREPARED, "name": "train_y", "why": "dtype int64, expected int32"},
            {**PREPARED, "name": "test_x", "why": "dtype float64, expected float32"},
            {**PREPARED, "name": "train_x", "why": "dtype uint8, expected float32"},
            {**PREPARED, "name": "val_x", "why": "dtype float16, expected float32"},
            {
                **PREPARED,
                "name": "train_x",
                "why": "features must be in [0, 1], found 0.0 to 229.0",
            },
            {**PREPARED, "name": "test_x", "why": "features must be in [0, 1], found nan to nan"},
            {**PREPARED, "name": "test_y", "why": "holds no examples"},
        ),
        prefix="train_scratch: error: ",
        elide_before=PREPARED["prepared"],
    ),
    "lengths": Fault(
        "Prepared arrays of different lengths",
        "{prepared}: {split} arrays have shapes ({size}, 784) and ({short},), expected "
        "(N, 784) and (N,)" + RERUN,
        SAME,
        (
            {**PREPARED, "split": "test", "size": 100, "short": 99},
            {**PREPARED, "split": "val", "size": 60, "short": 59},
        ),
        prefix="train_scratch: error: ",
        elide_before=PREPARED["prepared"],
    ),
    "batch too large": Fault(
        "`train.batch_size` larger than the training set",
        "params: train.batch_size must be at most {size}, the size of the training set, got "
        "{batch}; a larger batch would be the whole set, one step per epoch",
        "Before the first epoch, for both models and every dist_sync worker.",
        ({"size": 500, "batch": 501},),
        prefix="train_scratch: error: ",
    ),
}
