"""MXNet's model files: how the training stages write them (nd.save, save_parameters,
HybridBlock.export), and what they must hold, checked after writing (before the file counts)
and before any use (fmnist.mxnet_sources).

A model file from elsewhere is untrusted: its layout is checked before MXNet reads it, then
its arrays as every model's weights are (fmnist.model_sources.weights_problem). Nothing here
imports the lesson's model classes (a model is told apart by its arrays), so neither training
stage depends on the other model's code. MXNet is imported inside the functions: loading it
takes over a second, and a stage's --help does not need it."""

import math
import struct

import numpy as np

from . import FmnistError
from .guards.atomic import write_checked
from .guards.stage_runner import shown
from .lesson.fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .model_sources import read_model_file, weights_problem

# The arrays of each model's file, as nd.save and Gluon's save_parameters name them.
EXPECTED = {
    "scratch": {"W": (NUM_FEATURES, NUM_CLASSES), "b": (NUM_CLASSES,)},
    "gluon": {"weight": (NUM_CLASSES, NUM_FEATURES), "bias": (NUM_CLASSES,)},
}
EXPORT_SUFFIXES = ("-symbol.json", "-0000.params")  # what HybridBlock.export writes, epoch 0
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


def read_arrays(path, name: str) -> dict:
    """The NDArrays of the `name` model's file, checked completely (layout, then weights),
    loaded from the very bytes checked."""
    from mxnet import nd

    data = read_model_file(path, f"train_{name}")
    if why := layout_problem(data):
        raise FmnistError(f"{path}: not an MXNet parameter file ({why}); {rerun(name)}")
    try:
        arrays = nd.load_frombuffer(data)
    except Exception as exc:  # MXNetError, whose last line (after a C++ traceback) says why
        why = str(exc).strip().splitlines()[-1]
        raise FmnistError(f"{path}: not an MXNet parameter file ({why}); {rerun(name)}") from None
    if not isinstance(arrays, dict):
        raise FmnistError(f"{path}: holds arrays without names; {rerun(name)}")
    if why := weights_problem({k: v.asnumpy() for k, v in arrays.items()}, EXPECTED[name]):
        raise FmnistError(f"{path}: {why}; {rerun(name)}")
    return arrays


def model_name(model) -> str:
    """ "scratch" or "gluon": the lesson's two models, told apart by their parameters."""
    return "scratch" if hasattr(model, "W") else "gluon"


def save_model(model, path) -> None:
    """Into path as given (the caller stages it), then read back and checked completely.
    The scratch model's W and b with nd.save, the Gluon model's net with Gluon's own
    save_parameters."""
    from mxnet import nd

    name = model_name(model)
    writers = {
        "scratch": lambda: nd.save(str(path), {"W": model.W, "b": model.b}),
        "gluon": lambda: model.net.save_parameters(str(path)),
    }
    write_checked(writers[name], {path: lambda p: read_arrays(p, name)})


def weights_of(path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The `name` model's file, checked completely, as W (10, 784) and b (10,) in numpy
    float32: the layout of a dense layer (and of ONNX's Gemm). The scratch model keeps the
    tutorial's W (784, 10): transposed here."""
    arrays = {key: array.asnumpy() for key, array in read_arrays(path, name).items()}
    if name == "scratch":
        return np.ascontiguousarray(arrays["W"].T), arrays["b"]
    return arrays["weight"], arrays["bias"]


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
