"""Training history -> a DVCLive directory (metrics.json + per-epoch .tsv series).

Wall times are kept out on purpose: the same params must give byte-identical files, and wall
times never repeat exactly. dvcyaml=None: DVCLive must not rewrite dvc.yaml, whose metrics
and plots sections are written by hand.
"""

from dvclive import Live


def write_history(history, live_dir) -> None:
    """Into live_dir as given; the training stage stages it (fmnist.atomic)."""
    live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=None)
    for stats in history:
        live.step = stats.epoch
        live.log_metric("loss", stats.loss)
        live.log_metric("train_accuracy", stats.train_accuracy)
        live.log_metric("test_accuracy", stats.test_accuracy)
        live.next_step()
    live.end()
