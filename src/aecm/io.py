"""Reading a user's data file into a feature matrix, the same way at fit and at predict time.

:func:`read_table` reads ``.npy``, ``.npz`` (NumPy arrays, or a SciPy sparse matrix saved with
``scipy.sparse.save_npz``), ``.csv``/``.tsv`` (header detected, quoted fields, missing cells)
and ``.parquet`` (with pandas and pyarrow) into a :class:`RawTable`: the numeric columns as one
matrix plus the other columns by name. :meth:`DataSpec.fit` then decides which columns are the
features, which (if any) holds the labels or the row ids, and fits the imputation and scaling;
:meth:`DataSpec.transform` turns this or any later table into the model's input and refuses a
table with different columns, naming them. A spec is saved as JSON plus a safetensors file (no
pickle) beside a saved model; it is written through :func:`aecm._files.atomic_write` (a
temporary file renamed into place).

Every problem with a file raises ``ValueError`` (``OSError`` for the operating system's own
failures) with a one-line message that names the file and, where there is one, the row, line
and column.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from aecm._files import atomic_write, read_manifest, sha256_file

__all__ = [
    "FORMATS",
    "SCALINGS",
    "DataSpec",
    "RawTable",
    "infer_image_shape",
    "read_labels",
    "read_table",
]

#: File name endings :func:`read_table` reads, and the reader used for each.
FORMATS = {
    ".npy": "npy",
    ".npz": "npz",
    ".csv": "delimited",
    ".tsv": "delimited",
    ".tab": "delimited",
    ".txt": "delimited",
    ".parquet": "parquet",
    ".pq": "parquet",
}
#: The scalings :class:`DataSpec` can fit.
SCALINGS = ("none", "standard", "minmax")
#: Cell values of a text table read as a missing value (compared in lower case, stripped).
MISSING_TOKENS = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})
_CHUNK_ROWS = 8192
#: Text tables at least this large get a progress bar while they are read.
PROGRESS_BYTES = 16 * 2**20
_SPEC_FORMAT, _SPEC_VERSION = "aecm-data-spec", 1
_SPEC_JSON, _SPEC_TENSORS = "data.json", "preprocessing.safetensors"


# ---------------------------------------------------------------------------------- the table
@dataclass
class RawTable:
    """A data file as read, before choosing features: numeric block plus other columns.

    Attributes
    ----------
    path : Path
        The file read.
    columns : list of str
        Every column of the file, in file order. Columns without a name in the file (arrays, a
        CSV without header) are called ``x0``, ``x1``…
    numeric : ndarray or scipy.sparse.csr_matrix of shape (n_rows, len(numeric_columns))
        The numeric columns, NaN where a cell is missing.
    numeric_columns : list of str
        Names of the columns of ``numeric``.
    other : dict of str to ndarray
        Columns outside the numeric block: the text columns of a table that were asked for
        (``keep`` of :func:`read_table`) or all of them where the format holds them anyway, and
        the 1-D arrays of an ``.npz`` beside its feature array (e.g. ``y``).
    non_numeric : dict of str to str
        Each text column with its first non-numeric cell, as ``"line 3: 'abc'"``.
    has_header : bool
        Whether the column names come from the file.
    lines : ndarray of int or None
        The line of the file holding each row (text files), for messages.
    image_shape : tuple of int or None
        The shape of each sample when the file held images (an array of 3 or more dimensions).
    """

    path: Path
    columns: list[str]
    numeric: Any
    numeric_columns: list[str]
    other: dict[str, np.ndarray] = field(default_factory=dict)
    non_numeric: dict[str, str] = field(default_factory=dict)
    has_header: bool = False
    lines: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None

    @property
    def n_rows(self) -> int:
        return self.numeric.shape[0]

    @property
    def name(self) -> str:
        return self.path.name

    def where(self, row: int) -> str:
        """``"row 12 (line 14)"``: a row for messages (0-based rows, as in labels.csv)."""
        if self.lines is None:
            return f"row {row}"
        return f"row {row} (line {int(self.lines[row])})"

    def column(self, name: str) -> np.ndarray:
        """The values of one column (numeric or not) as a 1-D array."""
        if name in self.other:
            return self.other[name]
        if name in self.numeric_columns:
            j = self.numeric_columns.index(name)
            block = self.numeric[:, [j]]
            return (block.toarray() if sp.issparse(block) else block).ravel()
        if name in self.non_numeric:
            raise ValueError(
                f"{self.name}: text column {name!r} was not kept when reading "
                f"({self.non_numeric[name]})"
            )
        raise ValueError(f"{self.name} has no column {name!r}; {_name_list(self.columns)}.")


def _name_list(names: Sequence[str], limit: int = 8) -> str:
    """``"columns: a, b, c … and 12 more"`` for messages."""
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"columns: {shown}{more}" if names else "no columns"


def _generated_names(n: int) -> list[str]:
    return [f"x{j}" for j in range(n)]


# ---------------------------------------------------------------------------------- reading
def read_table(
    path: str | os.PathLike,
    *,
    delimiter: str | None = None,
    header: str = "auto",
    keep: Sequence[str] = (),
    progress: bool = False,
) -> RawTable:
    """Read a data file into a :class:`RawTable`.

    Parameters
    ----------
    path : path-like
        A ``.npy``, ``.npz``, ``.csv``, ``.tsv`` (or ``.tab``/``.txt``, tab- or comma-separated)
        or ``.parquet`` file.
    delimiter : str or None, default=None
        Field separator of a text table; None: tab for ``.tsv``/``.tab``, else the first of
        ``,``, ``;``, tab found on the first line (``,`` if none).
    header : {"auto", "yes", "no"}, default="auto"
        Whether the first line of a text table names the columns. ``"auto"``: it does when one
        of its cells is text above a column of numbers.
    keep : sequence of str, default=()
        Text columns of a text table to keep (labels, row ids); other text columns are only
        reported in ``non_numeric``.
    progress : bool, default=False
        Show a progress bar (rows read) for text tables of :data:`PROGRESS_BYTES` or more.

    Returns
    -------
    RawTable

    Raises
    ------
    ValueError
        A missing, empty, unreadable or malformed file (ragged rows, no numeric column, an
        unsupported format), with a message naming it.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a data file")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(set(FORMATS)))
        raise ValueError(f"{path.name}: unsupported file type {path.suffix!r}; aecm reads {known}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty")
    if header not in ("auto", "yes", "no"):
        raise ValueError(f"header must be 'auto', 'yes' or 'no'; got {header!r}")
    if kind == "npy":
        table = _read_npy(path)
    elif kind == "npz":
        table = _read_npz(path)
    elif kind == "parquet":
        table = _read_parquet(path)
    else:
        progress = progress and path.stat().st_size >= PROGRESS_BYTES
        table = _read_delimited(path, delimiter, header, set(keep), progress)
    if table.n_rows == 0:
        raise ValueError(f"{path} holds no data rows")
    return table


