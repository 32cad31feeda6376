"""Fashion-MNIST softmax regression with MXNet, as a DVC pipeline."""

from .isa import cap_instruction_sets

cap_instruction_sets()  # before any import of mxnet or numpy: see fmnist.isa


class FmnistError(Exception):
    """An error the user can fix; stages print its message without a traceback."""
