"""AE-CM's defaults on data sets of a few hundred rows: the joint phase keeps every cluster.

50 pretraining + 50 CM + 50 joint epochs, as ``benchmarks/aecm_defaults.py`` runs them, on
scikit-learn's sets scaled to [0, 1]:

* wine (178 rows, 13 features, 3 classes), seed 1: AE+KM 0.910, AE-CM with the defaults
  0.933; without biases 0.921, and without biases with a flat prior (``alpha=1``) 0.809 or with
  Adam's step 1e-3 0.646 (the joint phase merged clusters);
* iris (150 rows, 4 features, 3 classes), seed 0: AE+KM 0.880, AE-CM with the defaults 0.920;
  without biases (``bias=False``) the joint phase merged versicolor and virginica within one
  epoch (0.547).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import minmax_scale

from aecm import AECM, AEKMeans
from aecm.metrics import clustering_accuracy


def _fit(load, seed, **params):
    X, y = load(return_X_y=True)
    X = minmax_scale(X).astype(np.float32)
    ae = AEKMeans(3, pretrain_epochs=50, kmeans_n_init=20, random_state=seed, device="cpu").fit(X)
    model = AECM(3, pretrained=ae, cm_epochs=50, n_epochs=50, random_state=seed, **params)
    return y, ae, model.fit(X)


@pytest.mark.parametrize(("load", "seed", "bound"), [(load_wine, 1, 0.9), (load_iris, 0, 0.86)])
def test_the_defaults_keep_every_cluster_of_a_small_data_set(load, seed, bound):
    y, ae, model = _fit(load, seed)
    assert np.bincount(model.labels_, minlength=3).min() >= 30, np.bincount(model.labels_)
    assert clustering_accuracy(y, model.labels_) >= clustering_accuracy(y, ae.labels_) - 0.02
    assert clustering_accuracy(y, model.labels_) >= bound
