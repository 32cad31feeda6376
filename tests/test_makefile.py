"""The Makefile as a front door, in a copy of the project: a bare `make` only lists the
targets, `make clean` removes only what git ignores, `make pull` from a remote that holds
nothing says what to do in one line, and so does `make venv` where no Python it can use
runs; `make predict` without pictures says what to give."""

import re
import shutil
import subprocess

from conftest import PROJECT, Project, copy_project

TARGET = re.compile(r"^([a-z][a-z0-9.-]*):", re.M)


def make(project, *args, check=True):
    # -o: use the venv the tests run in (first on PATH), do not build one inside the copy.
    return project.run("make", "--no-print-directory", "-o", ".venv/.installed", *args, check=check)


def test_a_bare_make_lists_every_target_with_a_line_and_runs_nothing(tmp_path):
    project = copy_project(tmp_path / "project")
    project.commit("copy")
    listed = make(project).stdout
    assert listed == make(project, "help").stdout
    described = dict(re.findall(r"^  ([a-z][a-z0-9.-]*) +(\S.*)$", listed, re.M))
    assert set(described) == set(TARGET.findall((PROJECT / "Makefile").read_text()))
    assert project.git("status", "--porcelain", "--ignored").stdout == ""  # nothing made


def test_make_clean_removes_only_what_git_ignores(reproduced_project):
    project, root = reproduced_project, reproduced_project.root
    project.commit("outputs")
    project.dvc("plots", "show")  # dvc_plots/
    project.dvc("remote", "modify", "--local", "storage", "url", str(root.parent / "remote"))
    (root / ".venv").mkdir()
    (root / ".venv/kept").write_text("the venv stays\n")
    (root / "notes.txt").write_text("not added yet, but mine\n")
    (root / "metrics/.tmp-42-test_accuracy.json").write_text("left by a crash\n")

    make(project, "clean")
    status = project.git("status", "--porcelain").stdout
    assert not [line for line in status.splitlines() if "D" in line[:2]], status
    assert status == "?? notes.txt\n"
    for gone in (
        "data/raw",
        "data/prepared",
        "models/scratch.params",
        "probabilities",
        "dvc_plots",
        ".dvc/cache",
        "metrics/.tmp-42-test_accuracy.json",
    ):
        assert not (root / gone).exists(), gone
    for kept in (".venv/kept", ".dvc/config.local", "notes.txt", "dvc.lock", "plots/samples.png"):
        assert (root / kept).exists(), kept


def test_make_pull_from_a_remote_that_holds_nothing_says_what_to_do(small_project, tmp_path):
    # A fresh clone: dvc.lock names outputs that neither its cache nor its remote (the
    # default, a directory beside the clone that nobody pushed to) holds.
    clone_root = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(small_project.root), str(clone_root)], check=True)
    clone = Project(clone_root)
    result = make(clone, "pull", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    # make's own `make: *** ...` (`make[1]: ***` when the tests run under `make test`)
    ours = [line for line in output.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
    assert len(ours) == 1, output
    assert ours[0].startswith("make pull: the DVC remote 'storage' (")
    assert "`make run`" in ours[0] and "dvc remote modify --local storage url" in ours[0]


def test_without_python_3_11_or_3_12_make_says_in_one_line_how_to_get_one(tmp_path):
    project = copy_project(tmp_path / "project")
    make_path = shutil.which("make")
    project.env = {**project.env, "PATH": str(tmp_path / "no-python-here")}
    for asked in ((), ("PYTHON=python3.12",)):
        result = project.run(make_path, "--no-print-directory", "venv", *asked, check=False)
        assert result.returncode != 0
        lines = (result.stdout + result.stderr).splitlines()
        ours = [line for line in lines if not re.match(r"make(\[\d+\])?: \*\*\*", line)]
        assert len(ours) == 1, lines
        assert ours[0].startswith("No Python to make .venv with: ")
        assert "`uv python install 3.12`" in ours[0] and "apt-get install python3.12" in ours[0]
    assert not (project.root / ".venv").exists()


def test_make_predict_without_pictures_says_what_to_give(tmp_path):
    project = copy_project(tmp_path / "project")
    for given in ((), ("IMAGES=",), ("IMAGES= ",)):
        result = make(project, "predict", *given, check=False)
        assert result.returncode != 0 and result.stdout == ""
        ours = [
            line
            for line in result.stderr.splitlines()
            if not re.match(r"make(\[\d+\])?: \*\*\*", line)
        ]
        assert ours == [
            "make predict: no pictures given; name them in IMAGES, "
            'e.g. make predict IMAGES="shirt.png shoe.jpg"'
        ], result.stderr
