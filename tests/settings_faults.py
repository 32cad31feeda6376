"""docs/failure-modes.md, "Settings": faults of params.yaml as a file, of the machine's
settings and of the benchmark's flags, and the exact line each gives (tests/fault_lines.py
says how the rows are used), asserted by tests/test_params.py, test_workers_bound.py,
test_cpu_pinning.py and test_train.py."""

from fault_lines import Fault, Varies
from fmnist.params import MAX_PARAMS_BYTES
from hosts_faults import HOSTS_RULE

SAME = "Nothing runs."
NOT_A_FILE = "params: params.yaml {what}"

SETTINGS_FAULTS = {
    "tab": Fault(
        "`params.yaml` with a tab in its indentation",
        "fetch: error: params.yaml:{line}:1: found character '\\t' that cannot start any token "
        "(a tab: indent with spaces)",
        SAME,
        ({"line": Varies("13", r"\d+")},),
    ),
    "not utf-8": Fault(
        "`params.yaml` with a byte that is not UTF-8",
        "params.yaml:{where}: byte {byte} is not UTF-8 (save the file as UTF-8)",
        "Nothing runs. Bad syntax and duplicate keys also give `params.yaml:LINE:COL: ...`.",
        ({"where": "2:8", "byte": "0xe9"}, {"where": "1:15", "byte": "0xff"}),
        doc_examples=1,
    ),
    "wrong type": Fault(
        "A value of the wrong type (`'0.1'`, `10.0` for epochs, a date, `.inf`, `~`)",
        "params: train.epochs must be an integer in [1, 1000000], got {got}",
        "params.yaml is read as DVC reads it (YAML 1.2): `010` is 10, `1e-3` is 0.001, as "
        "`dvc params diff` shows.",
        ({"got": "10.0"}, {"got": "True"}),
        doc_examples=1,
    ),
    "tag": Fault(
        "A YAML tag without meaning in a setting: `hosts: !!set {a, b}` (a tuple in hash "
        "order, which `PYTHONHASHSEED` changed), `!!binary`, `!!omap`, `!!pairs`, a timestamp",
        "params: {key}: {what} has no meaning in a setting; {todo}",
        "Checked under every key before the schema; DVC reads such files, the stages refuse them.",
        (
            {"key": "gluon.hosts", "what": "a !!set (unordered)", "todo": "write a list"},
            {"key": "gluon.hosts[0]", "what": "!!binary data", "todo": "write text"},
            {"key": "gluon.hosts", "what": "an !!omap", "todo": "write a plain mapping"},
            {"key": "gluon.hosts[0]", "what": "a !!pairs entry", "todo": "write a mapping"},
            {
                "key": "gluon.hosts[0]",
                "what": "a timestamp",
                "todo": "write a number, or text in quotes",
            },
            {
                "key": "train.epochs",
                "what": "a timestamp",
                "todo": "write a number, or text in quotes",
            },
        ),
    ),
    "not a file": Fault(
        "`params.yaml` a symlink to `/dev/zero`, a FIFO, a directory, or over 1 MiB (it is 2.5 KB)",
        NOT_A_FILE,
        "From its stat, before it is opened (opened with `O_NONBLOCK`, checked again, at most "
        "1 MiB read); before, `/dev/zero` grew memory until `MemoryError` and a FIFO blocked "
        "for ever.",
        (
            {"what": "is a FIFO, not a regular file; make it a file of settings"},
            {"what": "is a character device, not a regular file; make it a file of settings"},
            {"what": "is a directory, not a regular file; make it a file of settings"},
            {
                # the tests' file: lines of 10 bytes, one past the limit
                "what": f"holds {MAX_PARAMS_BYTES + 10 - MAX_PARAMS_BYTES % 10} bytes, more "
                f"than a file of settings (at most {MAX_PARAMS_BYTES}); give the project's "
                "params.yaml"
            },
        ),
        prefix="params: error: ",
    ),
    "aliases": Fault(
        "A value nested 9 levels deep by YAML aliases (a 2 KB file)",
        HOSTS_RULE + "{got}",
        "Under a second, under 600 characters (before: a CPU for 30 s, or a message of 7.2 MB).",
        (
            {
                "got": "[['node-1', 'node-1', 'node-1', 'node-1', 'node-1', 'node-1', ...], "
                "[['node-1', 'node-1', 'node-1', 'node-1', 'node-1', 'node-1', ...], ['node-1', "
                "'node-1', 'node-1', 'node-1', 'node-1', 'node-1', ..."
            },
        ),
    ),
    "workers": Fault(
        "`gluon.workers` more than this machine's memory holds",
        "gluon.workers is {workers}: {workers} dist_sync workers on this machine need about "
        "{need} GB (560 MB each, measured on Fashion-MNIST, and 230 MB for the scheduler and "
        "server) but {available} GB is available; at most {fit} fit here: lower gluon.workers, "
        "or list gluon.hosts to run workers 1.. there",
        "Refused before any process starts.",
        (
            {"workers": 4, "need": "2.4", "available": "1.9", "fit": 3},
            # The stage on this machine: its memory decides the numbers.
            {
                "workers": Varies("<n>", r"\d+"),
                "need": Varies("<GB>", r"[\d.]+"),
                "available": Varies("<GB>", r"[\d.]+"),
                "fit": Varies("<n>", r"\d+"),
            },
        ),
        prefix="train_gluon: error: ",
        doc_examples=1,
    ),
    "threads": Fault(
        "A thread or instruction-set variable set in the shell (`OMP_NUM_THREADS=4`), or "
        "another variable of the libraries",
        "{stage}: note: replaced DNNL_MAX_CPU_ISA='SSE41' by 'AVX2', OMP_NUM_THREADS='4' by "
        "'1'; removed MXNET_MKLDNN_ENABLED='0': every computation runs on one thread with AVX2 "
        "kernels and the libraries' defaults, as the committed results did "
        "(docs/reproducibility.md)",
        "Not an error: the stage runs and gives the committed bytes.",
        ({"stage": "<stage>"},),
    ),
    "bench": Fault(
        "`python -m fmnist.bench --epochs 0` (also `--rounds`, `--tutorial-epochs`, negative "
        "or not a number)",
        "python -m fmnist.bench: error: argument {flag}: {says} (--help lists the flags)",
        "Exit 2, before anything is timed.",
        (
            {"flag": "--epochs", "says": "must be at least 1, got 0"},
            {"flag": "--epochs", "says": "'x' is not a whole number"},
        ),
    ),
}