def _np_load(path: Path):
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise ValueError(f"{path.name} is not a readable NumPy file (.npy or .npz)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(
                f"{path.name} holds Python objects; aecm reads numeric arrays only (no pickle)"
            ) from exc
        raise ValueError(f"{path.name} is not a readable NumPy file: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path.name} is not a readable NumPy file: {exc}") from exc


def _feature_array(path: Path, array: np.ndarray, what: str) -> RawTable:
    """A table from a numeric array of shape (n, d) or (n, *image_shape)."""
    if array.ndim < 2:
        raise ValueError(
            f"{path.name}: {what} is {array.ndim}-D (shape {array.shape}); aecm needs one row "
            "per sample (a 2-D array, or 3-D and more for images)"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path.name}: {what} holds {array.dtype} values, not numbers")
    image_shape = tuple(int(s) for s in array.shape[1:]) if array.ndim > 2 else None
    matrix = array.reshape(array.shape[0], -1)
    if matrix.dtype.kind != "f":
        matrix = matrix.astype(np.float64)
    names = _generated_names(matrix.shape[1])
    return RawTable(path, list(names), matrix, names, image_shape=image_shape)


def _read_npy(path: Path) -> RawTable:
    array = _np_load(path)
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{path.name} is an .npz archive saved with a .npy name")
    return _feature_array(path, array, "the array")


