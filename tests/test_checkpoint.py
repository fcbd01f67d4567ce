"""Checkpoints and resuming: an interrupted fit, resumed, ends exactly as an uninterrupted one."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import aecm
import aecm.checkpoint
import aecm.training
from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans, ClusteringModule
from aecm.checkpoint import Checkpointer
from aecm.cli import main
from aecm.data import make_source
from aecm.exceptions import CheckpointWarning
from aecm.training import LoopConfig, Objective, train


class _Stop(Exception):
    """Raised to interrupt a fit right after a checkpoint was written."""


def _stop_after(monkeypatch, n_saves: int) -> None:
    """Make the ``n_saves``-th checkpoint written raise :class:`_Stop` (after writing it)."""
    original = aecm.checkpoint.PhaseCheckpoint.save
    count = [0]

    def save(self, *args, **kwargs):
        original(self, *args, **kwargs)
        count[0] += 1
        if count[0] == n_saves:
            raise _Stop

    monkeypatch.setattr(aecm.checkpoint.PhaseCheckpoint, "save", save)


@pytest.fixture
def epochs(monkeypatch) -> list[int]:
    """Counts the epochs the training loop runs (the averaging epoch included)."""
    count = [0]
    original = aecm.training._run_epoch

    def run_epoch(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(aecm.training, "_run_epoch", run_epoch)
    return count


def _interrupt(monkeypatch, estimator, X, n_saves: int) -> None:
    with monkeypatch.context() as patch:
        _stop_after(patch, n_saves)
        with pytest.raises(_Stop):
            estimator.fit(X)


def _without_seconds(history: dict) -> dict:
    out = {}
    for name, value in history.items():
        if isinstance(value, dict):
            out[name] = _without_seconds(value)
        elif name != "seconds":
            out[name] = value
    return out


def _assert_same_fit(resumed, reference) -> None:
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)
    np.testing.assert_array_equal(resumed.cluster_centers_, reference.cluster_centers_)
    assert resumed.loss_ == reference.loss_
    assert _without_seconds(resumed.history_) == _without_seconds(reference.history_)


@pytest.fixture(scope="module")
def X(pendigits):
    return pendigits[0][:1500]


def _cm(**params):
    defaults = {"n_epochs": 30, "tol": 0.0, "device": "cpu", "random_state": 0}
    return ClusteringModule(10, **{**defaults, "checkpoint_every": 5, **params})


def _deep(cls, **params):
    extra = {"cm_epochs": 2} if cls is AECM else {}
    return cls(
        10,
        hidden_dims=(32,),
        pretrain_epochs=3,
        n_epochs=3,
        batch_size=128,
        device="cpu",
        random_state=0,
        **extra,
        **params,
    )


# ------------------------------------------------------------------ resuming
@pytest.mark.parametrize(
    ("make", "n_saves", "full_epochs"),
    [
        # 30 epochs + the averaging epoch; checkpoints after epochs 5, 10, …, 30 and at the end
        (lambda **p: _cm(**p), 2, 31),
        # restart 1 is interrupted after its epoch 10; restart 0 is loaded, not trained again
        (lambda **p: _cm(n_init=2, **p), 9, 62),
        # pruning stages of 5 epochs (one checkpoint after epoch 5 of each), then refinement
        (lambda **p: ClusteringModule("auto", n_epochs=30, device="cpu", random_state=0, **p),
         4, None),
    ],
    ids=["cm", "cm-n_init-2", "cm-auto"],
)  # fmt: skip
def test_interrupted_cm_resumes_to_the_uninterrupted_result(
    tmp_path, monkeypatch, epochs, X, make, n_saves, full_epochs
):
    reference = make().fit(X)
    full = epochs[0]
    if full_epochs is not None:
        assert full == full_epochs
    epochs[0] = 0
    _interrupt(monkeypatch, make(checkpoint_dir=tmp_path), X, n_saves)
    before, epochs[0] = epochs[0], 0
    # checkpoint_every may change between the runs: it does not change what is computed
    resumed = make(checkpoint_dir=tmp_path, checkpoint_every=3).fit(X)
    _assert_same_fit(resumed, reference)
    assert 0 < before < full and before + epochs[0] == full  # no epoch trained twice


@pytest.mark.parametrize(
    ("cls", "n_saves"),
    # pretraining: checkpoints after epochs 1, 2 and at its end (3 saves); AE-CM's CM phase:
    # after epoch 1 and at its end; so these stop after epoch 1 of the last phase
    [(AECM, 6), (IDEC, 4), (DCN, 4), (DKM, 4)],
)
def test_interrupted_deep_fit_resumes_to_the_uninterrupted_result(
    tmp_path, monkeypatch, epochs, X, cls, n_saves
):
    reference = _deep(cls).fit(X)
    full, epochs[0] = epochs[0], 0
    _interrupt(monkeypatch, _deep(cls, checkpoint_dir=tmp_path), X, n_saves)
    before, epochs[0] = epochs[0], 0
    resumed = _deep(cls, checkpoint_dir=tmp_path).fit(X)
    _assert_same_fit(resumed, reference)
    for name, tensor in reference.autoencoder_.state_dict().items():
        assert torch.equal(resumed.autoencoder_.state_dict()[name], tensor), name
    assert before + epochs[0] == full  # finished phases were loaded, not trained again
    assert epochs[0] < full - 3  # at least pretraining (3 epochs) was loaded


def test_finished_run_is_loaded_and_two_checkpoints_per_phase_are_kept(tmp_path, epochs, X):
    first = _cm(checkpoint_dir=tmp_path, n_init=2).fit(X)
    epochs[0] = 0
    again = _cm(checkpoint_dir=tmp_path, n_init=2).fit(X)
    assert epochs[0] == 0
    _assert_same_fit(again, first)
    # per restart: the checkpoint after epoch 30 and the one at the end (n_epochs + 1)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [
        "r000-p001-000030.json",
        "r000-p001-000031.json",
        "r001-p001-000030.json",
        "r001-p001-000031.json",
        "run.json",
    ]
    assert len(list(tmp_path.glob("*.safetensors"))) == 4
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["fingerprint"]["data"]["n_samples"] == 1500 and len(run["seeds"]) == 2
    meta = json.loads((tmp_path / "r001-p001-000031.json").read_text())
    assert (meta["restart"], meta["phase"], meta["description"]) == (1, 1, "CM")
    assert meta["loop"]["complete"] and meta["optimizer"]["kind"] == "FlatAdam"


def test_out_of_core_data_resumes_without_being_materialised(tmp_path, monkeypatch, epochs, X):
    """Checkpoints of a fit on an HDF5-like array (out-of-core): the data's fingerprint is
    hashed block by block, and the resumed fit equals the uninterrupted one."""
    from test_out_of_core import FakeH5

    X = np.ascontiguousarray(X, dtype=np.float32)
    reference = _cm().fit(FakeH5(X))
    _interrupt(monkeypatch, _cm(checkpoint_dir=tmp_path), FakeH5(X), 2)
    resumed = _cm(checkpoint_dir=tmp_path).fit(FakeH5(X))
    _assert_same_fit(resumed, reference)
    stored = json.loads((tmp_path / "run.json").read_text())["fingerprint"]["data"]
    assert stored == aecm.checkpoint.data_fingerprint(aecm.data.lazy.ArrayReader(FakeH5(X)))
    changed = X.copy()
    changed[7, 3] += 1.0
    with pytest.raises(ValueError, match="sha256"):
        _cm(checkpoint_dir=tmp_path).fit(FakeH5(changed))


def test_unseeded_fit_resumes_with_the_seeds_it_stored(tmp_path, monkeypatch, epochs, X):
    make = lambda: ClusteringModule(  # noqa: E731
        10, n_epochs=20, tol=0.0, n_init=2, device="cpu", checkpoint_dir=tmp_path
    )
    _interrupt(monkeypatch, make(), X, 3)  # restart 1, after its epoch 10
    resumed = make().fit(X)
    seeds = json.loads((tmp_path / "run.json").read_text())["seeds"]
    # the same restarts, seeded, without checkpoints: the seeds are drawn from random_state
    monkeypatch.setattr(aecm.estimators.cm, "restart_seeds", lambda *args: seeds)
    reference = ClusteringModule(10, n_epochs=20, tol=0.0, n_init=2, device="cpu").fit(X)
    _assert_same_fit(resumed, reference)


def test_loop_resumes_optimiser_learning_rate_and_nan_restarts(tmp_path):
    """A checkpoint written after ``on_nan="restore"`` halved the learning rate: the resumed
    phase goes on with the halved rate, SGD's momentum and the restart count."""

    class Quadratic(Objective):
        term_names = ("fit",)

        def __init__(self):
            self.w = torch.ones(3, requires_grad=True)

        def parameters(self):
            return [self.w]

        def gradients(self, batch, index):
            self.w.grad = 2 * self.w.detach() + 0.01 * batch.mean(dim=0)
            return (self.w.detach() ** 2).sum().reshape(1)

    source = make_source(np.random.default_rng(0).random((100, 3)), torch.device("cpu"))

    def run(checkpoints=None, n_epochs=4):
        objective = Quadratic()
        optimizer = torch.optim.SGD(objective.parameters(), lr=8.0, momentum=0.5)
        config = LoopConfig(
            n_epochs=n_epochs,
            batch_size=1,
            averaging=True,
            on_nan="restore",
            checkpoints=checkpoints,
        )
        result = train(objective, optimizer, source, config, torch.Generator().manual_seed(0))
        return objective, optimizer, result

    reference, ref_optimizer, ref_result = run()
    assert ref_result.history["nan_restarts"][0] > 0
    checkpointer, _ = Checkpointer.open(tmp_path, 2, {"test": 1}, [0])
    with pytest.raises(_Stop), pytest.MonkeyPatch.context() as patch:
        _stop_after(patch, 1)  # after epoch 2
        run(checkpointer)
    checkpointer, _ = Checkpointer.open(tmp_path, 2, {"test": 1}, [0])
    objective, optimizer, result = run(checkpointer)
    assert torch.equal(objective.w, reference.w)
    assert optimizer.param_groups[0]["lr"] == ref_optimizer.param_groups[0]["lr"] < 8.0
    assert result.history["nan_restarts"] == ref_result.history["nan_restarts"]
    assert result.history["loss"] == ref_result.history["loss"]


