import dataclasses
import json
import re
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from conftest import LOCAL_GLUON, PROJECT
from fmnist import FmnistError
from fmnist.bench import naive_cross_entropy
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.scratch import ScratchSoftmax, cross_entropy, net, sgd, softmax
from fmnist.lesson.training import EpochStats
from fmnist.mxnet_files import save_model, weights_of
from fmnist.mxnet_sources import MxnetWeights, read_model
from fmnist.onnx_files import model_bytes
from fmnist.params import ScratchParams, TrainParams
from fmnist.prepared import write_manifest
from fmnist.results import load_histories
from fmnist.training_stage import write_history
from model_faults import MODEL_FAULTS

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


@pytest.mark.parametrize("init", ["normal", "uniform"])
def test_same_seed_same_weights_in_both_models(init):
    # The scratch W (784, 10) is drawn in Gluon's (10, 784) order and transposed: the two
    # implementations start from the same weights.
    scratch = ScratchSoftmax.create(ScratchParams(init=init, init_scale=0.01), TRAIN)
    gluon_params = dataclasses.replace(GLUON, init=init)
    dense = GluonSoftmax.create(gluon_params, TRAIN).net
    assert scratch.W.shape == (784, 10)
    np.testing.assert_array_equal(scratch.W.asnumpy(), dense.weight.data().asnumpy().T)
    np.testing.assert_array_equal(scratch.b.asnumpy(), dense.bias.data().asnumpy())


def test_softmax_and_net_are_the_tutorials():
    rng = np.random.RandomState(4)
    X, W, b = rng.rand(6, 784), rng.randn(784, 10) * 0.1, rng.randn(10)
    logits = X @ W + b
    ours = net(nd.array(X), nd.array(W), nd.array(b))
    np.testing.assert_allclose(ours.asnumpy(), logits, rtol=1e-4, atol=1e-5)
    exp = np.exp(logits)
    np.testing.assert_allclose(
        softmax(ours).asnumpy(), exp / exp.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7
    )
    huge = softmax(nd.array([[1000.0, 0.0] + [-1000.0] * 8])).asnumpy()
    np.testing.assert_allclose(huge, [[1.0] + [0.0] * 9])


def sgd_step(momentum, weight_decay, velocity=None):
    """One hand-written sgd step on W and b with known gradients."""
    W, b = nd.array(np.full((784, 10), 2.0)), nd.array(np.full(10, 2.0))
    for param in (W, b):
        param.attach_grad()
        with autograd.record():
            loss = (param * 3.0).sum()  # gradient 3 everywhere
        loss.backward()
    velocities = [nd.array(np.full(p.shape, velocity)) for p in (W, b)] if velocity else ()
    sgd(
        (W, b),
        lr=0.5,
        batch_size=6,
        momentum=momentum,
        weight_decay=weight_decay,
        velocities=velocities,
    )
    return W.asnumpy(), b.asnumpy(), velocities


def test_sgd_is_the_tutorials_step_with_momentum_and_decay_written_out():
    W, b, _ = sgd_step(0.0, 0.0)  # param - lr * grad / batch_size = 2 - 0.5 * 3 / 6
    np.testing.assert_allclose(W, 1.75) and np.testing.assert_allclose(b, 1.75)
    W, b, _ = sgd_step(0.0, 0.1)  # decay on W only: gradient 0.5 + 0.1 * 2
    np.testing.assert_allclose(W, 2 - 0.5 * 0.7, rtol=1e-6)
    np.testing.assert_allclose(b, 1.75)
    W, b, (vW, vb) = sgd_step(0.9, 0.0, velocity=1.0)  # v = 0.9 * 1 - 0.5 * 0.5; p += v
    np.testing.assert_allclose(vW.asnumpy(), 0.65, rtol=1e-6)
    np.testing.assert_allclose(W, 2.65, rtol=1e-6)
    np.testing.assert_allclose(b, 2.65, rtol=1e-6)


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


FUSED = ("FullyConnected", "sgd_update", "sgd_mom_update", "softmax_cross_entropy", "log_softmax")


def operators_run(work, tmp_path) -> set[str]:
    """The names of the operators MXNet's engine ran during work() (mx.profiler)."""
    mx.profiler.set_config(
        profile_all=True, aggregate_stats=True, filename=str(tmp_path / "profile.json")
    )
    mx.profiler.set_state("run")
    try:
        work()
        nd.waitall()
    finally:
        mx.profiler.set_state("stop")
    return set(json.loads(mx.profiler.dumps(reset=True, format="json"))["Time"]["operator"])


