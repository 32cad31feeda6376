"""Fashion-MNIST softmax regression with MXNet, as a DVC pipeline."""


class FmnistError(Exception):
    """An error the user can fix; stages print its message without a traceback."""
