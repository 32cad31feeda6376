"""Fashion-MNIST softmax regression with MXNet, as a DVC pipeline.

Three parts: the lesson (fmnist.lesson: the two models and the training loop, as the
tutorial writes them), the guards (fmnist.guards) and the pipeline (the other modules, which
use both)."""

from .guards import FmnistError, held_inputs  # noqa: F401  (its clock starts now)
from .guards.cpu import pin_computation
from .guards.mxnet_compat import restore_numpy_aliases

pin_computation()  # before any import of mxnet or numpy: see fmnist.guards.cpu
restore_numpy_aliases()  # before any import of mxnet, on numpy >= 1.24 only (Python 3.12)

__all__ = ["FmnistError"]
