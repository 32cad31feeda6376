"""The body of both training stages: train, then write model, history and timing."""
from contextlib import ExitStack

from .atomic import atomic_path
from .data import load_prepared
from .models.gluon import export_paths
from .tracking import write_history, write_timing
from .train import train


def write_outputs(model, history, model_path, live_dir, timing_path, export_prefix=None):
    """All or nothing: every output is first written under a temporary name, and the renames
    happen together at the end, so an interrupted stage never leaves a model without its
    history (DVC would otherwise keep the model of a run that did not finish)."""
    with ExitStack() as stack:
        def staged(path):
            return stack.enter_context(atomic_path(path))
        model.save(staged(model_path))
        write_history(history, staged(live_dir))
        write_timing(history, staged(timing_path))
        if export_prefix is not None:
            model.export(*(staged(path) for path in export_paths(export_prefix)))


def run_training(model, train_params, prepared_dir, model_path, live_dir, timing_path,
                 export_prefix=None) -> None:
    data = load_prepared(prepared_dir)
    history = train(model, data, train_params, on_epoch=lambda s: print(s.line(), flush=True))
    # Outputs are written only after training finished: a diverged or interrupted run
    # leaves nothing behind.
    write_outputs(model, history, model_path, live_dir, timing_path, export_prefix)
