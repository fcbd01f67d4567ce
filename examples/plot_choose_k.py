"""
Choosing the number of clusters
===============================

Two ways to let aecm choose the number of clusters ``K``:

* ``ClusteringModule(n_clusters="auto")`` starts from ``max_clusters`` clusters and trains with
  a Dirichlet prior on the mixture weights that empties the clusters the data do not need;
  clusters whose weight falls below ``min_cluster_weight`` are removed.
* :func:`aecm.select_k` fits every ``K`` of a range with several seeds and picks the ``K`` of
  lowest BIC (Bayesian information criterion) of the fitted isotropic mixture.

Both assume clusters that look like isotropic Gaussians; on data without such clusters (the
digit data sets, for instance) the number found reflects the rule more than the classes.
Here the data are five Gaussian blobs, eight standard deviations apart.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs

import aecm
from aecm.metrics import evaluate

centers = [(0, 0), (8, 0), (0, 8), (8, 8), (16, 4)]
X, y = make_blobs(n_samples=1000, centers=centers, cluster_std=1.0, random_state=0)

# %%
# The CM with ``n_clusters="auto"``
# ---------------------------------
# The pruning starts from ``max_clusters`` clusters (default ``min(50, n_samples // 10)``);
# fewer starting clusters need fewer epochs to prune, so this example starts from 10.
# ``n_clusters_`` is the number found and ``history_["n_clusters"]`` the number trained in
# each epoch.
cm = aecm.ClusteringModule(n_clusters="auto", max_clusters=10, device="cpu", random_state=0)
cm.fit(X)
print("clusters found:", cm.n_clusters_)
print("weights:", np.round(cm.cluster_weights_, 3))
print("scores:", evaluate(y, cm.labels_))

# %%
# :func:`aecm.select_k`
# ---------------------
# ``method="gmm"`` fits the isotropic mixture by EM (:class:`aecm.IsotropicGMM`), which is
# quick; ``method="cm"`` fits the CM for each ``K`` instead. The stability column is the mean
# adjusted Rand index between the seeds' partitions, a second opinion the rule does not use.
result = aecm.select_k(X, method="gmm", k_range=range(2, 9), n_seeds=3, random_state=0)
print(result.to_string())
print("best K:", result.best_k)

# %%
# The pruning and the BIC curve
# -----------------------------
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
axes[0].scatter(X[:, 0], X[:, 1], c=cm.labels_, s=5, cmap="tab10")
axes[0].set_title(f'CM, n_clusters="auto": {cm.n_clusters_} clusters')
axes[0].set_aspect("equal")
axes[1].plot(cm.history_["n_clusters"])
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("clusters trained")
axes[1].set_title("pruning, then refinement")
axes[2].plot(result.table["k"], result.table["bic"], marker="o")
axes[2].axvline(result.best_k, color="tab:red", linestyle="--")
axes[2].set_xlabel("K")
axes[2].set_ylabel("BIC (lower is better)")
axes[2].set_title("select_k, method='gmm'")
fig.tight_layout()
plt.show()
