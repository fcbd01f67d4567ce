"""The results file of a benchmark: one CSV row per finished run, appended and synced at once.

``<out>/results.csv`` has the columns :data:`COLUMNS`. Rows are only ever appended, each with
one ``write`` of a complete line followed by ``flush`` and ``fsync``, with Ctrl-C held back
until the line is on disk; so an interrupted benchmark leaves a valid file with every finished
run. Reading validates every row; a bad row is reported with its number and the file is never
rewritten. A cell (method, data set, seed, profile) may appear more than once (``--force``):
the last row wins.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

__all__ = [
    "COLUMNS",
    "RESULTS_FILE",
    "ResultsError",
    "append_row",
    "cell_key",
    "latest_rows",
    "prepare_folder",
    "read_results",
]

RESULTS_FILE = "results.csv"

#: The columns of the results file, in order.
COLUMNS = (
    "method",
    "dataset",
    "seed",
    "profile",
    "params",
    "acc",
    "nmi",
    "ari",
    "k_acc",
    "k_nmi",
    "fit_seconds",
    "pretrain_seconds",
    "peak_rss_mb",
    "peak_rss_scope",
    "peak_cuda_mb",
    "aecm_version",
    "torch_version",
    "device",
    "threads",
    "timestamp",
)

_REQUIRED_TEXT = ("method", "dataset", "profile", "aecm_version", "device")
_SCORES = ("acc", "nmi", "ari")
_OPTIONAL_SCORES = ("k_acc", "k_nmi")
_OPTIONAL_NUMBERS = ("pretrain_seconds", "peak_rss_mb", "peak_cuda_mb", "threads")


class ResultsError(ValueError):
    """The results file cannot be used (a bad row, a wrong header); it is left untouched."""


def prepare_folder(out: str | os.PathLike) -> Path:
    """Create the results folder if needed and check that a file can be written there.

    Raises
    ------
    PermissionError, NotADirectoryError, OSError
        With a message naming the folder, when it cannot be created or written to.
    """
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"The results folder {folder} is a file, not a folder.") from None
    except OSError as exc:
        raise type(exc)(
            exc.errno, f"Cannot create the results folder {folder}: {exc.strerror}"
        ) from None
    if not folder.is_dir():
        raise NotADirectoryError(f"The results folder {folder} is not a folder.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PermissionError(
            exc.errno, f"The results folder {folder} is not writable: {exc.strerror}"
        ) from None
    return folder


def _bad(path: Path, row: int, line: int, reason: str) -> ResultsError:
    return ResultsError(
        f"{path}: row {row} (line {line}) is invalid: {reason}. The file was left untouched: "
        "fix or delete that row, or write to another results folder."
    )


def _check_row(values: list[str], path: Path, row: int, line: int) -> dict[str, str]:
    """One row as a dict, after checking every field; raises :class:`ResultsError`."""
    if len(values) != len(COLUMNS):
        raise _bad(path, row, line, f"{len(values)} fields instead of {len(COLUMNS)}")
    record = dict(zip(COLUMNS, values, strict=True))
    for name in _REQUIRED_TEXT:
        if not record[name].strip():
            raise _bad(path, row, line, f"{name} is empty")
    if not record["seed"].isdigit():
        raise _bad(path, row, line, f"seed {record['seed']!r} is not a non-negative integer")
    try:
        params = json.loads(record["params"])
    except json.JSONDecodeError as exc:
        raise _bad(path, row, line, f"params is not JSON ({exc.msg})") from None
    if not isinstance(params, dict):
        raise _bad(path, row, line, "params is not a JSON object")
    for name in (*_SCORES, *_OPTIONAL_SCORES, "fit_seconds", *_OPTIONAL_NUMBERS):
        text = record[name]
        if text == "" and name not in (*_SCORES, "fit_seconds"):
            continue
        try:
            value = float(text)
        except ValueError:
            raise _bad(path, row, line, f"{name} {text!r} is not a number") from None
        low = -1.0 if name in (*_SCORES, *_OPTIONAL_SCORES) else 0.0
        high = 1.0 if name in (*_SCORES, *_OPTIONAL_SCORES) else math.inf
        if not (low <= value <= high):
            raise _bad(path, row, line, f"{name} {text} is outside [{low:g}, {high:g}]")
    try:
        datetime.fromisoformat(record["timestamp"])
    except ValueError:
        raise _bad(path, row, line, f"timestamp {record['timestamp']!r} is not ISO 8601") from None
    return record


def read_results(path: str | os.PathLike) -> list[dict[str, str]]:
    """Every row of a results file, validated (an absent or empty file has none).

    Raises
    ------
    ResultsError
        On a wrong header, or a row that is malformed or incomplete (an interrupted write
        without its line end); the message gives the row and line numbers.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    if not raw:
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path} is not UTF-8 text (byte {exc.start}).") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != list(COLUMNS):
        raise ResultsError(
            f"{path} does not start with the header of an aecm results file "
            f"({','.join(COLUMNS)}); it was left untouched."
        )
    rows = []
    for number, values in enumerate(reader, start=1):
        if not values:
            raise _bad(path, number, reader.line_num, "the line is empty")
        rows.append(_check_row(values, path, number, reader.line_num))
    if not text.endswith("\n"):
        raise _bad(path, len(rows), reader.line_num, "it is incomplete (no line end)")
    return rows


def cell_key(row: dict[str, str]) -> tuple[str, str, int, str]:
    """A run's cell: (method, data set, seed, profile)."""
    return row["method"], row["dataset"], int(row["seed"]), row["profile"]


def latest_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """One row per cell, the last one written (``--force`` appends a newer row)."""
    latest = {cell_key(row): row for row in rows}
    return list(latest.values())


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold back Ctrl-C (SIGINT) inside the block and raise it right after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _write_synced(path: Path, text: str, mode: str) -> None:
    with open(path, mode, encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def append_row(path: str | os.PathLike, row: dict[str, object]) -> None:
    """Append one run to the results file (creating it with its header), synced to disk."""
    path = Path(path)
    missing = [name for name in COLUMNS if name not in row]
    if missing:
        raise ValueError(f"The row lacks the columns {', '.join(missing)}.")
    line = _line(["" if row[name] is None else str(row[name]) for name in COLUMNS])
    with _ctrl_c_deferred():
        if not path.exists() or path.stat().st_size == 0:
            tmp = path.with_name(f".{path.name}.tmp")
            _write_synced(tmp, _line(list(COLUMNS)), "w")
            os.replace(tmp, path)
        _write_synced(path, line, "a")