# ------------------------------------------------------------------ the SIGKILL test
_KILLED_FIT = """
import sys
import time
import numpy as np
import aecm.training
from aecm import ClusteringModule
run_epoch = aecm.training._run_epoch
def slow_epoch(*args, **kwargs):  # 50 ms more per epoch: time to kill it mid-training
    time.sleep(0.05)
    return run_epoch(*args, **kwargs)
aecm.training._run_epoch = slow_epoch
X = np.load(sys.argv[1])
ClusteringModule(10, n_epochs={n_epochs}, tol=0.0, device="cpu", random_state=0,
                 checkpoint_dir=sys.argv[2], checkpoint_every=5).fit(X)
"""


def test_fit_killed_with_sigkill_resumes_bit_identically(tmp_path, pendigits, epochs):
    """A fit in a subprocess, killed with SIGKILL once it has written checkpoints, then
    resumed here: the labels and centroids equal those of an uninterrupted fit."""
    n_epochs = 80
    X = pendigits[0][:2000]
    data = tmp_path / "X.npy"
    np.save(data, X)
    folder = tmp_path / "checkpoints"
    src = str(Path(aecm.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    script = textwrap.dedent(_KILLED_FIT.format(n_epochs=n_epochs))
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(data), str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        # kill mid-training: once a checkpoint after epoch 10 or later exists
        while not any(int(p.stem.split("-")[-1]) >= 10 for p in folder.glob("r[0-9]*.json")):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    saved = sorted(int(p.stem.split("-")[-1]) for p in folder.glob("r[0-9]*.json"))
    assert saved and saved[-1] <= n_epochs  # killed before the end of training
    make = lambda **p: ClusteringModule(  # noqa: E731
        10, n_epochs=n_epochs, tol=0.0, device="cpu", random_state=0, checkpoint_every=5, **p
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)  # nothing broken to warn about
        resumed = make(checkpoint_dir=folder).fit(X)
    resumed_epochs, epochs[0] = epochs[0], 0
    reference = make().fit(X)
    np.testing.assert_array_equal(resumed.labels_, reference.labels_)
    np.testing.assert_array_equal(resumed.cluster_centers_, reference.cluster_centers_)
    assert resumed_epochs <= epochs[0] - 10  # it resumed, at epoch 10 or later
    assert not list(folder.glob(".*.tmp"))  # a write the kill interrupted is cleaned up


# ------------------------------------------------------------------ broken checkpoints
def _flip_last_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))


