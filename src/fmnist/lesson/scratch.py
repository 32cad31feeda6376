"""Softmax regression from scratch: a hand-written graph of MXNet operators, autograd, and
a hand-written SGD step."""

from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import nd

from .. import FmnistError
from ..guards.atomic import write_checked
from .fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .graph import GRAPH_FLAGS, correct_predictions, require_file, seed_everything


def linear(F, x, weight, bias):
    """x W^T + b. nd.FullyConnected is ~3x faster here than nd.dot for these shapes."""
    return F.FullyConnected(x, weight, bias, num_hidden=NUM_CLASSES)


def cross_entropy(logits, labels, F=nd):
    """Per-example -log softmax(logits)[label] = logsumexp(logits) - logits[label], with
    logsumexp computed after shifting by the row maximum, so exp never sees a positive
    argument and never overflows. The shift is a constant for the gradient (the result
    does not depend on it), so BlockGrad spares backward the work of differentiating max.
    F is mx.nd (run now) or mx.sym (compile into a graph)."""
    shift = F.BlockGrad(F.max(logits, axis=1, keepdims=True))
    shifted = F.broadcast_sub(logits, shift)
    return F.log(F.sum(F.exp(shifted), axis=1)) - F.pick(shifted, labels, axis=1)


def naive_cross_entropy(logits, labels):
    """The tutorial's form, kept to show (in tests and the benchmark) why it is not used:
    exp overflows to inf once a logit passes ~88 and the loss becomes NaN."""
    exp = nd.exp(logits)
    softmax = exp / exp.sum(axis=1, keepdims=True)
    return -nd.log(nd.pick(softmax, labels, axis=1))


def compile_training_graph():
    """(x, y, weight, bias) -> (loss, correct) as one cached MXNet graph: the same
    operators as above, run as one engine call per batch instead of one per operator
    (this is what Gluon's hybridize does)."""
    x, y, weight, bias = (mx.sym.var(name) for name in ("x", "y", "weight", "bias"))
    logits = linear(mx.sym, x, weight, bias)
    graph = mx.sym.Group(
        [cross_entropy(logits, y, F=mx.sym), correct_predictions(mx.sym, logits, y)]
    )
    return nd.CachedOp(graph, flags=list(GRAPH_FLAGS.items())), graph.list_inputs()


def initial_weights(init: str, scale: float, shape):
    if init == "normal":
        return nd.random.normal(0, scale, shape=shape)
    if init == "uniform":
        return nd.random.uniform(-scale, scale, shape=shape)
    return nd.zeros(shape)


class ScratchSoftmax:
    """W is stored as (10, 784), the tutorial's W transposed: the layout FullyConnected wants."""

    def __init__(self, weight, bias, momentum: float = 0.0, weight_decay: float = 0.0):
        self.weight, self.bias = weight, bias
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity = [nd.zeros_like(p) for p in (weight, bias)] if momentum else None
        for p in (weight, bias):
            p.attach_grad()
        # Fixed arrays backward writes into; `p.grad` would make a new handle on every call.
        self.grads = (weight.grad, bias.grad)
        self._graph, self._graph_inputs = compile_training_graph()

    @classmethod
    def create(cls, model_params, train_params):
        seed_everything(train_params.seed)
        weight = initial_weights(
            model_params.init, model_params.init_scale, (NUM_CLASSES, NUM_FEATURES)
        )
        return cls(weight, nd.zeros(NUM_CLASSES), train_params.momentum, train_params.weight_decay)

    def forward(self, x):
        return linear(nd, x, self.weight, self.bias)

    def loss_and_correct(self, x, y):
        arrays = {"x": x, "y": y, "weight": self.weight, "bias": self.bias}
        loss, correct = self._graph(*(arrays[name] for name in self._graph_inputs))
        return loss, correct

    def step(self, lr: float, batch_size: int) -> None:
        # W <- W - lr/batch_size * grad (plus momentum / weight decay), fused and in place.
        for i, (p, grad) in enumerate(zip((self.weight, self.bias), self.grads, strict=True)):
            wd = self.weight_decay if i == 0 else 0.0
            if self.velocity:
                nd.sgd_mom_update(
                    p,
                    grad,
                    self.velocity[i],
                    lr=lr,
                    momentum=self.momentum,
                    wd=wd,
                    rescale_grad=1.0 / batch_size,
                    out=p,
                )
            else:
                nd.sgd_update(p, grad, lr=lr, wd=wd, rescale_grad=1.0 / batch_size, out=p)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return nd.softmax(self.forward(nd.array(x))).asnumpy()

    def save(self, path) -> None:
        """Into path as given (the caller stages it); loaded back to check it."""
        write_checked(
            lambda: nd.save(str(path), {"W": self.weight, "b": self.bias}), {path: read_arrays}
        )

    @classmethod
    def load(cls, path) -> "ScratchSoftmax":
        arrays = read_arrays(path)
        return cls(arrays["W"], arrays["b"])


def read_arrays(path) -> dict:
    path = Path(path)
    require_file(path, "train_scratch")
    try:
        arrays = nd.load(str(path))
    except Exception as exc:  # MXNet raises its own MXNetError for any unreadable file
        raise FmnistError(
            f"{path}: not an MXNet parameter file ({exc}); rerun the train_scratch stage"
        ) from None
    shapes = {k: v.shape for k, v in arrays.items()} if isinstance(arrays, dict) else None
    if shapes != {"W": (NUM_CLASSES, NUM_FEATURES), "b": (NUM_CLASSES,)}:
        raise FmnistError(f"{path}: holds {shapes}, expected W (10, 784) and b (10,)")
    return arrays
