"""Checkpoints of a fit, so that a killed training resumes where it stopped.

A fit given a folder writes into it:

``run.json``
    What the run is: the estimator's class and parameters and a fingerprint of the data (see
    :func:`data_fingerprint`), and the seeds of its restarts. A later fit with the same folder
    resumes only when this matches; otherwise it refuses with a message naming what differs.
``r{restart}-p{phase}-{seq}.safetensors`` and ``.json``
    One checkpoint of one phase. A phase is one call of :func:`aecm.training.train` (e.g.
    pretraining, the CM on the embedding, the joint training), numbered from 1 within a
    restart of ``n_init``; ``seq`` is the number of epochs done, or ``n_epochs + 1`` for the
    checkpoint written at the phase's end. The tensors file holds the objective's parameters
    and :meth:`~aecm.training.Objective.extra_state`, the optimiser's state, the shuffling
    generator's state and the last assignments (``label_tol``); the JSON holds the format and
    its version, the run's id, the phase's place and name, the loop's counters and history,
    the objective's :attr:`~aecm.training.Objective.checkpoint_scalars`, the optimiser's
    hyper-parameters, and the tensors file's sha256.

Both files are written atomically (:func:`aecm._files.atomic_write`), tensors first and JSON
last: a checkpoint exists once its JSON does, and is valid when the tensors' checksum matches,
so a crash never leaves a half-written checkpoint that would be taken for the newest. The last
two checkpoints of each phase are kept. On resuming, each phase takes its newest valid
checkpoint; an unusable one (unreadable, truncated, corrupted, from another run) is reported
with a :class:`~aecm.exceptions.CheckpointWarning` naming the file and the reason, removed,
and the previous one is used; with none left the phase trains again from its start (which the
fit reaches exactly: the phases before it are loaded from their own checkpoints).

Under multi-process training (:mod:`aecm.distributed`) process 0 alone writes and removes files;
the other processes wait for it (a barrier after each checkpoint) and read the same files when
resuming, so every process resumes from the same checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import Tensor

from aecm import distributed
from aecm._files import atomic_write, read_json_record
from aecm.data.lazy import RowReader
from aecm.exceptions import CheckpointWarning
from aecm.training import FlatAdam, LoopState, Objective

__all__ = ["FORMAT_VERSION", "RUN_FILE", "Checkpointer", "PhaseCheckpoint", "data_fingerprint"]

#: Version of the checkpoint format; other versions are not resumed from.
FORMAT_VERSION = 1
_FORMAT = "aecm-checkpoint"
_RUN_FORMAT = "aecm-checkpoint-run"
#: The file that describes the run a checkpoint folder belongs to.
RUN_FILE = "run.json"
#: Checkpoints kept per phase.
KEEP = 2
_NAME = re.compile(r"^r(\d+)-p(\d+)-(\d+)\.json$")


#: Out-of-core data is hashed in blocks of at most this many bytes (as float32).
FINGERPRINT_BLOCK_BYTES = 16 * 2**20


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def data_fingerprint(X) -> dict:
    """The shape, dtype, format and sha256 of validated data ``X``.

    ``X`` is a dense array, a CSR matrix or an out-of-core :class:`aecm.data.lazy.RowReader`.
    The whole data set is hashed (for CSR: its data, indices and row pointers; a reader's rows
    in blocks of at most :data:`FINGERPRINT_BLOCK_BYTES`, never all at once): a different data
    set, a different row order or a single changed value gives another fingerprint.
    """
    digest = hashlib.sha256()
    if isinstance(X, RowReader):
        rows = max(1, FINGERPRINT_BLOCK_BYTES // (4 * max(X.n_features, 1)))
        for start in range(0, X.n_samples, rows):
            digest.update(X.read(start, min(start + rows, X.n_samples)).data)
        kind = "out-of-core"
    elif sp.issparse(X):
        for part in (X.data, X.indices, X.indptr):
            digest.update(np.ascontiguousarray(part).data)
        kind = "sparse"
    else:
        digest.update(np.ascontiguousarray(X).data)
        kind = "dense"
    return {
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "dtype": str(X.dtype),
        "sparse": kind == "sparse",
        "sha256": digest.hexdigest(),
    }


def _differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """What differs between two fingerprints, one ``name: A there, B here`` per item."""
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif _canonical(a) != _canonical(b):
            if key == "sha256":
                out.append(f"{prefix}{key}: other values")
            else:
                out.append(f"{prefix}{key}: {_short(a)} there, {_short(b)} here")
    return out


def _short(value: Any) -> str:
    text = _canonical(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Checkpointer:
    """The checkpoints of one fit in one folder; see the module's documentation.

    Create it with :meth:`open`. The estimator calls :meth:`start_restart` before each restart;
    :func:`aecm.training.train` calls :meth:`phase` once per call (the phases of a restart
    are numbered in the order the fit runs them, which is the same on every run).
    """

    def __init__(self, directory: Path, every: int, run_id: str) -> None:
        self.directory, self.every, self.run_id = directory, every, run_id
        self.restart = 0
        self._phases = 0

    @classmethod
    def open(
        cls, directory: str | os.PathLike, every: int, fingerprint: dict, seeds: list[int]
    ) -> tuple[Checkpointer, list[int]]:
        """The checkpointer of ``directory`` and the seeds of the restarts to use.

        A new or empty folder starts a run: ``run.json`` is written with ``fingerprint`` and
        ``seeds``. A folder of the same run (same fingerprint) resumes it with the seeds it
        stored. Raises ``ValueError`` for a folder of another run (naming what differs), a
        non-empty folder that is not a checkpoint folder, and an unreadable ``run.json``.
        """
        with distributed.main_process_first():  # process 0 writes run.json, the others read it
            return cls._open(Path(directory), every, fingerprint, seeds)

    @classmethod
    def _open(
        cls, directory: Path, every: int, fingerprint: dict, seeds: list[int]
    ) -> tuple[Checkpointer, list[int]]:
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"checkpoint_dir {directory} exists and is not a folder.")
        directory.mkdir(parents=True, exist_ok=True)
        run_path = directory / RUN_FILE
        if run_path.is_file():
            record = _read_run(run_path)
            differences = _differences(record["fingerprint"], fingerprint)
            if differences:
                raise ValueError(
                    f"The checkpoints in {directory} belong to another run (differs: "
                    f"{'; '.join(differences)}). Give another checkpoint_dir, or delete this "
                    "one to start again."
                )
            seeds = [int(s) for s in record["seeds"]]
        else:
            others = [p.name for p in directory.iterdir() if not p.name.startswith(".")]
            if others:
                raise ValueError(
                    f"checkpoint_dir {directory} holds files but no {RUN_FILE} (e.g. "
                    f"{sorted(others)[0]!r}): it is not an aecm checkpoint folder. Give an "
                    "empty or new folder."
                )
            record = {
                "format": _RUN_FORMAT,
                "format_version": FORMAT_VERSION,
                "fingerprint": fingerprint,
                "seeds": [int(s) for s in seeds],
            }
            atomic_write(run_path, json.dumps(record, indent=1))
        if distributed.is_main_process():
            for leftover in directory.glob(".*.tmp"):  # from a write that a crash interrupted
                leftover.unlink(missing_ok=True)
        run_id = hashlib.sha256(_canonical(fingerprint).encode()).hexdigest()
        return cls(directory, every, run_id), seeds

    def start_restart(self, restart: int) -> None:
        """The phases that follow belong to restart ``restart`` (counted from 0)."""
        self.restart, self._phases = restart, 0

    def phase(self, description: str) -> PhaseCheckpoint:
        """The checkpoints of the next phase of the current restart."""
        self._phases += 1
        return PhaseCheckpoint(self, self.restart, self._phases, description)


def _read_run(path: Path) -> dict:
    record = read_json_record(
        path,
        kind="an aecm checkpoint run",
        fmt=_RUN_FORMAT,
        version=FORMAT_VERSION,
        advice="Delete the checkpoint folder to start again.",
    )
    if not isinstance(record.get("fingerprint"), dict) or not isinstance(record.get("seeds"), list):
        raise ValueError(f"{path} lacks the run's fingerprint or seeds; delete the folder.")
    return record


class _Unusable(Exception):
    """A checkpoint that cannot be resumed from; the message says why."""


@dataclass
class _Loaded:
    meta: dict
    tensors: dict[str, Tensor]


class PhaseCheckpoint:
    """Saving and resuming one phase (one call of the training loop)."""

    def __init__(self, owner: Checkpointer, restart: int, phase: int, description: str) -> None:
        self.owner, self.restart, self.index, self.description = owner, restart, phase, description

    # ------------------------------------------------------------------ files
    def _path(self, seq: int, suffix: str) -> Path:
        return self.owner.directory / f"r{self.restart:03d}-p{self.index:03d}-{seq:06d}{suffix}"

    def _saved(self) -> list[int]:
        """The ``seq`` of this phase's checkpoints (their JSON exists), newest first."""
        found = []
        for path in self.owner.directory.glob(f"r{self.restart:03d}-p{self.index:03d}-*.json"):
            match = _NAME.match(path.name)
            if match:
                found.append(int(match.group(3)))
        return sorted(found, reverse=True)

    def _remove(self, seq: int) -> None:
        """Delete a checkpoint: its JSON first, so that it is never taken for a valid one."""
        self._path(seq, ".json").unlink(missing_ok=True)
        self._path(seq, ".safetensors").unlink(missing_ok=True)

    def due(self, epoch: int) -> bool:
        """Whether a checkpoint is due after ``epoch`` epochs (counted from 1)."""
        return epoch % self.owner.every == 0

    # ------------------------------------------------------------------ saving
    def save(
        self,
        objective: Objective,
        optimizer: torch.optim.Optimizer | FlatAdam,
        generator: torch.Generator,
        state: LoopState,
        n_epochs: int,
    ) -> None:
        """Write a checkpoint of the phase as it is now, then keep only the last two."""
        seq = n_epochs + 1 if state.complete else state.epoch
        tensors = {f"param.{i}": p for i, p in enumerate(objective.parameters())}
        tensors.update({f"extra.{k}": v for k, v in objective.extra_state().items()})
        optimizer_tensors, optimizer_meta = _optimizer_state(optimizer)
        tensors.update(optimizer_tensors)
        tensors["generator"] = generator.get_state()
        if state.labels is not None:
            tensors["labels"] = state.labels
        tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
        blob = save_tensors(tensors)
        meta = {
            "format": _FORMAT,
            "format_version": FORMAT_VERSION,
            "run": self.owner.run_id,
            "restart": self.restart,
            "phase": self.index,
            "description": self.description,
            "seq": seq,
            "loop": {
                "epoch": state.epoch,
                "calm": state.calm,
                "converged": state.converged,
                "restarts": state.restarts,
                "complete": state.complete,
                "history": state.history,
            },
            "scalars": {
                name: _number(getattr(objective, name)) for name in objective.checkpoint_scalars
            },
            "optimizer": optimizer_meta,
            "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        }
        text = json.dumps(meta)  # before any file is written: fails on a non-JSON value
        if distributed.is_main_process():
            atomic_write(self._path(seq, ".safetensors"), blob)
            atomic_write(self._path(seq, ".json"), text)
            self._prune(seq)
        distributed.barrier()

    def _prune(self, written: int) -> None:
        saved = self._saved()
        for seq in saved[KEEP:]:
            self._remove(seq)
        pattern = f"r{self.restart:03d}-p{self.index:03d}-*.safetensors"
        for path in self.owner.directory.glob(pattern):  # tensors whose JSON was never written
            if not path.with_suffix(".json").exists() and path != self._path(
                written, ".safetensors"
            ):
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ resuming
    def resume(
        self,
        objective: Objective,
        optimizer: torch.optim.Optimizer | FlatAdam,
        generator: torch.Generator,
        device: torch.device,
    ) -> LoopState | None:
        """Put back the newest valid checkpoint of this phase; None when there is none.

        Unusable checkpoints are reported (:class:`~aecm.exceptions.CheckpointWarning`) and
        removed; the one before is tried next.
        """
        saved = self._saved()
        for position, seq in enumerate(saved):
            try:
                loaded = self._load(seq)
                self._check_fits(loaded, objective, optimizer)
            except _Unusable as exc:
                rest = saved[position + 1 :]
                then = (
                    f"falling back to the previous one, {self._path(rest[0], '.json').name}"
                    if rest
                    else f"no checkpoint of this phase is left: {self.description!r} "
                    "trains again from its start"
                )
                warnings.warn(
                    f"Checkpoint {self._path(seq, '.json')} is unusable: {exc}; {then}.",
                    CheckpointWarning,
                    stacklevel=4,
                )
                if distributed.is_main_process():
                    self._remove(seq)
                continue
            state = self._apply(loaded, objective, optimizer, generator, device)
            distributed.barrier()  # every process has read it before process 0 writes again
            return state
        distributed.barrier()
        return None

    def _load(self, seq: int) -> _Loaded:
        json_path, tensors_path = self._path(seq, ".json"), self._path(seq, ".safetensors")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Unusable(f"its JSON is not readable ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise _Unusable("its JSON does not describe an aecm checkpoint")
        if meta.get("format_version") != FORMAT_VERSION:
            raise _Unusable(
                f"format version {meta.get('format_version')!r}, this aecm reads {FORMAT_VERSION}"
            )
        if meta.get("run") != self.owner.run_id:
            raise _Unusable(f"it belongs to another run than {RUN_FILE} describes")
        where = (meta.get("restart"), meta.get("phase"), meta.get("description"))
        if where != (self.restart, self.index, self.description):
            raise _Unusable(
                f"it is of restart {where[0]}, phase {where[1]} ({where[2]!r}) where this fit "
                f"is at restart {self.restart}, phase {self.index} ({self.description!r})"
            )
        name = tensors_path.name
        if not tensors_path.is_file():
            raise _Unusable(f"its tensors file {name} is missing")
        try:
            blob = tensors_path.read_bytes()
        except OSError as exc:
            raise _Unusable(f"its tensors file {name} is not readable ({exc})") from None
        if hashlib.sha256(blob).hexdigest() != meta.get("tensors_sha256"):
            raise _Unusable(
                f"its tensors file {name} is truncated or corrupted (its sha256 does not match "
                "the one in the JSON)"
            )
        try:
            tensors = load_tensors(blob)
        except SafetensorError as exc:
            raise _Unusable(f"its tensors file {name} is not readable ({exc})") from None
        return _Loaded(meta, tensors)

    def _check_fits(self, loaded: _Loaded, objective: Objective, optimizer) -> None:
        """Raise :class:`_Unusable` unless the tensors fit the objective and optimiser."""
        tensors, meta = loaded.tensors, loaded.meta
        expected = {f"param.{i}": p for i, p in enumerate(objective.parameters())}
        expected.update({f"extra.{k}": v for k, v in objective.extra_state().items()})
        if isinstance(optimizer, FlatAdam):
            expected["optimizer.exp_avg"] = optimizer.exp_avg
            expected["optimizer.exp_avg_sq"] = optimizer.exp_avg_sq
        for name, value in expected.items():
            if name not in tensors or tuple(tensors[name].shape) != tuple(value.shape):
                raise _Unusable(f"its tensor {name!r} does not fit this phase's model")
        kind = meta.get("optimizer", {}).get("kind")
        if kind != type(optimizer).__name__:
            raise _Unusable(f"it holds a {kind} optimiser, this phase uses a {type(optimizer)}")
        if not isinstance(optimizer, FlatAdam):
            groups = meta["optimizer"]["param_groups"]
            sizes = [len(g["params"]) for g in optimizer.param_groups]
            if [len(g["params"]) for g in groups] != sizes:
                raise _Unusable("its optimiser's parameter groups do not fit this phase's")
        if "generator" not in tensors or not set(meta.get("scalars", {})) >= set(
            objective.checkpoint_scalars
        ):
            raise _Unusable("it lacks the generator's state or the objective's scalars")

    def _apply(self, loaded, objective, optimizer, generator, device) -> LoopState:
        tensors, meta = loaded.tensors, loaded.meta
        with torch.no_grad():
            for i, param in enumerate(objective.parameters()):
                param.copy_(tensors[f"param.{i}"])
        extra = {k[len("extra.") :]: v.to(device) for k, v in tensors.items() if k[:6] == "extra."}
        objective.load_extra_state(extra)
        for name, value in meta["scalars"].items():
            setattr(objective, name, value)
        _load_optimizer_state(optimizer, tensors, meta["optimizer"])
        generator.set_state(tensors["generator"])
        loop = meta["loop"]
        labels = tensors.get("labels")
        return LoopState(
            history=loop["history"],
            epoch=int(loop["epoch"]),
            calm=int(loop["calm"]),
            converged=bool(loop["converged"]),
            restarts=int(loop["restarts"]),
            labels=None if labels is None else labels.to(device),
            complete=bool(loop["complete"]),
        )


def _number(value: Any) -> Any:
    """A NumPy scalar as the Python number JSON can hold."""
    return value.item() if isinstance(value, np.generic) else value


def _optimizer_state(optimizer) -> tuple[dict[str, Tensor], dict]:
    """The optimiser's tensors (moments, step counts) and the rest of its state, as JSON."""
    if isinstance(optimizer, FlatAdam):
        tensors = {
            "optimizer.exp_avg": optimizer.exp_avg,
            "optimizer.exp_avg_sq": optimizer.exp_avg_sq,
        }
        meta = {
            "kind": "FlatAdam",
            "step_count": optimizer.step_count,
            "lr": optimizer.lr,
            "betas": list(optimizer.betas),
            "eps": optimizer.eps,
        }
        return tensors, meta
    state_dict = optimizer.state_dict()
    tensors, other = {}, {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                other.setdefault(str(index), {})[name] = value
    meta = {
        "kind": type(optimizer).__name__,
        "param_groups": state_dict["param_groups"],
        "state": other,
    }
    return tensors, meta


def _load_optimizer_state(optimizer, tensors: dict[str, Tensor], meta: dict) -> None:
    if isinstance(optimizer, FlatAdam):
        optimizer.exp_avg.copy_(tensors["optimizer.exp_avg"])
        optimizer.exp_avg_sq.copy_(tensors["optimizer.exp_avg_sq"])
        optimizer.step_count, optimizer.lr = int(meta["step_count"]), float(meta["lr"])
        return
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["state"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = []
    for saved, current in zip(meta["param_groups"], optimizer.param_groups, strict=True):
        # JSON turned tuples (Adam's betas) into lists: give them back their type
        groups.append(
            {
                k: tuple(v) if isinstance(current.get(k), tuple) and isinstance(v, list) else v
                for k, v in saved.items()
            }
        )
    optimizer.load_state_dict({"state": state, "param_groups": groups})
