"""save/load: identical predictions after a round trip, and refusal of broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import aecm
from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans, ClusteringModule

SMALL = {
    "hidden_dims": (16,),
    "embedding_dim": 4,
    "pretrain_epochs": 3,
    "n_epochs": 2,
    "batch_size": 32,
    "device": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def data():
    X, _ = make_blobs(n_samples=200, n_features=6, centers=3, random_state=1)
    return ((X - X.min(0)) / (X.max(0) - X.min(0))).astype(np.float32)


def _estimators():
    return [
        ClusteringModule(3, n_epochs=3, device="cpu", random_state=0, alpha=[1.0, 2.0, 3.0]),
        AEKMeans(3, **SMALL),
        AECM(3, cm_epochs=2, **SMALL),
        DEC(3, update_interval=3, **SMALL),
        IDEC(3, update_interval=3, **SMALL),
        DCN(3, **SMALL),
        DKM(3, **SMALL),
    ]


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_round_trip_gives_identical_outputs(tmp_path, data, estimator):
    estimator.fit(data)
    path = estimator.save(tmp_path / "model")
    loaded = aecm.load(path)
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(data), estimator.predict(data))
    np.testing.assert_array_equal(loaded.transform(data), estimator.transform(data))
    np.testing.assert_array_equal(loaded.labels_, estimator.labels_)
    np.testing.assert_array_equal(loaded.cluster_centers_, estimator.cluster_centers_)
    assert loaded.n_iter_ == estimator.n_iter_ and loaded.history_ == estimator.history_
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(data), estimator.predict_proba(data))
    assert loaded.score(data) == pytest.approx(estimator.score(data), rel=1e-6)


def test_an_aecm_saved_without_biases_loads_as_one(tmp_path, data):
    """Models saved before AE-CM's ``bias`` parameter existed have a CM without biases and
    no ``bias`` in their parameters: they load as ``bias=False`` and predict as saved."""
    model = AECM(3, cm_epochs=2, bias=False, **SMALL).fit(data)
    path = model.save(tmp_path / "m")
    config = json.loads((path / "model.json").read_text())
    del config["params"]["bias"]
    (path / "model.json").write_text(json.dumps(config))
    loaded = aecm.load(path)
    assert loaded.bias is False and loaded.cm_.encoder_bias is None
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert AECM(3, cm_epochs=2, **SMALL).fit(data).cm_.encoder_bias is not None


def test_feature_names_survive(tmp_path, data):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=[f"c{i}" for i in range(6)])
    model = ClusteringModule(3, n_epochs=2, device="cpu").fit(frame)
    loaded = aecm.load(model.save(tmp_path / "m"))
    assert list(loaded.feature_names_in_) == list(frame.columns)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"c0": "other"}))


def test_saving_replaces_atomically_and_leaves_no_temporary_files(tmp_path, data):
    first = ClusteringModule(3, n_epochs=2, device="cpu", random_state=0).fit(data)
    second = ClusteringModule(3, n_epochs=2, device="cpu", random_state=1).fit(data)
    first.save(tmp_path / "m")
    second.save(tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    np.testing.assert_array_equal(aecm.load(tmp_path / "m").labels_, second.labels_)


def test_broken_models_are_refused(tmp_path, data):
    path = ClusteringModule(3, n_epochs=2, device="cpu").fit(data).save(tmp_path / "m")
    with pytest.raises(ValueError, match="is not an aecm model"):
        aecm.load(tmp_path / "nothing")
    config = json.loads((path / "model.json").read_text())
    (path / "model.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        aecm.load(path)
    (path / "model.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match the shapes"):
        (path / "model.json").write_text(json.dumps({**config, "tensors": {"x": [1]}}))
        aecm.load(path)
    (path / "model.json").write_text(json.dumps(config))
    blob = bytearray((path / "tensors.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (path / "tensors.safetensors").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="corrupted"):
        aecm.load(path)
    (path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        aecm.load(path)


@pytest.mark.parametrize("name", ["tensors.safetensors", "model.json"])
def test_truncated_model_files_are_refused(tmp_path, data, name):
    path = ClusteringModule(3, n_epochs=2, device="cpu").fit(data).save(tmp_path / "m")
    blob = (path / name).read_bytes()
    (path / name).write_bytes(blob[: len(blob) // 2])
    reason = "is corrupted or was changed" if name.endswith("safetensors") else "not readable JSON"
    with pytest.raises(ValueError, match=reason):
        aecm.load(path)


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ClusteringModule(3).save(tmp_path / "m")
