"""One CM epoch on a float32 memmap with 1 process and with N processes (torchrun, gloo, CPU).

Uses ``benchmarks/scale.py``'s generator (``X.npy``: a Gaussian mixture, 64 features, in
``--dir``; reused when present) and fits ``ClusteringModule(n_clusters, n_epochs=1,
averaging=False, tol=0)`` on its first ``--rows`` rows read as a memmap, once per batch size and
process count. Each measurement is a fresh launch: ``python`` for 1 process, ``torchrun
--standalone --nproc-per-node N`` otherwise (``OMP_NUM_THREADS=1`` per process). Printed side by
side: the training epoch's seconds (``history_["seconds"]``: the split part), the whole fit's
(k-means on the 10 000-row initialisation sample, the epoch, then the final loss and
``labels_``, which every process computes whole), and the NMI (%) of ``labels_`` against the
true components on the first 100 000 rows (the same within float tolerance for every N), and,
with N > 1, the mean time of one all-reduce of the CM's gradient (``2 × clusters × 64`` floats)
measured before the fit: each step takes two (the global batch's statistics, then the
gradient), so on a machine where the processes wait for each other this is the price per step.

Usage::

    python benchmarks/distributed.py --dir /tmp/aecm_scale --rows 1000000 --processes 1 2

Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run
only. On a machine with C cores, N processes share them: with N = C each process has one core
where one process alone could use all of them (this script sets one thread per process, so the
single process uses one core too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

EVAL_ROWS = 100_000


def child(path: str, rows: int, n_clusters: int, batch_size: int, out: str) -> None:
    """One fit, in this process (and its peers under torchrun); process 0 writes ``out``."""
    import numpy as np

    from aecm import ClusteringModule, distributed
    from aecm.metrics import normalized_mutual_info

    with distributed.process_group() if "RANK" in os.environ else contextlib.nullcontext():
        latency = _all_reduce_seconds(2 * n_clusters * 64) if distributed.is_distributed() else 0
        X = np.load(path, mmap_mode="r")[:rows]
        cm = ClusteringModule(
            n_clusters,
            n_epochs=1,
            batch_size=batch_size,
            averaging=False,
            tol=0.0,
            random_state=0,
            device="cpu",
        )
        started = time.perf_counter()
        cm.fit(X)
        seconds = time.perf_counter() - started
        if distributed.is_main_process():
            y = np.load(Path(path).with_name("y.npy"), mmap_mode="r")[:EVAL_ROWS]
            record = {
                "epoch_seconds": cm.history_["seconds"][0],
                "fit_seconds": seconds,
                "nmi": 100 * normalized_mutual_info(y, cm.labels_[:EVAL_ROWS]),
                "processes": distributed.world_size(),
                "all_reduce_us": 1e6 * latency,
            }
            Path(out).write_text(json.dumps(record))
        distributed.barrier()


def _all_reduce_seconds(size: int, repeats: int = 300) -> float:
    """Mean seconds of one all-reduce of ``size`` float32 values (the CM's gradient)."""
    import torch
    import torch.distributed as dist

    tensor = torch.zeros(size)
    for _ in range(20):
        dist.all_reduce(tensor)
    started = time.perf_counter()
    for _ in range(repeats):
        dist.all_reduce(tensor)
    return (time.perf_counter() - started) / repeats


def measure(path: Path, rows: int, n_clusters: int, batch_size: int, processes: int) -> dict:
    out = path.with_name(f".distributed-{os.getpid()}.json")
    args = [str(path), str(rows), str(n_clusters), str(batch_size), str(out)]
    script = [str(Path(__file__).resolve()), "--child", *args]
    if processes == 1:
        command = [sys.executable, *script]
    else:
        launcher = shutil.which("torchrun")
        launcher = [launcher] if launcher else [sys.executable, "-m", "torch.distributed.run"]
        command = [*launcher, "--standalone", "--nproc-per-node", str(processes), *script]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, check=True, env=env, capture_output=True)
    record = json.loads(out.read_text())
    out.unlink()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aecm_scale"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, rows, k, batch_size, out = args.child
        child(path, int(rows), int(k), int(batch_size), out)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale import generate

    path = generate(args.dir, args.rows, 64, args.clusters)
    print(f"CM, one epoch on {args.rows} × 64 float32 rows (memmap), {os.cpu_count()} CPUs")
    print(
        f"{'batch':>6} {'procs':>5} {'steps':>6} {'epoch s':>8} {'speed-up':>8} {'fit s':>7} "
        f"{'NMI %':>6} {'all-reduce µs':>13}"
    )
    for batch_size in args.batch_sizes:
        base = None
        for processes in args.processes:
            r = measure(path, args.rows, args.clusters, batch_size, processes)
            base = base or r["epoch_seconds"]
            steps = -(-args.rows // batch_size)
            latency = f"{r['all_reduce_us']:.0f}" if processes > 1 else "-"
            print(
                f"{batch_size:>6} {processes:>5} {steps:>6} {r['epoch_seconds']:>8.2f} "
                f"{base / r['epoch_seconds']:>8.2f} {r['fit_seconds']:>7.2f} {r['nmi']:>6.1f} "
                f"{latency:>13}",
                flush=True,
            )


if __name__ == "__main__":
    main()
