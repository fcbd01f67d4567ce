"""AE-CM's defaults on a data set of a few hundred rows: the joint phase keeps every cluster.

On scikit-learn's wine (178 rows, 13 features scaled to [0, 1], 3 classes), seed 1, 50
pretraining + 50 CM + 50 joint epochs (``benchmarks/aecm_defaults.py``): AE+KM 0.910, AE-CM
with the defaults 0.921; with a flat prior (``alpha=1``) 0.809, with Adam's step 1e-3 0.646
(the joint phase merged clusters).
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_wine
from sklearn.preprocessing import minmax_scale

from aecm import AECM, AEKMeans
from aecm.metrics import clustering_accuracy


def test_the_defaults_keep_every_cluster_of_a_small_data_set():
    X, y = load_wine(return_X_y=True)
    X = minmax_scale(X).astype(np.float32)
    ae = AEKMeans(3, pretrain_epochs=50, kmeans_n_init=20, random_state=1, device="cpu").fit(X)
    model = AECM(3, pretrained=ae, cm_epochs=50, n_epochs=50, random_state=1).fit(X)
    assert np.bincount(model.labels_, minlength=3).min() >= 30, np.bincount(model.labels_)
    assert clustering_accuracy(y, model.labels_) >= clustering_accuracy(y, ae.labels_) - 0.02
    assert clustering_accuracy(y, model.labels_) >= 0.88