def test_the_scratch_model_is_written_by_hand(tmp_path):
    """The tutorial's four functions, and none of MXNet's ready-made layer, loss or
    optimizer operators in a training step (forward, backward, update) or a prediction."""
    source = (PROJECT / "src/fmnist/lesson/scratch.py").read_text()
    for function in ("softmax", "net", "cross_entropy", "sgd"):
        assert re.search(rf"^def {function}\(", source, re.MULTILINE), function
    momentum = dataclasses.replace(TRAIN, momentum=0.9, weight_decay=0.01)
    model = ScratchSoftmax.create(SCRATCH, momentum)
    x, y = nd.array(np.random.RandomState(5).rand(8, 784)), nd.array(np.arange(8))

    def train_step_and_predict():
        with autograd.record():
            loss, _ = model.loss_and_correct(x, y)
        loss.backward()
        model.step(0.1, 8)
        model.predict_proba(x.asnumpy())

    ran = operators_run(train_step_and_predict, tmp_path)
    assert {"dot", "_backward_dot"} <= ran, ran  # the profiler saw the graph's operators
    assert not [op for op in ran if any(name.lower() in op.lower() for name in FUSED)], ran


# Model files: written by the training stages, checked completely before use (evaluate).


def test_scratch_save_and_load(tmp_path):
    model = ScratchSoftmax.create(SCRATCH, TRAIN)
    save_model(model, tmp_path / "m.params")
    loaded = read_model(tmp_path / "m.params", "scratch")
    x = np.random.RandomState(0).rand(5, 784).astype(np.float32)
    np.testing.assert_array_equal(model.predict_proba(x), loaded.predict_proba(x))
    assert [p.name for p in tmp_path.iterdir()] == ["m.params"]  # no temp file left


def test_loading_a_wrong_file_says_what_to_do(tmp_path):
    path = tmp_path / "junk.params"
    path.write_bytes(b"junk")
    with pytest.raises(
        FmnistError, match=r"rerun the train_scratch stage \(dvc repro -f"
    ) as raised:
        read_model(path, "scratch")
    assert str(raised.value) == MODEL_FAULTS["not MXNet"].message(file=path)
    with pytest.raises(FmnistError, match="rerun the train_gluon stage"):
        read_model(path, "gluon")
    with pytest.raises(
        FmnistError, match=r"missing; run the train_gluon stage \(dvc repro train_gluon\)"
    ):
        read_model(tmp_path / "none.params", "gluon")


def scratch_file(path, W, b=None):
    nd.save(str(path), {"W": nd.array(W, dtype=W.dtype), "b": nd.zeros(10) if b is None else b})
    return path


