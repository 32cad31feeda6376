"""Stage fetch: the four Fashion-MNIST .gz files from the first good mirror into data/raw."""
import argparse

from fmnist.atomic import remove_stale_temporaries
from fmnist.cli import run_stage
from fmnist.fetch import fetch
from fmnist.params import load_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-dir", required=True)
    args = parser.parse_args()
    remove_stale_temporaries(args.raw_dir)
    params = load_params()
    mirror = fetch(params.fetch, args.raw_dir)
    print(f"fetch: {args.raw_dir} filled from {mirror}; all four checksums match")


if __name__ == "__main__":
    run_stage("fetch", main)
