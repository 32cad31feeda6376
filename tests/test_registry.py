"""The model registry: the artifacts in dvc.yaml, versioned by a gto tag, come back from the
DVC remote with `dvc artifacts get`, byte for byte; an ONNX one runs in onnxruntime as its
description says."""

import hashlib
import shutil

import numpy as np
import onnxruntime as ort
import yaml

from conftest import VENV_BIN

# name in dvc.yaml -> the files the artifact's path holds
ARTIFACTS = {
    "gluon-softmax": ("gluon-export/gluon-symbol.json", "gluon-export/gluon-0000.params"),
    "scratch-softmax": ("scratch.params",),
    "gluon-softmax-onnx": ("gluon.onnx",),
    "scratch-softmax-onnx": ("scratch.onnx",),
}


def digests(directory, names) -> dict:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in names}


def test_artifacts_are_models_with_a_description_and_labels(small_project):
    artifacts = yaml.safe_load((small_project.root / "dvc.yaml").read_text())["artifacts"]
    assert set(artifacts) == set(ARTIFACTS)
    for artifact in artifacts.values():
        assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"]


def test_registered_models_come_back_from_the_remote(reproduced_project, tmp_path):
    project, root = reproduced_project, reproduced_project.root
    # Committed, not --local: `dvc artifacts get` reads the config of a fresh clone.
    project.dvc("remote", "modify", "storage", "url", str(tmp_path / "remote"))
    project.dvc("push")
    project.commit("trained models, remote")
    trained = {name: digests(root / "models", files) for name, files in ARTIFACTS.items()}

    fetched = tmp_path / "fetched"
    failed = project.dvc(
        "artifacts", "get", str(root), "gluon-softmax", "-o", str(fetched), check=False
    )
    assert failed.returncode != 0 and "Unable to find artifact" in failed.stderr, failed
    for name in ARTIFACTS:
        project.run(str(VENV_BIN / "gto"), "register", name)
    assert set(project.git("tag").stdout.split()) == {f"{name}@v0.0.1" for name in ARTIFACTS}

    shutil.rmtree(root / ".dvc" / "cache")  # the only copy left is the remote's
    for name, files in ARTIFACTS.items():
        out = fetched / files[0].split("/")[0]  # the artifact's path under models/
        project.dvc("artifacts", "get", str(root), name, "-o", str(out))
        assert digests(fetched, files) == trained[name]
    every_file = {str(p.relative_to(fetched)) for p in fetched.rglob("*") if p.is_file()}
    assert every_file == {f for files in ARTIFACTS.values() for f in files}

    # As the description says: InferenceSession(file).run(['probabilities'], {'pixels': x}).
    x = np.load(root / "data/prepared/test_x.npy", allow_pickle=False)[:5]
    (served,) = ort.InferenceSession(str(fetched / "gluon.onnx")).run(
        ["probabilities"], {"pixels": x}
    )
    evaluated = np.load(root / "probabilities/gluon.npy", allow_pickle=False)[:5]
    np.testing.assert_allclose(served, evaluated, rtol=0, atol=1e-5)