GOOD_W = np.full((784, 10), 0.01, np.float32)
FOREIGN = {  # a file of the right shapes that is still not a usable model: what it says
    "float16": (GOOD_W.astype(np.float16), r"holds W \(784, 10\) float16, b \(10,\) float32, "),
    "int32": (GOOD_W.astype(np.int32), r"holds W \(784, 10\) int32, "),
    "float64": (GOOD_W.astype(np.float64), r"holds W \(784, 10\) float64, "),
    "transposed": (GOOD_W.T.copy(), r"holds W \(10, 784\) float32, "),
    "NaN": (np.where(np.eye(784, 10) > 0, np.nan, GOOD_W).astype(np.float32), "W holds NaN or"),
    "Inf": (np.full((784, 10), np.inf, np.float32), "W holds NaN or infinite values"),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_foreign_scratch_file_is_refused_in_one_line(tmp_path, case):
    W, says = FOREIGN[case]
    path = scratch_file(tmp_path / "scratch.params", W)
    with pytest.raises(FmnistError, match=f"^{re.escape(str(path))}: {says}") as raised:
        read_model(path, "scratch")
    assert str(raised.value).endswith(
        "; rerun the train_scratch stage (dvc repro -f train_scratch)"
    )
    assert "\n" not in str(raised.value)
    documented = {"float16": "weights", "NaN": "NaN weights"}  # tests/model_faults.py
    if case in documented:
        assert str(raised.value) == MODEL_FAULTS[documented[case]].message(file=path)


def test_a_gluon_file_of_another_dtype_or_with_nan_is_refused(tmp_path):
    net = nn.Dense(10, in_units=784, dtype="float64")
    net.initialize()
    net.save_parameters(str(tmp_path / "f64.params"))
    with pytest.raises(
        FmnistError, match=r"holds weight \(10, 784\) float64, bias \(10,\) float64"
    ):
        read_model(tmp_path / "f64.params", "gluon")
    net = nn.Dense(10, in_units=784)
    net.initialize()
    net.bias.set_data(nd.array([np.nan] * 10))
    net.save_parameters(str(tmp_path / "nan.params"))
    with pytest.raises(FmnistError, match="nan.params: bias holds NaN or infinite values"):
        read_model(tmp_path / "nan.params", "gluon")


def test_weights_whose_probabilities_overflow_are_refused_not_scored(tmp_path):
    """Finite weights near float32's limit overflow the logits: softmax gives NaN. Such a
    model is refused (one line), so no metric is ever NaN."""
    huge = scratch_file(tmp_path / "scratch.params", np.full((784, 10), 3e38, np.float32))
    model = MxnetWeights(huge).load()
    x = np.full((3, 784), 0.5, np.float32)
    assert np.isnan(model.run(x)).all()
    with pytest.raises(FmnistError, match=r": gives NaN or infinite values \(weights too large"):
        model.probabilities(x)


@pytest.fixture(scope="module")
def evaluate_workspace(tmp_path_factory):
    """What evaluate reads, made in-process: small prepared data, both models as ONNX,
    histories."""
    root = tmp_path_factory.mktemp("evaluate")
    shutil.copy(PROJECT / "params.yaml", root / "params.yaml")
    (root / "prepared").mkdir()
    rng = np.random.RandomState(0)
    for split, n in (("train", 20), ("val", 10), ("test", 10)):
        x, y = rng.rand(n, 784).astype(np.float32), (np.arange(n) % 10).astype(np.int32)
        np.save(root / f"prepared/{split}_x.npy", x, allow_pickle=False)
        np.save(root / f"prepared/{split}_y.npy", y, allow_pickle=False)
    write_manifest(root / "prepared", {})
    history = [EpochStats(1, 2.0, 0.5, 2.0, 0.5, 1.0, 20.0)]
    check = {"onnx_agreement": 1.0, "onnx_max_difference_ppm": 0.5}
    for name, make in (("scratch", ScratchSoftmax.create), ("gluon", GluonSoftmax.create)):
        save_model(make(SCRATCH if name == "scratch" else GLUON, TRAIN), root / f"{name}.params")
        weights = weights_of(root / f"{name}.params", name)
        (root / f"{name}.onnx").write_bytes(model_bytes(*weights, name))
        write_history(history, root / f"live-{name}", check)
    return root


def run_evaluate(root, scratch_onnx):
    flags = {
        "--prepared-dir": "prepared",
        "--scratch-onnx": scratch_onnx,
        "--gluon-onnx": "gluon.onnx",
        "--scratch-live": "live-scratch",
        "--gluon-live": "live-gluon",
        "--metrics-dir": "metrics",
        "--predicted-classes-dir": "predicted_classes",
        "--probabilities-dir": "probabilities",
    }
    argv = [sys.executable, str(PROJECT / "stages/evaluate.py")]
    argv += [part for flag, value in flags.items() for part in (flag, str(value))]
    return subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120)


def test_evaluate_scores_both_onnx_files(evaluate_workspace):
    result = run_evaluate(evaluate_workspace, "scratch.onnx")
    assert result.returncode == 0, result.stderr
    assert "scratch.onnx in onnxruntime gave the same class as MXNet's scratch" in result.stdout
    shutil.rmtree(evaluate_workspace / "metrics")
    shutil.rmtree(evaluate_workspace / "predicted_classes")
    shutil.rmtree(evaluate_workspace / "probabilities")


@pytest.mark.parametrize(
    "case, says",
    [
        ("text", "not an ONNX model (Protobuf parsing failed)"),
        ("huge", "gives NaN or infinite values (weights too large for float32?)"),
    ],
)
def test_evaluate_refuses_a_foreign_model_in_one_line_and_writes_nothing(
    evaluate_workspace, case, says
):
    root = evaluate_workspace
    huge = (np.full((10, 784), 3e38, np.float32), np.zeros(10, np.float32))
    content = b"not a model\n" if case == "text" else model_bytes(*huge, "scratch")
    (root / f"{case}.onnx").write_bytes(content)
    result = run_evaluate(root, f"{case}.onnx")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"evaluate: error: {case}.onnx: {says}; use a model this project made "
        "(`dvc repro train_scratch`)"
    ], result.stderr
    if case == "huge":  # the doc's line (tests/model_faults.py)
        assert lines[0] == "evaluate: error: " + MODEL_FAULTS["overflow"].message(file="huge.onnx")
    for output in ("metrics", "predicted_classes", "probabilities"):
        assert not (root / output).exists()


def test_a_history_holding_nan_is_refused_so_no_metric_is_nan(tmp_path):
    stats = [EpochStats(1, float("nan"), 0.5, 2.0, 0.5, 1.0, 20.0)]
    write_history(stats, tmp_path / "live", {"onnx_agreement": 1.0, "onnx_max_difference_ppm": 0})
    with pytest.raises(FmnistError) as raised:
        load_histories({"scratch": tmp_path / "live"})
    assert str(raised.value) == MODEL_FAULTS["history"].message(dir=tmp_path / "live")