_SPARSE_KEYS = {"format", "shape", "data", "indices", "indptr"}


def _read_npz(path: Path) -> RawTable:
    with _np_load(path) as archive:
        if not hasattr(archive, "files"):
            raise ValueError(f"{path.name} is a single array saved with an .npz name")
        keys = list(archive.files)
        if _SPARSE_KEYS <= set(keys):
            try:
                matrix = sp.load_npz(path).tocsr()
            except (ValueError, OSError) as exc:
                raise ValueError(
                    f"{path.name} is not a readable SciPy sparse matrix: {exc}"
                ) from exc
            if matrix.dtype.kind not in "biuf":
                raise ValueError(f"{path.name}: the sparse matrix holds {matrix.dtype} values")
            matrix = matrix.astype(np.float64) if matrix.dtype.kind != "f" else matrix
            names = _generated_names(matrix.shape[1])
            table = RawTable(path, list(names), matrix, names)
            extra_keys = [k for k in keys if k not in _SPARSE_KEYS]
        else:
            key = _feature_key(path, archive, keys)
            table = _feature_array(path, archive[key], f"array {key!r}")
            extra_keys = [k for k in keys if k != key]
        for key in extra_keys:
            value = archive[key]
            if value.ndim == 1 and value.shape[0] == table.n_rows:
                table.other[key] = value
                table.columns.append(key)
    return table


def _feature_key(path: Path, archive, keys: list[str]) -> str:
    """The archive's feature array: ``X`` (or ``x``, ``data``), else its only 2-D+ array."""
    for key in ("X", "x", "data"):
        if key in keys:
            return key
    candidates = [k for k in keys if archive[k].ndim >= 2]
    if len(candidates) == 1:
        return candidates[0]
    shapes = ", ".join(f"{k!r} {archive[k].shape}" for k in keys)
    raise ValueError(
        f"{path.name}: cannot tell which array holds the features (arrays: {shapes}); name it 'X'"
    )


