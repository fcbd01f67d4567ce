"""Multi-process training: 2 processes (gloo, CPU) fit what one process fits.

The process groups are forked from the test process (the children start with torch and aecm
already imported: a group runs in seconds instead of the ~20 s of two fresh interpreters on a
loaded 2-core machine); ``torchrun`` itself is run once, by the slow CLI test. Each child sets
the variables ``torchrun`` would set and runs :func:`distributed_worker.main` or the CLI.

Tolerances: the processes sum their parts of every statistic and gradient in another order
than one process sums the whole batch, so float32 results differ by rounding: the fits below
agreed to ≤ 7e-7 in absolute value (centroids of magnitude ≤ 10) in our runs; the tests allow
1e-5 (relative to the largest centroid coordinate).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.distributed as dist
from threadpoolctl import threadpool_limits

import aecm
import distributed_worker as worker
from aecm.cli import main
from aecm.data import ArrayReader, DatasetReader, LazySource, make_source
from aecm.distributed import Shard

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods() or not dist.is_gloo_available(),
    reason="needs fork() and torch.distributed's gloo backend",
)

#: What "equal within float tolerance" means here (see the module's docstring).
RTOL = 1e-5
#: AE-CM's default loss is a sum over the batch: its gradients are large against Adam's ``eps``,
#: so Adam steps by about ``learning_rate`` whatever their size, and the rounding differences of
#: sums taken in another order move the weights by up to ~1e-4 of their scale in 4 epochs.
AECM_RTOL = 1e-3


# ---------------------------------------------------------------------------------- groups
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _member(rank: int, world_size: int, port: int, target, args) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    with threadpool_limits(1):  # fork and an OpenMP pool used by the parent: one thread
        status = target(*args)
    if status:
        raise SystemExit(status)


def _in_group(target, *args, world_size: int = 2, timeout: float = 300) -> None:
    """Run ``target(*args)`` in ``world_size`` forked processes that form a process group as
    ``torchrun`` would start them; fail unless every one exits with 0."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its lazy imports, before fork
    port = _free_port()
    context = multiprocessing.get_context("fork")
    members = [
        context.Process(target=_member, args=(rank, world_size, port, target, args))
        for rank in range(world_size)
    ]
    for member in members:
        member.start()
    deadline = time.monotonic() + timeout
    for member in members:
        member.join(max(0.0, deadline - time.monotonic()))
    for member in members:
        if member.is_alive():  # one failed and the others wait in a collective
            member.kill()
            member.join()
    codes = [member.exitcode for member in members]
    assert codes == [0] * world_size, f"exit codes of the processes: {codes}"


@pytest.fixture(scope="module")
def group(tmp_path_factory) -> dict[str, np.ndarray]:
    """What 2 processes fitted (process 0's copy)."""
    folder = tmp_path_factory.mktemp("group")
    _in_group(worker.main, str(folder / "out.npz"), str(folder / "checkpoints"))
    with np.load(folder / "out.npz") as results:
        return {name: results[name] for name in results.files} | {"folder": folder}


@pytest.fixture(scope="module")
def alone() -> dict:
    """The same estimators fitted by this one process."""
    X = worker.blobs()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the processes of the group: sums in the same order
    try:
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            return {name: estimator.fit(X) for name, estimator in worker.estimators().items()}
    finally:
        torch.set_num_threads(threads)


def _assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = RTOL) -> None:
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


# ---------------------------------------------------------------------------------- shards
def test_shard_bounds_tile_the_rows_in_parts_of_sizes_within_one():
    for world_size in range(1, 6):
        for n in range(0, 40):
            parts = [Shard(rank, world_size).bounds(n) for rank in range(world_size)]
            assert [start for start, _ in parts] == [0] + [stop for _, stop in parts[:-1]]
            assert parts[-1][1] == n
            sizes = [stop - start for start, stop in parts]
            assert max(sizes) - min(sizes) <= 1


def _sources(tmp_path: Path):
    X = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)
    path = tmp_path / "X.npy"
    np.save(path, X)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X))
    cpu = torch.device("cpu")
    # a memmap read in groups of 4 blocks of 16 rows: rows carried from group to group
    lazy = {"buffer_bytes": 4 * 16 * 32, "block_bytes": 16 * 32}
    return {
        "dense": lambda: make_source(X, cpu),
        "sparse": lambda: make_source(sp.csr_matrix(X), cpu),
        "memmap": lambda: LazySource(ArrayReader(np.load(path, mmap_mode="r")), cpu, **lazy),
        "dataset": lambda: LazySource(DatasetReader(dataset), cpu),
    }


