"""Choosing the number of clusters: ClusteringModule(n_clusters="auto") and aecm.select_k."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

import aecm
from aecm import AECM, ClusteringModule, IsotropicGMM
from aecm.estimators.cm import _best_run
from aecm.select_k import SelectKResult, cm_mixture, mixture_bic

#: Settings of the recovery grid: batches of 128 so that the 1000-row sets get 8 steps per epoch.
GRID = {"batch_size": 128, "n_epochs": 100, "tol": 1e-2, "device": "cpu"}
FAST = {"n_epochs": 30, "batch_size": 64, "device": "cpu"}
# pruning moves at Adam's pace; in the CM's centred training units 4 clusters 8σ apart out of
# 12 need about 90 epochs of 20 steps (30 left 6 clusters)
AUTO = {**FAST, "n_epochs": 150}
#: AE-CM with a tiny autoencoder: 20 features -> 32 -> 8, enough to embed well-separated blobs.
AECM_FAST = {
    "hidden_dims": (32,),
    "embedding_dim": 8,
    "pretrain_epochs": 50,
    "cm_epochs": 60,
    "n_epochs": 5,
    "batch_size": 64,
    "device": "cpu",
}


def mixture(k, n, sep, seed, d=10, shift=True):
    """``n`` rows of ``k`` isotropic unit-variance Gaussians in ``d`` dimensions.

    The centres are drawn from a standard normal and scaled so that the closest two are ``sep``
    standard deviations apart; labels are drawn uniformly. ``shift`` moves the data into the
    positive orthant, as the paper's data sets are: the bias-free CM (the default) cuts space
    into cones from the origin and cannot separate clusters that surround it.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    distances = np.sqrt(((centers[:, None] - centers[None]) ** 2).sum(axis=-1))
    centers *= sep / distances[np.triu_indices(k, 1)].min()
    y = rng.integers(k, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    if shift:
        X -= X.min(axis=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def four():
    return mixture(4, 600, 8.0, seed=3)


@pytest.fixture(scope="module")
def auto_model(four):
    X, _ = four
    return ClusteringModule("auto", random_state=0, max_clusters=12, **AUTO).fit(X)


# ---------------------------------------------------------------------- n_clusters="auto"
def test_auto_recovers_the_number_of_separated_clusters():
    """32 cells: K in {3, 5, 10, 20} x 1000 or 3000 rows x separation 5 or 8 x 2 seeds.

    Measured: 32 of 32 exact (also with batch_size=64 and 60 epochs). Centred instead of
    shifted: 21 of 32 without biases, 21 of 32 with ``bias=True``, the misses mostly K = 3 and
    5 with too many clusters left (pruning unfinished after 100 epochs).
    """
    found = []
    for k, n, sep, seed in itertools.product((3, 5, 10, 20), (1000, 3000), (5.0, 8.0), (0, 1)):
        X, _ = mixture(k, n, sep, seed)
        cm = ClusteringModule("auto", random_state=seed, **GRID).fit(X)
        found.append((k, cm.n_clusters_))
    exact = np.mean([k == got for k, got in found])
    print("true:found", " ".join(f"{k}:{got}" for k, got in found), f"exact {exact:.0%}")
    assert exact >= 0.8, found
    assert all(abs(k - got) <= 2 for k, got in found), found


def test_auto_fitted_attributes_and_history(four, auto_model):
    X, y = four
    cm = auto_model
    k = cm.n_clusters_
    assert k == 4 and adjusted_rand_score(y, cm.labels_) > 0.95
    assert cm.cluster_centers_.shape == (k, 10)
    assert cm.weights_.shape == (k,) and np.isclose(cm.weights_.sum(), 1.0)
    assert cm.cluster_weights_ is cm.weights_
    assert cm.module_.n_clusters == k
    proba = cm.predict_proba(X)
    assert proba.shape == (600, k)
    np.testing.assert_array_equal(cm.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(cm.transform(X), proba)
    np.testing.assert_array_equal(cm.labels_, cm.predict(X))
    assert np.isclose(cm.score(X), -cm.loss_ / X.shape[0], rtol=1e-5)
    # one entry per epoch (the averaging epoch included) in every per-epoch column
    history = cm.history_
    at_end = ("pruned", "empty_clusters", "largest_cluster_fraction")
    per_epoch = {name: v for name, v in history.items() if name not in at_end}
    assert {"E1", "E2", "E3", "E4", "loss", "seconds", "n_clusters", "alpha"} == set(per_epoch)
    assert {len(v) for v in per_epoch.values()} == {cm.n_iter_ + 1}
    sizes = history["n_clusters"]
    assert sizes[0] == 12 and sizes[-1] == k and all(np.diff(sizes) <= 0)
    # each removal: [epoch, ids of the initial clusters], the next epoch trains fewer clusters
    removed = [i for _, ids in history["pruned"] for i in ids]
    assert len(removed) == len(set(removed)) == 12 - k
    for epoch, ids in history["pruned"]:
        assert sizes[epoch] == sizes[epoch - 1] - len(ids)
    # α < 1 while pruning (it falls as clusters go), the user's alpha (1) when refining
    pruning = np.array(history["alpha"][: history["pruned"][-1][0]])
    assert np.all(pruning < 1.0)
    assert history["alpha"][-1] == 1.0


def test_int_n_clusters_sets_n_clusters_and_keeps_its_history(four):
    X, _ = four
    cm = ClusteringModule(4, random_state=0, **FAST).fit(X)
    assert cm.n_clusters_ == 4 and cm.cluster_weights_ is cm.weights_
    collapse = {"empty_clusters", "largest_cluster_fraction"}  # measured at the end of fit
    assert set(cm.history_) == {"E1", "E2", "E3", "E4", "loss", "seconds", *collapse}


def test_auto_round_trip(tmp_path, four, auto_model):
    X, _ = four
    loaded = aecm.load(auto_model.save(tmp_path / "auto"))
    assert loaded.n_clusters == "auto" and loaded.n_clusters_ == auto_model.n_clusters_
    np.testing.assert_array_equal(loaded.predict_proba(X), auto_model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), auto_model.predict(X))
    np.testing.assert_array_equal(loaded.cluster_weights_, auto_model.cluster_weights_)
    assert loaded.history_ == auto_model.history_
    assert loaded.score(X) == pytest.approx(auto_model.score(X), rel=1e-6)


def test_auto_with_biases_on_centred_data():
    X, y = mixture(5, 1500, 8.0, seed=4, shift=False)
    cm = ClusteringModule("auto", bias=True, random_state=0, **GRID).fit(X - X.mean(axis=0))
    assert cm.n_clusters_ == 5 and adjusted_rand_score(y, cm.labels_) > 0.95


def test_auto_sparse_input_and_init_array(four):
    X, y = four
    cm = ClusteringModule("auto", random_state=0, max_clusters=12, **AUTO).fit(sp.csr_matrix(X))
    assert cm.n_clusters_ == 4 and adjusted_rand_score(y, cm.labels_) > 0.95
    start = X[np.random.default_rng(0).choice(600, 8, replace=False)]
    cm = ClusteringModule("auto", init=start, max_clusters=8, random_state=0, **AUTO).fit(X)
    assert cm.n_clusters_ <= 8 and cm.history_["n_clusters"][0] == 8


def test_restarts_keep_the_most_frequent_number_of_clusters(four):
    class Layer:
        def __init__(self, k):
            self.n_clusters = k

    runs = [(Layer(5), {"total": 1.0}, 0), (Layer(4), {"total": 3.0}, 1)]
    runs += [(Layer(4), {"total": 2.0}, 2), (Layer(6), {"total": 0.0}, 3)]
    assert _best_run(runs, auto=True)[2] == 2  # K=4 twice; the lower loss of the two
    assert _best_run(runs, auto=False)[2] == 3  # integer n_clusters: the lowest loss
    tie = [(Layer(5), {"total": 1.0}, 0), (Layer(4), {"total": 3.0}, 1)]
    assert _best_run(tie, auto=True)[2] == 1  # a tie goes to the smaller K
    X, _ = four
    cm = ClusteringModule("auto", n_init=2, max_clusters=12, random_state=0, **AUTO).fit(X)
    assert cm.n_clusters_ == 4


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"max_clusters": 1}, ValueError, "'max_clusters' parameter .* \\[2, inf\\)"),
        ({"max_clusters": 31}, ValueError, "max_clusters=31 must be <= the number of samples"),
        ({"max_clusters": 2.5}, ValueError, "'max_clusters'"),
        ({"min_cluster_weight": 0.0}, ValueError, "'min_cluster_weight' .* \\(0, 1\\)"),
        ({"min_cluster_weight": 1.0}, ValueError, "'min_cluster_weight'"),
        ({"min_cluster_weight": -0.5}, ValueError, "'min_cluster_weight'"),
        ({"prune_strength": 0.0}, ValueError, "'prune_strength'"),
        ({"n_clusters": "three"}, TypeError, "'n_clusters' .* or 'auto'; got 'three'"),
        ({"n_clusters": "Auto"}, TypeError, "'n_clusters'"),
        ({"alpha": [1.0, 2.0]}, ValueError, "With n_clusters='auto', alpha must be a single"),
        ({"init": np.zeros((3, 3))}, ValueError, "\\(max_clusters, n_features\\) = \\(4, 3\\)"),
    ],
)
def test_bad_auto_params(params, error, match):
    X = np.random.default_rng(0).normal(size=(30, 3))
    cm = ClusteringModule(**{"n_clusters": "auto", "max_clusters": 4, **FAST, **params})
    with pytest.raises(error, match=match):
        cm.fit(X)