def _truncate(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


@pytest.mark.parametrize(
    ("damage", "file", "reason"),
    [
        (_flip_last_byte, ".safetensors", "truncated or corrupted"),
        (_truncate, ".safetensors", "truncated or corrupted"),
        (_truncate, ".json", "its JSON is not readable"),
        (Path.unlink, ".safetensors", "is missing"),
    ],
    ids=["flipped-byte", "truncated-tensors", "truncated-json", "missing-tensors"],
)
def test_broken_newest_checkpoint_falls_back_to_the_previous_one(
    tmp_path, monkeypatch, epochs, X, damage, file, reason
):
    reference = _cm().fit(X)
    full, epochs[0] = epochs[0], 0
    _interrupt(monkeypatch, _cm(checkpoint_dir=tmp_path), X, 3)  # kept: after epochs 10, 15
    damage(tmp_path / f"r000-p001-000015{file}")
    epochs[0] = 0
    with pytest.warns(CheckpointWarning) as caught:
        resumed = _cm(checkpoint_dir=tmp_path).fit(X)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"Checkpoint {tmp_path / 'r000-p001-000015.json'} is unusable: " in message
    assert reason in message
    assert "falling back to the previous one, r000-p001-000010.json" in message
    assert epochs[0] == full - 10
    _assert_same_fit(resumed, reference)


def test_phase_without_a_valid_checkpoint_trains_again_from_its_start(
    tmp_path, monkeypatch, epochs, X
):
    """Both checkpoints of the pretraining broken while the joint phase has its own: the
    pretraining is trained again (a warning says so), the later phases still resume, and the
    result is still the uninterrupted one."""
    reference = _deep(AECM).fit(X)
    full, epochs[0] = epochs[0], 0
    _interrupt(monkeypatch, _deep(AECM, checkpoint_dir=tmp_path), X, 6)
    pretraining = sorted(tmp_path.glob("r000-p001-*.safetensors"))
    assert [p.name for p in pretraining] == ["r000-p001-000002.safetensors",
                                             "r000-p001-000004.safetensors"]  # fmt: skip
    for path in pretraining:
        _flip_last_byte(path)
    epochs[0] = 0
    with pytest.warns(CheckpointWarning) as caught:
        resumed = _deep(AECM, checkpoint_dir=tmp_path).fit(X)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert "r000-p001-000004.json is unusable" in messages[0]
    assert "falling back to the previous one, r000-p001-000002.json" in messages[0]
    assert "r000-p001-000002.json is unusable" in messages[1]
    assert "no checkpoint of this phase is left: 'pretraining' trains again" in messages[1]
    _assert_same_fit(resumed, reference)
    assert epochs[0] == 3 + (full - 6)  # pretraining again, then the joint phase's rest


def test_leftovers_of_interrupted_writes_are_removed(tmp_path, monkeypatch, X):
    _interrupt(monkeypatch, _cm(checkpoint_dir=tmp_path), X, 1)
    (tmp_path / ".r000-p001-000010.safetensors.abc123.tmp").write_bytes(b"partial")
    (tmp_path / "r000-p001-000010.safetensors").write_bytes(b"tensors, JSON never written")
    _cm(checkpoint_dir=tmp_path).fit(X)
    assert not list(tmp_path.glob(".*"))
    assert not (tmp_path / "r000-p001-000010.safetensors").exists()


# ------------------------------------------------------------------ another run
def test_checkpoints_of_another_run_are_refused(tmp_path, monkeypatch, X):
    _interrupt(monkeypatch, _cm(checkpoint_dir=tmp_path), X, 1)
    with pytest.raises(ValueError, match=r"belong to another run .*n_epochs: 30 there, 40 here"):
        _cm(checkpoint_dir=tmp_path).set_params(n_epochs=40).fit(X)
    with pytest.raises(ValueError, match=r"another run \(differs: data.sha256: other values\)"):
        _cm(checkpoint_dir=tmp_path).fit(X[::-1])
    with pytest.raises(ValueError, match=r"data.n_samples: 1500 there, 1000 here"):
        _cm(checkpoint_dir=tmp_path).fit(X[:1000])
    with pytest.raises(ValueError, match='estimator: "ClusteringModule" there, "DCN" here'):
        _deep(DCN, checkpoint_dir=tmp_path).fit(X)
    # still resumable: nothing was changed by the refusals
    _cm(checkpoint_dir=tmp_path).fit(X)


def test_folders_that_are_not_checkpoint_folders_are_refused(tmp_path, X):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files but no run.json .* not an aecm checkpoint"):
        _cm(checkpoint_dir=tmp_path).fit(X)
    with pytest.raises(ValueError, match="exists and is not a folder"):
        _cm(checkpoint_dir=tmp_path / "notes.txt").fit(X)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run\.json is not readable JSON"):
        _cm(checkpoint_dir=tmp_path / "other").fit(X)


def test_checkpoint_parameters_are_validated(tmp_path, X):
    with pytest.raises(ValueError, match="'checkpoint_every' parameter"):
        _cm(checkpoint_dir=tmp_path).set_params(checkpoint_every=0).fit(X)
    with pytest.raises(ValueError, match=r"'checkpoint_dir' parameter .* path"):
        _deep(DKM, checkpoint_dir=3).fit(X)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("cls", [ClusteringModule, AECM, AEKMeans, DCN, DEC, DKM, IDEC])
def test_every_torch_estimator_takes_checkpoint_parameters(cls):
    params = cls().get_params()
    every = 10 if cls is ClusteringModule else 1
    assert (params["checkpoint_dir"], params["checkpoint_every"]) == (None, every)
    assert {"checkpoint_dir", "checkpoint_every"} <= set(cls._parameter_constraints)


# ------------------------------------------------------------------ command line
def test_cli_same_command_resumes(tmp_path, monkeypatch, epochs, X, capsys):
    data = tmp_path / "X.npy"
    np.save(data, X)
    command = ["fit", str(data), "--method", "cm", "-k", "10", "--epochs", "30", "--device",
               "cpu", "--param", "tol=0", "--quiet", "--checkpoint-dir", str(tmp_path / "ckpt"),
               "--checkpoint-every", "5", "--out", str(tmp_path / "run")]  # fmt: skip
    with monkeypatch.context() as patch:
        _stop_after(patch, 3)
        with pytest.raises(_Stop):
            main(command)
    assert not (tmp_path / "run").exists()
    before, epochs[0] = epochs[0], 0
    assert main(command) == 0  # the same command again: resumes
    after, epochs[0] = epochs[0], 0
    reference = _cm(checkpoint_every=10).fit(X)
    assert (before, after) == (15, epochs[0] - 15)
    with open(tmp_path / "run" / "labels.csv", newline="") as handle:
        labels = [int(row["cluster"]) for row in csv.DictReader(handle)]
    np.testing.assert_array_equal(labels, reference.labels_)
    resumed = aecm.load(tmp_path / "run" / "model")
    np.testing.assert_array_equal(resumed.cluster_centers_, reference.cluster_centers_)
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "--checkpoint-dir" in summary["command"]
    with pytest.raises(SystemExit) as exit_info:
        main([*command[:-6], "--checkpoint-every", "5", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "--checkpoint-every needs --checkpoint-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", str(data), "--method", "kmeans", "-k", "3", "--checkpoint-dir", "c",
              "--out", str(tmp_path / "x")])  # fmt: skip
    assert "--checkpoint-dir does not apply to --method kmeans" in capsys.readouterr().err
