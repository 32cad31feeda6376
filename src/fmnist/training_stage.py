"""The body of both training stages: train, then write the model and its history (a DVCLive
directory: metrics.json + per-epoch .tsv series).

Wall times are printed on every epoch line but written to no output: a tracked file that
held them would change on every run, and `make bench` is where speed is measured.
dvcyaml=None: DVCLive must not rewrite dvc.yaml, whose metrics and plots sections are written
by hand."""

from dvclive import Live

from .guards.atomic import staged_outputs
from .lesson.training import train
from .prepared import load_prepared


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


def write_history(history, live_dir) -> None:
    """Into live_dir as given; the caller stages it (fmnist.guards.atomic)."""
    live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=None)
    for stats in history:
        live.step = stats.epoch
        live.log_metric("loss", stats.loss)
        live.log_metric("train_accuracy", stats.train_accuracy)
        live.log_metric("test_accuracy", stats.test_accuracy)
        live.next_step()
    live.end()
