"""Stage preprocess: IDX .gz files -> float32 (N, 784) images in [0, 1] and int32 labels (.npy),
with preprocess.validation_size training images held out as the validation set."""

from fmnist.guards.atomic import remove_stale_temporaries
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.params import load_params
from fmnist.prepared import prepare


def main() -> None:
    parser = stage_parser("preprocess", __doc__, "the preprocess section")
    parser.add_argument(
        "--raw-dir", required=True, metavar="DIR", help="the four IDX .gz files that fetch verified"
    )
    parser.add_argument(
        "--prepared-dir",
        required=True,
        metavar="DIR",
        help="output: {train,val,test}_{x,y}.npy and manifest.json (their sha256, the "
        "validation rows)",
    )
    args = parser.parse_args()
    remove_stale_temporaries(args.prepared_dir)
    split = load_params().preprocess
    sizes = prepare(args.raw_dir, args.prepared_dir, split.validation_size, split.seed)
    print(
        f"preprocess: {sizes['train']} train, {sizes['val']} validation and {sizes['test']} "
        f"test images in {args.prepared_dir}"
    )


if __name__ == "__main__":
    run_stage("preprocess", main)
