"""Training history -> a DVCLive directory (metrics.json + per-epoch .tsv series) and a
separate timing table.

Timing is kept out of the DVCLive metrics on purpose: the same params must give
byte-identical metrics files, and wall times never repeat exactly.
Both are written under a temporary name and renamed at the end, so an interrupted stage
never leaves half a history. dvcyaml=None: DVCLive must not rewrite dvc.yaml, whose
metrics and plots sections are written by hand.
"""
from dvclive import Live

from .atomic import atomic_path, write_text_atomic


def write_history(history, live_dir) -> None:
    with atomic_path(live_dir) as tmp:
        live = Live(str(tmp), save_dvc_exp=False, dvcyaml=None)
        for stats in history:
            live.step = stats.epoch
            live.log_metric("loss", stats.loss)
            live.log_metric("train_accuracy", stats.train_accuracy)
            live.log_metric("test_accuracy", stats.test_accuracy)
            live.next_step()
        live.end()


def write_timing(history, path) -> None:
    rows = [f"{s.epoch}\t{s.seconds:.4f}\t{s.samples_per_second:.0f}" for s in history]
    write_text_atomic(path, "\n".join(["epoch\tseconds\tsamples_per_second", *rows]) + "\n")


def read_history(live_dir) -> dict:
    """The per-epoch series DVCLive wrote, as {"epoch": [...], "loss": [...], ...}."""
    series = {}
    for name in ("loss", "train_accuracy", "test_accuracy"):
        path = f"{live_dir}/plots/metrics/{name}.tsv"
        with open(path) as f:
            rows = [line.split("\t") for line in f.read().splitlines()[1:]]
        series["epoch"] = [int(step) for step, _ in rows]
        series[name] = [float(value) for _, value in rows]
    return series
