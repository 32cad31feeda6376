"""The body of both training stages, and of a dist_sync worker: train with the lesson's
loop, then write the model, the same weights as ONNX (checked in onnxruntime against the
model on the validation set, while both are in memory), and the history (a DVCLive
directory: metrics.json + per-epoch .tsv series). The lesson's own errors become one-line
FmnistErrors here, with what to change in params.yaml.

Wall times are printed on every epoch line but written to no output: a tracked file that
held them would change on every run, and `make bench` is where speed is measured.
dvcyaml=None: DVCLive must not rewrite dvc.yaml, whose metrics and plots sections are written
by hand."""

from contextlib import contextmanager
from dataclasses import dataclass

from dvclive import Live

from . import FmnistError
from .guards.atomic import staged_outputs
from .lesson.training import BatchTooLargeError, DivergenceError, check_batch_size, train
from .mxnet_files import export_gluon, export_paths, model_name, save_model, weights_of
from .onnx_files import faithfulness, model_bytes, probabilities, require_faithful, session


@dataclass(frozen=True)
class TrainingOutputs:
    model: str  # the model file
    onnx: str  # the same model as ONNX
    live_dir: str  # the DVCLive history
    export_prefix: str | None = None  # the Gluon model's export, if any


@contextmanager
def as_stage_errors(train_params):
    """The lesson's errors, said as what to change in params.yaml."""
    try:
        yield
    except DivergenceError as exc:
        lr = train_params.lr
        raise FmnistError(
            f"{exc}; lower train.lr (now {lr:g}) in params.yaml, e.g. to {lr / 10:g}. "
            "No model was written."
        ) from None
    except BatchTooLargeError as exc:
        raise FmnistError(f"params: train.{exc}") from None


def check_batch_fits(train_params, train_size: int) -> None:
    """train.batch_size against a training set (a dist_sync job: the whole set, before the
    workers take their shards)."""
    with as_stage_errors(train_params):
        check_batch_size(train_params.batch_size, train_size)


def run_training(model, train_params, data, outputs: TrainingOutputs | None, echo=True):
    """Train; then, if outputs are given, write them. Returns the history."""
    with as_stage_errors(train_params):
        history = train(model, data, train_params, on_epoch=print_epoch if echo else no_echo)
    # Outputs are written only after training finished: a diverged or interrupted run
    # leaves nothing behind.
    if outputs is not None:
        write_outputs(model, history, outputs, data.val_x)
    return history


def print_epoch(stats) -> None:
    print(stats.line(), flush=True)


def no_echo(stats) -> None:
    pass


def write_outputs(model, history, outputs: TrainingOutputs, val_x) -> None:
    """All or nothing: the outputs are renamed into place together at the end, so an
    interrupted stage never leaves a model without its history (DVC would otherwise keep
    the model of a run that did not finish), nor an ONNX file that answers otherwise."""
    name = model_name(model)
    with staged_outputs() as stage:
        saved = stage(outputs.model)
        save_model(model, saved)
        onnx_file = model_bytes(*weights_of(saved, name), name)
        onnx_proba = probabilities(session(onnx_file), val_x)
        check = faithfulness(model.predict_proba(val_x), onnx_proba)
        require_faithful(check, outputs.onnx, name)
        stage(outputs.onnx).write_bytes(onnx_file)
        write_history(history, stage(outputs.live_dir), check)
        if outputs.export_prefix is not None:
            export_gluon(model, *(stage(path) for path in export_paths(outputs.export_prefix)))


def write_history(history, live_dir, onnx_check: dict) -> None:
    """Into live_dir as given; the caller stages it (fmnist.guards.atomic). The ONNX
    check's two numbers go into the summary (metrics.json), for evaluate to report."""
    live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=None)
    for stats in history:
        live.step = stats.epoch
        live.log_metric("loss", stats.loss)
        live.log_metric("train_accuracy", stats.train_accuracy)
        live.log_metric("val_loss", stats.val_loss)
        live.log_metric("val_accuracy", stats.val_accuracy)
        live.next_step()
    live.summary.update(onnx_check)
    live.end()
