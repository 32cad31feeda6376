"""The trained models' files: how the training stages write them, and what they must hold,
checked after writing (before the file counts) and before any use (fmnist.model_files).

A model file from elsewhere is untrusted: its arrays must have the names and shapes of this
project's models, dtype float32 and finite values, or the stage that would use it says so in
one line. Nothing here imports the lesson's model classes (a model is told apart by its
arrays), so neither training stage depends on the other model's code. MXNet is imported
inside the functions: loading it takes over a second, and a stage's --help does not need it."""

import math
import os
import struct

import numpy as np

from . import FmnistError
from .guards.atomic import write_checked
from .guards.stage_runner import shown
from .lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES

# The arrays of each model's file, as nd.save and Gluon's save_parameters name them.
EXPECTED = {
    "scratch": {"W": (NUM_FEATURES, NUM_CLASSES), "b": (NUM_CLASSES,)},
    "gluon": {"weight": (NUM_CLASSES, NUM_FEATURES), "bias": (NUM_CLASSES,)},
}
EXPORT_SUFFIXES = ("-symbol.json", "-0000.params")  # what HybridBlock.export writes, epoch 0
# This project's model files are 31-32 KB (the export's graph 1 KB); a larger one is not one
# of them, and is refused before a loader reads it into memory.
MAX_MODEL_FILE_BYTES = 1 << 20
# The export's graph, HybridBlock.export of the Gluon model: data -> FullyConnected.
EXPORT_OPS = ["null", "null", "null", "FullyConnected"]
EXPORT_LAYER = {"flatten": "True", "no_bias": "False", "num_hidden": str(NUM_CLASSES)}


def rerun(name: str) -> str:
    return f"rerun the train_{name} stage (dvc repro -f train_{name})"


# nd.save's layout (MXNet 1.9 NDArray::Save, dmlc's serializer; little-endian): a header,
# then per array a header, its shape and its data, then the names. A shape is read first and
# allocated before its data is read: 4 mutated bytes of a 31 KB file made nd.load take 18 s.
LIST_HEADER, ARRAY_HEADER, ARRAY_MAGIC = struct.Struct("<QQQ"), struct.Struct("<IiI"), 0xF993FAC9
ARRAY_END, LENGTH = struct.Struct("<iii"), struct.Struct("<Q")  # context and dtype; a length
MAX_ELEMENTS = NUM_CLASSES * NUM_FEATURES  # the largest array of this project's models
ITEM_BYTES = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 12: 2}  # MXNet's dtype codes


def layout_problem(data: bytes) -> str | None:
    """Why data is not an nd.save file of at most 2 arrays of at most 7,840 values, or None:
    checked before nd.load allocates what the file declares."""
    try:
        magic, _, count = LIST_HEADER.unpack_from(data)
        if magic != 0x112 or count > 2:
            return "not an nd.save file of at most 2 arrays"
        at = LIST_HEADER.size
        for _ in range(count):
            magic, storage, ndim = ARRAY_HEADER.unpack_from(data, at)
            shape = struct.unpack_from(f"<{min(ndim, 4)}q", data, at + ARRAY_HEADER.size)
            at += ARRAY_HEADER.size + 8 * len(shape)
            dtype = ARRAY_END.unpack_from(data, at)[2]
            elements = math.prod(shape)
            if (magic, storage) != (ARRAY_MAGIC, 0) or ndim > 4 or dtype not in ITEM_BYTES:
                return "an array of another format than a dense one"
            if min(shape, default=0) < 0 or elements > MAX_ELEMENTS:
                return f"declares an array of shape {shape}, larger than this project's"
            at += ARRAY_END.size + ITEM_BYTES[dtype] * elements
        (names,) = LENGTH.unpack_from(data, at)
        at += LENGTH.size
        for _ in range(min(names, count + 1)):
            at += LENGTH.size + LENGTH.unpack_from(data, at)[0]
    except struct.error:
        return "it ends too early"
    return None if names == count and at == len(data) else "its names do not match its arrays"


def require_file(path, name: str) -> None:
    """MXNet says "not a parameter file" of any path it cannot open: name a missing model
    as missing, and the stage that makes it."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            data = file.read(MAX_MODEL_FILE_BYTES + 1)
    except FileNotFoundError:
        raise FmnistError(
            f"{path}: missing; run the train_{name} stage (dvc repro train_{name})"
        ) from None
    if max(size, len(data)) > MAX_MODEL_FILE_BYTES:
        raise FmnistError(
            f"{path}: {size} bytes, more than this project's model files (at most "
            f"{MAX_MODEL_FILE_BYTES}); {rerun(name)}"
        )
    if why := layout_problem(data):
        raise FmnistError(f"{path}: not an MXNet parameter file ({why}); {rerun(name)}")


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


def export_problem(graph) -> str | None:
    """Why a parsed symbol JSON is not the graph of this project's Gluon export, or None:
    the same operators, wiring and layer attributes (the layer's name may differ, dense0 or
    dense1), one output. What MXNet would run is then known before it loads the file."""
    try:
        nodes, heads = graph["nodes"], graph["heads"]
        ops = [node["op"] for node in nodes]
    except (TypeError, KeyError):
        return "not an exported Gluon model (not MXNet's symbol JSON)"
    if not isinstance(heads, list) or len(heads) != 1:
        count = len(heads) if isinstance(heads, list) else heads
        return f"has {shown(count, 20)} outputs, expected 1 (the 10 class scores)"
    if ops != EXPORT_OPS:
        ran = shown(", ".join(map(str, ops)) or "no operator")
        return f"runs {ran}, expected one FullyConnected layer"
    layer = nodes[3].get("attrs")
    if isinstance(layer, dict) and layer.get("num_hidden") != EXPORT_LAYER["num_hidden"]:
        return f"gives {shown(layer.get('num_hidden'), 20)} values per picture, expected 10 classes"
    wiring = [nodes[3].get("inputs"), heads, nodes[0].get("name")]
    if layer != EXPORT_LAYER or wiring != [[[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[3, 0, 0]], "data"]:
        return "not the graph train_gluon exports (data -> FullyConnected, 10 outputs)"
    return None
