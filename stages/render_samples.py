"""Stage render_samples: plots/samples.png, the first ten training images with their
classes, as the tutorial's show_fashion_mnist. A stage of its own: it depends on the
prepared data alone, so a change of a training param does not redraw it."""

from fmnist import figures
from fmnist.guards.atomic import remove_stale_temporaries, staged_outputs
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.params import load_params
from fmnist.prepared import load_prepared

SAMPLES = 10


def main() -> None:
    flags = {
        "--prepared-dir": ("DIR", "preprocess's arrays"),
        "--out": ("FILE", "output: the PNG picture"),
    }
    args = stage_parser("render_samples", __doc__, "none", flags).parse_args()
    remove_stale_temporaries(args.out)
    load_params()
    data = load_prepared(args.prepared_dir, ("train",))
    title = f"The first {SAMPLES} training images"
    fig = figures.sample_grid(data.train_x[:SAMPLES], data.train_y[:SAMPLES], title)
    with staged_outputs() as stage:
        figures.save_png(fig, stage(args.out))
    print(f"render_samples: {args.out}")


if __name__ == "__main__":
    run_stage("render_samples", main)
