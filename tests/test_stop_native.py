"""A stop signal while native code runs and never returns: onnxruntime running a model whose
Loop has a trip count of 10**15. Python's own handler cannot run there; fmnist.guards.
stage_runner's watchdog ends the process with the stage's one line, its exit status, and
no temporary file left."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from fmnist.guards.atomic import TEMP_GLOB
from fmnist.guards.stage_runner import STOP_GRACE_S

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
        session.run(None, {"x": np.zeros(1, np.float32)})

run_stage("endless", main)
"""


def endless_model() -> bytes:
    """x + the number of Loop iterations, 10**15 of them (31 days at 3 ns each)."""
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "count",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        initializer=[one],
    )
    constants = [
        numpy_helper.from_array(np.array(10**15, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go_on"),
    ]
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "go_on", "x"], ["y"], body=body)],
        "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    return model.SerializeToString()


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_ends_a_native_call_that_never_returns(tmp_path, sig):
    model = tmp_path / "endless.onnx"
    model.write_bytes(endless_model())
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
    assert err.splitlines()[-1] == (  # before it: numpy's notice of the ISA cap, if any
        f"endless: stopped by {sig.name} before finishing; no file was left half-written. "
        "Run `dvc repro` to run the stage again."
    )
    assert STOP_GRACE_S <= took < ENDED_WITHIN_S
    assert not list(output.parent.iterdir())  # no temporary file, no output
