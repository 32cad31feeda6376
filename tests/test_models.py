import numpy as np
import pytest
from mxnet import autograd, gluon, nd

from conftest import LOCAL_GLUON
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.scratch import ScratchSoftmax, cross_entropy, naive_cross_entropy
from fmnist.params import ScratchParams, TrainParams

TRAIN = TrainParams(
    batch_size=4, epochs=1, lr=0.1, lr_schedule="constant", momentum=0.0, weight_decay=0.0, seed=3
)
SCRATCH = ScratchParams(init="normal", init_scale=0.01)
GLUON = LOCAL_GLUON
both_models = pytest.mark.parametrize(
    "make",
    [lambda: ScratchSoftmax.create(SCRATCH, TRAIN), lambda: GluonSoftmax.create(GLUON, TRAIN)],
    ids=["scratch", "gluon"],
)


def reference_loss(logits, labels):
    return gluon.loss.SoftmaxCrossEntropyLoss()(nd.array(logits), nd.array(labels)).asnumpy()


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
def test_scratch_loss_matches_gluon_loss(scale):
    rng = np.random.RandomState(0)
    logits = (rng.randn(64, 10) * scale).astype(np.float32)
    labels = rng.randint(0, 10, 64).astype(np.float32)
    ours = cross_entropy(nd.array(logits), nd.array(labels)).asnumpy()
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, reference_loss(logits, labels), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_scratch_loss_gradient_matches_gluon_loss_gradient(scale):
    # The shift by the row maximum is cut out of backward (BlockGrad): the gradient must
    # still be softmax(logits) - onehot(label), as Gluon's loss computes it.
    rng = np.random.RandomState(1)
    logits = (rng.randn(32, 10) * scale).astype(np.float32)
    labels = nd.array(rng.randint(0, 10, 32).astype(np.float32))
    grads = []
    for loss_fn in (cross_entropy, gluon.loss.SoftmaxCrossEntropyLoss()):
        x = nd.array(logits)
        x.attach_grad()
        with autograd.record():
            loss = loss_fn(x, labels)
        loss.backward()
        grads.append(x.grad.asnumpy())
    assert np.all(np.isfinite(grads[0]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_naive_loss_breaks_where_the_stable_one_does_not():
    logits = nd.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    labels = nd.array([1.0])
    assert not np.isfinite(naive_cross_entropy(logits, labels).asnumpy()).all()
    np.testing.assert_allclose(cross_entropy(logits, labels).asnumpy(), [1000.0], rtol=1e-6)


def test_loss_of_known_logits():
    # Uniform logits: every class has probability 1/10, so the loss is log(10).
    loss = cross_entropy(nd.zeros((2, 10)), nd.array([3.0, 7.0])).asnumpy()
    np.testing.assert_allclose(loss, [np.log(10)] * 2, rtol=1e-6)


@both_models
def test_a_step_lowers_the_loss_on_its_batch(make):
    model = make()
    rng = np.random.RandomState(1)
    x = nd.array(rng.rand(8, 784).astype(np.float32))
    y = nd.array(np.arange(8) % 10, dtype="float32")
    losses = []
    for _ in range(3):
        with autograd.record():
            loss, _ = model.loss_and_correct(x, y)
        loss.backward()
        model.step(0.1, 8)
        losses.append(float(loss.mean().asscalar()))
    assert losses[0] > losses[1] > losses[2]


def test_same_seed_same_weights_in_both_models():
    # Both draw W from MXNet's generator with the same seed and shape: the two
    # implementations start (and, trained alike, stay) equal.
    scratch = ScratchSoftmax.create(SCRATCH, TRAIN)
    net = GluonSoftmax.create(GLUON, TRAIN).net
    np.testing.assert_array_equal(scratch.weight.asnumpy(), net.weight.data().asnumpy())


@both_models
def test_compiled_graph_computes_the_loss_and_accuracy_of_the_forward_pass(make):
    # The training graph is compiled separately from forward(): it must compute the
    # same cross-entropy, and mark exactly the examples whose argmax is the label.
    model = make()
    rng = np.random.RandomState(2)
    x = nd.array(rng.rand(50, 784).astype(np.float32) * 30)  # large logits
    y = nd.array(rng.randint(0, 10, 50).astype(np.float32))
    loss, correct = model.loss_and_correct(x, y)
    logits = model.forward(x)
    np.testing.assert_allclose(
        loss.asnumpy(), reference_loss(logits.asnumpy(), y.asnumpy()), rtol=1e-5, atol=1e-5
    )
    expected = logits.asnumpy().argmax(axis=1) == y.asnumpy()
    assert 0 < expected.sum() < 50
    np.testing.assert_array_equal(correct.asnumpy(), expected.astype(np.float32))


def test_scratch_save_and_load(tmp_path):
    model = ScratchSoftmax.create(SCRATCH, TRAIN)
    model.save(tmp_path / "m.params")
    loaded = ScratchSoftmax.load(tmp_path / "m.params")
    x = np.random.RandomState(0).rand(5, 784).astype(np.float32)
    np.testing.assert_array_equal(model.predict_proba(x), loaded.predict_proba(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.params"]  # no temp file left


def test_loading_a_wrong_file_says_what_to_do(tmp_path):
    path = tmp_path / "junk.params"
    path.write_bytes(b"junk")
    from fmnist import FmnistError

    with pytest.raises(FmnistError, match="rerun the train_scratch stage"):
        ScratchSoftmax.load(path)
    with pytest.raises(FmnistError, match="rerun the train_gluon stage"):
        GluonSoftmax.load(path)
