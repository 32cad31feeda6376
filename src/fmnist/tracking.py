"""Training history -> a DVCLive directory (metrics.json + per-epoch .tsv series).

Wall times are kept out on purpose: the same params must give byte-identical files, and wall
times never repeat exactly. The directory is written under a temporary name and renamed at
the end, so an interrupted stage never leaves half a history. dvcyaml=None: DVCLive must
not rewrite dvc.yaml, whose metrics and plots sections are written by hand.
"""
from dvclive import Live

from .atomic import atomic_path


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
