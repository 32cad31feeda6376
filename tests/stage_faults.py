"""docs/failure-modes.md, "Stops, edits, the remote and the disk": each fault and its exact
line (tests/fault_lines.py says how the rows are used), asserted by tests/test_interrupt.py,
test_commit.py, test_stop_native.py, test_held_inputs.py, test_remote.py, test_full_disk.py
and test_os_errors.py."""

from fault_lines import Fault, Varies
from fmnist.guards.stage_runner import STOP_GRACE_S

SAME = "Same."
AGAIN = "Run `dvc repro` to run the stage again."
RERUN = "run the stage again (dvc repro)"
STOPPED = "{stage}: stopped by {signal} before finishing; no file was left half-written. " + AGAIN
SCRATCH = {"stage": "train_scratch"}

STOP_FAULTS = {
    "stopped": Fault(
        "Ctrl-C during training, or SIGTERM or SIGHUP to the stage",
        STOPPED,
        "No model, no `dvclive/` directory, no temporary files; `dvc.lock` unchanged; the next "
        "`dvc repro` runs the stage again. The stage exits with 128 + the signal's number, "
        "which DVC reports (`exited with 130` for SIGINT, 143 for SIGTERM). A signal the "
        "caller ignores (`nohup`) stays ignored.",
        ({**SCRATCH, "signal": "SIGINT"}, {**SCRATCH, "signal": "SIGTERM"}),
    ),
    "during the commit": Fault(
        "A signal while the outputs are being renamed into place",
        "{stage}: stopped by {signal} after it had written models/scratch.params, "
        "models/scratch.onnx, dvclive/scratch (whole files), but DVC records no run of a "
        "stopped stage. " + AGAIN,
        "The signal waits for the last rename: the outputs are all old or all new.",
        tuple({**SCRATCH, "signal": s} for s in ("SIGINT", "SIGTERM", "SIGHUP")),
        doc_examples=1,
    ),
    "killed": Fault(
        "A stage killed with `kill -9`",
        None,
        "Its temporaries stay until the stage next starts, which removes those of dead "
        "processes; git ignores them (`.tmp-*`).",
        shown="nothing (no process is left to say it)",
    ),
    "native": Fault(
        "Ctrl-C, SIGTERM or SIGHUP while native code never returns (tried: onnxruntime "
        "running a Loop of 10**15 steps)",
        STOPPED,
        "Python's handler cannot run inside a native call; a watchdog thread, woken by Python's "
        "signal wakeup fd, removes the temporary outputs and ends the process with the same "
        f"line and status (128 + signal) {STOP_GRACE_S} s after the signal (`STOP_GRACE_S`), "
        "unless the handler ran by then or a commit holds the signal. `tests/test_stop_native.py` "
        "checks it for SIGINT, SIGTERM and SIGHUP; before, only SIGKILL ended it.",
        tuple({"stage": "endless", "signal": s} for s in ("SIGTERM", "SIGINT", "SIGHUP")),
        doc_examples=1,
    ),
    "in a finalizer": Fault(
        "Ctrl-C, SIGTERM or SIGHUP while a finalizer runs (an MXNet array freed by the garbage "
        "collector)",
        STOPPED,
        "Python drops an exception raised in a finalizer (`Exception ignored in ... __del__`), "
        "so the stage would train on with the signals ignored; its `sys.unraisablehook` sees "
        "the stop and ends the process the way the watchdog does. `tests/test_atomic.py` "
        "checks it for SIGINT, SIGTERM and SIGHUP with a finalizer that sleeps.",
        tuple({**SCRATCH, "signal": s} for s in ("SIGINT", "SIGTERM", "SIGHUP")),
        doc_examples=1,
    ),
    "dvc killed": Fault(
        "SIGTERM to `dvc repro` and its stage",
        None,
        "Same; the next `dvc` command warns that it removed the killed `dvc repro` from its "
        "lock file (`RWLock-file`), and carries on.",
        shown="The stage's `stopped by SIGTERM` line; DVC itself dies silently",
    ),
}

