"""The deep estimators (AE-CM, AE+KM) on small networks: contract, behaviour, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import check_estimator

from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans
from aecm.exceptions import CollapseWarning
from aecm.nn import Autoencoder

SMALL = {
    "hidden_dims": (32, 32),
    "embedding_dim": 4,
    "pretrain_epochs": 15,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=400, n_features=8, centers=3, cluster_std=0.5, random_state=0)
    X = (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def aekm(blobs):
    return AEKMeans(3, random_state=0, **SMALL).fit(blobs[0])


def test_aekmeans_clusters_the_embedding(blobs, aekm):
    X, y = blobs
    assert adjusted_rand_score(y, aekm.labels_) > 0.95
    assert aekm.cluster_centers_.shape == (3, 4)
    assert aekm.transform(X).shape == (400, 4)
    np.testing.assert_array_equal(aekm.predict(X), aekm.labels_)
    assert len(aekm.history_["pretrain"]["reconstruction"]) == 15
    assert not hasattr(aekm, "predict_proba")
    # a subset's embedding agrees with the full data's to float32 precision
    np.testing.assert_allclose(aekm.transform(X[:7]), aekm.transform(X)[:7], atol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        {"schedule": "pre", "loss": "paper", "alpha": 1.0, "beta": 1.0, "lbd": 1.0},
        {"schedule": "pre"},  # the defaults: the normalised form of the authors' example
    ],
)
def test_aecm_clusters_blobs(blobs, aekm, params):
    X, y = blobs
    base = {**SMALL, "cm_epochs": 10, "n_epochs": 10, "random_state": 0}
    model = AECM(3, **{**base, **params}).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9, params
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), model.labels_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.cluster_centers_.shape == (3, 4)
    assert model.cm_.n_clusters == 3
    assert set(model.history_) == {"pretrain", "cm", "joint", "clusters"}
    assert len(model.history_["joint"]["prior"]) == model.n_iter_ + 1  # + averaging epoch
    assert np.isfinite(model.score(X))


def test_aecm_rand_schedule_trains_from_scratch(blobs):
    # "rand" (no pretraining, random CM) is the paper's weaker variant: on these blobs it merged
    # clusters (ARI 0.50-0.57 over seeds 0-2 with alpha=10, an empty cluster on two of them;
    # one cluster with alpha<=3), so only training is checked.
    X, _ = blobs
    paper_form = {"loss": "paper", "alpha": 10.0, "beta": 1.0, "lbd": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)
        model = AECM(3, schedule="rand", n_epochs=30, random_state=0, **paper_form, **SMALL)
        model.fit(X)
    assert set(model.history_) == {"joint", "clusters"}
    losses = model.history_["joint"]["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert len(np.unique(model.labels_)) >= 2


def test_pretrained_autoencoder_is_reused_and_left_untouched(blobs, aekm):
    X, _ = blobs
    before = [p.detach().clone() for p in aekm.autoencoder_.parameters()]
    model = AECM(3, pretrained=aekm, cm_epochs=5, n_epochs=5, random_state=0, **SMALL).fit(X)
    assert "pretrain" not in model.history_
    for old, new in zip(before, aekm.autoencoder_.parameters(), strict=True):
        assert (old == new).all()
    # the embedding starts from the pretrained network: identical after the k-means phase,
    # or divided by the mean norm of the k-means centroids (rescale_embedding)
    params = {"pretrained": aekm, "cm_epochs": 0, "n_epochs": 0, "random_state": 0, **SMALL}
    frozen = AECM(3, rescale_embedding=False, **params).fit(X)
    np.testing.assert_array_equal(frozen.transform(X), aekm.transform(X))
    rescaled = AECM(3, averaging=False, rescale_embedding=True, **params).fit(X)
    scale = np.linalg.norm(frozen.cluster_centers_, axis=1).mean()
    np.testing.assert_allclose(np.linalg.norm(rescaled.cluster_centers_, axis=1).mean(), 1.0)
    np.testing.assert_allclose(rescaled.transform(X) * scale, aekm.transform(X), atol=1e-5)


def test_same_seed_same_labels(blobs):
    X, _ = blobs
    params = {**SMALL, "cm_epochs": 3, "n_epochs": 3, "random_state": 4}
    a, b = AECM(3, **params).fit(X), AECM(3, **params).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"embedding_dim": 2}, "embedding_dim=2 must be >= n_clusters=3"),
        ({"hidden_dims": (32, 0)}, "hidden_dims must be positive integers"),
        ({"schedule": "warm"}, "'schedule' parameter"),
        ({"loss": "l1"}, "'loss' parameter"),
        ({"alpha": [1.0, 2.0]}, "alpha must be a positive number or a vector of 3"),
        ({"pretrained": Autoencoder(5, 4, (8,))}, "takes 5 features but X has 8"),
        ({"pretrained": Autoencoder(8, 6, (8,))}, "embeds in 6 dimensions but embedding_dim=4"),
        ({"pretrained": "yes"}, "'pretrained' parameter"),
        (
            {"n_clusters": 500, "embedding_dim": 500},
            "n_clusters=500 must be <= the number of samples",
        ),
    ],
)
def test_bad_params(blobs, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        AECM(**{"n_clusters": 3, **SMALL, "n_epochs": 1, **params}).fit(blobs[0])


@pytest.mark.parametrize("estimator", [DEC, IDEC, DCN, DKM])
def test_baselines_cluster_blobs(blobs, aekm, estimator):
    X, y = blobs
    params = {**SMALL, "n_epochs": 5, "random_state": 0, "pretrained": aekm}
    if estimator in (DEC, IDEC):
        params.update(update_interval=5, learning_rate=0.01)
    model = estimator(3, **params).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.cluster_centers_.shape == (3, 4)
    assert set(model.history_) == {"clustering", "clusters"}
    assert np.isfinite(model.score(X))
    if estimator is DCN:
        assert not hasattr(model, "predict_proba")
    else:
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(proba.argmax(axis=1), model.labels_)


@pytest.mark.filterwarnings("ignore::aecm.exceptions.CollapseWarning")  # sklearn's toy data
@pytest.mark.parametrize("estimator", [AEKMeans, AECM, DEC, IDEC, DCN, DKM])
def test_check_estimator(estimator):
    params = {**SMALL, "pretrain_epochs": 2, "embedding_dim": 8, "hidden_dims": (8,)}
    if estimator is AECM:
        params.update(cm_epochs=2, n_epochs=2)
    if estimator in (DEC, IDEC):
        # SGD with momentum diverges on the checks' unscaled data (values ~100) at larger steps;
        # the NaN guard then stops fit with an error naming the epoch, batch and term
        params.update(n_epochs=2, learning_rate=1e-6)
    if estimator in (DCN, DKM):
        params.update(n_epochs=2)
    model = estimator(**params)
    expected = getattr(model, "_expected_failed_checks", dict)()
    results = check_estimator(model, expected_failed_checks=expected, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, [(r["check_name"], repr(r["exception"])) for r in failed]


def test_verbose_progress_shows_each_phase_with_its_loss_terms(blobs, capsys):
    X, _ = blobs
    params = {**SMALL, "pretrain_epochs": 2, "cm_epochs": 2, "n_epochs": 2, "random_state": 0}
    AECM(3, verbose=True, **params).fit(X)
    err = capsys.readouterr().err
    for text in ("pretraining", "reconstruction=", "CM on the embedding", "AECM", "prior="):
        assert text in err, text
    AECM(3, **params).fit(X)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------- guards (issue 7)
TINY = {"hidden_dims": (8,), "embedding_dim": 2, "pretrain_epochs": 2, "n_epochs": 2}


@pytest.mark.parametrize("estimator", [AEKMeans, AECM, DEC, IDEC, DCN, DKM])
def test_on_nan_is_a_parameter_of_every_deep_estimator(blobs, estimator):
    X, _ = blobs
    assert estimator().get_params()["on_nan"] == "raise"
    with pytest.raises(ValueError, match="'on_nan' parameter"):
        estimator(2, on_nan="skip", device="cpu", **TINY).fit(X)


def test_on_nan_restore_is_passed_to_every_phase(blobs):
    X, _ = blobs
    model = AECM(2, on_nan="restore", cm_epochs=2, device="cpu", random_state=0, **TINY).fit(X)
    for phase in ("pretrain", "cm", "joint"):
        assert set(model.history_[phase]["nan_restarts"]) == {0}


def test_absurd_learning_rate_restore_gives_up_with_the_term_named(blobs):
    X, _ = blobs
    model = DCN(3, learning_rate=1e30, on_nan="restore", device="cpu", random_state=0, **TINY)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+, term '\w+'.*5 restarts"):
        model.fit(X)


def test_dec_records_cluster_sizes_per_epoch_and_at_the_end(blobs):
    X, _ = blobs
    model = DEC(3, device="cpu", random_state=0, tol=1e-9, **TINY).fit(X)
    clustering = model.history_["clustering"]
    assert len(clustering["empty_clusters"]) == len(clustering["loss"]) == model.n_iter_
    assert all(0 < f <= 1 for f in clustering["largest_cluster_fraction"])
    sizes = np.bincount(model.labels_, minlength=3)
    assert model.history_["clusters"] == {
        "empty_clusters": [int((sizes == 0).sum())],
        "largest_cluster_fraction": [sizes.max() / len(X)],
    }


@pytest.mark.parametrize("estimator", [DEC, AECM, AEKMeans])
def test_values_too_large_for_float32_are_refused_not_turned_into_nan(blobs, estimator):
    # found by tests/test_properties.py: DEC.predict_proba([[1.26e38, ...]]) returned NaN (the
    # squared distances overflowed float32), and 3.46e38 overflowed in the cast to float32
    X, _ = blobs
    model = estimator(2, device="cpu", random_state=0, **TINY).fit(X)
    for value in (3.46e38, 1.26e38, 1e16):
        Y = X[:3].astype(np.float64)
        Y[0, 0] = value
        for method in ("predict", "transform"):
            with pytest.raises(ValueError, match=r"computes in float32 and accepts at most"):
                getattr(model, method)(Y)
        with pytest.raises(ValueError, match="Scale the data first"):
            estimator(2, device="cpu", **TINY).fit(np.vstack([X, Y]))


def test_aecm_refine_iter_sets_the_cm_to_em_on_the_final_embedding(blobs, aekm):
    import torch

    from aecm.init import mixture_em

    X, y = blobs
    params = {**SMALL, "cm_epochs": 2, "n_epochs": 2, "pretrained": aekm, "random_state": 0}
    plain = AECM(3, **params).fit(X)
    refined = AECM(3, refine_iter=10, **params).fit(X)
    z = plain.transform(X)
    np.testing.assert_array_equal(refined.transform(X), z)  # the same network: refining is last
    mixture, posteriors = mixture_em(
        torch.as_tensor(z, dtype=torch.float64), torch.as_tensor(plain.cluster_centers_), 10
    )
    means = mixture.means
    np.testing.assert_allclose(refined.cluster_centers_, means.numpy(), atol=1e-5)
    agree = (refined.predict(X) == posteriors.argmax(1).numpy()).mean()
    assert agree > 0.99, agree
    assert adjusted_rand_score(y, refined.labels_) > 0.95


def test_aecm_rejects_a_negative_refine_iter(blobs):
    with pytest.raises(ValueError, match="refine_iter"):
        AECM(3, refine_iter=-1, **SMALL).fit(blobs[0])


@pytest.mark.parametrize("cm_init", ["posterior", "pinv"])
def test_aecm_cm_init_sets_the_encoder_it_names(blobs, aekm, cm_init):
    """With no CM or joint epoch the CM is its start: the mixture's posteriors (their argmax
    is k-means' partition) or the paper's pseudo-inverse encoder (``W = pinv(U)ᵀ``)."""
    import torch

    X, _ = blobs
    params = {**SMALL, "cm_epochs": 0, "n_epochs": 0, "averaging": False, "pretrained": aekm}
    model = AECM(3, cm_init=cm_init, random_state=0, **params).fit(X)
    layer = model._objective.layer
    centroids = layer.centroids().detach().double()
    if cm_init == "pinv":
        expected = torch.linalg.pinv(centroids).T
        torch.testing.assert_close(
            layer.encoder_weight.detach().double(), expected, rtol=1e-4, atol=1e-5
        )
    else:
        z = torch.as_tensor(model.transform(X), dtype=torch.float64)
        nearest = torch.cdist(z, centroids).argmin(dim=1).numpy()
        assert (model.labels_ == nearest).mean() > 0.99
    assert AECM.from_paper("pendigits").cm_init == "pinv"


def test_aecm_rejects_an_unknown_cm_init(blobs):
    with pytest.raises(ValueError, match="cm_init"):
        AECM(3, cm_init="kmeans", **SMALL).fit(blobs[0])


def test_rescale_embedding_keeps_the_reconstructions():
    import torch

    from aecm.nn import Autoencoder

    ae = Autoencoder(5, 3, (8,))
    x = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
    before, z = ae(x).detach(), ae.encode(x).detach()
    ae.rescale_embedding(4.0)
    torch.testing.assert_close(ae(x).detach(), before, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(ae.encode(x).detach() * 4.0, z, atol=1e-6, rtol=1e-5)


def test_aecm_vector_alpha_with_refine_iter_and_auto(blobs, aekm):
    """A vector ``alpha`` trains with ``refine_iter`` (whose EM does not use the prior) and is
    refused, with the reason, together with ``n_clusters="auto"``."""
    X, y = blobs
    params = {**SMALL, "cm_epochs": 2, "n_epochs": 2, "pretrained": aekm, "random_state": 0}
    model = AECM(3, alpha=[1.0, 1.1, 2.0], refine_iter=5, **params).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.9
    with pytest.raises(ValueError, match="alpha must be a single positive number"):
        AECM("auto", alpha=[1.0, 1.1, 2.0], **params).fit(X)
    with pytest.raises(ValueError, match="vector of 3 positive values"):
        AECM(3, alpha=[1.0, 2.0], **params).fit(X)
