"""A stop signal while native code runs and never returns: onnxruntime running a model whose
Loop has a trip count of 10**15. Python's own handler cannot run there; fmnist.guards.
stage_runner's watchdog ends the process with the stage's one line, its exit status, and
no temporary file left."""

import signal
import subprocess
import sys
import time

import pytest

from fmnist.guards.atomic import TEMP_GLOB
from fmnist.guards.stage_runner import STOP_GRACE_S
from stage_faults import STOP_FAULTS
from test_model_fuzz import endless_loop

STARTUP_S = 30  # importing onnxruntime and starting the endless run, on a busy machine
# The line is printed after STOP_GRACE_S; the rest is the process ending and a busy machine.
ENDED_WITHIN_S = STOP_GRACE_S + 1.5

# A stage that stages an output, then runs the endless model: the line "running" says the
# output's temporary file exists and the native call has begun.
STAGE = """
import sys
import numpy as np
import onnxruntime as ort
from fmnist.guards.atomic import staged_outputs
from fmnist.guards.stage_runner import run_stage

def main():
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    with staged_outputs() as stage:
        stage(sys.argv[2]).write_text("half")
        print("running", flush=True)
        session.run(None, {"pixels": np.zeros((1, 784), np.float32)})

run_stage("endless", main)
"""


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_ends_a_native_call_that_never_returns(tmp_path, sig):
    model = tmp_path / "endless.onnx"
    model.write_bytes(endless_loop())  # the project's graph, a 10**15-step Loop inside
    output = tmp_path / "out" / "result.txt"
    stage = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(model), str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Not a shell's background job: SIGINT keeps its default disposition.
        start_new_session=True,
    )
    try:
        assert stage.stdout.readline() == "running\n", stage.stderr.read()
        assert list(output.parent.glob(TEMP_GLOB))  # the half-written output exists
        time.sleep(0.5)  # well inside session.run
        sent = time.monotonic()
        stage.send_signal(sig)
        _, err = stage.communicate(timeout=STARTUP_S)
        took = time.monotonic() - sent
    finally:
        stage.kill()
        stage.wait()
    assert stage.returncode == 128 + sig
    assert "Traceback" not in err, err
    # before it: numpy's notice of the ISA cap, if any
    assert err.splitlines()[-1] == STOP_FAULTS["native"].message(signal=sig.name)
    assert STOP_GRACE_S <= took < ENDED_WITHIN_S
    assert not list(output.parent.iterdir())  # no temporary file, no output