@pytest.mark.parametrize("kind", ["dense", "sparse", "memmap", "dataset"])
@pytest.mark.parametrize("batch_size", [64, 61, 2])
def test_sharded_batches_are_the_parts_of_the_global_batches(tmp_path, kind, batch_size):
    """3 processes: each global batch (as one process draws it) is their parts, in rank order;
    2 rows per batch leave one process empty-handed each step."""
    make = _sources(tmp_path)[kind]
    whole = list(make().shuffled_batches(batch_size, torch.Generator().manual_seed(5)))
    parts = []
    for rank in range(3):
        source = make()
        source.shard = Shard(rank, 3)
        parts.append(list(source.shuffled_batches(batch_size, torch.Generator().manual_seed(5))))
    assert all(len(p) == len(whole) == make().n_batches(batch_size) for p in parts)
    for b, (index, rows) in enumerate(whole):
        assert torch.equal(torch.cat([p[b][0] for p in parts]), index)
        assert torch.equal(torch.cat([p[b][1] for p in parts]), rows)


def test_own_rows_are_runs_of_whole_batches_and_alone_all_rows():
    source = make_source(np.arange(22.0).reshape(11, 2), torch.device("cpu"))
    assert source.own_rows(2) == (0, 11)
    part = torch.arange(11)
    assert source.gather(part, 2) is part and source.total(part) is part
    runs = []
    for rank in range(3):  # 6 batches of 2 rows (the last of 1): 2 batches each
        source.shard = Shard(rank, 3)
        runs.append(source.own_rows(2))
        rows = torch.cat(list(source.own_batches(2)))
        assert torch.equal(rows[:, 0], torch.arange(*runs[-1]) * 2.0)
    assert runs == [(0, 4), (4, 8), (8, 11)]


# ---------------------------------------------------------------------------------- fits
@pytest.mark.parametrize("name", ["cm", "cm_normalized", "cm_auto"])
def test_cm_fit_on_two_processes_equals_one_process(group, alone, name):
    """The same seed and batch_size: the same centroids and labels (global batches of 33 rows,
    split 16/17, and a last batch of 4 rows); with n_clusters="auto", the same clusters pruned
    (5 of 10 left)."""
    assert int(group["world_size"]) == 2
    assert group[f"{name}.centers"].shape == alone[name].cluster_centers_.shape
    _assert_close(group[f"{name}.centers"], alone[name].cluster_centers_)
    np.testing.assert_array_equal(group[f"{name}.labels"], alone[name].labels_)
    np.testing.assert_allclose(group[f"{name}.loss"], alone[name].loss_, rtol=RTOL)
    _assert_close(group[f"{name}.weights"], alone[name].weights_)


def test_aecm_fit_on_two_processes_equals_one_process(group, alone):
    """Pretraining, the CM on the embedding and the joint phase, all split over 2 processes."""
    estimator = alone["aecm"]
    _assert_close(group["aecm.centers"], estimator.cluster_centers_, AECM_RTOL)
    weights = np.concatenate(
        [p.detach().numpy().ravel() for p in estimator.autoencoder_.parameters()]
    )
    _assert_close(group["aecm.autoencoder"], weights, AECM_RTOL)
    np.testing.assert_array_equal(group["aecm.labels"], estimator.labels_)
    np.testing.assert_allclose(group["aecm.loss"], estimator.loss_, rtol=AECM_RTOL)


@pytest.mark.parametrize("name", ["dec", "idec", "dcn", "dkm"])
def test_other_deep_fits_on_two_processes_equal_one_process(group, alone, name):
    """DEC/IDEC: the target refreshed every 3 batches from rows split over the processes, the
    label-change tolerance from gathered assignments; DCN: its centroid updates."""
    _assert_close(group[f"{name}.centers"], alone[name].cluster_centers_)
    np.testing.assert_array_equal(group[f"{name}.labels"], alone[name].labels_)
    np.testing.assert_allclose(group[f"{name}.loss"], alone[name].loss_, rtol=RTOL)


def test_three_processes_empty_parts_and_split_passes(tmp_path):
    """3 processes. Global batches of 2 rows: one process has no rows at every step (the CM's
    closed form and DKM's autograd loss on empty batches). 9000 rows: the passes over all rows
    (labels_, the final loss, DEC's target and label changes) are split 3 ways."""
    _in_group(worker.main_three, str(tmp_path / "three.npz"), world_size=3)
    cases = (
        ("tiny", worker.tiny(), worker.blobs(31, 3, 3)),
        ("large", worker.large(), worker.blobs(9000)),
    )
    with np.load(tmp_path / "three.npz") as together, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for prefix, fits, X in cases:
            for name, estimator in fits.items():
                estimator.fit(X)
                key = f"{prefix}.{name}"
                _assert_close(together[f"{key}.centers"], estimator.cluster_centers_)
                np.testing.assert_array_equal(together[f"{key}.labels"], estimator.labels_)
                np.testing.assert_allclose(together[f"{key}.loss"], estimator.loss_, rtol=RTOL)


