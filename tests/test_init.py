"""How the CM starts: the mixture of a partition, its posterior layer, EM, the fitted encoder."""

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

from aecm.init import Mixture, fit_encoder, mixture_em, partition_posteriors, posterior_layer
from aecm.nn import ClusteringLayer


def _blobs(seed=0, n=600, k=4, d=6, std=1.0, box=10.0):
    x, y = make_blobs(n, d, centers=k, cluster_std=std, center_box=(-box, box), random_state=seed)
    return torch.as_tensor(x - x.mean(0), dtype=torch.float64), y


def test_pseudo_inverse_encoder_maps_centroids_to_unit_logits():
    centroids = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    layer = ClusteringLayer(6, 4, dtype=torch.float64)
    layer.init_from_centroids(centroids)
    torch.testing.assert_close(layer.centroids(), centroids)
    torch.testing.assert_close(layer.logits(centroids), torch.eye(4, dtype=torch.float64))


def test_partition_posteriors_are_the_isotropic_mixture_at_the_partition():
    x, _ = _blobs(std=2.5)
    km = KMeans(4, n_init=3, random_state=0).fit(x)
    labels = torch.as_tensor(km.labels_)
    centroids = torch.as_tensor(km.cluster_centers_)
    gamma = partition_posteriors(x, centroids, labels)
    # the same posteriors from scikit-learn's mixture with the partition's ML parameters
    weights = np.bincount(km.labels_) / len(x)
    variance = ((x.numpy() - km.cluster_centers_[km.labels_]) ** 2).mean()
    gmm = GaussianMixture(4, covariance_type="spherical")
    gmm.weights_, gmm.means_ = weights, km.cluster_centers_
    gmm.covariances_ = np.full(4, variance)
    gmm.precisions_cholesky_ = 1 / np.sqrt(gmm.covariances_)
    np.testing.assert_allclose(gamma.numpy(), gmm.predict_proba(x.numpy()), atol=1e-10)
    assert torch.equal(gamma.argmax(1), labels)  # k-means is a fixed point here


def test_encoder_fitted_to_posteriors_reproduces_partition_without_saturating():
    x, _ = _blobs(std=1.0, box=2.0)  # overlapping clusters
    km = KMeans(4, n_init=3, random_state=0).fit(x)
    labels = torch.as_tensor(km.labels_)
    centroids = torch.as_tensor(km.cluster_centers_)
    layer = ClusteringLayer(6, 4, bias=True, dtype=torch.float64)
    layer.init_from_centroids(centroids)
    target = partition_posteriors(x, centroids, labels)
    fit_encoder(layer, x, target)
    gamma = layer(x).detach()
    assert (gamma.argmax(1) == labels).double().mean() > 0.97
    # soft like the target, so gradients still reach the encoder
    assert gamma.max(1).values.mean() < 0.95
    assert abs(gamma.max(1).values.mean() - target.max(1).values.mean()) < 0.02
    torch.testing.assert_close(layer.centroids(), centroids)  # the decoder is untouched


def test_encoder_fitted_to_hard_labels_of_separated_blobs_saturates():
    """Why AE-CM fits the posteriors, not the labels: the weights run away."""
    x, _ = _blobs(std=0.5)
    labels = torch.as_tensor(KMeans(4, n_init=3, random_state=0).fit(x).labels_)
    layer = ClusteringLayer(6, 4, bias=True, dtype=torch.float64)
    fit_encoder(layer, x, labels)
    gamma = layer(x).detach()
    assert torch.equal(gamma.argmax(1), labels)
    assert gamma.max(1).values.min() > 0.999


def test_mixture_em_moves_lagging_centroids_to_the_cluster_means():
    x, y = _blobs(std=1.0, box=10.0)
    truth = torch.stack([x[torch.as_tensor(y) == k].mean(0) for k in range(4)])
    start = truth + torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    mixture, gamma = mixture_em(x, start, 20)
    means = mixture.means
    torch.testing.assert_close(means, truth, atol=0.05, rtol=0)
    torch.testing.assert_close(gamma.sum(1), torch.ones(len(x), dtype=x.dtype))
    # a fixed point: one more M-step gives the same means
    torch.testing.assert_close((gamma.T @ x) / gamma.sum(0)[:, None], means, atol=1e-8, rtol=0)


