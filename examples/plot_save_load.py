"""
Saving and loading a fitted model
=================================

Every torch estimator of aecm (:class:`aecm.ClusteringModule`, :class:`aecm.AECM` and the
deep baselines) saves itself with ``model.save(path)`` and comes back with
:func:`aecm.load`. A saved model is a folder with two files: ``tensors.safetensors`` (the
weights, in the `safetensors <https://github.com/huggingface/safetensors>`_ format) and
``model.json`` (the class, its parameters, the fitted values and the tensors' checksum).
Nothing is pickled, so loading a model runs no code from the file.
"""

# %%
# Fit and save
# ------------
# A CM on the iris data, saved in a temporary folder.
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

import aecm

X, y = load_iris(return_X_y=True)
cm = aecm.ClusteringModule(n_clusters=3, device="cpu", random_state=0).fit(X)

workdir = Path(tempfile.mkdtemp())
folder = workdir / "iris-cm"
cm.save(folder)
print(sorted(path.name for path in folder.iterdir()))

# %%
# ``model.json`` is plain JSON: the class, the parameters and the fitted scalars can be read
# without aecm.
config = json.loads((folder / "model.json").read_text())
print(config["class"], config["params"]["n_clusters"], config["tensors"])

# %%
# Load and predict
# ----------------
# :func:`aecm.load` rebuilds the estimator with its parameters and fitted attributes, on the
# CPU by default (``device="cuda"`` puts the tensors on a GPU). It refuses a folder whose
# tensors do not match the checksum in ``model.json``.
loaded = aecm.load(folder)
print(type(loaded).__name__, loaded.n_clusters_)
print("same predictions:", np.array_equal(loaded.predict(X), cm.predict(X)))
print("same soft assignments:", np.allclose(loaded.predict_proba(X), cm.predict_proba(X)))
print("same centroids:", np.allclose(loaded.cluster_centers_, cm.cluster_centers_))

# %%
# Saving again to the same path replaces the folder atomically: a crash during ``save``
# never leaves a half-written model where a complete one was.
cm.save(folder)
print(aecm.load(folder).predict(X[:5]))

# %%
# The temporary folder is no longer needed.
shutil.rmtree(workdir)