def test_checkpoints_are_written_by_process_0_and_resumed_by_all(group, alone):
    folder = group["folder"] / "checkpoints"
    assert (folder / "run.json").is_file()
    assert sorted(p.name for p in folder.glob("*.json") if p.name != "run.json")
    _assert_close(group["checkpointed.centers"], alone["cm"].cluster_centers_)
    np.testing.assert_array_equal(group["resumed.centers"], group["checkpointed.centers"])


# ---------------------------------------------------------------------------------- one step
def test_cm_prior_uses_the_mixture_weights_of_the_global_batch(group):
    """A global batch whose halves are two different clusters: each process alone sees
    π̂ ≈ (1, 0) or (0, 1), the global batch (0.5, 0.5). The split step equals the whole one;
    gradients of the halves with their own π̂, summed, are far from it."""
    x, weights = worker.sorted_batch()
    terms, grad = worker.cm_step(x, weights)
    _assert_close(group["cm_step.terms"], terms.numpy())
    _assert_close(group["cm_step.grad"], grad.numpy())
    naive = worker.cm_step(x[:20], weights)[1] + worker.cm_step(x[20:], weights)[1]
    assert float((naive - grad).abs().max()) > 0.5 * float(grad.abs().max())


def test_aecm_loss_on_two_processes_equals_one_process(group):
    """AE-CM's autograd loss: the prior's π̂, the means' row counts and the orthonormality
    term (parameters only, counted once) over the global batch."""
    x, _ = worker.sorted_batch()
    terms, grad = worker.aecm_step(x)
    _assert_close(group["aecm_step.terms"], terms.numpy())
    _assert_close(group["aecm_step.grad"], grad.numpy())
    naive = worker.aecm_step(x[:20])[1] + worker.aecm_step(x[20:])[1]
    assert float((naive - grad).abs().max()) > 0.1 * float(grad.abs().max())


# ---------------------------------------------------------------------------------- CLI
def _fit_args(data: Path, out: Path) -> list[str]:
    return ["fit", str(data), "--method", "cm", "-k", "3", "--epochs", "3", "--batch-size", "50",
            "--seed", "0", "--quiet", "--out", str(out)]  # fmt: skip


@pytest.fixture
def blobs_file(tmp_path) -> Path:
    path = tmp_path / "blobs.npy"
    np.save(path, worker.blobs(300, 5, 3))
    return path


def test_cli_distributed_fit_writes_one_run_folder_from_process_0(tmp_path, blobs_file):
    out = tmp_path / "run"
    _in_group(main, [*_fit_args(blobs_file, out), "--distributed"])
    assert main(_fit_args(blobs_file, tmp_path / "alone")) == 0
    together, single = aecm.load(out / "model"), aecm.load(tmp_path / "alone" / "model")
    _assert_close(together.cluster_centers_, single.cluster_centers_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "blobs.npy", "run"]
    assert (out / "labels.csv").is_file() and (out / "report.html").is_file()


def test_cli_distributed_without_torchrun_says_how_to_launch(
    tmp_path, blobs_file, capsys, monkeypatch
):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert main([*_fit_args(blobs_file, tmp_path / "run"), "--distributed"]) == 1
    error = capsys.readouterr().err
    assert "torchrun --nproc-per-node 2 -m aecm fit" in error and "RANK" in error
    assert not (tmp_path / "run").exists()


def test_cli_distributed_refuses_methods_without_pytorch(tmp_path, blobs_file, capsys):
    args = ["fit", str(blobs_file), "--method", "kmeans", "-k", "3", "--distributed",
            "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 1
    assert "--distributed applies to the PyTorch methods" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_cli_end_to_end(tmp_path, blobs_file):
    """The real launcher: ``torchrun --standalone --nproc-per-node 2 -m aecm fit ...``."""
    torchrun = shutil.which("torchrun")
    command = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    src = str(Path(aecm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    done = subprocess.run(
        [*command, "--standalone", "--nproc-per-node", "2", "-m", "aecm",
         *_fit_args(blobs_file, out), "--distributed"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert main(_fit_args(blobs_file, tmp_path / "alone")) == 0
    together, single = aecm.load(out / "model"), aecm.load(tmp_path / "alone" / "model")
    _assert_close(together.cluster_centers_, single.cluster_centers_)
