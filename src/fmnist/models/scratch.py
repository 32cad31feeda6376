"""Softmax regression from scratch: mxnet.nd arrays, autograd, a hand-made loss and SGD."""
from pathlib import Path

import numpy as np
from mxnet import nd

from .. import FmnistError
from ..atomic import atomic_path
from ..labels import NUM_CLASSES, NUM_FEATURES
from . import seed_everything


def stable_log_softmax(logits):
    """log softmax via the max-shifted log-sum-exp: exp never sees a positive argument."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - nd.log(nd.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy(logits, labels):
    return -nd.pick(stable_log_softmax(logits), labels, axis=1)


def naive_cross_entropy(logits, labels):
    """The tutorial's form, kept to show (in tests and the benchmark) why it is not used:
    exp overflows to inf once a logit passes ~88 and the loss becomes NaN."""
    exp = nd.exp(logits)
    softmax = exp / exp.sum(axis=1, keepdims=True)
    return -nd.log(nd.pick(softmax, labels, axis=1))


def initial_weights(init: str, scale: float, shape):
    if init == "normal":
        return nd.random.normal(0, scale, shape=shape)
    if init == "uniform":
        return nd.random.uniform(-scale, scale, shape=shape)
    return nd.zeros(shape)


class ScratchSoftmax:
    """W is stored as (10, 784), the tutorial's W transposed, because nd.FullyConnected
    wants that layout and is ~3x faster here than nd.dot(x, W)."""

    def __init__(self, weight, bias, momentum: float = 0.0, weight_decay: float = 0.0):
        self.weight, self.bias = weight, bias
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity = [nd.zeros_like(p) for p in (weight, bias)] if momentum else None
        for p in (weight, bias):
            p.attach_grad()

    @classmethod
    def create(cls, model_params, train_params):
        seed_everything(train_params.seed)
        weight = initial_weights(model_params.init, model_params.init_scale,
                                 (NUM_CLASSES, NUM_FEATURES))
        return cls(weight, nd.zeros(NUM_CLASSES), train_params.momentum, train_params.weight_decay)

    def forward(self, x):
        return nd.FullyConnected(x, self.weight, self.bias, num_hidden=NUM_CLASSES)

    def loss(self, logits, labels):
        return cross_entropy(logits, labels)

    def step(self, lr: float, batch_size: int) -> None:
        # W <- W - lr/batch_size * grad (plus momentum / weight decay), fused and in place.
        for i, p in enumerate((self.weight, self.bias)):
            wd = self.weight_decay if i == 0 else 0.0
            if self.velocity:
                nd.sgd_mom_update(p, p.grad, self.velocity[i], lr=lr, momentum=self.momentum,
                                  wd=wd, rescale_grad=1.0 / batch_size, out=p)
            else:
                nd.sgd_update(p, p.grad, lr=lr, wd=wd, rescale_grad=1.0 / batch_size, out=p)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return nd.softmax(self.forward(nd.array(x))).asnumpy()

    def save(self, path) -> None:
        with atomic_path(path) as tmp:
            nd.save(str(tmp), {"W": self.weight, "b": self.bias})

    @classmethod
    def load(cls, path) -> "ScratchSoftmax":
        path = Path(path)
        try:
            arrays = nd.load(str(path))
        except Exception as exc:  # MXNet raises its own MXNetError for any unreadable file
            raise FmnistError(f"{path}: not an MXNet parameter file ({exc}); "
                              "rerun the train_scratch stage") from None
        shapes = {k: v.shape for k, v in arrays.items()} if isinstance(arrays, dict) else None
        if shapes != {"W": (NUM_CLASSES, NUM_FEATURES), "b": (NUM_CLASSES,)}:
            raise FmnistError(f"{path}: holds {shapes}, expected W (10, 784) and b (10,)")
        return cls(arrays["W"], arrays["b"])
