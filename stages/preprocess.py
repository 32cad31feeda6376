"""Stage preprocess: IDX .gz files -> float32 (N, 784) images in [0, 1] and int32 labels (.npy)."""

from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.params import load_params
from fmnist.prepared import prepare


def main() -> None:
    parser = stage_parser("preprocess", __doc__, "none")
    parser.add_argument(
        "--raw-dir", required=True, metavar="DIR", help="the four IDX .gz files that fetch verified"
    )
    parser.add_argument(
        "--prepared-dir",
        required=True,
        metavar="DIR",
        help="output: train_x.npy, train_y.npy, test_x.npy, test_y.npy",
    )
    args = parser.parse_args()
    remove_stale_temporaries(args.prepared_dir)
    load_params()  # validate params.yaml before any work, like every stage
    sizes = prepare(args.raw_dir, args.prepared_dir)
    print(
        f"preprocess: {sizes['train']} train and {sizes['test']} test images in {args.prepared_dir}"
    )


if __name__ == "__main__":
    run_stage("preprocess", main)
