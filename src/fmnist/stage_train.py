"""The body of both training stages: train, then write the model and its history.

Wall times are printed on every epoch line but written to no output: a tracked file that
held them would change on every run, and `make bench` is where speed is measured."""

from .atomic import staged_outputs
from .data import load_prepared
from .tracking import write_history
from .train import train


def write_outputs(model, history, model_path, live_dir, export_prefix=None):
    """All or nothing: the outputs are renamed into place together at the end, so an
    interrupted stage never leaves a model without its history (DVC would otherwise keep
    the model of a run that did not finish)."""
    with staged_outputs() as stage:
        model.save(stage(model_path))
        write_history(history, stage(live_dir))
        if export_prefix is not None:
            model.export(*(stage(path) for path in model.export_paths(export_prefix)))


def run_training(
    model, train_params, prepared_dir, model_path, live_dir, export_prefix=None
) -> None:
    data = load_prepared(prepared_dir)
    history = train(model, data, train_params, on_epoch=lambda s: print(s.line(), flush=True))
    # Outputs are written only after training finished: a diverged or interrupted run
    # leaves nothing behind.
    write_outputs(model, history, model_path, live_dir, export_prefix)