def test_mixture_em_without_iterations_is_the_partition_mixture():
    x, _ = _blobs(std=2.5)
    centroids = torch.as_tensor(KMeans(4, n_init=3, random_state=0).fit(x).cluster_centers_)
    mixture, gamma = mixture_em(x, centroids, 0)
    means = mixture.means
    torch.testing.assert_close(means, centroids)
    labels = torch.cdist(x, centroids).argmin(1)
    torch.testing.assert_close(gamma, partition_posteriors(x, centroids, labels))


def test_mixture_em_keeps_the_mean_of_a_component_left_without_points():
    x, _ = _blobs(std=1.0, box=10.0)
    far = torch.full((1, 6), 1e4, dtype=x.dtype)
    start = torch.cat(
        [torch.as_tensor(KMeans(4, n_init=3, random_state=0).fit(x).cluster_centers_), far]
    )
    mixture, gamma = mixture_em(x, start, 5)
    means = mixture.means
    torch.testing.assert_close(means[4:], far)
    assert float(gamma[:, 4].max()) < 1e-12


def _sklearn_posteriors(mixture, x):
    gmm = GaussianMixture(mixture.n_clusters, covariance_type="spherical")
    gmm.weights_, gmm.means_ = mixture.weights.numpy(), mixture.means.numpy()
    gmm.covariances_ = np.full(mixture.n_clusters, mixture.variance)
    gmm.precisions_cholesky_ = 1 / np.sqrt(gmm.covariances_)
    return gmm.predict_proba(x.numpy())


def test_posterior_layer_with_biases_is_the_mixture_exactly():
    x, _ = _blobs(std=2.5)  # centred, overlapping, unequal shares after k-means
    km = KMeans(4, n_init=3, random_state=0).fit(x)
    mixture = Mixture.from_partition(x, torch.as_tensor(km.cluster_centers_))
    assert abs(mixture.weights.sum() - 1) < 1e-12
    layer = posterior_layer(mixture, bias=True)
    assert layer.encoder_weight.dtype == torch.float32
    gamma = layer(x.float()).detach().double()
    np.testing.assert_allclose(gamma.numpy(), _sklearn_posteriors(mixture, x), atol=1e-4)
    np.testing.assert_allclose(layer.centroids().detach().numpy(), km.cluster_centers_, rtol=1e-6)


def test_posterior_layer_without_biases_on_data_off_the_origin():
    """Without biases the start is a fit, not exact: on separated clusters away from the origin
    (as non-negative pixels or counts) it agrees with the mixture's posteriors nearly everywhere
    (on overlapping ones, std 1.5 in a box of 4, only on 80 % of the rows)."""
    x, _ = _blobs(std=1.0, box=10.0)
    x = x - x.min(0).values + 1.0  # non-negative, as pixels
    km = KMeans(4, n_init=3, random_state=0).fit(x)
    mixture = Mixture.from_partition(x, torch.as_tensor(km.cluster_centers_))
    target = torch.as_tensor(_sklearn_posteriors(mixture, x))
    gamma = posterior_layer(mixture, bias=False, x=x)(x.float()).detach().double()
    assert (gamma.argmax(1) == target.argmax(1)).double().mean() > 0.97
    assert (gamma - target).abs().max(1).values.mean() < 0.05


def test_posterior_layer_without_biases_loses_a_cluster_at_the_origin():
    """What the bias-free start loses: softmax(W x) cuts space into cones from the origin, so
    a cluster around the origin, surrounded by others, cannot be told apart."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [-6.0, 0.0], [0.0, 6.0], [0.0, -6.0]])
    x = torch.as_tensor(np.repeat(centres, 100, axis=0) + rng.normal(size=(500, 2)))
    mixture = Mixture.from_partition(x, torch.as_tensor(centres))
    with_bias = posterior_layer(mixture, bias=True)(x.float()).argmax(1)
    without = posterior_layer(mixture, bias=False, x=x)(x.float()).argmax(1)
    truth = torch.arange(5).repeat_interleave(100)
    assert (with_bias == truth).double().mean() > 0.98
    assert (without[truth == 0] == 0).double().mean() < 0.5
