"""A Gaussian mixture whose components share one isotropic variance, fitted by EM.

Every component ``k`` has density ``N(x | mu_k, sigma^2 I)`` with the *same* ``sigma^2`` for all
components. This is the generative model behind k-means (the limit ``sigma^2 -> 0``) and the
mixture the clustering module of Boubekki et al. (2021) approximates; it is not scikit-learn's
``GaussianMixture(covariance_type="spherical")``, which fits one variance per component.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted

from aecm._params import BOOLEAN, RANDOM_STATE, Interval, Options, validate_params
from aecm.estimators._base import (
    check_n_clusters,
    sparse_checks_not_applicable,
    validate_input,
)

__all__ = ["IsotropicGMM"]

_LOG_2PI = np.log(2.0 * np.pi)


def _squared_distances(X: Any, x_squared_norms: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``||x_i - mu_k||^2``, shape (n_samples, n_components).

    Computed as ``||x||^2 - 2 x.mu + ||mu||^2`` so that a sparse ``X`` is never densified;
    the small negative values rounding can produce are clipped to zero.
    """
    cross = np.asarray(X @ means.T)
    distances = x_squared_norms[:, np.newaxis] - 2.0 * cross
    distances += np.einsum("kd,kd->k", means, means)[np.newaxis, :]
    np.maximum(distances, 0.0, out=distances)
    return distances


