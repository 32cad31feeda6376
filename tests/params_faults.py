"""Bad values in params.yaml and the exact line each gives: docs/failure-modes.md shows these
rows (tests/docs_outputs.py writes them into its cog block) and tests/test_params.py asserts
these very messages. To document another fault, add it here and run `make docs`.

Each fault: (what went wrong, as the doc says it; the section and key whose line is
rewritten; the new line, as a user would type it; the message after `<stage>: error: `;
what happens)."""

SAME = "Same."
PARAMS_FAULTS = (
    (
        "`train.lr: 0`, or a number float32 cannot hold",
        ("train", "lr"),
        "lr: 0",
        "params: train.lr must be a number in [1e-30, 1e30], got 0",
        "The first stage that runs stops before any work.",
    ),
    (
        "`train.batch_size: 0`",
        ("train", "batch_size"),
        "batch_size: 0",
        "params: train.batch_size must be an integer >= 1, got 0",
        SAME,
    ),
    (
        "`train.epochs: 0` or over a million",
        ("train", "epochs"),
        "epochs: 0",
        "params: train.epochs must be an integer in [1, 1000000], got 0",
        SAME,
    ),
    (
        "A wrong type",
        ("train", "epochs"),
        "epochs: five",
        "params: train.epochs must be an integer in [1, 1000000], got 'five'",
        SAME,
    ),
    (
        "`train.seed` outside numpy's range",
        ("train", "seed"),
        "seed: 4294967296",
        "params: train.seed must be an integer in [0, 4294967295] (numpy's seed range), "
        "got 4294967296",
        SAME,
    ),
    (
        "`fetch.timeout_s` too large for a socket",
        ("fetch", "timeout_s"),
        "timeout_s: 1e10",
        "params: fetch.timeout_s must be in [0.001, 86400] (seconds; 86400 is a day), "
        "got 10000000000.0",
        SAME,
    ),
    (
        "`init_scale: 0`",
        ("scratch", "init_scale"),
        "init_scale: 0",
        "params: scratch.init_scale must be a number in [1e-30, 1e30], got 0",
        "Same (also `gluon.init_scale`).",
    ),
    (
        "An unknown initialiser",
        ("scratch", "init"),
        "init: xavier",
        "params: scratch.init must be one of 'normal', 'uniform', 'zeros', got 'xavier'",
        "Same (also `gluon.init`).",
    ),
    (
        "A value YAML cannot build (a date like 2001-02-30)",
        ("train", "seed"),
        "seed: 2001-02-30",
        "params.yaml: day is out of range for month",
        SAME,
    ),
    (
        "An unknown key",
        ("train", "lr"),
        "learning_rate: 0.1",
        "params: unknown key train.learning_rate; allowed keys in 'train': batch_size, "
        "epochs, lr, lr_schedule, momentum, weight_decay, seed",
        SAME,
    ),
    (
        "`preprocess.validation_size: 0`",
        ("preprocess", "validation_size"),
        "validation_size: 0",
        "params: preprocess.validation_size must be an integer >= 1 (and below the number "
        "of training images), got 0",
        SAME,
    ),
)


def with_line(text: str, section: str, key: str, line: str) -> str:
    """params.yaml's text with `key`'s line in `section` replaced by `line` (indented the
    same; its comment goes too)."""
    lines = text.splitlines(keepends=True)
    start = lines.index(f"{section}:\n") if f"{section}:\n" in lines else None
    if start is None:  # a section header with a comment after it
        start = next(i for i, s in enumerate(lines) if s.startswith(f"{section}:"))
    for i in range(start + 1, len(lines)):
        stripped = lines[i].lstrip(" ")
        if stripped.startswith(f"{key}:"):
            indent = lines[i][: len(lines[i]) - len(stripped)]
            lines[i] = f"{indent}{line}\n"
            return "".join(lines)
    raise KeyError(f"no {section}.{key} in the text")
