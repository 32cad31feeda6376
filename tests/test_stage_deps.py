"""dvc.yaml's deps are exact: each stage lists every module of src/fmnist its script can run,
and no other, so a change to a module reruns exactly the stages that use it.

The import closure is read from the source with ast: every `import` and `from ... import`
anywhere in a module (also inside functions, as the lazy MXNet imports are), plus the
packages a module runs as a process with `python -m` (the dist_sync launcher starts
`fmnist.distributed`), named by a string constant in the code."""

import ast
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT

SRC = PROJECT / "src"
PACKAGE = "fmnist"


def module_file(name: str) -> Path | None:
    """fmnist.a.b -> src/fmnist/a/b.py or src/fmnist/a/b/__init__.py; None if not ours."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts[:-1])


def imported_names(path: Path) -> set[str]:
    """Absolute names of everything path imports or runs with -m (ours or not)."""
    names, package = set(), package_of(path) if path.is_relative_to(SRC) else ""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # submodules
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(PACKAGE + ".")
            and module_file(node.value + ".__main__")
        ):
            names.add(node.value + ".__main__")
    return names


def import_closure(script: Path) -> set[Path]:
    """Every file of src/fmnist that running script executes, packages' __init__ included."""
    seen, todo = set(), [script]
    while todo:
        for name in imported_names(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                path = module_file(".".join(parts[:i]))
                if path and parts[0] == PACKAGE and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return seen


def listed_sources(deps: list) -> set[Path]:
    files = set()
    for dep in deps:
        path = PROJECT / dep
        if path.is_relative_to(SRC):
            files.update(path.rglob("*.py") if path.is_dir() else [path])
    return files


STAGES = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"]


def test_dvc_lock_records_exactly_the_stages_of_dvc_yaml():
    """DVC keeps the entry of a stage removed from dvc.yaml: its outputs' md5s would then
    still be checked (make pull) and fetched. The committed lock must not hold one."""
    lock = yaml.safe_load((PROJECT / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == sorted(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_deps_list_exactly_the_modules_the_stage_runs(stage):
    spec = STAGES[stage]
    script = PROJECT / spec["cmd"].split()[1]
    assert script.relative_to(PROJECT).as_posix() in spec["deps"], f"{stage}: script not a dep"
    needed, listed = import_closure(script), listed_sources(spec["deps"])
    missing = sorted(str(p.relative_to(PROJECT)) for p in needed - listed)
    extra = sorted(str(p.relative_to(PROJECT)) for p in listed - needed)
    assert not missing, f"{stage}: dvc.yaml deps miss modules the stage imports: {missing}"
    assert not extra, f"{stage}: dvc.yaml deps list modules the stage never imports: {extra}"


def test_closure_follows_lazy_imports_and_processes():
    scratch = import_closure(PROJECT / "stages/train_scratch.py")
    assert SRC / "fmnist/mxnet_files.py" in scratch  # through fmnist.training_stage
    evaluate = import_closure(PROJECT / "stages/evaluate.py")
    assert SRC / "fmnist/onnx_files.py" in evaluate
    assert SRC / "fmnist/lesson/gluon.py" not in evaluate  # ONNX only: no model code
    gluon = import_closure(PROJECT / "stages/train_gluon.py")
    assert SRC / "fmnist/distributed/worker.py" in gluon  # run by the launcher with -m


def stale_stages(project) -> set[str]:
    """The stages `dvc status` reports as changed (it prints `name:` at the start of a line)."""
    output = project.dvc("status").stdout
    return {line[:-1] for line in output.splitlines() if line.rstrip(":") in STAGES}


def test_a_change_to_a_module_makes_exactly_its_importers_stale(reproduced_project):
    project = reproduced_project
    assert stale_stages(project) == set()
    with open(project.root / "src/fmnist/prepared.py", "a") as module:
        module.write("# a comment is a change DVC must see\n")
    importers = {
        stage
        for stage, spec in STAGES.items()
        if SRC / "fmnist/prepared.py" in import_closure(PROJECT / spec["cmd"].split()[1])
    }
    assert importers == {
        "preprocess",
        "train_scratch",
        "train_gluon",
        "evaluate",
        "render",
        "render_samples",
    }
    assert stale_stages(project) == importers
