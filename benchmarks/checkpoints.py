"""What checkpoints cost: fit seconds without and with ``checkpoint_dir``, side by side.

For the CM (every epoch is milliseconds, so writing files matters) and AE-CM with its default
autoencoder (d-500-500-2000-10; a checkpoint holds the network and Adam's two moments), the
fit without checkpoints and with ``checkpoint_every`` 1, 5 and 10, the same seed each time;
then the checkpoint folder's size and the number of checkpoints written. Also the time of
resuming a finished run (every phase loaded, nothing trained). Usage::

    python benchmarks/checkpoints.py
    python benchmarks/checkpoints.py --datasets pendigits --repeats 3

Reads the data with ``aecm.datasets`` from ``$AECM_DATA``, else ``../shared/datasets``.
Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import aecm.checkpoint
from aecm import AECM, ClusteringModule, datasets
from aecm.exceptions import CollapseWarning


def _data_home() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets"
    return Path(os.environ.get("AECM_DATA", default))


def _estimators(name: str):
    if name == "cm":
        return lambda **kw: ClusteringModule(10, tol=0.0, n_epochs=100, device="cpu", **kw)
    return lambda **kw: AECM(10, pretrain_epochs=5, cm_epochs=5, n_epochs=5, device="cpu", **kw)


def _count_saves():
    """Wrap PhaseCheckpoint.save to count the checkpoints written; returns the counter."""
    counter = {"saves": 0, "seconds": 0.0}
    original = aecm.checkpoint.PhaseCheckpoint.save

    def save(self, *args, **kwargs):
        started = time.perf_counter()
        original(self, *args, **kwargs)
        counter["seconds"] += time.perf_counter() - started
        counter["saves"] += 1

    aecm.checkpoint.PhaseCheckpoint.save = save
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["pendigits", "usps"])
    parser.add_argument("--methods", nargs="+", default=["cm", "aecm"])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    counter = _count_saves()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    header = (
        f"{'data':<10} {'method':<6} {'every':>5} {'fit s':>7} {'saves':>5} {'save s':>7} "
        f"{'MB kept':>8} {'resume s':>8}"
    )
    print(header)
    for dataset in args.datasets:
        X, _ = datasets.load(dataset, data_home=_data_home())
        for method in args.methods:
            make = _estimators(method)
            for every in (None, 1, 5, 10):
                fits, saves, save_seconds, resumes, size = [], [], [], [], 0.0
                for _ in range(args.repeats):
                    folder = Path(tempfile.mkdtemp(prefix="aecm-ckpt-bench-"))
                    params = {"random_state": 0}
                    if every is not None:
                        params.update(checkpoint_dir=folder / "ckpt", checkpoint_every=every)
                    counter.update(saves=0, seconds=0.0)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", CollapseWarning)
                        started = time.perf_counter()
                        make(**params).fit(X)
                        fits.append(time.perf_counter() - started)
                        saves.append(counter["saves"])
                        save_seconds.append(counter["seconds"])
                        if every is not None:
                            files = (folder / "ckpt").iterdir()
                            size = sum(p.stat().st_size for p in files) / 2**20
                            started = time.perf_counter()
                            make(**params).fit(X)
                            resumes.append(time.perf_counter() - started)
                    shutil.rmtree(folder)
                print(
                    f"{dataset:<10} {method:<6} {every or '-':>5} {np.median(fits):7.2f} "
                    f"{int(np.median(saves)):5d} {np.median(save_seconds):7.2f} "
                    f"{size:8.1f} "
                    f"{(f'{np.median(resumes):.2f}' if resumes else '-'):>8}"
                )


if __name__ == "__main__":
    main()