def test_default_max_clusters():
    assert ClusteringModule("auto")._max_clusters(10_000) == 50
    assert ClusteringModule("auto")._max_clusters(300) == 30
    assert ClusteringModule("auto")._max_clusters(12) == 2
    assert ClusteringModule("auto", max_clusters=7)._max_clusters(12) == 7


# ---------------------------------------------------------------------- AECM(n_clusters="auto")
@pytest.fixture(scope="module")
def blobs20():
    return mixture(4, 600, 8.0, seed=0, d=20)


@pytest.fixture(scope="module")
def aecm_auto(blobs20):
    X, _ = blobs20
    return AECM("auto", random_state=0, **AECM_FAST).fit(X)


def test_aecm_auto_finds_the_blobs_and_keeps_only_them(blobs20, aecm_auto):
    X, y = blobs20
    model = aecm_auto
    k = model.n_clusters_
    assert k == 4 and adjusted_rand_score(y, model.labels_) > 0.95
    assert model.cm_.n_clusters == k and model.cluster_centers_.shape == (k, 8)
    assert model.cluster_weights_.shape == (k,) and np.isclose(model.cluster_weights_.sum(), 1)
    proba = model.predict_proba(X)
    assert proba.shape == (600, k)
    np.testing.assert_allclose(model.cluster_weights_, proba.mean(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    # the pruning stage on the embedding (max_clusters = embedding_dim = 8), then the phases
    # of the integer case with the K found
    assert set(model.history_) == {"pretrain", "prune", "cm", "joint", "clusters"}
    prune = model.history_["prune"]
    per_epoch = {"E1", "E2", "E3", "E4", "loss", "seconds", "n_clusters", "alpha"}
    assert set(prune) == per_epoch | {"pruned", "removed_after_training"}
    assert prune["removed_after_training"] == []  # no cluster emptied in the later phases
    sizes = prune["n_clusters"]
    assert sizes[0] == 8 and all(np.diff(sizes) <= 0) and max(prune["alpha"]) < 1.0
    removed = [i for _, ids in prune["pruned"] for i in ids]
    assert len({len(prune[name]) for name in per_epoch}) == 1
    assert len(removed) == len(set(removed)) == 8 - k
    assert len(model.history_["cm"]["loss"]) == AECM_FAST["cm_epochs"]
    assert len(model.history_["joint"]["loss"]) == AECM_FAST["n_epochs"] + 1  # + averaging


def test_aecm_auto_round_trip(tmp_path, blobs20, aecm_auto):
    X, _ = blobs20
    loaded = aecm.load(aecm_auto.save(tmp_path / "aecm-auto"))
    assert loaded.n_clusters == "auto" and loaded.n_clusters_ == aecm_auto.n_clusters_
    np.testing.assert_array_equal(loaded.predict_proba(X), aecm_auto.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), aecm_auto.labels_)
    np.testing.assert_array_equal(loaded.cluster_weights_, aecm_auto.cluster_weights_)
    np.testing.assert_array_equal(loaded.cluster_centers_, aecm_auto.cluster_centers_)
    assert loaded.history_ == aecm_auto.history_


def test_aecm_auto_removes_clusters_emptied_after_pruning(blobs20, aecm_auto):
    """A cluster that the CM or joint phase leaves below min_cluster_weight is removed at the
    end: here the fitted model with one of its 4 clusters made unreachable (encoder row far
    below the others), as if the joint phase had emptied it."""
    import copy

    import torch

    from aecm.data.batches import make_source

    X, _ = blobs20
    model = copy.deepcopy(aecm_auto)
    objective = model._objective
    z = model.transform(X).astype(np.float64)
    v = np.linalg.lstsq(z, np.ones(len(z)), rcond=None)[0]  # z·v ≈ 1 on every row
    assert (z @ v).min() > 0.5
    with torch.no_grad():  # cluster 2's logit 1000·z·v lower than before on every row
        objective.layer.encoder_weight[2] -= torch.as_tensor(1000 * v, dtype=torch.float32)
    history = {}
    source = make_source(X, torch.device("cpu"))
    kept = np.array([1, 4, 6, 7])  # the clusters' ids among the initial ones
    smaller = model._drop_small_clusters(objective, source, history, kept)
    assert smaller.layer.n_clusters == 3 and history == {"removed_after_training": [6]}
    keep = [0, 1, 3]
    np.testing.assert_array_equal(
        smaller.layer.encoder_weight.detach(), objective.layer.encoder_weight[keep].detach()
    )
    assert model._drop_small_clusters(smaller, source, history, kept[keep]) is smaller
    assert history == {"removed_after_training": []}


def test_aecm_integer_n_clusters_reports_n_clusters_and_weights(blobs20):
    X, _ = blobs20
    params = {**AECM_FAST, "pretrain_epochs": 5, "cm_epochs": 2, "n_epochs": 2}
    model = AECM(3, random_state=0, **params).fit(X)
    assert model.n_clusters_ == 3 and model.cluster_weights_.shape == (3,)
    assert set(model.history_) == {"pretrain", "cm", "joint", "clusters"}


@pytest.mark.slow
def test_aecm_auto_recovers_the_number_of_blobs():
    """9 cells: K in {3, 4, 5} x 3 seeds, 600 rows of 20-D blobs 8σ apart.

    Measured: 9 of 9 exact (ARI 0.99-1.0), about 1.2 s per fit on 2 shared cores. With 20
    instead of 50 pretraining epochs and 30 pruning epochs, 7 of 9: the embedding of an
    autoencoder trained that little splits some blobs.
    """
    found = []
    for k, seed in itertools.product((3, 4, 5), range(3)):
        X, y = mixture(k, 600, 8.0, seed=seed, d=20)
        model = AECM("auto", random_state=seed, **AECM_FAST).fit(X)
        found.append((k, model.n_clusters_, adjusted_rand_score(y, model.labels_)))
    print("true:found", " ".join(f"{k}:{got}" for k, got, _ in found))
    assert sum(k == got for k, got, _ in found) >= 8, found
    assert all(ari > 0.8 for k, got, ari in found if k == got), found


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"max_clusters": 1}, ValueError, "'max_clusters' parameter of AECM .* \\[2, inf\\)"),
        ({"max_clusters": 31}, ValueError, "max_clusters=31 must be <= the number of samples"),
        ({"max_clusters": 9}, ValueError, "max_clusters=9 must be <= embedding_dim=8"),
        ({"min_cluster_weight": 0.0}, ValueError, "'min_cluster_weight' .* \\(0, 1\\)"),
        ({"min_cluster_weight": 1.0}, ValueError, "'min_cluster_weight'"),
        ({"prune_strength": -1.0}, ValueError, "'prune_strength'"),
        ({"n_clusters": "many"}, TypeError, "'n_clusters' .* or 'auto'; got 'many'"),
        ({"schedule": "rand"}, ValueError, "n_clusters='auto' needs schedule='pre'"),
        ({"cm_epochs": 0}, ValueError, "cm_epochs must be >= 1"),
        ({"alpha": [1.0, 2.0]}, ValueError, "With n_clusters='auto', alpha must be a single"),
    ],
)
def test_bad_aecm_auto_params(params, error, match):
    X = np.random.default_rng(0).normal(size=(30, 20))
    model = AECM(**{"n_clusters": "auto", **AECM_FAST, "max_clusters": 4, **params})
    with pytest.raises(error, match=match):
        model.fit(X)


