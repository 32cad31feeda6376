"""Stage render: PNG pictures of the predictions, the mistakes, the training curves and the
confusion matrices. Reads evaluate's saved probabilities, not the models. (The pictures of the
data alone are render_samples'.)"""

from pathlib import Path

from fmnist import figures
from fmnist.guards.atomic import remove_stale_temporaries, staged_outputs
from fmnist.guards.stage_runner import run_stage, stage_parser
from fmnist.metrics import confidently_wrong
from fmnist.params import load_params
from fmnist.prepared import load_prepared
from fmnist.results import confusion_matrices, load_histories, load_probabilities

FIRST_TEST = slice(0, 9)
MISTAKES_PER_MODEL = 6
PICTURES = (
    "predictions.png",
    "mistakes.png",
    "training_curves.png",
    "confusion_scratch.png",
    "confusion_gluon.png",
)


FLAGS = {
    "--prepared-dir": ("DIR", "preprocess's .npy arrays (the test images drawn)"),
    "--probabilities-dir": ("DIR", "evaluate's test-set class probabilities"),
    "--scratch-live": ("DIR", "train_scratch's DVCLive history (the training curves)"),
    "--gluon-live": ("DIR", "train_gluon's DVCLive history"),
    "--out-dir": ("DIR", "output: five PNG pictures, each captioned with the run's params"),
}


def main() -> None:
    parser = stage_parser(
        "render", __doc__, "train and gluon.kvstore/workers, for each picture's caption", FLAGS
    )
    args = parser.parse_args()
    paths = {name: Path(args.out_dir) / name for name in PICTURES}
    remove_stale_temporaries(*paths.values())
    params = load_params()
    caption = figures.run_caption(params.train, params.gluon)
    data = load_prepared(args.prepared_dir, ("test",))
    probas = load_probabilities(args.probabilities_dir, len(data.test_y))
    histories = load_histories({"scratch": args.scratch_live, "gluon": args.gluon_live})
    first_predicted = {name: proba[FIRST_TEST].argmax(axis=1) for name, proba in probas.items()}
    mistakes = {
        name: confidently_wrong(data.test_y, proba, MISTAKES_PER_MODEL)
        for name, proba in probas.items()
    }
    pictures = {
        "predictions.png": figures.prediction_grid(
            data.test_x[FIRST_TEST],
            data.test_y[FIRST_TEST],
            first_predicted,
            "Test images 0-8: true and predicted classes (wrong in red)",
        ),
        "mistakes.png": figures.confident_mistakes(
            data.test_x,
            data.test_y,
            probas,
            mistakes,
            "The most confidently wrong test images, per model",
        ),
        "training_curves.png": figures.training_curves(histories),
    }
    for name, cm in confusion_matrices(data.test_y, probas).items():
        pictures[f"confusion_{name}.png"] = figures.confusion_heatmap(
            cm, f"Confusion matrix, {name} model (test accuracy {cm.trace() / cm.sum():.4f})"
        )
    for fig in pictures.values():
        figures.add_caption(fig, caption)
    with staged_outputs() as stage:  # all at once
        figures.save_pngs({stage(paths[name]): fig for name, fig in pictures.items()})
    print(f"render: {len(pictures)} pictures in {args.out_dir}/")


if __name__ == "__main__":
    run_stage("render", main)
