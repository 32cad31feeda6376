"""Shared fixtures: small generated IDX datasets and real `dvc repro` runs in a temporary
git repository holding a copy of this project."""

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from fmnist.idx import encode_images, encode_labels, write_gz
from fmnist.params import GluonParams
from fmnist.plots_page import DEFAULT_PATH as PLOTS_PAGE
from fmnist.plots_page import write_page

PROJECT = Path(__file__).resolve().parents[1]
# Tests that mount file systems or set chattr flags: real faults need root (CI runs as root).
AS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root to mount file systems and set chattr flags; CI runs the tests as root",
)
VENV_BIN = Path(sys.executable).parent
REAL_DATA = Path("/usr/share/datasets/fashion-mnist")


def pytest_configure(config):
    """A shell without job control starts `make test &` with SIGINT ignored, and every stage the
    tests start would inherit that: the tests that stop a stage with Ctrl-C need it delivered."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images a linear model learns to tell apart (~0.9 test accuracy after 2 short
    epochs at lr 0.1, lower at lr 0.01): each class lights its own band of rows."""
    rng = np.random.RandomState(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.randint(0, 120, size=(n, 28, 28))
    for i, label in enumerate(labels):
        images[i, 2 + 2 * label : 5 + 2 * label, 4:24] += 110
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_dataset(directory: Path, n_train: int = 300, n_test: int = 100) -> dict:
    """Write the four .gz files into directory; return their sha256 map for params.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    sha256 = {}
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_split(n, seed)
        for name, data in (
            (f"{prefix}-images-idx3-ubyte", encode_images(images)),
            (f"{prefix}-labels-idx1-ubyte", encode_labels(labels)),
        ):
            write_gz(directory / f"{name}.gz", data)
            sha256[name] = hashlib.sha256(data).hexdigest()
    return sha256


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> tuple[Path, dict]:
    directory = tmp_path_factory.mktemp("small-fmnist")
    return directory, write_dataset(directory)


def dvc_env(root: Path) -> dict:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": str(root / "src"),  # the copy's own library, not the installed one
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(root.parent / "dvc-site-cache"),
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.invalid",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.invalid",
        }
    )
    return env


class Project:
    """A copy of this project in its own git repository, driven through real commands."""

    def __init__(self, root: Path):
        self.root = root
        self.env = dvc_env(root)

    def run(self, *args, check=True, timeout=600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def dvc(self, *args, **kwargs):
        return self.run(str(VENV_BIN / "dvc"), *args, **kwargs)

    def git(self, *args, **kwargs):
        return self.run("git", *args, **kwargs)

    def commit(self, message="change"):
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    @property
    def params_path(self) -> Path:
        return self.root / "params.yaml"

    def params(self) -> dict:
        return yaml.safe_load(self.params_path.read_text())

    def set_params(self, **sections) -> None:
        """set_params(train={"lr": 0.3}) updates only the keys given."""
        params = self.params()
        for section, values in sections.items():
            params[section].update(values)
        self.params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(destination: Path) -> Project:
    """The files a commit of the work tree would hold: tracked, plus untracked and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = PROJECT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    project = Project(destination)
    project.git("init", "-q")
    return project


@pytest.fixture(scope="session")
def plots_page(tmp_path_factory) -> Path:
    """The offline page of `dvc plots show`: set-up writes it, git ignores it (not copied)."""
    path = tmp_path_factory.mktemp("plots-page") / "plots_page.html"
    write_page(path)
    return path


# The settings the tests train with, whatever params.yaml holds (a user may commit tuned
# params): two quick epochs of plain SGD at lr 0.1, both models in one process each,
# on this machine.
TEST_PARAMS = {
    "preprocess": {"validation_size": 60, "seed": 0},  # of the small dataset's 300
    "train": {
        "batch_size": 32,
        "epochs": 2,
        "lr": 0.1,
        "lr_schedule": "constant",
        "momentum": 0.0,
        "weight_decay": 0.0,
        "seed": 42,
    },
    "scratch": {"init": "normal", "init_scale": 0.01},
    "gluon": {
        "init": "normal",
        "init_scale": 0.01,
        "kvstore": "local",
        "workers": 1,
        "hosts": [],
        "ssh_config": "",
    },
}

# preprocess's validation_size and seed, for tests that call fmnist.prepared.prepare directly.
SMALL_SPLIT = (TEST_PARAMS["preprocess"]["validation_size"], TEST_PARAMS["preprocess"]["seed"])

# Gluon settings for tests that build a model in their own process: TEST_PARAMS' initialiser.
LOCAL_GLUON = GluonParams(**{**TEST_PARAMS["gluon"], "hosts": ()}, timeout_s=600.0)


def small_project_at(destination: Path, small_dataset, plots_page) -> Project:
    """The project pointed at the small dataset, with TEST_PARAMS, committed."""
    data_dir, sha256 = small_dataset
    project = copy_project(destination)
    shutil.copy2(plots_page, project.root / PLOTS_PAGE)
    project.set_params(fetch={"mirrors": [str(data_dir)], "sha256": sha256}, **TEST_PARAMS)
    project.commit("small dataset")
    return project


@pytest.fixture
def small_project(tmp_path, small_dataset, plots_page) -> Project:
    return small_project_at(tmp_path / "project", small_dataset, plots_page)


@pytest.fixture(scope="session")
def reproduced_template(tmp_path_factory, small_dataset, plots_page) -> Path:
    """A small project after `dvc repro`, made once per test run: under xdist, by the first
    worker that needs it, while the others wait (they share the run's temporary directory,
    the dataset its params name included)."""

    def reproduce(root: Path) -> None:
        small_project_at(root, small_dataset, plots_page).dvc("repro")

    return made_once(tmp_path_factory, "reproduced", reproduce)


def real_data_project(destination: Path) -> Project:
    """The project pointed at the real data, committed on a branch `main`, not yet run."""
    project = copy_project(destination)
    project.git("checkout", "-q", "-b", "main")
    project.set_params(fetch={"mirrors": [str(REAL_DATA)]})  # never the network
    project.commit("the project, on the real data")
    return project


class RealDataRun:
    """The project on the real data after `make run`'s `dvc repro`, committed on a branch
    `main`, made once per test run; with what `dvc status` said of the training stages before
    the run, and what `git status --porcelain` said after it (before its commit)."""

    def __init__(self, directory: Path):
        self.project_root = directory / "project"
        self.status_before = (directory / "status-before.txt").read_text()
        self.porcelain_after = (directory / "porcelain-after.txt").read_text()


# Names the suite's real-data run to `tests/docs_outputs.py --check`, which copies it rather
# than making a run of its own.
REAL_DATA_RUN = "FMNIST_REAL_DATA_RUN"


@pytest.fixture(scope="session")
def real_data_run(tmp_path_factory) -> RealDataRun:
    assert REAL_DATA.is_dir(), (
        f"{REAL_DATA} is missing: `make test` installs Debian's dataset-fashion-mnist; "
        "run it that way"
    )

    def run(directory: Path) -> None:
        project = real_data_project(directory / "project")
        status = project.dvc("status", "train_scratch", "train_gluon").stdout
        (directory / "status-before.txt").write_text(status)
        project.dvc("repro")
        porcelain = project.git("status", "--porcelain").stdout
        (directory / "porcelain-after.txt").write_text(porcelain)
        project.commit("defaults run")

    return RealDataRun(made_once(tmp_path_factory, "real-data-run", run))


def made_once(tmp_path_factory, name: str, make) -> Path:
    """basetemp/name, made by make(path) once per run. xdist workers each have a basetemp in
    the run's directory: there, the first to come makes it under a lock, in a temporary
    directory renamed when done, so a worker never sees it half-made."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        path = tmp_path_factory.getbasetemp() / name
        make(path)
        return path
    run_directory = tmp_path_factory.getbasetemp().parent
    path = run_directory / name
    with open(run_directory / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not path.exists():
            making = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=run_directory))
            make(making / name)
            (making / name).rename(path)
    return path


@pytest.fixture
def reproduced_project(tmp_path, reproduced_template) -> Project:
    """small_project after `dvc repro`: a copy of the session's, outputs and DVC cache with
    it (DVC hashes the copied files afresh: its state is keyed by inode)."""
    return copy_reproduced(reproduced_template, tmp_path / "project")


def copy_reproduced(template: Path, root: Path) -> Project:
    shutil.copytree(template, root, symlinks=True)
    return Project(root)


class Mounts:
    """tmpfs mounts made by a test, all unmounted at its end (in reverse order)."""

    def __init__(self):
        self.points: list[Path] = []

    def tmpfs(self, target: Path, size: str, *options: str) -> None:
        subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                ",".join((f"size={size}", *options)),
                "tmpfs",
                str(target),
            ],
            check=True,
        )
        self.points.append(target)

    def bind_read_only(self, target: Path) -> None:
        """target, mounted over itself read-only: the same files, no writes."""
        subprocess.run(["mount", "--bind", str(target), str(target)], check=True)
        self.points.append(target)
        self.remount(target, "bind", "ro")

    def remount(self, target: Path, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(target)], check=True)

    def unmount_all(self) -> None:
        while self.points:
            subprocess.run(["umount", str(self.points.pop())], check=True)


@pytest.fixture
def mounts():
    mounted = Mounts()
    yield mounted
    mounted.unmount_all()


# Every test over SLOW_S says why in one line: @pytest.mark.expensive("why"). The summary at
# the end lists them with their reasons (and any slow test without one), after --durations.
# The reason travels in the report's user_properties: under xdist only the reports reach the
# process that prints the summary.
SLOW_S = 20.0
slow_tests: list[tuple[float, str, str | None]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    marker = item.get_closest_marker("expensive")
    if marker:
        outcome.get_result().user_properties.append(("expensive", marker.args[0]))


def pytest_runtest_logreport(report):
    if report.when == "call" and report.duration > SLOW_S:
        why = dict(report.user_properties).get("expensive")
        slow_tests.append((report.duration, report.nodeid, why))


def pytest_terminal_summary(terminalreporter):
    if not slow_tests:
        return
    terminalreporter.section(f"tests over {SLOW_S:g} s, and why")
    for seconds, nodeid, why in sorted(slow_tests, reverse=True):
        said = why or "no reason given: mark it @pytest.mark.expensive('why')"
        terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}: {said}")