class IsotropicGMM(ClusterMixin, BaseEstimator):
    """Gaussian mixture with one isotropic variance shared by all components.

    Each component ``k`` has a weight ``pi_k``, a mean ``mu_k`` and the covariance
    ``sigma^2 * I``, where the single variance ``sigma^2`` is common to all components. The
    parameters are estimated by expectation-maximisation, computed in log-space.

    Parameters
    ----------
    n_components : int, default=8
        Number of mixture components (clusters).
    tol : float, default=1e-3
        Convergence threshold: EM stops when the mean log-likelihood per sample changes by less
        than ``tol`` between two iterations.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the variance, which keeps it positive.
    max_iter : int, default=100
        Maximum number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the fit with the highest log-likelihood is kept.
    init_params : {"kmeans", "k-means++", "random"}, default="kmeans"
        How the parameters are initialised:

        - ``"kmeans"``: responsibilities are the one-hot labels of a single k-means run;
        - ``"k-means++"``: the means are the centres chosen by
          :func:`sklearn.cluster.kmeans_plusplus`, the weights the fractions of samples nearest
          to each centre and the variance their mean squared distance per feature;
        - ``"random"``: responsibilities are drawn uniformly at random and normalised. All
          means then start near the data mean, where the likelihood changes slowly: EM may stop
          there unless ``tol`` is small or ``n_init`` large.
    random_state : int, RandomState instance or None, default=None
        Controls the initialisation. Pass an int for reproducible results.
    verbose : int, default=0
        0 is silent, 1 prints one line per initialisation, 2 also one line per iteration.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixture weights ``pi_k``.
    means_ : ndarray of shape (n_components, n_features)
        Component means ``mu_k`` (float64).
    covariance_ : float
        The shared variance ``sigma^2`` (regularisation included); every component's covariance
        is ``covariance_ * I``.
    labels_ : ndarray of shape (n_samples,)
        Most probable component of each training sample under the fitted parameters.
    lower_bound_ : float
        Mean log-likelihood per training sample under the fitted parameters of the best
        initialisation (``score`` of the training data).
    n_iter_ : int
        Number of EM iterations of the best initialisation.
    converged_ : bool
        Whether the best initialisation converged before ``max_iter`` iterations.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during :meth:`fit`; defined only when ``X`` has feature
        names that are all strings.

    See Also
    --------
    sklearn.mixture.GaussianMixture : Mixtures with one (spherical, diagonal or full) covariance
        per component.

    Notes
    -----
    The E-step computes ``log r_ik = log pi_k - ||x_i - mu_k||^2 / (2 sigma^2) - (d/2) log(2 pi
    sigma^2)`` normalised over ``k``; the M-step sets ``N_k = sum_i r_ik``, ``pi_k = N_k / n``,
    ``mu_k = sum_i r_ik x_i / N_k`` and ``sigma^2 = sum_ik r_ik ||x_i - mu_k||^2 / (n d) +
    reg_covar``. Sparse CSR input is supported without densifying it.

    Examples
    --------
    >>> import numpy as np
    >>> from aecm.gmm import IsotropicGMM
    >>> X = np.array([[0.0, 0.1], [0.2, 0.0], [5.0, 5.1], [5.2, 4.9]])
    >>> gmm = IsotropicGMM(n_components=2, random_state=0).fit(X)
    >>> gmm.predict([[0.1, 0.0], [5.1, 5.0]]).tolist() == [gmm.labels_[0], gmm.labels_[2]]
    True
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [Options(("kmeans", "k-means++", "random"))],
        "random_state": [RANDOM_STATE],
        "verbose": [Interval(Integral, 0, None, closed="left"), BOOLEAN],
    }

    def __init__(
        self,
        n_components=8,
        *,
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _expected_failed_checks(self) -> dict[str, str]:
        """Checks of :func:`sklearn.utils.estimator_checks.check_estimator` that cannot apply.

        Pass the result as ``check_estimator(..., expected_failed_checks=...)``.

        Returns
        -------
        reasons : dict
            ``{check_name: reason}``.
        """
        return sparse_checks_not_applicable(type(self).__name__)

    # ------------------------------------------------------------------ validation

    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        """Validate ``X`` and return it as float64 (dense array or CSR matrix)."""
        return validate_input(self, X, reset=reset).astype(np.float64, copy=False)

    # ------------------------------------------------------------------ EM steps

    def _estimate_weighted_log_prob(
        self,
        X: Any,
        x_squared_norms: np.ndarray,
        weights: np.ndarray,
        means: np.ndarray,
        variance: float,
    ) -> np.ndarray:
        """``log pi_k + log N(x_i | mu_k, sigma^2 I)``, shape (n_samples, n_components)."""
        n_features = means.shape[1]
        distances = _squared_distances(X, x_squared_norms, means)
        log_prob = distances / (-2.0 * variance)
        log_prob += np.log(weights) - 0.5 * n_features * (_LOG_2PI + np.log(variance))
        return log_prob

    def _e_step(
        self, X: Any, x_squared_norms: np.ndarray, params: tuple
    ) -> tuple[float, np.ndarray]:
        """Return the mean log-likelihood per sample and the log-responsibilities."""
        weighted_log_prob = self._estimate_weighted_log_prob(X, x_squared_norms, *params)
        log_prob_norm = logsumexp(weighted_log_prob, axis=1)
        log_resp = weighted_log_prob - log_prob_norm[:, np.newaxis]
        return float(np.mean(log_prob_norm)), log_resp

    def _m_step(self, X: Any, x_squared_norms: np.ndarray, resp: np.ndarray) -> tuple:
        """Return ``(weights, means, variance)`` maximising the expected log-likelihood."""
        n_samples, n_features = X.shape
        # The epsilon keeps empty components from dividing by zero (as scikit-learn does).
        nk = resp.sum(axis=0) + 10 * np.finfo(resp.dtype).eps
        weights = nk / nk.sum()
        means = np.asarray(X.T @ resp).T / nk[:, np.newaxis]
        distances = _squared_distances(X, x_squared_norms, means)
        variance = float(np.sum(resp * distances)) / (n_samples * n_features) + self.reg_covar
        if not variance > 0.0:
            raise ValueError(
                "Fitting the mixture model failed because the shared variance is zero: the "
                "samples coincide with the component means. Decrease n_components or increase "
                "reg_covar."
            )
        return weights, means, variance

    def _initialize(
        self, X: Any, x_squared_norms: np.ndarray, random_state: np.random.RandomState
    ) -> tuple:
        """Initial ``(weights, means, variance)`` according to ``init_params``."""
        n_samples, n_features = X.shape
        n_components = self.n_components
        if self.init_params == "kmeans":
            kmeans = KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            labels = kmeans.fit(X).labels_
            resp = np.zeros((n_samples, n_components))
            resp[np.arange(n_samples), labels] = 1.0
            return self._m_step(X, x_squared_norms, resp)
        if self.init_params == "random":
            resp = random_state.uniform(size=(n_samples, n_components))
            resp /= resp.sum(axis=1, keepdims=True)
            return self._m_step(X, x_squared_norms, resp)
        # "k-means++": the centres are the means; weights and variance from the nearest centre.
        means, _ = kmeans_plusplus(
            X, n_components, x_squared_norms=x_squared_norms, random_state=random_state
        )
        means = np.asarray(means, dtype=np.float64)
        distances = _squared_distances(X, x_squared_norms, means)
        nearest = np.argmin(distances, axis=1)
        counts = np.bincount(nearest, minlength=n_components) + 10 * np.finfo(np.float64).eps
        weights = counts / counts.sum()
        variance = float(np.mean(distances[np.arange(n_samples), nearest])) / n_features
        variance += self.reg_covar
        if not variance > 0.0:
            raise ValueError(
                "Fitting the mixture model failed because the shared variance is zero: the "
                "samples coincide with the initial means. Decrease n_components or increase "
                "reg_covar."
            )
        return weights, means, variance

    # ------------------------------------------------------------------ public API

    def fit(self, X, y=None):
        """Estimate the mixture's parameters by EM.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse input is used as CSR.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : IsotropicGMM
            The fitted estimator.
        """
        self.fit_predict(X, y)
        return self

    def fit_predict(self, X, y=None):
        """Estimate the parameters by EM and return the training samples' components.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; sparse input is used as CSR.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            The same array as ``labels_`` after fitting.
        """
        validate_params(self, self._parameter_constraints)
        X = self._validate_X(X, reset=True)
        n_samples = X.shape[0]
        check_n_clusters(self.n_components, n_samples, "n_components")
        random_state = check_random_state(self.random_state)
        x_squared_norms = row_norms(X, squared=True)

        best_score, best = -np.inf, None
        for init in range(self.n_init):
            if self.verbose:
                print(f"Initialization {init}")
            params = self._initialize(X, x_squared_norms, random_state)
            score, converged, n_iter = -np.inf, False, 0
            for n_iter in range(1, self.max_iter + 1):
                previous = score
                score, log_resp = self._e_step(X, x_squared_norms, params)
                params = self._m_step(X, x_squared_norms, np.exp(log_resp))
                change = score - previous
                if self.verbose >= 2:
                    print(f"  Iteration {n_iter}\t mean log-likelihood change {change:.6g}")
                if abs(change) < self.tol:
                    converged = True
                    break
            # The mean log-likelihood of the final parameters (never below the last E-step's).
            score, log_resp = self._e_step(X, x_squared_norms, params)
            if self.verbose:
                status = "converged" if converged else "did not converge"
                print(f"Initialization {init} {status} after {n_iter} iterations: {score:.6g}")
            if best is None or score > best_score:
                best_score = score
                best = (params, n_iter, converged, log_resp.argmax(axis=1))

        (weights, means, variance), n_iter, converged, labels = best
        if not converged:
            warnings.warn(
                f"The best of {self.n_init} initialisations did not converge within "
                f"max_iter={self.max_iter} iterations. Try a larger max_iter, a larger tol or "
                "check the preprocessing of the data.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.weights_ = weights
        self.means_ = means
        self.covariance_ = variance
        self.lower_bound_ = best_score
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.labels_ = labels
        return labels

    def _weighted_log_prob(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._estimate_weighted_log_prob(
            X, row_norms(X, squared=True), self.weights_, self.means_, self.covariance_
        )

    def predict(self, X):
        """Most probable component of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component indices.
        """
        return self._weighted_log_prob(X).argmax(axis=1)

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; each row sums to 1.
        """
        weighted_log_prob = self._weighted_log_prob(X)
        log_norm = logsumexp(weighted_log_prob, axis=1, keepdims=True)
        return np.exp(weighted_log_prob - log_norm)

    def score_samples(self, X):
        """Log-likelihood of each sample under the fitted mixture.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            ``log p(x_i)``.
        """
        return logsumexp(self._weighted_log_prob(X), axis=1)

    def score(self, X, y=None):
        """Mean log-likelihood per sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        log_likelihood : float
            Mean of :meth:`score_samples`.
        """
        return float(np.mean(self.score_samples(X)))

    def _n_parameters(self) -> int:
        """Free parameters: the means, the weights (they sum to 1) and the shared variance."""
        n_components, n_features = self.means_.shape
        return n_components * n_features + (n_components - 1) + 1

    def bic(self, X):
        """Bayesian information criterion of the fitted model on ``X`` (lower is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        bic : float
            ``-2 log L + p log n`` with ``p = K d + (K - 1) + 1`` free parameters.
        """
        log_likelihood = self.score_samples(X)
        n_samples = log_likelihood.shape[0]
        return float(-2.0 * log_likelihood.sum() + self._n_parameters() * np.log(n_samples))

    def aic(self, X):
        """Akaike information criterion of the fitted model on ``X`` (lower is better).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        aic : float
            ``-2 log L + 2 p`` with ``p = K d + (K - 1) + 1`` free parameters.
        """
        return float(-2.0 * self.score_samples(X).sum() + 2.0 * self._n_parameters())
