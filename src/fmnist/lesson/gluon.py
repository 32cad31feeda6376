"""Softmax regression with Gluon, as the tutorial writes it: nn.Dense(10),
gluon.loss.SoftmaxCrossEntropyLoss(), gluon.Trainer(..., 'sgd', ...), trainer.step(batch_size),
hybridized."""

import mxnet as mx
import numpy as np
from mxnet import gluon, nd
from mxnet.gluon import nn

from .fashion_mnist import NUM_CLASSES, NUM_FEATURES
from .graph import GRAPH_FLAGS, correct_predictions, seed_everything

# The tutorial initialises with Normal(sigma=1.0); params.yaml's init_scale is 0.01, because
# with 1.0 five epochs reach only ~0.72 test accuracy (0.81 with 0.01).
INITIALIZERS = {
    "normal": lambda scale: mx.init.Normal(sigma=scale),
    "uniform": lambda scale: mx.init.Uniform(scale=scale),
    "zeros": lambda scale: mx.init.Zero(),
}


def build_net() -> nn.Dense:
    """The tutorial's net. No Flatten block before it: the inputs are already (N, 784), and
    in a graph Flatten is a copy that cost ~15% of the training time. in_units given, so the
    weights exist (and are drawn) at initialize(), not at the first batch."""
    net = nn.Dense(NUM_CLASSES, in_units=NUM_FEATURES)
    net.bias.wd_mult = 0.0  # weight decay on the weights only, as the scratch model does
    return net


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
    def create(cls, model_params, train_params, kvstore="device") -> "GluonSoftmax":
        """model_params: init and init_scale; train_params: seed, lr, momentum, weight_decay.
        kvstore None: the trainer updates from the gradients as they are (a dist_sync
        worker sums them itself)."""
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
