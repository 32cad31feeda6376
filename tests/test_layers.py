"""The three layers: the lesson (fmnist.lesson: the two models and the training
loop) imports nothing but mxnet, numpy, the standard library and itself; the guards
(fmnist.guards) import nothing of the project but themselves. The pipeline uses both.

Imports are read with ast, as tests/test_stage_deps.py reads them for dvc.yaml's deps: every
`import` anywhere in a module, inside functions too. (Importing fmnist.lesson runs the
package's own __init__ first, which caps the instruction sets: that is the package's, not
the lesson's.)"""

import sys

import pytest

import test_stage_deps
from test_stage_deps import SRC, imported_names

LESSON = sorted((SRC / "fmnist/lesson").glob("*.py"))
GUARDS = sorted((SRC / "fmnist/guards").glob("*.py"))


def outside(path, allowed_packages: tuple, allowed_prefix: str) -> list[str]:
    """The names path imports that are neither the standard library, nor an allowed
    package, nor under allowed_prefix."""
    return sorted(
        name
        for name in imported_names(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in allowed_packages
        and not (name + ".").startswith(allowed_prefix + ".")
    )


@pytest.mark.parametrize("path", LESSON, ids=lambda p: p.name)
def test_the_lesson_imports_only_mxnet_numpy_and_itself(path):
    assert outside(path, ("mxnet", "numpy"), "fmnist.lesson") == []


@pytest.mark.parametrize("path", GUARDS, ids=lambda p: p.name)
def test_the_guards_import_nothing_of_the_project_but_themselves(path):
    assert [name for name in imported_names(path) if name.split(".")[0] == "fmnist"] == [
        name for name in imported_names(path) if name.startswith("fmnist.guards")
    ]


def test_the_rule_sees_a_forbidden_import(tmp_path, monkeypatch):
    """A lesson module importing the pipeline, its guards or another package is caught,
    relative imports and imports inside functions included."""
    monkeypatch.setattr(test_stage_deps, "SRC", tmp_path)
    module = tmp_path / "fmnist/lesson/probe.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import mxnet\nfrom mxnet import nd\nfrom .graph import GRAPH_FLAGS\n"
        "def f():\n    from ..guards.atomic import write_checked\n"
        "    from .. import FmnistError\n    import yaml\n    from ..params import TrainParams\n"
    )
    assert outside(module, ("mxnet", "numpy"), "fmnist.lesson") == [
        "fmnist",
        "fmnist.FmnistError",
        "fmnist.guards.atomic",
        "fmnist.guards.atomic.write_checked",
        "fmnist.params",
        "fmnist.params.TrainParams",
        "yaml",
    ]


def test_lesson_and_guards_are_found():
    assert {p.name for p in LESSON} >= {"scratch.py", "gluon.py", "training.py"}
    assert {p.name for p in GUARDS} >= {"atomic.py", "stage_runner.py", "cpu.py"}
