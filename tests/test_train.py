"""The shared training loop: learning, per-epoch bookkeeping, no per-batch host sync, and
the divergence guard (in-process and through the real stages)."""

import dataclasses
import json
import os
import re
import subprocess
import sys
import types

import mxnet as mx
import numpy as np
import pytest
import yaml

from conftest import LOCAL_GLUON, PROJECT, synthetic_split
from data_faults import PREPARED_FAULTS
from fmnist import FmnistError
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.scratch import ScratchSoftmax
from fmnist.lesson.training import (
    BatchTooLargeError,
    DivergenceError,
    check_divergence,
    train,
)
from fmnist.params import ScratchParams, TrainParams
from fmnist.prepared import EXPECTED, Dataset, write_manifest
from fmnist.training_stage import run_training
from settings_faults import SETTINGS_FAULTS
from test_distributed import STAGE_FLAGS

TRAIN = TrainParams(
    batch_size=32, epochs=2, lr=0.1, lr_schedule="constant", momentum=0.0, weight_decay=0.0, seed=5
)
SCRATCH = ScratchParams(init="normal", init_scale=0.01)
GLUON = LOCAL_GLUON
MODELS = {
    "scratch": lambda train_params: ScratchSoftmax.create(SCRATCH, train_params),
    "gluon": lambda train_params: GluonSoftmax.create(GLUON, train_params),
}


