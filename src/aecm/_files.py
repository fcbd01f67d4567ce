"""Files written so that a crash never leaves a half-written one, and files checked on reading.

Every file aecm writes for a user (models, run folders, reports, figures, data sets, results)
goes through :func:`atomic_write`: a temporary file in the same folder, synced, then renamed
over the target, so the target is either the old complete file or the new complete one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "current_umask", "read_manifest", "save_figure", "sha256_file"]

_BLOCK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file (hex), read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a synced temporary file in the same folder + rename."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600 → the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save a matplotlib ``figure`` as PNG to ``path``, atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return atomic_write(path, buffer.getvalue())


def read_json_record(
    path: str | os.PathLike, *, kind: str, fmt: str, version: int, advice: str = ""
) -> dict:
    """Read the JSON object in ``path`` and check its ``format`` and ``format_version``.

    Refuses, with a message naming the file and the problem (followed by ``advice``, e.g. what
    the user can do): unreadable JSON, not an object, another ``format``, another version.
    """
    path = Path(path)
    advice = f" {advice}" if advice else ""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc}).{advice}") from exc
    if not isinstance(record, dict) or record.get("format") != fmt:
        raise ValueError(f"{path} does not describe {kind}.{advice}")
    if record.get("format_version") != version:
        raise ValueError(
            f"{path} has format version {record.get('format_version')!r}; this aecm reads "
            f"version {version} only.{advice}"
        )
    return record


def read_manifest(
    folder: str | os.PathLike, manifest: str, tensors: str, *, kind: str, fmt: str, version: int
) -> dict:
    """Read ``folder/manifest`` (JSON) and check it describes ``folder/tensors``.

    Refuses, with a message naming the problem: a folder without both files (it is not
    ``kind``), unreadable JSON, another ``format``, another ``format_version``, and a tensors
    file whose sha256 differs from the manifest's ``tensors_sha256``.
    """
    folder = Path(folder)
    manifest_path, tensors_path = folder / manifest, folder / tensors
    if not manifest_path.is_file() or not tensors_path.is_file():
        raise ValueError(f"{folder} is not {kind}: it needs {manifest} and {tensors}.")
    config = read_json_record(manifest_path, kind=kind, fmt=fmt, version=version)
    if sha256_file(tensors_path) != config.get("tensors_sha256"):
        raise ValueError(f"{tensors_path} is corrupted or was changed: its sha256 does not match.")
    return config
