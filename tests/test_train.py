"""The shared training loop: learning, per-epoch bookkeeping, no per-batch host sync, and
the divergence guard (in-process and through the real stages)."""
import dataclasses
import json

import mxnet as mx
import numpy as np
import pytest

from conftest import synthetic_split
from fmnist.data import Dataset
from fmnist.models.gluon import GluonSoftmax
from fmnist.models.scratch import ScratchSoftmax
from fmnist.params import GluonParams, ScratchParams, TrainParams
from fmnist.train import DivergenceError, check_divergence, train

TRAIN = TrainParams(batch_size=32, epochs=2, lr=0.1, lr_schedule="constant", momentum=0.0,
                    weight_decay=0.0, seed=5)
SCRATCH = ScratchParams(init="normal", init_scale=0.01)
GLUON = GluonParams(init="normal", init_scale=0.01, kvstore="local", workers=1, hosts=(),
                    ssh_config="", timeout_s=600.0)
MODELS = {"scratch": lambda train_params: ScratchSoftmax.create(SCRATCH, train_params),
          "gluon": lambda train_params: GluonSoftmax.create(GLUON, train_params)}


def features(images):
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> Dataset:
    (train_x, train_y), (test_x, test_y) = synthetic_split(500, 0), synthetic_split(200, 1)
    # 500 = 15 full batches of 32 and one of 20: the short last batch is trained too.
    return Dataset(features(train_x), train_y.astype(np.int32),
                   features(test_x), test_y.astype(np.int32))


def run(name, data, **changes):
    params = dataclasses.replace(TRAIN, **changes)
    model = MODELS[name](params)
    return model, train(model, data, params, on_epoch=lambda stats: None)


@pytest.mark.parametrize("name", MODELS)
def test_both_models_learn_through_the_shared_loop(name, data):
    _, history = run(name, data)
    assert [s.epoch for s in history] == [1, 2]
    assert history[0].loss > history[1].loss
    assert history[1].train_accuracy >= 0.8 and history[1].test_accuracy >= 0.85
    for stats in history:
        assert stats.seconds > 0
        assert stats.samples_per_second == pytest.approx(500 / stats.seconds)


@pytest.mark.parametrize("changes", [{}, {"momentum": 0.9, "weight_decay": 0.01,
                                          "lr_schedule": "cosine"}])
def test_scratch_and_gluon_follow_the_same_path(data, changes):
    # Same seed, same initial weights, same batches, same update rule: the same loss up to
    # float rounding.
    (scratch, scratch_history), (gluon, gluon_history) = (
        run(name, data, **changes) for name in ("scratch", "gluon"))
    for a, b in zip(scratch_history, gluon_history):
        assert a.loss == pytest.approx(b.loss, rel=1e-4)
        assert a.train_accuracy == pytest.approx(b.train_accuracy, abs=2 / 500)
    for ours, theirs in ((scratch.weight, gluon.net.weight), (scratch.bias, gluon.net.bias)):
        np.testing.assert_allclose(ours.asnumpy(), theirs.data().asnumpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_same_params_same_weights_and_metrics(name, data):
    (first, first_history), (second, second_history) = run(name, data), run(name, data)
    metrics = [(s.loss, s.train_accuracy, s.test_accuracy) for s in first_history]
    assert metrics == [(s.loss, s.train_accuracy, s.test_accuracy) for s in second_history]
    x = data.test_x[:20]
    np.testing.assert_array_equal(first.forward(mx.nd.array(x)).asnumpy(),
                                  second.forward(mx.nd.array(x)).asnumpy())
    _, other_seed = run(name, data, seed=6)
    assert other_seed[0].loss != first_history[0].loss


@pytest.mark.parametrize("name", MODELS)
def test_an_epoch_syncs_with_the_host_a_fixed_number_of_times(name, data, tmp_path):
    # 16 batches per epoch; a per-batch .asscalar() or .asnumpy() would show up 16 times.
    model = MODELS[name](TRAIN)
    mx.profiler.set_config(profile_api=True, aggregate_stats=True,
                           filename=str(tmp_path / "profile.json"))
    mx.profiler.set_state("run")
    try:
        train(model, data, dataclasses.replace(TRAIN, epochs=1), on_epoch=lambda stats: None)
    finally:
        mx.profiler.set_state("stop")
    calls = json.loads(mx.profiler.dumps(reset=True, format="json"))["Time"]["MXNET_C_API"]
    syncs = sum(calls.get(name, {}).get("Count", 0) for name in (
        "MXNDArraySyncCopyToCPU", "MXNDArrayWaitToRead", "MXNDArrayWaitAll"))
    assert syncs <= 3  # one after setup, one for training, one for the test accuracy


@pytest.mark.parametrize("name", MODELS)
def test_a_far_too_high_learning_rate_stops_training_at_the_batch(name, data):
    # A stable loss does not overflow: it grows with lr instead (~1e4 here at lr 1000).
    with pytest.raises(DivergenceError, match=r"epoch 1, batch 2 of 16: .*lower train\.lr "
                                              r"\(now 1000\) in params\.yaml, e\.g\. to 100\b"):
        run(name, data, lr=1000.0)


def test_a_non_finite_loss_stops_training_at_the_batch(data):
    # Weights of 1e38 make the logits overflow to inf and the loss NaN on the first batch.
    huge = ScratchParams(init="normal", init_scale=1e38)
    model = ScratchSoftmax.create(huge, TRAIN)
    with pytest.raises(DivergenceError, match=r"epoch 1, batch 1 of 16: its mean loss was nan"):
        train(model, data, TRAIN, on_epoch=lambda stats: None)


@pytest.mark.parametrize("losses, batch", [
    ([2.3, 1.0, np.inf, 0.5], 3),
    ([2.3, np.nan, 1.0], 2),
    ([2.3, 229.0, 231.0], 3),  # 100x the first batch's loss
])
def test_divergence_is_located_at_the_first_bad_batch(losses, batch):
    with pytest.raises(DivergenceError, match=f"epoch 4, batch {batch} of {len(losses)}"):
        check_divergence(np.array(losses), first_loss=2.3, epoch=4, lr=0.5)


def test_a_healthy_epoch_passes_the_guard():
    check_divergence(np.array([2.3, 229.0, 0.1]), first_loss=2.3, epoch=1, lr=0.1)


def test_a_diverging_stage_fails_with_the_location_and_writes_no_model(small_project):
    project = small_project
    project.set_params(train={"lr": 1000})
    project.commit("far too high a learning rate")
    result = project.dvc("repro", "--keep-going", "train_scratch", "train_gluon", check=False)
    assert result.returncode != 0
    for stage in ("train_scratch", "train_gluon"):
        assert (f"{stage}: error: training diverged at epoch 1, batch 2 of 10" in result.stderr), \
            result.stderr
    assert "lower train.lr (now 1000) in params.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    models = project.root / "models"
    written = [p.name for p in models.glob("*")] if models.exists() else []
    assert written in ([], [".gitignore"]), written  # DVC's own .gitignore may be there