def test_aecm_default_max_clusters_is_capped_by_the_embedding():
    assert AECM("auto", embedding_dim=10)._max_clusters(70_000) == 10
    assert AECM("auto", embedding_dim=64)._max_clusters(70_000) == 50
    assert AECM("auto", embedding_dim=64)._max_clusters(300) == 30


# ---------------------------------------------------------------------- select_k
def test_select_k_gmm_finds_k_and_reports_a_table(four, tmp_path):
    X, _ = four
    result = aecm.select_k(X, method="gmm", k_range=range(2, 8), n_seeds=3, random_state=0)
    assert isinstance(result, SelectKResult) and result.best_k == 4
    table = result.table
    assert list(table["k"]) == [2, 3, 4, 5, 6, 7]
    assert result.best_k == table["k"][np.argmin(table["bic"])]
    assert result.bic_per_seed.shape == result.loss_per_seed.shape == (6, 3)
    assert table["stability"][2] == pytest.approx(1.0)  # the true K: every seed agrees
    assert np.all((table["stability"] >= -1) & (table["stability"] <= 1))
    rows = result.rows()
    assert len(rows) == 6 and set(rows[0]) == {"k", "bic", "loss", "stability", "seconds"}
    assert "  4*" in result.to_string()
    # the BIC is the one IsotropicGMM reports for the fit of the lowest loss
    best = IsotropicGMM(4, random_state=result.seeds[int(result.loss_per_seed[2].argmin())])
    assert table["bic"][2] == pytest.approx(best.fit(X).bic(X), rel=1e-9)
    path = result.plot(tmp_path / "plots" / "select_k.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["select_k.png"]


def test_select_k_cm_finds_k(four):
    X, _ = four
    result = aecm.select_k(X, k_range=[3, 4, 5], n_seeds=2, random_state=0, **FAST)
    assert result.method == "cm" and result.best_k == 4
    assert np.all(np.isfinite(result.table["bic"])) and np.all(result.table["seconds"] > 0)


def test_select_k_one_seed_has_no_stability(four):
    X, _ = four
    result = aecm.select_k(X, method="gmm", k_range=[4], n_seeds=1, random_state=0)
    assert result.best_k == 4 and np.isnan(result.table["stability"][0])


def test_mixture_bic_of_the_cm_is_that_of_its_mixture(four):
    X, _ = four
    cm = ClusteringModule(4, random_state=0, **FAST).fit(X)
    weights, means, variance = cm_mixture(cm, X)
    gamma = cm.predict_proba(X).astype(np.float64)
    d2 = ((X[:, None, :].astype(np.float64) - means[None]) ** 2).sum(axis=2)
    assert variance == pytest.approx((gamma * d2).sum() / X.size, rel=1e-4)
    gmm = IsotropicGMM(4)
    gmm.weights_, gmm.means_, gmm.covariance_ = weights / weights.sum(), means, variance
    gmm.n_features_in_ = 10
    assert mixture_bic(X, weights, means, variance) == pytest.approx(gmm.bic(X), rel=1e-12)
    # an empty cluster (weight 0) gives a finite BIC, without a warning
    assert np.isfinite(mixture_bic(X, np.r_[weights, 0.0], np.r_[means, means[:1]], variance))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k_range": []}, ValueError, "k_range is empty"),
        ({"k_range": range(0, 3)}, ValueError, "numbers of clusters >= 1; got 0"),
        ({"k_range": [2, 31]}, ValueError, "holds 31, more clusters than the number of samples"),
        ({"k_range": [2.5]}, TypeError, "k_range must hold ints"),
        ({"k_range": 5}, TypeError, "k_range must be an iterable"),
        ({"method": "kmeans"}, ValueError, "method must be one of 'cm', 'gmm'"),
        ({"n_seeds": 0}, ValueError, "n_seeds must be an int >= 1"),
    ],
)
def test_select_k_bad_input(kwargs, error, match):
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(error, match=match):
        aecm.select_k(X, **{"method": "gmm", **kwargs})
