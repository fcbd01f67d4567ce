"""ClusteringModule: the scikit-learn contract, exact behaviour, bad input, quality on real data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.mixture import GaussianMixture
from sklearn.utils.estimator_checks import check_estimator

from aecm import ClusteringModule, IsotropicGMM
from aecm._runtime import flush_denormal_enabled
from conftest import load_npz

FAST = {"n_epochs": 20, "batch_size": 64, "device": "cpu", "tol": 0.0}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=600, n_features=5, centers=4, cluster_std=0.6, random_state=3)
    return X.astype(np.float32), y


def test_recovers_separated_blobs(blobs):
    X, y = blobs
    cm = ClusteringModule(4, random_state=0, **FAST).fit(X)
    assert adjusted_rand_score(y, cm.labels_) > 0.95
    assert cm.cluster_centers_.shape == (4, 5)
    assert cm.weights_.shape == (4,) and np.isclose(cm.weights_.sum(), 1.0)
    assert cm.n_features_in_ == 5


def test_fitted_attributes_and_methods_agree(blobs):
    X, _ = blobs
    cm = ClusteringModule(4, random_state=1, **FAST).fit(X)
    proba = cm.predict_proba(X)
    assert proba.shape == (600, 4) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(cm.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(cm.labels_, cm.predict(X))
    np.testing.assert_array_equal(cm.transform(X), proba)
    np.testing.assert_array_equal(cm.fit_predict(X), cm.labels_)
    assert np.isclose(cm.score(X), -cm.loss_ / X.shape[0], rtol=1e-6)
    terms = cm.loss_terms(X)
    assert np.isclose(sum(terms[k] for k in ("E1", "E2", "E3", "E4")), terms["total"])
    # history: the four terms, the total, and seconds, one entry per epoch plus the averaging one
    collapse = {"empty_clusters", "largest_cluster_fraction"}  # measured at the end of fit
    assert set(cm.history_) == {"E1", "E2", "E3", "E4", "loss", "seconds", *collapse}
    assert len(cm.loss_curve_) == cm.n_iter_ + 1 == len(cm.history_["E1"])
    assert cm.n_iter_ == FAST["n_epochs"] and not cm.converged_
    # the identity E1 + E2 + E3 = Σ γ ‖x − μ‖² holds on the fitted model, in float64
    d2 = ((X[:, None, :].astype(np.float64) - cm.cluster_centers_[None]) ** 2).sum(axis=2)
    gmm_form = (proba.astype(np.float64) * d2).sum() / cm.input_scale_**2  # training units
    assert np.isclose(terms["E1"] + terms["E2"] + terms["E3"], gmm_form, rtol=1e-4)


def test_same_seed_gives_bit_identical_results(blobs):
    X, _ = blobs
    a = ClusteringModule(4, random_state=7, **FAST).fit(X)
    b = ClusteringModule(4, random_state=7, **FAST).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.loss_curve_ == b.loss_curve_


def test_float64_dense_sparse_and_dataframe_give_the_same_result(blobs):
    X, _ = blobs
    ref = ClusteringModule(4, random_state=2, **FAST).fit(X)
    for other in (X.astype(np.float64), sp.csr_matrix(X)):
        cm = ClusteringModule(4, random_state=2, **FAST).fit(other)
        np.testing.assert_array_equal(cm.labels_, ref.labels_)
        np.testing.assert_allclose(cm.cluster_centers_, ref.cluster_centers_, atol=1e-4)
    assert (
        ClusteringModule(4, random_state=2, **FAST)
        .fit(X.astype(np.float64))
        .predict_proba(X.astype(np.float64))
        .dtype
        == np.float64
    )
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    cm = ClusteringModule(4, random_state=2, **FAST).fit(frame)
    np.testing.assert_array_equal(cm.labels_, ref.labels_)
    assert list(cm.feature_names_in_) == list(frame.columns)


@pytest.mark.filterwarnings("ignore::aecm.exceptions.CollapseWarning")  # init="random"
def test_n_init_keeps_the_lowest_loss(blobs):
    X, _ = blobs
    single = ClusteringModule(4, n_init=1, random_state=5, init="random", **FAST).fit(X)
    multi = ClusteringModule(4, n_init=3, random_state=5, init="random", **FAST).fit(X)
    assert multi.loss_ <= single.loss_ + 1e-6


@pytest.mark.parametrize(
    "params",
    [
        {"bias": True},
        {"averaging": False},
        {"normalize_loss": True, "alpha": 1.1},
        {"alpha": [1.0, 2.0, 3.0, 4.0]},
    ],
)
def test_options_still_cluster(blobs, params):
    X, y = blobs
    cm = ClusteringModule(4, random_state=0, **{**FAST, **params}).fit(X)
    assert adjusted_rand_score(y, cm.labels_) > 0.9, params
    if not params.get("averaging", True):
        assert len(cm.loss_curve_) == cm.n_iter_


def test_random_init_learns_on_real_data(pendigits):
    # The paper's "rand" variant (Glorot weights), on data in [0, 1] as in the paper. Measured
    # NMI on these 3000 rows after 40 epochs, seeds 0-3: 0.519, 0.541, 0.529, 0.585.
    X, y = pendigits[0][:3000], pendigits[1][:3000]
    cm = ClusteringModule(10, init="random", alpha=13, batch_size=80, n_epochs=40, device="cpu")
    cm.set_params(random_state=0).fit(X)
    assert normalized_mutual_info_score(y, cm.labels_) > 0.48
    assert cm.loss_curve_[-1] < 0.7 * cm.loss_curve_[0]


def test_init_array_is_used(blobs):
    X, y = blobs
    centers = np.stack([X[y == k].mean(axis=0) for k in range(4)])
    cm = ClusteringModule(4, init=centers, n_epochs=1, averaging=False, device="cpu").fit(X)
    assert adjusted_rand_score(y, cm.labels_) > 0.95


def test_tol_stops_early(blobs):
    X, _ = blobs
    params = {**FAST, "tol": 0.05, "n_iter_no_change": 3, "n_epochs": 200}
    cm = ClusteringModule(4, random_state=0, **params).fit(X)
    assert cm.converged_ and 6 <= cm.n_iter_ < 200
    losses = cm.loss_curve_[: cm.n_iter_]
    before, last = np.mean(losses[-6:-3]), np.mean(losses[-3:])
    assert before - last < 0.05 * before


def test_fit_restores_global_torch_settings(blobs):
    X, _ = blobs
    threads = torch.get_num_threads()
    flush = flush_denormal_enabled()
    ClusteringModule(4, random_state=0, **FAST).fit(X)
    assert torch.get_num_threads() == threads
    assert flush_denormal_enabled() == flush


def test_from_paper():
    cm = ClusteringModule.from_paper("usps", n_epochs=3)
    assert (cm.alpha, cm.batch_size, cm.n_clusters, cm.n_epochs) == (40.0, 150, 10, 3)
    assert ClusteringModule.from_paper("Pendigits").alpha == 13.0
    with pytest.raises(ValueError, match=r"known: .*mnist"):
        ClusteringModule.from_paper("imagenet")


# ---------------------------------------------------------------------- bad input
def _X():
    return np.random.default_rng(0).normal(size=(30, 3))


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "infinity"),
        (np.arange(10.0), "2D array"),
        (np.empty((0, 3)), "0 sample"),
        (np.ones((1, 3)), "1 sample"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), "only numbers"),
        (np.array([[1, "b"], [2, "d"], [3, "f"]], dtype=object), "only numbers"),
    ],
)
def test_bad_X(X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ClusteringModule(1, **FAST).fit(X)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_clusters": 0}, ValueError, "'n_clusters' parameter"),
        ({"n_clusters": 31}, ValueError, "n_clusters=31 must be <= the number of samples"),
        ({"n_clusters": 2.5}, ValueError, "'n_clusters' parameter .* an int"),
        ({"n_clusters": "3"}, TypeError, "'n_clusters'"),
        ({"alpha": 0.0}, ValueError, "'alpha'"),
        ({"alpha": -1.0}, ValueError, "'alpha'"),
        ({"alpha": [1.0, 2.0]}, ValueError, "vector of length n_clusters=3"),
        ({"alpha": [1.0, 0.0, 2.0]}, ValueError, "alpha must be finite and > 0"),
        ({"batch_size": 0}, ValueError, "'batch_size'"),
        ({"n_epochs": 0}, ValueError, "'n_epochs'"),
        ({"learning_rate": 0.0}, ValueError, "'learning_rate'"),
        ({"init": "pre"}, ValueError, "'init' parameter .* 'kmeans', 'kmeans\\+\\+', 'random'"),
        ({"init": np.zeros((3, 2))}, ValueError, "init must have shape .*\\(3, 3\\)"),
        ({"init": np.full((3, 3), np.nan)}, ValueError, "init contains NaN"),
        ({"n_init": 0}, ValueError, "'n_init'"),
        ({"tol": -1.0}, ValueError, "'tol'"),
        ({"device": "tpu"}, ValueError, "Unknown device 'tpu'"),
        ({"random_state": "seed"}, ValueError, "'random_state'"),
    ],
)
def test_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        ClusteringModule(**{"n_clusters": 3, **FAST, **params}).fit(_X())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_cuda_requested_but_absent():
    with pytest.raises(ValueError, match="CUDA is not available"):
        ClusteringModule(3, **{**FAST, "device": "cuda"}).fit(_X())


def test_predict_errors():
    with pytest.raises(NotFittedError):
        ClusteringModule(3).predict(_X())
    cm = ClusteringModule(3, **FAST).fit(_X())
    with pytest.raises(ValueError, match="3 features"):
        cm.predict(np.ones((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        cm.predict(np.full((4, 3), np.nan))


# ---------------------------------------------------------------------- scikit-learn contract
@pytest.mark.filterwarnings("ignore::aecm.exceptions.CollapseWarning")  # sklearn's toy data
def test_check_estimator():
    estimator = ClusteringModule(n_epochs=5, batch_size=16, device="cpu")
    expected = estimator._expected_failed_checks()
    results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, [(r["check_name"], repr(r["exception"])) for r in failed]
    for result in results:
        if result["status"] == "xfail":
            assert "multi_class" in str(result["exception"].__cause__), result["check_name"]


# ---------------------------------------------------------------------- quality on real data
def _mean_nmi(make, X, y, seeds=range(5)):
    return float(np.mean([normalized_mutual_info_score(y, make(s).fit_predict(X)) for s in seeds]))


@pytest.mark.parametrize("name", ["pendigits", "usps"])
def test_cm_matches_the_gmms_on_real_data(name, request):
    """Mean NMI over 5 seeds, CM vs the two Gaussian mixtures it should match.

    Measured (NMI, seeds 0-4): Pendigits: CM defaults 0.686, CM with the paper's tuned
    (alpha, batch) 0.670, IsotropicGMM 0.680, GaussianMixture(spherical) 0.695. USPS: 0.643,
    0.617, 0.608, 0.580.
    """
    X, y = request.getfixturevalue(name)
    cm_default = _mean_nmi(lambda s: ClusteringModule(10, random_state=s, device="cpu"), X, y)
    cm_paper = _mean_nmi(
        lambda s: ClusteringModule.from_paper(name, random_state=s, device="cpu"), X, y
    )
    igmm = _mean_nmi(lambda s: IsotropicGMM(10, random_state=s), X, y)
    gmm = _mean_nmi(
        lambda s: GaussianMixture(10, covariance_type="spherical", random_state=s), X, y
    )
    print(f"{name}: CM {cm_default:.3f}, CM (paper) {cm_paper:.3f}, iGMM {igmm:.3f}, GMM {gmm:.3f}")
    for cm in (cm_default, cm_paper):
        assert cm >= igmm - 0.03
        assert cm >= gmm - 0.03


def test_sparse_20newsgroups_is_densified_per_batch_only(monkeypatch):
    """The 20 Newsgroups CSR matrix (18846 × 2000) trains without ever being densified whole."""
    from aecm.data import batches

    X, y = load_npz("20newsgroups")
    assert sp.issparse(X)
    largest = []
    original = batches.SparseSource.rows

    def rows(self, index):
        out = original(self, index)
        largest.append(out.shape[0])
        return out

    monkeypatch.setattr(batches.SparseSource, "rows", rows)
    cm = ClusteringModule(20, batch_size=600, n_epochs=3, random_state=0, device="cpu").fit(X)
    assert max(largest) <= 4096  # training batches of 600, evaluation batches of 4096 rows
    assert cm.cluster_centers_.shape == (20, 2000)
    # measured NMI 0.29 after 3 epochs (k-means with n_init=10 reaches 0.34 after converging)
    assert normalized_mutual_info_score(y, cm.labels_) > 0.2


@pytest.mark.slow
def test_cm_matches_the_gmms_on_mnist():
    """All 70000 MNIST rows, 3 seeds. See docs/results.md for the measured figures."""
    X, y = load_npz("mnist")
    seeds = range(3)
    cm = _mean_nmi(lambda s: ClusteringModule(10, random_state=s, device="cpu"), X, y, seeds)
    gmm = _mean_nmi(
        lambda s: GaussianMixture(10, covariance_type="spherical", random_state=s), X, y, seeds
    )
    print(f"mnist: CM {cm:.3f}, GMM {gmm:.3f}")
    assert cm >= gmm - 0.03


def test_verbose_shows_a_progress_bar_with_the_loss_terms(blobs, capsys):
    X, _ = blobs
    ClusteringModule(4, random_state=0, verbose=True, **{**FAST, "n_epochs": 3}).fit(X)
    err = capsys.readouterr().err
    assert "CM" in err and "E1=" in err and "E4=" in err
    ClusteringModule(4, random_state=0, **{**FAST, "n_epochs": 3}).fit(X)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------- guards (issue 7)
def test_on_nan_is_validated_and_restore_records_restarts(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"'on_nan' parameter.*'raise', 'restore'"):
        ClusteringModule(4, on_nan="ignore", **FAST).fit(X)
    cm = ClusteringModule(4, on_nan="restore", random_state=0, **FAST).fit(X)
    assert cm.history_["nan_restarts"] == [0] * (cm.n_iter_ + 1)


def test_absurd_learning_rate_raises_naming_the_term_in_both_modes(blobs):
    X, _ = blobs
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+, term 'E\d'"):
        ClusteringModule(4, learning_rate=1e30, random_state=0, **FAST).fit(X)
    # halving 1e30 five times does not help: "restore" gives up and says so
    with pytest.raises(FloatingPointError, match=r"term 'E\d'.*after 5 restarts"):
        ClusteringModule(4, learning_rate=1e30, on_nan="restore", random_state=0, **FAST).fit(X)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_collapse_warning_names_the_empty_cluster_and_history_records_it():
    from aecm.exceptions import CollapseWarning

    # a centroid far from every point starts with no point and keeps none
    X = np.repeat(np.array([[0.0, 1.0], [5.0, 6.0]]), 20, axis=0)
    X += np.random.default_rng(0).normal(scale=0.01, size=X.shape)
    init = np.array([[0.0, 1.0], [5.0, 6.0], [100.0, 100.0]])
    cm = ClusteringModule(3, init=init, n_epochs=2, batch_size=8, device="cpu", random_state=0)
    with pytest.warns(CollapseWarning, match=r"1 of the 3 clusters are empty"):
        cm.fit(X)
    assert cm.history_["empty_clusters"] == [1]
    assert cm.history_["largest_cluster_fraction"] == [0.5]


def test_fewer_distinct_rows_than_clusters_is_refused_naming_the_count():
    X = np.repeat(np.array([[0.0, 1.0], [5.0, 6.0]]), 20, axis=0)
    with pytest.raises(ValueError, match=r"X has only 2 distinct rows, fewer than the 3 clusters"):
        ClusteringModule(3, device="cpu").fit(X)
    with pytest.raises(ValueError, match=r"only 2 distinct rows"):
        ClusteringModule(3, device="cpu").partial_fit(X)
    with pytest.raises(ValueError, match=r"the 5 rows drawn for the initialisation"):
        ClusteringModule(3, init_sample_size=5, device="cpu", random_state=0).fit(X)


def test_collapse_warning_when_one_cluster_dominates():
    from aecm.estimators._base import check_collapse
    from aecm.exceptions import CollapseWarning

    with pytest.warns(CollapseWarning, match=r"one cluster holds 95.0% of the 20 points"):
        stats = check_collapse(np.array([0] * 19 + [1]), 2, "X")
    assert stats == {"empty_clusters": [0], "largest_cluster_fraction": [0.95]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_collapse(np.array([0] * 19 + [1]), 2, "X", dominance=False)  # "auto"
        check_collapse(np.zeros(5, dtype=int), 1, "X")  # one cluster holds everything
        check_collapse(np.array([0] * 18 + [1, 1]), 2, "X")  # 90 % is not above 90 %


def test_values_too_large_for_float32_are_refused_not_turned_into_nan(blobs):
    # found by tests/test_properties.py: 3.46e38 overflowed in the cast to float32 (inf, then
    # NaN probabilities); 1.26e38 fitted on ordinary data predicted through inf logits
    X, _ = blobs
    cm = ClusteringModule(4, random_state=0, **FAST).fit(X)
    for value in (3.46e38, 1.26e38, 1e16):
        Y = X[:3].astype(np.float64)
        Y[1, 2] = -value
        with pytest.raises(ValueError, match=r"computes in float32 and accepts at most 1e\+15"):
            cm.predict_proba(Y)
        with pytest.raises(ValueError, match="Scale the data first"):
            ClusteringModule(2, **FAST).fit(np.vstack([X, Y]))
    sparse = sp.csr_matrix(np.vstack([X, Y]))
    with pytest.raises(ValueError, match="as large as 1e\\+16"):
        ClusteringModule(2, **FAST).fit(sparse)
    Y[1, 2] = 1e15  # the limit itself is fine
    assert np.isfinite(cm.predict_proba(Y)).all()
