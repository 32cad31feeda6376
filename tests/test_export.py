"""The exported Gluon model (symbol JSON + params) predicts what the trained net predicts,
loaded without our code by gluon.SymbolBlock.imports."""

import numpy as np
import pytest
from mxnet import gluon, nd

from conftest import LOCAL_GLUON, synthetic_split
from fmnist.lesson.gluon import GluonSoftmax
from fmnist.lesson.training import train
from fmnist.mxnet_files import export_gluon, export_paths, save_model
from fmnist.mxnet_sources import read_model
from fmnist.params import TrainParams
from fmnist.prepared import Dataset

TRAIN = TrainParams(
    batch_size=32, epochs=2, lr=0.5, lr_schedule="constant", momentum=0.0, weight_decay=0.0, seed=7
)
GLUON = LOCAL_GLUON


def small_data() -> Dataset:
    splits = (synthetic_split(300, 0), synthetic_split(60, 2), synthetic_split(100, 1))
    return Dataset(
        *(
            a
            for x, y in splits
            for a in (
                (x.reshape(len(x), -1) / np.float32(255)).astype(np.float32),
                y.astype(np.int32),
            )
        )
    )


# MXNet warns that it cannot infer the input's type until it sees one; it then does.
@pytest.mark.filterwarnings("ignore:Cannot decide type:UserWarning")
def test_exported_model_gives_the_trained_predictions(tmp_path):
    data = small_data()
    model = GluonSoftmax.create(GLUON, TRAIN)
    train(model, data, TRAIN, on_epoch=lambda stats: None)
    export_gluon(model, *export_paths(tmp_path / "gluon"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gluon-0000.params", "gluon-symbol.json"]

    imported = gluon.SymbolBlock.imports(
        str(tmp_path / "gluon-symbol.json"), ["data"], str(tmp_path / "gluon-0000.params")
    )
    x = nd.array(data.test_x)
    trained_logits = model.forward(x).asnumpy()
    np.testing.assert_array_equal(imported(x).asnumpy(), trained_logits)
    # A trained model, not an untrained one that would agree just as well.
    assert (trained_logits.argmax(axis=1) == data.test_y).mean() > 0.5


def test_saved_parameters_give_the_trained_predictions(tmp_path):
    # evaluate and render load models/gluon.params this way.
    data = small_data()
    model = GluonSoftmax.create(GLUON, TRAIN)
    train(model, data, TRAIN, on_epoch=lambda stats: None)
    save_model(model, tmp_path / "gluon.params")
    loaded = read_model(tmp_path / "gluon.params", "gluon")
    np.testing.assert_array_equal(
        loaded.predict_proba(data.test_x), model.predict_proba(data.test_x)
    )