def features(images):
    return (images.reshape(len(images), -1) / np.float32(255)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> Dataset:
    # 500 = 15 full batches of 32 and one of 20: the short last batch is trained too.
    splits = (synthetic_split(500, 0), synthetic_split(200, 1), synthetic_split(100, 2))
    return Dataset(*(a for x, y in splits for a in (features(x), y.astype(np.int32))))


def run(name, data, **changes):
    params = dataclasses.replace(TRAIN, **changes)
    model = MODELS[name](params)
    return model, train(model, data, params, on_epoch=lambda stats: None)


@pytest.mark.parametrize("name", MODELS)
def test_both_models_learn_through_the_shared_loop(name, data):
    _, history = run(name, data)
    assert [s.epoch for s in history] == [1, 2]
    assert history[0].loss > history[1].loss
    assert history[1].train_accuracy >= 0.8 and history[1].val_accuracy >= 0.85
    assert history[0].val_loss > history[1].val_loss
    for stats in history:
        assert stats.seconds > 0
        assert stats.samples_per_second == pytest.approx(500 / stats.seconds)


@pytest.mark.parametrize(
    "changes", [{}, {"momentum": 0.9, "weight_decay": 0.01, "lr_schedule": "cosine"}]
)
def test_scratch_and_gluon_follow_the_same_path(data, changes):
    # Same seed, same initial weights, same batches, same update rule, but no operator in
    # common: the same loss and weights up to float rounding, and (as on the real data)
    # the same test predictions on at least 99.9% of the images, accuracies within 0.002.
    (scratch, scratch_history), (gluon, gluon_history) = (
        run(name, data, **changes) for name in ("scratch", "gluon")
    )
    for a, b in zip(scratch_history, gluon_history, strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-4)
        assert a.train_accuracy == pytest.approx(b.train_accuracy, abs=2 / 500)
    for a, b in zip(scratch_history, gluon_history, strict=True):
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-4)
    assert abs(scratch_history[-1].val_accuracy - gluon_history[-1].val_accuracy) <= 0.002
    predicted = [m.predict_proba(data.test_x).argmax(axis=1) for m in (scratch, gluon)]
    assert np.mean(predicted[0] == predicted[1]) >= 0.999
    for ours, theirs in ((scratch.W.T, gluon.net.weight), (scratch.b, gluon.net.bias)):
        np.testing.assert_allclose(ours.asnumpy(), theirs.data().asnumpy(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_training_reads_no_test_set(name, data):
    """The loop is given the training and validation arrays only, and its validation
    numbers are the model's own on that set: the test set is left to evaluate."""
    without_test = types.SimpleNamespace(
        train_x=data.train_x, train_y=data.train_y, val_x=data.val_x, val_y=data.val_y
    )
    params = dataclasses.replace(TRAIN, epochs=1)
    model = MODELS[name](params)
    (stats,) = train(model, without_test, params, on_epoch=lambda stats: None)
    predicted = model.predict_proba(data.val_x)
    assert stats.val_accuracy == pytest.approx(np.mean(predicted.argmax(axis=1) == data.val_y))
    true_class = predicted[np.arange(len(data.val_y)), data.val_y]
    assert stats.val_loss == pytest.approx(-np.mean(np.log(true_class)), rel=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_same_params_same_weights_and_metrics(name, data):
    (first, first_history), (second, second_history) = run(name, data), run(name, data)
    metrics = [(s.loss, s.train_accuracy, s.val_loss, s.val_accuracy) for s in first_history]
    assert metrics == [
        (s.loss, s.train_accuracy, s.val_loss, s.val_accuracy) for s in second_history
    ]
    x = data.test_x[:20]
    np.testing.assert_array_equal(
        first.forward(mx.nd.array(x)).asnumpy(), second.forward(mx.nd.array(x)).asnumpy()
    )
    _, other_seed = run(name, data, seed=6)
    assert other_seed[0].loss != first_history[0].loss


@pytest.mark.parametrize("name", MODELS)
def test_an_epoch_syncs_with_the_host_a_fixed_number_of_times(name, data, tmp_path):
    # 16 batches per epoch; a per-batch .asscalar() or .asnumpy() would show up 16 times.
    model = MODELS[name](TRAIN)
    mx.profiler.set_config(
        profile_api=True, aggregate_stats=True, filename=str(tmp_path / "profile.json")
    )
    mx.profiler.set_state("run")
    try:
        train(model, data, dataclasses.replace(TRAIN, epochs=1), on_epoch=lambda stats: None)
    finally:
        mx.profiler.set_state("stop")
    calls = json.loads(mx.profiler.dumps(reset=True, format="json"))["Time"]["MXNET_C_API"]
    syncs = sum(
        calls.get(name, {}).get("Count", 0)
        for name in ("MXNDArraySyncCopyToCPU", "MXNDArrayWaitToRead", "MXNDArrayWaitAll")
    )
    assert syncs <= 3  # one after setup, one for training, one for the validation loss and accuracy


@pytest.mark.parametrize("name", MODELS)
def test_a_far_too_high_learning_rate_stops_training_at_the_batch(name, data):
    # A stable loss does not overflow: it grows with lr instead (~1e4 here at lr 1000).
    with pytest.raises(DivergenceError, match=r"^training diverged at epoch 1, batch 2 of 16: "):
        run(name, data, lr=1000.0)
    # The stage layer says what to change, in one line.
    params = dataclasses.replace(TRAIN, lr=1000.0)
    with pytest.raises(
        FmnistError,
        match=r"^training diverged at epoch 1, batch 2 of 16: .*; lower train\.lr "
        r"\(now 1000\) in params\.yaml, e\.g\. to 100\. No model was written\.$",
    ):
        run_training(MODELS[name](params), params, data, outputs=None, echo=False)


def test_a_non_finite_loss_stops_training_at_the_batch(data):
    # Weights of 1e38 make the logits overflow to inf and the loss NaN on the first batch.
    huge = ScratchParams(init="normal", init_scale=1e38)
    model = ScratchSoftmax.create(huge, TRAIN)
    with pytest.raises(DivergenceError, match=r"epoch 1, batch 1 of 16: its mean loss was nan"):
        train(model, data, TRAIN, on_epoch=lambda stats: None)


@pytest.mark.parametrize(
    "losses, batch",
    [
        ([2.3, 1.0, np.inf, 0.5], 3),
        ([2.3, np.nan, 1.0], 2),
        ([2.3, 229.0, 231.0], 3),  # 100x the first batch's loss
    ],
)
def test_divergence_is_located_at_the_first_bad_batch(losses, batch):
    with pytest.raises(DivergenceError, match=f"epoch 4, batch {batch} of {len(losses)}"):
        check_divergence(np.array(losses), first_loss=2.3, epoch=4)


def test_a_healthy_epoch_passes_the_guard():
    check_divergence(np.array([2.3, 229.0, 0.1]), first_loss=2.3, epoch=1)


def test_a_diverging_stage_fails_with_the_location_and_writes_no_model(reproduced_project):
    project = reproduced_project
    project.set_params(train={"lr": 1000})
    project.commit("far too high a learning rate")
    result = project.dvc("repro", "--keep-going", "train_scratch", "train_gluon", check=False)
    assert result.returncode != 0
    # 8 batches: 300 images, 60 held out for validation, batches of 32.
    for stage in ("train_scratch", "train_gluon"):
        assert f"{stage}: error: training diverged at epoch 1, batch 2 of 8" in result.stderr, (
            result.stderr
        )
    assert "lower train.lr (now 1000) in params.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    models = project.root / "models"
    written = [p.name for p in models.glob("*")] if models.exists() else []
    assert written in ([], [".gitignore"]), written  # DVC's own .gitignore may be there


BATCH_TOO_LARGE = PREPARED_FAULTS["batch too large"].message()  # 500 images, batch 501


@pytest.mark.parametrize("name", MODELS)
def test_a_batch_larger_than_the_training_set_is_refused(name, data):
    # Before: one step per epoch, without a word (0.65 test accuracy instead of 0.81).
    lesson_says = BATCH_TOO_LARGE.removeprefix("params: train.")
    with pytest.raises(BatchTooLargeError, match=f"^{re.escape(lesson_says)}$"):
        run(name, data, batch_size=501)
    params = dataclasses.replace(TRAIN, batch_size=501)
    with pytest.raises(FmnistError, match=f"^{re.escape(BATCH_TOO_LARGE)}$"):
        run_training(MODELS[name](params), params, data, outputs=None, echo=False)
    _, history = run(name, data, batch_size=500, epochs=1)  # the whole set is allowed
    assert len(history) == 1


def test_a_dist_sync_job_refuses_a_batch_larger_than_the_training_set(data, tmp_path):
    """Each worker sees only its shard and its part of the batch: the global batch is checked
    against the whole set, with the same message."""
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    for name in EXPECTED:
        np.save(prepared / f"{name}.npy", getattr(data, name), allow_pickle=False)
    write_manifest(prepared, {})  # as preprocess does: the launcher passes its digest on
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())  # for its fetch section
    params["train"] = {**dataclasses.asdict(TRAIN), "batch_size": 502}
    params["gluon"] = {
        **dataclasses.asdict(GLUON),
        "kvstore": "dist_sync",
        "workers": 2,
        "hosts": [],
        "timeout_s": 60,
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, str(PROJECT / "stages/train_gluon.py"), *STAGE_FLAGS],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"},
    )
    assert result.returncode == 1
    too_large = PREPARED_FAULTS["batch too large"].message(batch=502)
    assert re.search(
        r"^train_gluon: error: distributed training failed after [\d.]+ s: worker "
        r"\d \(pid \d+\) exited with code 1, saying: train_gluon worker: error: "
        + re.escape(too_large),
        result.stderr,
    ), result.stderr
    assert too_large in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize(
    "flag, value",
    [("--epochs", "0"), ("--rounds", "0"), ("--tutorial-epochs", "-2"), ("--epochs", "x")],
)
def test_the_benchmark_refuses_a_count_below_one_before_running(flag, value):
    """`make bench` with 0 epochs or rounds used to run everything, then fail on an empty
    median. argparse refuses it: one line, exit 2, nothing timed (no table printed)."""
    result = subprocess.run(
        [sys.executable, "-m", "fmnist.bench", flag, value, "--raw-dir", "/nonexistent"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    says = "'x' is not a whole number" if value == "x" else f"must be at least 1, got {value}"
    fault = SETTINGS_FAULTS["bench"]
    assert result.stderr == fault.message(flag=flag, says=says) + "\n"
    for example, shown in enumerate(fault.examples):  # the doc's cases, whole
        if (shown["flag"], shown["says"]) == (flag, says):
            assert result.stderr == fault.message(example) + "\n"
