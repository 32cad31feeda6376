"""The lesson: softmax regression on Fashion-MNIST as the tutorial writes it, once from
scratch (scratch.py) and once with Gluon (gluon.py), trained by one loop (training.py).

It imports mxnet and numpy only, never the pipeline or its guards (tests/test_layers.py):
a reader of the tutorial should recognize every function here."""
