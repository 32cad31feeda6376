"""The body of both training stages: train, then write model, history and timing."""
from .data import load_prepared
from .tracking import write_history, write_timing
from .train import train


def run_training(model, train_params, prepared_dir, model_path, live_dir, timing_path) -> None:
    data = load_prepared(prepared_dir)
    history = train(model, data, train_params, on_epoch=lambda s: print(s.line(), flush=True))
    # Outputs are written only after training finished: a diverged or interrupted run
    # leaves nothing behind.
    model.save(model_path)
    write_history(history, live_dir)
    write_timing(history, timing_path)
