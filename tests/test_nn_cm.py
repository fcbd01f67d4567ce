"""The CM as a torch module: the "pre" initialisation and the encoder fitted to a partition."""

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

from aecm.nn import ClusteringLayer
from aecm.nn.cm import mixture_em, partition_posteriors


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
    layer.fit_encoder(x, target)
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
    layer.fit_encoder(x, labels)
    gamma = layer(x).detach()
    assert torch.equal(gamma.argmax(1), labels)
    assert gamma.max(1).values.min() > 0.999


def test_mixture_em_moves_lagging_centroids_to_the_cluster_means():
    x, y = _blobs(std=1.0, box=10.0)
    truth = torch.stack([x[torch.as_tensor(y) == k].mean(0) for k in range(4)])
    start = truth + torch.randn(4, 6, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    means, gamma = mixture_em(x, start, 20)
    torch.testing.assert_close(means, truth, atol=0.05, rtol=0)
    torch.testing.assert_close(gamma.sum(1), torch.ones(len(x), dtype=x.dtype))
    # a fixed point: one more M-step gives the same means
    torch.testing.assert_close((gamma.T @ x) / gamma.sum(0)[:, None], means, atol=1e-8, rtol=0)


def test_mixture_em_without_iterations_is_the_partition_mixture():
    x, _ = _blobs(std=2.5)
    centroids = torch.as_tensor(KMeans(4, n_init=3, random_state=0).fit(x).cluster_centers_)
    means, gamma = mixture_em(x, centroids, 0)
    torch.testing.assert_close(means, centroids)
    labels = torch.cdist(x, centroids).argmin(1)
    torch.testing.assert_close(gamma, partition_posteriors(x, centroids, labels))


def test_mixture_em_keeps_the_mean_of_a_component_left_without_points():
    x, _ = _blobs(std=1.0, box=10.0)
    far = torch.full((1, 6), 1e4, dtype=x.dtype)
    start = torch.cat(
        [torch.as_tensor(KMeans(4, n_init=3, random_state=0).fit(x).cluster_centers_), far]
    )
    means, gamma = mixture_em(x, start, 5)
    torch.testing.assert_close(means[4:], far)
    assert float(gamma[:, 4].max()) < 1e-12
