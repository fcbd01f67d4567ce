"""With ``rescale_embedding``, AE-CM does not depend on the scale of the pretrained embedding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.datasets import load_digits

from aecm import AECM, AEKMeans
from aecm.metrics import clustering_accuracy as cluster_acc

NET = {"hidden_dims": (256, 256), "embedding_dim": 10, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def pretrained(digits):
    return AEKMeans(10, pretrain_epochs=20, kmeans_n_init=20, **NET).fit(digits[0])


def _times(model, factor):
    """A copy of ``model`` whose embedding is ``factor`` times as large."""
    scaled = copy.deepcopy(model)
    scaled.autoencoder_.rescale_embedding(1.0 / factor)
    return scaled


@pytest.mark.parametrize("factor", [1.0, 10.0])
def test_cm_phase_keeps_the_kmeans_partition_at_any_scale(digits, pretrained, factor):
    """The CM phase on the frozen embedding keeps k-means' partition (ACC within 1 point),
    on the embedding as pretrained and on that embedding multiplied by 10."""
    X, y = digits
    ae = _times(pretrained, factor)
    kmeans = AEKMeans(10, pretrained=ae, kmeans_n_init=20, **NET).fit(X)
    cm = AECM(10, pretrained=ae, cm_epochs=20, n_epochs=0, rescale_embedding=True, **NET).fit(X)
    assert cluster_acc(y, cm.labels_) >= cluster_acc(y, kmeans.labels_) - 0.01
    assert cluster_acc(kmeans.labels_, cm.labels_) > 0.97


def test_the_fit_is_the_same_whatever_the_embeddings_scale(digits, pretrained):
    X, _ = digits
    params = {"cm_epochs": 3, "n_epochs": 3, "rescale_embedding": True, **NET}
    before = pretrained.transform(X)
    fits = [AECM(10, pretrained=_times(pretrained, f), **params).fit(X) for f in (1.0, 10.0)]
    assert cluster_acc(fits[0].labels_, fits[1].labels_) > 0.99
    np.testing.assert_allclose(fits[0].transform(X), fits[1].transform(X), rtol=1e-2, atol=1e-2)
    np.testing.assert_array_equal(pretrained.transform(X), before)  # copied, not rescaled


def test_auto_beta_follows_the_embeddings_scale(digits, pretrained):
    """``beta="auto"`` weighs the reconstruction against the CM's data term, per row: an
    embedding 10 times as large has 100 times the squared distances, hence 100 times the β;
    with ``rescale_embedding`` the β does not change."""
    X, _ = digits
    params = {"beta": "auto", "cm_epochs": 0, "n_epochs": 0, "averaging": False, **NET}
    betas = {
        (f, rescale): AECM(
            10, pretrained=_times(pretrained, f), rescale_embedding=rescale, **params
        )
        .fit(X)
        .beta_
        for f in (1.0, 10.0)
        for rescale in (False, True)
    }
    assert betas[1.0, False] > 0
    np.testing.assert_allclose(betas[10.0, False], 100 * betas[1.0, False], rtol=1e-3)
    np.testing.assert_allclose(betas[10.0, True], betas[1.0, True], rtol=1e-3)


def test_a_numeric_beta_is_used_as_given(digits, pretrained):
    X, _ = digits
    model = AECM(10, pretrained=pretrained, beta=2.5, cm_epochs=0, n_epochs=0, **NET).fit(X)
    assert model.beta_ == 2.5
