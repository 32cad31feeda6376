"""Softmax regression from scratch, as the tutorial writes it: `softmax`, `net` (X W + b),
`cross_entropy` and `sgd` by hand with mxnet.nd, gradients from autograd.

Nothing here is Gluon's or MXNet's ready-made layer, loss or optimizer (no FullyConnected,
log_softmax, softmax_cross_entropy, sgd_update): the Gluon model (gluon.py) uses those, and
the two check each other by agreeing. `net` and `cross_entropy` take F, the operator module:
mx.nd runs them now; mx.sym builds the same functions as a graph (loss_graph), compiled once, as
Gluon's hybridize does.
"""

import mxnet as mx
import numpy as np
from mxnet import nd

from .fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .graph import GRAPH_FLAGS, correct_predictions, seed_everything


def softmax(X):
    """exp of each logit over the sum of its row's exps. Shifted by the row's maximum first:
    the shift cancels in the ratio, and exp then never sees a positive argument (the
    tutorial's unshifted exp overflows to inf once a logit passes ~88)."""
    X_exp = nd.exp(X - X.max(axis=1, keepdims=True))
    partition = X_exp.sum(axis=1, keepdims=True)
    return X_exp / partition


def net(X, W, b, F=nd):
    """The logits X W + b: X (N, 784), W (784, 10), b (10,)."""
    return F.broadcast_add(F.dot(X, W), b)


def cross_entropy(logits, y, F=nd):
    """Per example, -log softmax(logits)[y] = log(sum(exp(logits))) - logits[y].

    The tutorial takes -log of softmax's output: once a logit passes ~88 its exp is inf and
    the loss NaN. Written as log-sum-exp after shifting each row by its maximum, exp never
    overflows. The shift does not change the result, so it is a constant for the gradient:
    BlockGrad spares backward the work of differentiating max."""
    shift = F.BlockGrad(F.max(logits, axis=1, keepdims=True))
    shifted = F.broadcast_sub(logits, shift)
    return F.log(F.sum(F.exp(shifted), axis=1)) - F.pick(shifted, y, axis=1)


def sgd(params, lr, batch_size, momentum=0.0, weight_decay=0.0, velocities=()):
    """The tutorial's step, param <- param - lr * grad / batch_size, and the two options of
    MXNet's SGD written out the same way, so that this model and Gluon's Trainer take the
    same steps: weight decay adds weight_decay * param to the gradient (of W only: the
    Gluon model's bias has no decay either), and momentum keeps a velocity
    v <- momentum * v - lr * gradient, then param <- param + v.

    In place (-=, *=, +=), where the tutorial writes `param[:] = param - ...`: the same
    numbers, but `[:] =` goes through MXNet's general indexing code, about ten times the
    Python work per call of `-=` (docs/lesson.md)."""
    for param, velocity in zip(params, velocities or [None] * len(params), strict=True):
        gradient = param.grad / batch_size
        if weight_decay and param.ndim == 2:
            gradient += weight_decay * param
        if velocity is None:
            param -= lr * gradient
        else:
            velocity *= momentum
            velocity -= lr * gradient
            param += velocity


def loss_graph():
    """(X, y, W, b) -> (cross_entropy, correct) of net(X), as a graph of symbols: the
    functions above, called with F=mx.sym. Compiled once (nd.CachedOp, as Gluon's hybridize
    does), it runs as one engine call per batch instead of one per operator."""
    X, y, W, b = (mx.sym.var(name) for name in ("X", "y", "W", "b"))
    logits = net(X, W, b, F=mx.sym)
    return mx.sym.Group(
        [cross_entropy(logits, y, F=mx.sym), correct_predictions(mx.sym, logits, y)]
    )


def initial_weights(init: str, scale: float):
    """W drawn as Gluon's Dense draws its (10, 784) weight, then transposed: with the same
    seed both models start from the same weights, so their agreement compares the two
    implementations, not two initialisations."""
    shape = (NUM_CLASSES, NUM_FEATURES)
    if init == "normal":
        return nd.random.normal(0, scale, shape=shape).T
    if init == "uniform":
        return nd.random.uniform(-scale, scale, shape=shape).T
    return nd.zeros(shape).T


class ScratchSoftmax:
    """W (784, 10) and b (10,), trained with autograd and sgd."""

    def __init__(self, W, b, momentum: float = 0.0, weight_decay: float = 0.0):
        self.W, self.b = W, b
        self.params = (W, b)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocities = [nd.zeros_like(p) for p in self.params] if momentum else ()
        for param in self.params:
            param.attach_grad()
        graph = loss_graph()
        self._graph_inputs = graph.list_inputs()
        self._loss_graph = nd.CachedOp(graph, flags=list(GRAPH_FLAGS.items()))

    @classmethod
    def create(cls, model_params, train_params) -> "ScratchSoftmax":
        """model_params: init and init_scale; train_params: seed, momentum, weight_decay."""
        seed_everything(train_params.seed)
        W = initial_weights(model_params.init, model_params.init_scale)
        return cls(W, nd.zeros(NUM_CLASSES), train_params.momentum, train_params.weight_decay)

    def forward(self, X):
        return net(X, self.W, self.b)

    def loss_and_correct(self, X, y):
        arrays = {"X": X, "y": y, "W": self.W, "b": self.b}
        return self._loss_graph(*(arrays[name] for name in self._graph_inputs))

    def step(self, lr: float, batch_size: int) -> None:
        sgd(self.params, lr, batch_size, self.momentum, self.weight_decay, self.velocities)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.forward(nd.array(x))).asnumpy()
