"""The trained models' files: how the training stages write them, and what they must hold,
checked after writing (before the file counts) and before any use (fmnist.model_files).

A model file from elsewhere is untrusted: its arrays must have the names and shapes of this
project's models, dtype float32 and finite values, or the stage that would use it says so in
one line. Nothing here imports the lesson's model classes (a model is told apart by its
arrays), so neither training stage depends on the other model's code. MXNet is imported
inside the functions: loading it takes over a second, and a stage's --help does not need it."""

import numpy as np

from . import FmnistError
from .guards.atomic import write_checked
from .lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES

# The arrays of each model's file, as nd.save and Gluon's save_parameters name them.
EXPECTED = {
    "scratch": {"W": (NUM_FEATURES, NUM_CLASSES), "b": (NUM_CLASSES,)},
    "gluon": {"weight": (NUM_CLASSES, NUM_FEATURES), "bias": (NUM_CLASSES,)},
}
EXPORT_SUFFIXES = ("-symbol.json", "-0000.params")  # what HybridBlock.export writes, epoch 0


def rerun(name: str) -> str:
    return f"rerun the train_{name} stage (dvc repro -f train_{name})"


def require_file(path, name: str) -> None:
    """MXNet says "not a parameter file" of any path it cannot open: name a missing model
    as missing, and the stage that makes it."""
    try:
        open(path, "rb").close()
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing; run the train_{name} stage (dvc repro train_{name})"
        ) from None


def describe(arrays: dict) -> str:
    return ", ".join(f"{k} {tuple(v.shape)} {np.dtype(v.dtype).name}" for k, v in arrays.items())


def read_arrays(path, name: str) -> dict:
    """The NDArrays of the `name` model's file, checked completely: names and shapes, dtype
    float32 (MXNet fails with a traceback on another), finite values (NaN weights give NaN
    probabilities, and a NaN log-loss)."""
    from mxnet import nd

    require_file(path, name)
    try:
        arrays = nd.load(str(path))
    except Exception as exc:  # MXNetError, whose last line (after a C++ traceback) says why
        why = str(exc).strip().splitlines()[-1]
        raise FmnistError(f"{path}: not an MXNet parameter file ({why}); {rerun(name)}") from None
    expected = EXPECTED[name]
    wanted = ", ".join(f"{k} {shape} float32" for k, shape in expected.items())
    if (
        not isinstance(arrays, dict)
        or {k: v.shape for k, v in arrays.items()} != expected
        or any(v.dtype != np.float32 for v in arrays.values())
    ):
        found = describe(arrays) if isinstance(arrays, dict) else "arrays without names"
        raise FmnistError(f"{path}: holds {found}, expected {wanted}; {rerun(name)}")
    for key, array in arrays.items():
        if not np.isfinite(array.asnumpy()).all():
            raise FmnistError(f"{path}: {key} holds NaN or infinite values; {rerun(name)}")
    return arrays


def save_model(model, path) -> None:
    """Into path as given (the caller stages it), then read back and checked as evaluate
    will check it. The scratch model's W and b with nd.save, the Gluon model's net with
    Gluon's own save_parameters."""
    from mxnet import nd

    if hasattr(model, "W"):
        name, write = "scratch", lambda: nd.save(str(path), {"W": model.W, "b": model.b})
    else:
        name, write = "gluon", lambda: model.net.save_parameters(str(path))
    write_checked(write, {path: lambda p: read_arrays(p, name)})


def export_paths(prefix) -> tuple[str, str]:
    """Where `--export-prefix models/gluon` puts the symbol JSON and the params."""
    return tuple(f"{prefix}{suffix}" for suffix in EXPORT_SUFFIXES)


def export_gluon(model, symbol_path, params_path) -> None:
    """Symbol JSON + params, loadable without this code by gluon.SymbolBlock.imports.
    HybridBlock.export takes a prefix: the two paths must share one, as export_paths
    gives them (and as fmnist.guards.atomic's temporary names for them do)."""
    import mxnet as mx
    from mxnet import nd

    prefix = str(symbol_path).removesuffix(EXPORT_SUFFIXES[0])
    if str(params_path) != prefix + EXPORT_SUFFIXES[1]:
        raise ValueError(f"{symbol_path} and {params_path} do not share an export prefix")
    model.forward(nd.zeros((1, NUM_FEATURES)))  # export needs the net's own graph built
    write_checked(
        lambda: model.net.export(prefix),
        {symbol_path: lambda p: mx.sym.load(str(p)), params_path: lambda p: nd.load(str(p))},
    )
