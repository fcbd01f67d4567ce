"""The CM on data larger than memory: one epoch over a float32 memmap of 1M, 3M and 10M rows.

Generates (once, streamed in chunks; reused when present) ``X.npy``, a ``max(rows) × 64``
float32 Gaussian mixture of ``--clusters`` components, and ``y.npy``, its components, in
``--dir``; each size uses the first ``rows`` rows (a memmap slice, read lazily). For each size,
in a fresh subprocess (so that the peak RSS is that size's):

* ``cm``: ``ClusteringModule(n_clusters, n_epochs=1, averaging=False, tol=0)`` fitted on the
  memmap: k-means on the 10 000-row initialisation sample, one epoch of mini-batches, then the
  final loss and ``labels_`` (two more passes);
* ``minibatch-kmeans``: scikit-learn's ``MiniBatchKMeans.partial_fit`` over the same rows in
  chunks of ``--chunk`` rows, read through the same reader (:class:`aecm.data.ArrayReader`, which
  releases the memmap's pages), then ``predict`` on the first 100 000 rows.

Printed per size and method: seconds (fit, including the initialisation and the final
passes), seconds per million rows, peak RSS of the whole process (MiB, includes torch and the
libraries: ``VmHWM``, or ``ru_maxrss`` where that is unavailable), the growth of the peak over
the RSS before the fit, and the NMI (%) against the true components on the first 100 000 rows.
Usage::

    python benchmarks/scale.py --dir /tmp/aecm_scale --rows 1000000 3000000 10000000

Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run
only. The first run after generating reads the file from the page cache; a cold cache adds the
disk's read time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNK_ROWS = 250_000
EVAL_ROWS = 100_000


def generate(directory: Path, n_rows: int, n_features: int, n_clusters: int) -> Path:
    """``X.npy`` (float32) and ``y.npy`` (int8) with at least ``n_rows`` rows, written in chunks
    of ``CHUNK_ROWS`` (memory stays at one chunk); reused when present and large enough."""
    from numpy.lib.format import open_memmap

    directory.mkdir(parents=True, exist_ok=True)
    path, labels_path = directory / "X.npy", directory / "y.npy"
    if path.exists() and labels_path.exists():
        X = np.load(path, mmap_mode="r")
        if X.shape[0] >= n_rows and X.shape[1] == n_features:
            return path
        del X
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_clusters, n_features)) * 0.5
    part = path.with_suffix(".part.npy")
    X = open_memmap(part, "w+", np.float32, (n_rows, n_features))
    y = np.empty(n_rows, dtype=np.int8)
    started = time.perf_counter()
    for start in range(0, n_rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n_rows)
        labels = rng.integers(0, n_clusters, stop - start)
        X[start:stop] = centres[labels] + rng.standard_normal((stop - start, n_features))
        y[start:stop] = labels
    X.flush()
    del X
    np.save(labels_path, y)
    part.replace(path)
    print(f"generated {path} ({n_rows} × {n_features}) in {time.perf_counter() - started:.0f} s")
    return path


def child(method: str, path: str, n_rows: int, n_clusters: int, chunk: int, device: str) -> dict:
    """One measurement, in this (fresh) process."""
    from aecm.bench.memory import peak_rss_mb, reset_rss_peak
    from aecm.metrics import normalized_mutual_info

    X = np.load(path, mmap_mode="r")[:n_rows]
    y = np.load(Path(path).with_name("y.npy"))[:EVAL_ROWS]
    if method == "cm":
        from aecm import ClusteringModule

        model = ClusteringModule(
            n_clusters, n_epochs=1, averaging=False, tol=0.0, random_state=0, device=device
        )
    else:
        from sklearn.cluster import MiniBatchKMeans

        from aecm.data import ArrayReader

        model = MiniBatchKMeans(n_clusters, random_state=0, n_init=1)
    scope = reset_rss_peak()
    before = _rss_mb()
    started = time.perf_counter()
    if method == "cm":
        model.fit(X)
        predicted = model.labels_[:EVAL_ROWS]
    else:
        reader = ArrayReader(X)
        for start in range(0, n_rows, chunk):
            model.partial_fit(reader.read(start, min(start + chunk, n_rows)))
        predicted = model.predict(reader.read(0, min(EVAL_ROWS, n_rows)))
    seconds = time.perf_counter() - started
    peak = peak_rss_mb(scope)
    return {
        "seconds": seconds,
        "peak_rss_mb": peak,
        "growth_mb": peak - before,
        "scope": scope,
        "nmi": normalized_mutual_info(y[: len(predicted)], predicted),
    }


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aecm_scale"))
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=4096, help="MiniBatchKMeans rows per call")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--methods", nargs="+", default=["cm", "minibatch-kmeans"])
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.dir / "X.npy"
    if args.child:
        method, rows = args.child[0], int(args.child[1])
        result = child(method, str(path), rows, args.clusters, args.chunk, args.device)
        print(json.dumps(result))
        return
    generate(args.dir, max(args.rows), args.features, args.clusters)
    import sklearn
    import torch

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, scikit-learn {sklearn.__version__}, device {args.device}, "
        f"{args.features} features, {args.clusters} clusters, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    header = f"{'rows':>10} {'method':>17} {'seconds':>8} {'s/1M rows':>9} "
    print(header + f"{'peak RSS MiB':>12} {'growth MiB':>10} {'NMI %':>6}")
    for rows in args.rows:
        for method in args.methods:
            command = [sys.executable, __file__, "--dir", str(args.dir), "--clusters"]
            command += [str(args.clusters), "--chunk", str(args.chunk), "--device", args.device]
            command += ["--child", method, str(rows)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{rows:>10} {method:>17} {r['seconds']:>8.1f} "
                f"{r['seconds'] / rows * 1e6:>9.2f} {r['peak_rss_mb']:>12.0f} "
                f"{r['growth_mb']:>10.0f} {100 * r['nmi']:>6.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
