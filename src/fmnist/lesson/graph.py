"""What the two softmax-regression models share, and the interface the training loop uses.

A model has
- `loss_and_correct(x, y) -> (loss, correct)`: per-example cross-entropy, recorded for
  autograd, and 1.0 where the predicted class is the label (no gradient). Both come out of
  one compiled MXNet graph, so a batch costs one engine call, not one per operator.
- `step(lr, batch_size)`: one SGD update from the recorded gradients.
- `forward(x) -> logits` and `predict_proba(x)`.
Everything else about training (epochs, batches, timing, divergence) is
fmnist.lesson.training; model files are the pipeline's (fmnist.mxnet_files, fmnist.onnx_files).
"""

import mxnet as mx

# Why compiled graphs use both flags: static_alloc plans memory once; static_shape skips
# shape inference on every call (it redoes it only when the last, smaller batch comes).
GRAPH_FLAGS = {"static_alloc": True, "static_shape": True}


def seed_everything(seed: int) -> None:
    """MXNet draws initial weights from its own generator; numpy draws the batch order."""
    mx.random.seed(seed)


def correct_predictions(F, logits, labels):
    """1.0 where argmax(logits) is the label. BlockGrad: accuracy takes no part in backward."""
    return F.BlockGrad(F.broadcast_equal(F.argmax(logits, axis=1), labels))
