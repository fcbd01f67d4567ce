"""Saving and loading fitted estimators: safetensors for tensors, JSON for the rest. No pickle.

A saved model is a folder holding ``model.json`` (format, versions, class, parameters, fitted
scalars and histories, the tensors' names and shapes, and the tensors file's sha256) and
``tensors.safetensors``. The folder is written under a temporary name and renamed into place, so
a crash never leaves a half-written model where a complete one was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from aecm._files import read_manifest, sha256_file
from aecm._version import __version__

__all__ = ["FORMAT_VERSION", "PersistenceMixin", "load", "restore_attributes"]

#: Version of the on-disk format; loading refuses other versions.
FORMAT_VERSION = 1
_FORMAT = "aecm-model"
_CONFIG, _TENSORS = "model.json", "tensors.safetensors"


def _jsonable(value: Any, unknown: Callable[[Any], Any] = lambda value: None) -> Any:
    """Parameters and fitted values as JSON (tuples and arrays become lists).

    ``unknown`` maps what JSON cannot represent (a RandomState, a pretrained network); the
    default drops it (``None``: not saved), a run record may keep its ``str``.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v, unknown) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, unknown) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.device):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return unknown(value)


def restore_attributes(estimator: Any, meta: dict, names: tuple[str, ...]) -> None:
    """Set the fitted attributes ``names`` found in ``meta`` (feature names back to an array)."""
    for name in names:
        if name in meta:
            value = meta[name]
            if name == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            setattr(estimator, name, value)


class PersistenceMixin:
    """``save(path)`` for estimators that implement ``_state() -> (tensors, meta)``."""

    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted estimator to the folder ``path`` (replaced atomically if it exists)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        tensors, meta = self._state()
        tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            save_file(tensors, tmp / _TENSORS)
            config = {
                "format": _FORMAT,
                "format_version": FORMAT_VERSION,
                "aecm_version": __version__,
                "torch_version": torch.__version__,
                "class": type(self).__name__,
                "params": _jsonable(self.get_params(deep=False)),
                "fitted": _jsonable(meta),
                "tensors": {name: list(t.shape) for name, t in tensors.items()},
                "tensors_sha256": sha256_file(tmp / _TENSORS),
            }
            with open(tmp / _CONFIG, "w") as handle:
                json.dump(config, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                path.rename(old)
            tmp.rename(path)
            if old is not None:
                shutil.rmtree(old)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        return path


def _estimator_classes() -> dict[str, type]:
    from aecm import estimators

    return {name: getattr(estimators, name) for name in estimators.__all__}


def load(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load an estimator saved with ``save``; its tensors go to ``device`` (default: the CPU).

    Refuses, with a message naming the problem, a folder that is not an aecm model, an unknown
    format version, a tensors file whose checksum or shapes do not match the JSON, and unknown
    estimator classes.

    Parameters
    ----------
    path : str or path-like
        The folder written by the estimator's ``save`` (``model.json`` and
        ``tensors.safetensors``).
    device : str or torch.device, default="cpu"
        Where the loaded tensors go and the estimator computes: ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``…, or ``"auto"`` (CUDA when available, else CPU).

    Returns
    -------
    estimator
        The fitted estimator, of the class that was saved, with its parameters and fitted
        attributes.

    Raises
    ------
    ValueError
        If the folder is not an aecm model or does not match its own manifest (see above).
    """
    from aecm._runtime import resolve_device

    path = Path(path)
    config = read_manifest(
        path, _CONFIG, _TENSORS, kind="an aecm model", fmt=_FORMAT, version=FORMAT_VERSION
    )
    tensors_path = path / _TENSORS
    classes = _estimator_classes()
    if config.get("class") not in classes:
        raise ValueError(f"{path} holds an unknown estimator class {config.get('class')!r}.")
    tensors = load_file(tensors_path)
    expected = config.get("tensors", {})
    if {name: list(t.shape) for name, t in tensors.items()} != expected:
        raise ValueError(f"The tensors in {tensors_path} do not match the shapes in {_CONFIG}.")
    estimator = classes[config["class"]](**config["params"])
    target = resolve_device(device)
    estimator._restore(
        {name: t.to(target) for name, t in tensors.items()}, config["fitted"], target
    )
    return estimator
