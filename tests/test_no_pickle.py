"""No pickle anywhere: loading a pickle runs arbitrary code. Arrays are .npy read with
allow_pickle=False, models are MXNet parameter files (tests/test_interrupt.py checks the
format of a trained model)."""

import ast

import pytest

from conftest import PROJECT, SMALL_SPLIT

SOURCES = sorted(
    p for folder in ("src", "stages", "tests") for p in (PROJECT / folder).rglob("*.py")
)
PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
NUMPY_CALLS = {"load", "save", "savez", "savez_compressed"}


def pickle_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.split(".")[0] in PICKLING_MODULES
            ]
        elif (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in PICKLING_MODULES
        ):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call):
            found += numpy_call_problem(node)
    return found


def numpy_call_problem(call: ast.Call) -> list[str]:
    """np.load / np.save without allow_pickle=False, or with allow_pickle=True."""
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and func.attr in NUMPY_CALLS
        and isinstance(func.value, ast.Name)
        and func.value.id in ("np", "numpy")
    ):
        return []
    flags = [k.value for k in call.keywords if k.arg == "allow_pickle"]
    if func.attr == "load" and not (
        flags and isinstance(flags[0], ast.Constant) and flags[0].value is False
    ):
        return [f"line {call.lineno}: np.load without allow_pickle=False"]
    if flags and not (isinstance(flags[0], ast.Constant) and flags[0].value is False):
        return [f"line {call.lineno}: np.{func.attr} with allow_pickle not False"]
    return []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PROJECT)))
def test_no_pickle_in_the_source(path):
    assert pickle_uses(ast.parse(path.read_text(), str(path))) == []


def test_the_check_finds_what_it_looks_for():
    bad = (
        "import pickle\nfrom joblib import load\nimport numpy as np\n"
        "np.load('a.npy')\nnp.load('b.npy', allow_pickle=True)\n"
        "np.save('c', x, allow_pickle=True)\n"
        "np.load('ok.npy', allow_pickle=False)\n"
    )
    assert pickle_uses(ast.parse(bad)) == [
        "import pickle",
        "from joblib import ...",
        "line 4: np.load without allow_pickle=False",
        "line 5: np.load without allow_pickle=False",
        "line 6: np.save with allow_pickle not False",
    ]


class CreatesFileWhenUnpickled:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_pickled_array_in_data_prepared_is_refused_not_run(small_dataset, tmp_path):
    import numpy.lib.format

    from fmnist import FmnistError
    from fmnist.prepared import load_prepared, prepare

    prepared = tmp_path / "prepared"
    prepare(small_dataset[0], prepared, *SMALL_SPLIT)
    marker = tmp_path / "code-ran"
    hostile = numpy.array([CreatesFileWhenUnpickled(marker)], dtype=object)
    with open(prepared / "train_y.npy", "wb") as out:  # what a tampered file could hold
        numpy.lib.format.write_array(out, hostile, allow_pickle=True)
    with pytest.raises(
        FmnistError,
        match=f"^{prepared}/train_y.npy: not a plain .npy array "
        r"\(Array can't be memory-mapped: Python objects in dtype\.\); rerun the preprocess "
        r"stage",
    ):
        load_prepared(prepared)
    assert not marker.exists()