CHANGED = (
    "{what} changed while {stage} ran, so its outputs would not be what dvc.lock records: none "
    "were kept. Run `dvc repro` again once the edit is done."
)
HELD_FAULTS = {
    "params": Fault(
        "`params.yaml` edited while a stage runs (a key the stage uses)",
        CHANGED,
        "The stage keeps no output and exits 1, so DVC records nothing and `dvc status` still "
        "names the stage. An edit to a key the stage does not use is not its business.",
        (
            {**SCRATCH, "what": "params.yaml's train.epochs (150 when the stage started, 3 now)"},
            # tests/test_held_inputs.py's stage `train`, for each kind of params file
            *(
                {"stage": "train", "what": what}
                for what in (
                    "params.yaml's train.lr (0.1 when the stage started, 0.2 now)",
                    "other.yaml's a.b (1 when the stage started, missing now)",
                    "whole.yaml's contents ({'k': 'v'} when the stage started, {'k': 'w'} now)",
                    "params.yaml's train.lr (0.1 when the stage started, unreadable now)",
                )
            ),
        ),
        prefix="train_scratch: error: ",
        doc_examples=1,
    ),
    "source": Fault(
        "A source or data file the stage depends on changed while it runs",
        CHANGED,
        SAME,
        (
            {**SCRATCH, "what": "src/fmnist/lesson/scratch.py"},
            *({"stage": "train", "what": what} for what in ("train.py", "data", "data/x.npy")),
        ),
        prefix="train_scratch: error: ",
        doc_examples=1,
    ),
}

PULL_FAULTS = {
    "corrupt remote": Fault(
        "`make pull` from a remote whose copy of an output is corrupt",
        "make pull: the DVC remote 'storage' gave a corrupt copy of data/prepared/test_y.npy, "
        "models/scratch.params: its bytes do not have the md5 that dvc.lock records, so it was "
        "not placed in the workspace. Push a good copy from a machine that has one (make push), "
        "or recompute it with `make run`",
        "Exit 1; those outputs stay absent (`verify = true` in `.dvc/config` makes plain "
        "`dvc pull` drop the object too, and fail).",
    ),
    "corrupt cache": Fault(
        "`make pull` with a corrupt object in the local cache (plain `dvc pull` places it and "
        "exits 0)",
        "make pull: DVC placed a corrupt copy of models/scratch.params (other bytes than the "
        "md5 that dvc.lock records, from a corrupt object in .dvc/cache or on the remote): it "
        "was removed, with the cache's copy. Run `make pull` again, or `make run` to recompute it",
        "Exit 1; the file and the cache's object are removed, so the next `make pull` fetches a "
        "good copy.",
    ),
    "missing": Fault(
        "`make pull` from a remote that lacks this commit's outputs",
        "make pull: the DVC remote 'storage' ({remote}) does not hold this commit's data and "
        "models; recompute them with `make run`, or point the remote at shared storage that "
        "holds them: dvc remote modify --local storage url DIR_OR_URL",
        "Exit 1.",
        ({"remote": "<remote>"},),
    ),
}

FILE_FAULTS = {
    "disk full": Fault(
        "The disk fills up, in any stage",
        "{stage}: error: {file}: No space left on device (the disk is full: the file system "
        "mounted at {disk}); free some space there (`df -h {disk}`) and " + RERUN,
        "Nothing under a final name; `dvc.lock` and the cache untouched. MXNet's writers "
        "report no error on a full disk (a short model, exit 0), so its files are loaded back "
        "before they count. fetch stops at once: a full disk is not a mirror's fault.",
        ({**SCRATCH, "file": Varies("models/scratch.params", r"\S+"), "disk": "<disk>"},),
    ),
    "immutable": Fault(
        "An immutable or append-only output (`chattr +i`, `+a`)",
        "{stage}: error: {file}: Operation not permitted ({locked} is immutable or "
        "append-only: `lsattr -d {locked}` shows i or a); remove the flag with "
        "`chattr -ia {locked}` and " + RERUN,
        "The outputs stay old together: a rename that fails puts back those already done.",
        (
            {**SCRATCH, "file": "models/scratch.params", "locked": "models/scratch.params"},
            {**SCRATCH, "file": "dvclive/scratch", "locked": "dvclive"},
        ),
    ),
    "read-only": Fault(
        "A read-only mount",
        "{stage}: error: {file}: Read-only file system ({mount} is mounted read-only); remount "
        "it read-write, or work in a writable copy of the project, and " + RERUN,
        SAME,
        (
            {**SCRATCH, "file": "models/scratch.params", "mount": "/<project>/models"},
            {"stage": "preprocess", "file": "data/prepared", "mount": "/<project>/data"},
        ),
    ),
    "permission": Fault(
        "No permission to read or write",
        "{stage}: error: {file}: Permission denied (this user may not read or change it); "
        "check the owner and mode of it and its directory (`ls -ld`), fix them and " + RERUN,
        SAME,
        (
            {**SCRATCH, "file": "dvclive/scratch"},
            {"stage": "evaluate", "file": "models/gluon.onnx"},
        ),
    ),
    "file in the way": Fault(
        "A file where a directory is needed",
        "{stage}: error: params.yaml: File exists (a file stands where a directory is needed); "
        "move it away and " + RERUN,
        SAME,
        (SCRATCH,),
    ),
}