def _read_parquet(path: Path) -> RawTable:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (pandas' parquet engine)
    except ImportError as exc:
        raise ValueError(
            f"reading {path.name} needs pandas and pyarrow, which are not installed: "
            "pip install 'aecm[parquet]'"
        ) from exc
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own error types
        raise ValueError(f"{path.name} is not a readable Parquet file: {exc}") from exc
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path.name} has duplicate column names")
    numeric_names, blocks, other, non_numeric = [], [], {}, {}
    for name, series in zip(columns, (frame[c] for c in frame.columns), strict=True):
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            numeric_names.append(name)
            blocks.append(series.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values = series.astype("string").fillna("").to_numpy(dtype=str)
            other[name] = values
            non_numeric[name] = f"row 0: {values[0]!r}" if len(values) else "empty"
    matrix = np.column_stack(blocks) if blocks else np.empty((len(frame), 0))
    return RawTable(path, columns, matrix, numeric_names, other, non_numeric, has_header=True)


# ---------------------------------------------------------------------------------- text tables
def _open_text(path: Path):
    return open(path, newline="", encoding="utf-8-sig")


def _guess_delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    for candidate in (",", ";", "\t"):
        if candidate in first_line:
            return candidate
    return ","


def _rows(reader, path: Path, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of each non-blank row; ragged rows raise, naming both lines."""
    width = first = None
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if width is None:
                width, first = len(row), reader.line_num
            elif len(row) != width:
                raise ValueError(
                    f"{path.name}: line {reader.line_num} has {_fields(len(row))} but line "
                    f"{first} has {width} (delimiter {delimiter!r}); every row needs the same "
                    "columns"
                )
            yield reader.line_num, row
    except csv.Error as exc:
        raise ValueError(f"{path.name}: line {reader.line_num}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name} is not a UTF-8 text file ({exc.reason})") from exc


def _fields(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


def _detect_header(first: list[str], sample: list[list[str]]) -> bool:
    """A header when one of its cells is text above a column of numbers (missing cells aside)."""
    for j, cell in enumerate(first):
        if _is_missing(cell) or _is_number(cell):
            continue
        below = [row[j] for row in sample if not _is_missing(row[j])]
        if below and all(_is_number(v) for v in below):
            return True
    # no numeric column to compare with: text cells everywhere on line 1 look like names
    return not sample or all(not _is_number(c) and not _is_missing(c) for c in first)


def _header_names(path: Path, cells: list[str]) -> list[str]:
    names = [c.strip() or f"x{j}" for j, c in enumerate(cells)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{path.name}: the header names column {name!r} twice")
        seen.add(name)
    return names


class _ColumnCollector:
    """Converts chunks of text rows to numeric columns, demoting columns that hold text."""

    def __init__(self, names: list[str], keep: set[str]):
        self.names = names
        self.keep = keep
        self.numeric = [True] * len(names)
        self.values: list[list[np.ndarray]] = [[] for _ in names]
        self.texts: dict[str, list[np.ndarray]] = {n: [] for n in names if n in keep}
        self.non_numeric: dict[str, str] = {}

    def add(self, chunk: list[list[str]], lines: list[int]) -> None:
        cells = np.array(chunk, dtype=str).reshape(len(chunk), len(self.names))
        for name in self.texts:
            self.texts[name].append(cells[:, self.names.index(name)])
        for j, name in enumerate(self.names):
            if self.numeric[j]:
                self._convert(j, name, cells[:, j], lines)

    def _convert(self, j: int, name: str, column: np.ndarray, lines: list[int]) -> None:
        try:
            self.values[j].append(column.astype(np.float64))
            return
        except ValueError:
            pass
        converted = np.empty(column.shape[0], dtype=np.float64)
        for i, text in enumerate(column):
            if _is_missing(text):
                converted[i] = np.nan
                continue
            try:
                converted[i] = float(text)
            except ValueError:
                self.numeric[j] = False
                self.values[j] = []
                self.non_numeric[name] = f"line {lines[i]}: {str(text)[:40]!r}"
                return
        self.values[j].append(converted)

    def table(self, path: Path, has_header: bool, lines: np.ndarray, n_rows: int) -> RawTable:
        numeric_names = [n for n, ok in zip(self.names, self.numeric, strict=True) if ok]
        blocks = [np.concatenate(self.values[j]) for j, ok in enumerate(self.numeric) if ok]
        matrix = np.column_stack(blocks) if blocks else np.empty((n_rows, 0))
        other = {
            name: np.concatenate(parts) if parts else np.empty(0, dtype=str)
            for name, parts in self.texts.items()
            if name in self.non_numeric
        }
        return RawTable(
            path,
            list(self.names),
            matrix,
            numeric_names,
            other,
            dict(self.non_numeric),
            has_header=has_header,
            lines=lines,
        )


def _read_delimited(
    path: Path, delimiter: str | None, header: str, keep: set[str], progress: bool
) -> RawTable:
    from tqdm.auto import tqdm

    with _open_text(path) as handle:
        try:
            first_line = handle.readline()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name} is not a UTF-8 text file ({exc.reason})") from exc
        handle.seek(0)
        delimiter = delimiter or _guess_delimiter(path, first_line)
        rows = _rows(csv.reader(handle, delimiter=delimiter), path, delimiter)
        head = [row for _, row in zip(range(101), rows, strict=False)]
        if not head:
            raise ValueError(f"{path} has no rows (only blank lines)")
        (_, first), rest = head[0], head[1:]
        if header == "auto":
            has_header = _detect_header(first, [r for _, r in rest])
        else:
            has_header = header == "yes"
        names = _header_names(path, first) if has_header else _generated_names(len(first))
        pending = rest if has_header else head
        collector = _ColumnCollector(names, keep)
        all_lines: list[int] = []
        bar = tqdm(desc=f"reading {path.name}", unit=" rows", disable=not progress, leave=False)
        chunk, chunk_lines = [], []
        for line, row in _chain(pending, rows):
            chunk.append(row)
            chunk_lines.append(line)
            if len(chunk) == _CHUNK_ROWS:
                collector.add(chunk, chunk_lines)
                all_lines.extend(chunk_lines)
                bar.update(len(chunk))
                chunk, chunk_lines = [], []
        if chunk:
            collector.add(chunk, chunk_lines)
            all_lines.extend(chunk_lines)
            bar.update(len(chunk))
        bar.close()
    if not all_lines:
        raise ValueError(f"{path} has a header line but no data rows")
    lines = np.asarray(all_lines, dtype=np.int64)
    return collector.table(path, has_header, lines, len(all_lines))


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


# ---------------------------------------------------------------------------------- labels
def read_labels(source: str | os.PathLike, n_rows: int) -> np.ndarray:
    """Labels from a file: a 1-D ``.npy``, or a text file with one label per line.

    A text file may have one more line than the data has rows: its first line is then a
    header. Labels that are all integers are returned as integers, others as strings.
    """
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"no such labels file: {path}")
    if path.suffix.lower() == ".npy":
        labels = _np_load(path)
        if not isinstance(labels, np.ndarray) or labels.ndim != 1:
            raise ValueError(f"{path.name}: labels must be a 1-D array")
    else:
        try:
            with open(path, encoding="utf-8-sig") as handle:
                lines = [line.strip() for line in handle if line.strip()]
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path.name} is not a UTF-8 text file ({exc.reason})") from exc
        if any(("," in line or "\t" in line) for line in lines[1:3]):
            raise ValueError(f"{path.name}: a labels file holds one label per line, one column")
        if len(lines) == n_rows + 1:
            lines = lines[1:]  # a header line
        labels = np.asarray(lines, dtype=str)
    if labels.shape[0] != n_rows:
        raise ValueError(f"{path.name} has {labels.shape[0]} labels but the data has {n_rows} rows")
    return normalize_labels(labels)


def normalize_labels(values: np.ndarray) -> np.ndarray:
    """Integers when every label is an integer (``"3"``, ``3.0``), else stripped strings."""
    values = np.asarray(values)
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return values.astype(np.int64)
        return values.astype(str)
    text = np.char.strip(values.astype(str))
    try:
        as_float = text.astype(np.float64)
    except ValueError:
        return text
    if np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)):
        return as_float.astype(np.int64)
    return text


# ---------------------------------------------------------------------------------- the spec
@dataclass
class DataSpec:
    """How a file becomes the model's input: columns, imputation, scaling (fitted).

    Create it with :meth:`fit` on the training table; :meth:`transform` applies it to that
    table or a later one.

    Attributes
    ----------
    features : list of str
        The feature columns, in the order of the model's input.
    columns : list of str
        Every column of the training file (features, label, id and ignored columns): a later
        file may hold any of them but no other.
    label_column, id_column : str or None
        The column of labels (for scoring) and of row ids, if any.
    excluded : dict of str to str
        Columns left out of the features, with the reason.
    sparse : bool
        Whether the input is a sparse matrix.
    impute : {"none", "mean"}
        What replaces a missing cell: nothing (an error) or the training mean of its column.
    scale : {"none", "standard", "minmax"}
    fill_values, offset, factor : ndarray of shape (n_features,) or None
        The imputation values and the scaling ``(x - offset) / factor``.
    """

    features: list[str]
    columns: list[str]
    label_column: str | None = None
    id_column: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)
    sparse: bool = False
    impute: str = "none"
    scale: str = "none"
    fill_values: np.ndarray | None = None
    offset: np.ndarray | None = None
    factor: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls,
        table: RawTable,
        *,
        columns: Sequence[str] | None = None,
        label_column: str | None = None,
        id_column: str | None = None,
        impute: str = "none",
        scale: str = "none",
    ) -> DataSpec:
        """Choose the features of ``table`` and fit the imputation and scaling on it.

        Parameters
        ----------
        table : RawTable
        columns : sequence of str or None
            The feature columns; None: every numeric column (the feature array of an
            ``.npz``) except ``label_column`` and ``id_column``.
        label_column, id_column : str or None
            Columns holding labels and row ids (excluded from the features).
        impute : {"none", "mean"}
            ``"none"``: a missing cell is an error naming its row and column; ``"mean"``: it
            becomes the mean of its column over ``table``.
        scale : {"none", "standard", "minmax"}
            Standardise each feature (zero mean, unit variance; sparse data is only divided by
            the standard deviation) or map it to [0, 1]; constant features are left unscaled.
        """
        if impute not in ("none", "mean"):
            raise ValueError(f"impute must be 'none' or 'mean'; got {impute!r}")
        if scale not in SCALINGS:
            raise ValueError(f"scale must be one of {', '.join(SCALINGS)}; got {scale!r}")
        for what, name in (("label column", label_column), ("id column", id_column)):
            if name is not None and name not in table.columns:
                raise ValueError(
                    f"{what} {name!r} not found in {table.name}; {_name_list(table.columns)}"
                )
        reserved = {label_column, id_column} - {None}
        features = _choose_features(table, columns, reserved)
        excluded = {
            name: (
                "label column"
                if name == label_column
                else "id column"
                if name == id_column
                else f"not numeric ({table.non_numeric[name]})"
                if name in table.non_numeric
                else "not selected"
            )
            for name in table.columns
            if name not in features
        }
        spec = cls(
            features=features,
            columns=list(table.columns),
            label_column=label_column,
            id_column=id_column,
            excluded=excluded,
            sparse=sp.issparse(table.numeric),
            impute=impute,
            scale=scale,
        )
        X = spec.select(table)
        if impute == "mean":
            spec.fill_values = _column_means(X, table, features)
        X = spec._fill(X, table)
        spec.offset, spec.factor = _fit_scaling(X, scale, table.name)
        return spec

    # ------------------------------------------------------------------ applying
    def check_columns(self, table: RawTable) -> None:
        """Refuse a table whose columns differ from the training file's, naming them."""
        present = set(table.columns)
        missing = [n for n in self.features if n not in present]
        allowed = set(self.columns)
        extra = [n for n in table.columns if n not in allowed]
        if not missing and not extra:
            return
        parts = []
        if missing:
            parts.append(f"missing {_name_list(missing)}")
        if extra:
            parts.append(f"extra {_name_list(extra)}")
        raise ValueError(
            f"{table.name} does not have the columns the model was fitted on: " + "; ".join(parts)
        )

    def transform(self, table: RawTable):
        """The model's input from ``table``: features selected, filled and scaled."""
        self.check_columns(table)
        return self._scale(self._fill(self.select(table), table))

    def labels(self, table: RawTable) -> np.ndarray | None:
        """The label column of ``table`` (None if the spec has none or the table lacks it)."""
        if self.label_column is None or self.label_column not in table.columns:
            return None
        values = table.column(self.label_column)
        missing = _missing_cells(values)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"{table.name}: label column {self.label_column!r} is empty at {table.where(row)}"
            )
        return normalize_labels(values)

    def row_ids(self, table: RawTable) -> np.ndarray:
        """The id column of ``table`` as strings, else the row numbers 0, 1, …"""
        if self.id_column is not None and self.id_column in table.columns:
            return np.char.strip(table.column(self.id_column).astype(str))
        return np.arange(table.n_rows)

    def inverse_scale(self, X: np.ndarray) -> np.ndarray:
        """Back from the model's input space to the file's units (dense rows)."""
        X = np.asarray(X, dtype=np.float64)
        if self.factor is not None:
            X = X * self.factor
        if self.offset is not None:
            X = X + self.offset
        return X

    def select(self, table: RawTable):
        """The feature columns of ``table`` as read (before imputation and scaling)."""
        position = {name: j for j, name in enumerate(table.numeric_columns)}
        index = [position[name] for name in self.features]
        if index == list(range(len(table.numeric_columns))):
            return table.numeric
        return table.numeric[:, index]

    def _fill(self, X, table: RawTable):
        values = X.data if sp.issparse(X) else X
        infinite = np.isinf(values)
        if infinite.any():
            row, col = _first_position(X, infinite)
            raise ValueError(
                f"{table.name}: infinite value at {table.where(row)}, column {self.features[col]!r}"
            )
        missing = np.isnan(values)
        if not missing.any():
            return X
        if self.fill_values is None:
            row, col = _first_position(X, missing)
            raise ValueError(
                f"{table.name}: missing value at {table.where(row)}, column "
                f"{self.features[col]!r}; fill it in or pass --impute mean"
            )
        X = X.copy()
        if sp.issparse(X):
            X.data[missing] = self.fill_values[X.indices[missing]]
        else:
            rows, cols = np.nonzero(missing)
            X[rows, cols] = self.fill_values[cols]
        return X

    def _scale(self, X):
        if self.scale == "none":
            return X
        if sp.issparse(X):
            return (X @ sp.diags(1.0 / self.factor)).tocsr()
        return (X - self.offset) / self.factor

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict:
        return {
            "format": _SPEC_FORMAT,
            "format_version": _SPEC_VERSION,
            "features": self.features,
            "columns": self.columns,
            "label_column": self.label_column,
            "id_column": self.id_column,
            "excluded": self.excluded,
            "sparse": self.sparse,
            "impute": self.impute,
            "scale": self.scale,
        }

    def save(self, folder: str | os.PathLike) -> None:
        """Write ``data.json`` and ``preprocessing.safetensors`` into ``folder``."""
        from safetensors.numpy import save

        folder = Path(folder)
        tensors = {
            name: np.ascontiguousarray(value, dtype=np.float64)
            for name, value in (
                ("fill_values", self.fill_values),
                ("offset", self.offset),
                ("factor", self.factor),
            )
            if value is not None
        }
        # safetensors needs at least one tensor; an empty placeholder keeps the file valid
        tensors = tensors or {"none": np.zeros(0)}
        atomic_write(folder / _SPEC_TENSORS, save(tensors))
        config = {**self.to_json(), "tensors_sha256": sha256_file(folder / _SPEC_TENSORS)}
        atomic_write(folder / _SPEC_JSON, json.dumps(config, indent=1))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> DataSpec:
        """Read a spec saved with :meth:`save`, checking its format and checksum."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        config = read_manifest(
            folder,
            _SPEC_JSON,
            _SPEC_TENSORS,
            kind="a model folder written by 'aecm fit' (no column description)",
            fmt=_SPEC_FORMAT,
            version=_SPEC_VERSION,
        )
        tensors_path = folder / _SPEC_TENSORS
        arrays = load_file(tensors_path)
        return cls(
            features=list(config["features"]),
            columns=list(config["columns"]),
            label_column=config["label_column"],
            id_column=config["id_column"],
            excluded=dict(config["excluded"]),
            sparse=bool(config["sparse"]),
            impute=config["impute"],
            scale=config["scale"],
            fill_values=arrays.get("fill_values"),
            offset=arrays.get("offset"),
            factor=arrays.get("factor"),
        )


def _choose_features(table: RawTable, columns: Sequence[str] | None, reserved: set) -> list[str]:
    if columns is None:
        features = [n for n in table.numeric_columns if n not in reserved]
        if not features:
            raise ValueError(
                f"{table.name} has no numeric column to cluster; "
                f"{_name_list(list(table.non_numeric))} hold text"
            )
        return features
    columns = list(columns)
    unknown = [n for n in columns if n not in table.columns]
    if unknown:
        raise ValueError(
            f"--columns names {_name_list(unknown)} not found in {table.name}; "
            f"{_name_list(table.columns)}"
        )
    if len(set(columns)) != len(columns):
        raise ValueError("--columns names a column twice")
    clash = [n for n in columns if n in reserved]
    if clash:
        raise ValueError(f"column {clash[0]!r} cannot be both a feature and the label/id column")
    for name in columns:
        if name not in table.numeric_columns:
            detail = table.non_numeric.get(name, "not a feature column of the file")
            raise ValueError(f"{table.name}: column {name!r} is not numeric ({detail})")
    return columns


def _missing_cells(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "US":
        lowered = np.char.lower(np.char.strip(values.astype(str)))
        return np.isin(lowered, list(MISSING_TOKENS))
    return np.zeros(values.shape, dtype=bool)


def _column_means(X, table: RawTable, features: list[str]) -> np.ndarray:
    if sp.issparse(X):
        data = X.data.copy()
        nan = np.isnan(data)
        data[nan] = 0.0
        filled = sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
        counts = X.shape[0] - np.bincount(X.indices[nan], minlength=X.shape[1])
        sums = np.asarray(filled.sum(axis=0)).ravel()
    else:
        counts = np.sum(~np.isnan(X), axis=0)
        sums = np.nansum(X, axis=0)
    if np.any(counts == 0):
        name = features[int(np.flatnonzero(counts == 0)[0])]
        raise ValueError(f"{table.name}: column {name!r} has no value to impute a mean from")
    return sums / counts


def _fit_scaling(X, scale: str, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    if scale == "none":
        return None, None
    if sp.issparse(X):
        if scale == "minmax":
            raise ValueError(
                f"{name}: --scale minmax would turn the sparse matrix dense; use --scale standard "
                "(divides by the standard deviation only) or none"
            )
        mean = np.asarray(X.mean(axis=0)).ravel()
        square = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        std = np.sqrt(np.maximum(square - mean**2, 0.0))
        return np.zeros_like(std), np.where(std > 0, std, 1.0)
    X = np.asarray(X, dtype=np.float64)
    if scale == "standard":
        offset, spread = X.mean(axis=0), X.std(axis=0)
    else:
        offset, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
    return offset, np.where(spread > 0, spread, 1.0)


def _sparse_position(X: sp.csr_matrix, k: int) -> tuple[int, int]:
    row = int(np.searchsorted(X.indptr, k, side="right") - 1)
    return row, int(X.indices[k])


def _first_position(X, mask: np.ndarray) -> tuple[int, int]:
    if sp.issparse(X):
        return _sparse_position(X, int(np.flatnonzero(mask)[0]))
    return tuple(int(i) for i in np.argwhere(mask)[0])


# ---------------------------------------------------------------------------------- helpers
def infer_image_shape(n_features: int, nonnegative: bool) -> tuple[int, int] | None:
    """``(s, s)`` when ``n_features = s²`` with ``s ≥ 8`` and the values are non-negative."""
    side = round(n_features**0.5)
    if nonnegative and side >= 8 and side * side == n_features:
        return side, side
    return None
