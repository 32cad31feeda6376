"""The two softmax-regression models behind one small interface.

A model has `forward(x) -> logits`, `loss(logits, labels) -> per-example loss`,
`step(lr, batch_size)` (one SGD update from the recorded gradients), `predict_proba`
and `save(path)`. Everything else about training lives in fmnist.train.
"""
import mxnet as mx


def seed_everything(seed: int) -> None:
    """MXNet draws initial weights from its own generator; numpy draws the batch order."""
    mx.random.seed(seed)
