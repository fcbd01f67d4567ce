"""
AE-CM and AE+KM on the digits
=============================

AE-CM (:class:`aecm.AECM`) puts the clustering module on the embedding of an MLP autoencoder
and trains both together. Its simplest baseline, AE+KM (:class:`aecm.AEKMeans`), runs k-means
once on the embedding of the same pretrained autoencoder. This example pretrains one small
autoencoder on scikit-learn's digits, fits both on it and compares their partitions.

The network and schedules here are tiny so that the example runs in seconds on one CPU
thread: a 64–256–256–10 encoder, 20 epochs of pretraining, 10 epochs of the CM alone on the
frozen embedding and 10 of joint training. The defaults (a 500–500–2000 encoder, 100 + 100 +
1000 epochs) are the paper's, meant for a GPU; scores at this size say little about them.
"""

# %%
# Pretrain the autoencoder and run k-means on its embedding
# ---------------------------------------------------------
# :class:`aecm.AEKMeans` pretrains the autoencoder (Adam on the reconstruction error), then
# fits k-means (10 restarts) on the 10-dimensional embedding.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import aecm
from aecm.metrics import evaluate

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)

small = {"hidden_dims": (256, 256), "device": "cpu", "random_state": 0}
ae_km = aecm.AEKMeans(n_clusters=10, pretrain_epochs=20, **small).fit(X)
print("AE+KM", evaluate(y, ae_km.labels_))

# %%
# AE-CM on the same autoencoder
# -----------------------------
# ``pretrained=ae_km`` reuses (a copy of) the autoencoder that AE+KM pretrained, so both
# start from the same embedding. AE-CM then runs k-means on it, starts the CM from that
# partition, trains the CM alone (``cm_epochs``) and finally the CM and the autoencoder
# together (``n_epochs``).
ae_cm = aecm.AECM(n_clusters=10, pretrained=ae_km, cm_epochs=10, n_epochs=10, **small).fit(X)
print("AE-CM", evaluate(y, ae_cm.labels_))

# %%
# With schedules this short the comparison can go either way, and neither method gets near
# what long schedules reach. The measured comparisons (paper schedules, several seeds and
# data sets) are in the repository's ``docs/results.md``.
#
# The training history
# --------------------
# ``history_`` holds, per phase and per epoch, each term of the loss (sums over the epoch's
# batches). During joint training the autoencoder's reconstruction and the CM's terms are
# optimised together.
joint = ae_cm.history_["joint"]
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
axes[0].plot(ae_km.history_["pretrain"]["loss"], marker=".")
axes[0].set_title("pretraining (reconstruction)")
axes[1].plot(joint["loss"], marker=".", label="total")
axes[1].plot(joint["ae_reconstruction"], marker=".", label="AE reconstruction")
axes[1].set_title("AE-CM joint phase")
axes[1].legend()
for ax in axes:
    ax.set_xlabel("epoch")
fig.tight_layout()
plt.show()

# %%
# The embedding and the soft assignments
# --------------------------------------
# ``transform`` returns the embedding ``z`` of each row; ``predict_proba`` the CM's soft
# assignments on it.
z = ae_cm.transform(X)
gamma = ae_cm.predict_proba(X)
print("embedding:", z.shape, " soft assignments:", gamma.shape)
print("cluster weights:", np.round(ae_cm.cluster_weights_, 3))
