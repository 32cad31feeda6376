"""Softmax regression with Gluon: Dense(10), SoftmaxCrossEntropyLoss, Trainer('sgd'),
hybridized."""

import mxnet as mx
import numpy as np
from mxnet import gluon, nd
from mxnet.gluon import nn

from .. import FmnistError
from ..guards.atomic import write_checked
from .fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .graph import GRAPH_FLAGS, correct_predictions, require_file, seed_everything

INITIALIZERS = {
    "normal": lambda scale: mx.init.Normal(sigma=scale),
    "uniform": lambda scale: mx.init.Uniform(scale=scale),
    "zeros": lambda scale: mx.init.Zero(),
}


def build_net() -> nn.Dense:
    """The tutorial's net. No Flatten block: the inputs are already (N, 784), and in a
    graph Flatten is a copy that cost ~15% of the training time."""
    net = nn.Dense(NUM_CLASSES, in_units=NUM_FEATURES)
    net.bias.wd_mult = 0.0  # weight decay on the weights only, as the scratch model does
    return net


EXPORT_SUFFIXES = ("-symbol.json", "-0000.params")  # what HybridBlock.export writes, epoch 0


class TrainingGraph(gluon.HybridBlock):
    """net + loss + accuracy, hybridized together: one engine call per batch."""

    def __init__(self, net):
        super().__init__()
        self.net, self.loss_fn = net, gluon.loss.SoftmaxCrossEntropyLoss()

    def hybrid_forward(self, F, x, y):
        logits = self.net(x)
        return self.loss_fn(logits, y), correct_predictions(F, logits, y)


class GluonSoftmax:
    def __init__(self, net, trainer=None):
        self.net, self.trainer = net, trainer
        self.training_graph = TrainingGraph(net)
        self.training_graph.hybridize(**GRAPH_FLAGS)
        # After the parent, which passes its flags on: prediction shapes vary, so no static_shape.
        self.net.hybridize(static_alloc=True)

    @classmethod
    def create(cls, model_params, train_params, kvstore="device"):
        seed_everything(train_params.seed)
        net = build_net()
        net.initialize(INITIALIZERS[model_params.init](model_params.init_scale))
        trainer = gluon.Trainer(
            net.collect_params(),
            "sgd",
            {
                "learning_rate": train_params.lr,
                "momentum": train_params.momentum,
                "wd": train_params.weight_decay,
            },
            kvstore=kvstore,
        )
        return cls(net, trainer)

    def forward(self, x):
        return self.net(x)

    def loss_and_correct(self, x, y):
        return self.training_graph(x, y)

    def step(self, lr: float, batch_size: int) -> None:
        if lr != self.trainer.learning_rate:
            self.trainer.set_learning_rate(lr)
        self.trainer.step(batch_size)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return nd.softmax(self.forward(nd.array(x))).asnumpy()

    def save(self, path) -> None:
        """Into path as given (the caller stages it); loaded back to check it."""
        write_checked(lambda: self.net.save_parameters(str(path)), {path: read_net})

    def export(self, symbol_path, params_path) -> None:
        """Symbol JSON + params, loadable without this code by gluon.SymbolBlock.imports.
        HybridBlock.export takes a prefix: the two paths must share one, as export_paths
        gives them (and as fmnist.guards.atomic's temporary names for them do)."""
        prefix = str(symbol_path).removesuffix(EXPORT_SUFFIXES[0])
        if str(params_path) != prefix + EXPORT_SUFFIXES[1]:
            raise ValueError(f"{symbol_path} and {params_path} do not share an export prefix")
        self.forward(nd.zeros((1, NUM_FEATURES)))  # export needs the net's own graph built
        write_checked(
            lambda: self.net.export(prefix),
            {symbol_path: lambda p: mx.sym.load(str(p)), params_path: lambda p: nd.load(str(p))},
        )

    @staticmethod
    def export_paths(prefix) -> tuple[str, str]:
        """Where `--export-prefix models/gluon` puts the symbol JSON and the params."""
        return tuple(f"{prefix}{suffix}" for suffix in EXPORT_SUFFIXES)

    @classmethod
    def load(cls, path) -> "GluonSoftmax":
        return cls(read_net(path))


def read_net(path) -> nn.Dense:
    require_file(path, "train_gluon")
    net = build_net()
    try:
        net.load_parameters(str(path))
    except Exception as exc:  # MXNet raises MXNetError or AssertionError on a bad file
        raise FmnistError(
            f"{path}: not a Gluon parameter file for Dense(10) ({exc}); rerun the train_gluon stage"
        ) from None
    return net
