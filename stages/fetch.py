"""Stage fetch: the four Fashion-MNIST .gz files from the first good mirror into data/raw."""

from fmnist.download import fetch
from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.params import load_params


def main() -> None:
    parser = stage_parser("fetch", __doc__, "the fetch section")
    parser.add_argument(
        "--raw-dir",
        required=True,
        metavar="DIR",
        help="output: the four .gz files, from the first mirror in "
        "fetch.mirrors whose files all match fetch.sha256",
    )
    args = parser.parse_args()
    remove_stale_temporaries(args.raw_dir)
    params = load_params()
    mirror = fetch(params.fetch, args.raw_dir)
    print(f"fetch: {args.raw_dir} filled from {mirror}; all four checksums match")


if __name__ == "__main__":
    run_stage("fetch", main)
