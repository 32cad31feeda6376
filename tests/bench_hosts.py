"""Seconds per epoch of train_gluon on the real data (params.yaml's train section): one
process, dist_sync with 2 workers on this machine, and with worker 1 on a test host (a
network namespace with sshd, tests/hosts.py). Needs root; run it as
`PYTHONPATH=src python tests/bench_hosts.py` on a quiet machine (load < 0.5).

The test host shares this machine's CPU cores: the third row measures the path through ssh,
a network link and the parameter server, not the gain of a second machine's cores."""

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from conftest import PROJECT, REAL_DATA
from fmnist.prepared import prepare
from hosts import ssh_hosts
from test_distributed import start_stage, workspace

EPOCH = re.compile(r"Epoch (\d+)\. .*\(([\d.]+) s, ")


def run(directory) -> tuple[list[float], float]:
    """Seconds of each epoch after the first (worker 0's lines), and of the whole stage."""
    started = time.monotonic()
    out, err = start_stage(directory).communicate(timeout=600)
    took = time.monotonic() - started
    epochs = [float(s) for n, s in EPOCH.findall(out) if int(n) > 1]
    if not epochs:
        sys.exit(f"no epoch lines:\n{out}\n{err}")
    return epochs, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    params = yaml.safe_load((PROJECT / "params.yaml").read_text())
    train = params["train"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare(REAL_DATA, tmp / "prepared", *params["preprocess"].values())
        (tmp / "hosts").mkdir()
        with ssh_hosts(tmp / "hosts", count=1) as hosts:
            setups = {
                "kvstore local (1 process)": {"kvstore": "local", "workers": 1},
                "dist_sync, 2 workers, 1 host": {"workers": 2},
                "dist_sync, 2 workers, 2 hosts": {
                    "workers": 2,
                    "hosts": ["w1"],
                    "ssh_config": str(hosts.ssh_config),
                },
            }
            print("| setup | s per epoch (median of epochs 2..N, each run) | whole stage |")
            print("|---|---|---|")
            for name, gluon in setups.items():
                results = [
                    run(
                        workspace(
                            tmp / f"{name}-{i}".replace(" ", "_"),
                            tmp / "prepared",
                            train=train,
                            gluon=gluon,
                        )
                    )
                    for i in range(args.runs)
                ]
                per_epoch = ", ".join(f"{statistics.median(e):.3f}" for e, _ in results)
                whole = ", ".join(f"{took:.1f}" for _, took in results)
                print(f"| {name} | {per_epoch} | {whole} s |", flush=True)


if __name__ == "__main__":
    main()
