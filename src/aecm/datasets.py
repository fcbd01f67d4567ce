"""The paper's benchmark data sets: a registry, loaders of local files, and a fetcher.

Each loader returns ``(X, y)`` with train and test merged (paper-notes §4–§5): ``X`` float32
(SciPy CSR for 20 Newsgroups), ``y`` int64. Files are looked up in, first, the ``data_home``
argument, then the ``AECM_DATA`` environment variable, then a per-user cache folder
(``$XDG_CACHE_HOME/aecm`` or ``~/.cache/aecm``). Loading never downloads anything;
:func:`fetch` (``aecm datasets fetch NAME``) does, for the data sets with a known public source.

File format: ``<name>.npz`` with arrays ``X`` and ``y`` (``X`` may be raw uint8 pixels for the
image sets), or a SciPy sparse ``.npz`` (``scipy.sparse.save_npz``) with an extra ``y`` array
for 20 Newsgroups.

Checksums. Every sha256 in this module was taken from a published, citable place; none was
invented, and where none is known the field is ``None``:

* ``DatasetInfo.file_sha256``: the sha256 of the ``.npz`` copies distributed with this project's
  offline data (``shared/datasets/README.md``). A file converted by :func:`fetch` holds the same
  arrays but not the same bytes (zip timestamps), so :func:`fetch` records the sha256 of what it
  wrote in ``<name>.npz.sha256`` beside it, and :func:`check_file` accepts either.
* ``SourceFile.sha256``: the sha256 of a downloaded raw file, and ``SourceFile.content_sha256``
  that of its gunzipped content; each source says where its values come from (``Source.note``).
  A raw file without a known checksum is downloaded unverified: the converted arrays' shapes and
  class counts are checked instead, and the computed sha256 is reported so that the user can
  compare it with a trusted copy (or pass it with ``--sha256`` next time).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from aecm._files import sha256_file
from aecm._version import __version__

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetInfo",
    "FetchResult",
    "FileStatus",
    "Source",
    "SourceFile",
    "check_file",
    "data_home",
    "data_home_origin",
    "fetch",
    "load",
    "load_10x73k",
    "load_20newsgroups",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_pendigits",
    "load_reuters10k",
    "load_usps",
    "resolve_name",
    "sha256_file",
]

_CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ChecksumError(ValueError):
    """A file's sha256 differs from the expected one."""


@dataclass(frozen=True)
class SourceFile:
    """One raw file of a data set's public source.

    Attributes
    ----------
    filename : str
        Name of the file; it is fetched from ``<base URL>/<filename>``.
    sha256 : str or None
        sha256 of the downloaded bytes, where a published value is known.
    content_sha256 : str or None
        sha256 of the gunzipped content of a ``.gz`` file, where a published value is known.
    """

    filename: str
    sha256: str | None = None
    content_sha256: str | None = None


@dataclass(frozen=True)
class Source:
    """Where :func:`fetch` downloads a data set from, and how it converts it.

    Attributes
    ----------
    urls : tuple of str
        Base URLs, tried in order (the original host first, then mirrors holding the same
        bytes); each file is fetched from ``base + filename``.
    files : tuple of SourceFile
    format : str
        The raw format, which selects the converter (``"idx-gz"``, ``"jf"``, ``"pendigits"``,
        ``"20news-tar"``, ``"cifar-bin"``).
    note : str
        Where the URLs and checksums come from.
    """

    urls: tuple[str, ...]
    files: tuple[SourceFile, ...]
    format: str
    note: str


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set's file must hold, where it comes from, and how to check it."""

    name: str
    n_samples: int
    n_features: int
    n_classes: int
    preprocessing: str
    source: str
    fetch: Source | None = None
    file_sha256: str | None = None
    class_counts: tuple[int, ...] | None = field(default=None, repr=False)

    @property
    def filename(self) -> str:
        return f"{self.name}.npz"


_PAPER_REPO = (
    "https://raw.githubusercontent.com/SFI-Visual-Intelligence/Clustering-Module/"
    "133741d356255bace2fead612253fe154704250f/data"
)
_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# fmt: off
_NEWS_CLASS_COUNTS = (
    799, 973, 985, 982, 963, 988, 975, 990, 996, 994,
    999, 991, 984, 990, 987, 997, 910, 940, 775, 628,
)
# fmt: on

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "mnist",
            70000,
            784,
            10,
            "pixels / 255",
            "http://yann.lecun.com/exdb/mnist/",
            fetch=Source(
                urls=(
                    "http://yann.lecun.com/exdb/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/",
                ),
                files=tuple(
                    SourceFile(name, sha, content)
                    for name, sha, content in zip(
                        _MNIST_FILES,
                        (
                            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                        ),
                        (
                            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                        ),
                        strict=True,
                    )
                ),
                format="idx-gz",
                note="LeCun's MNIST files, then TensorFlow's mirror of the same bytes. sha256 "
                "of the .gz files: the values torchvision's dataset prototypes and many other "
                "public loaders pin; of their content: shared/datasets/README.md (the "
                "uncompressed originals).",
            ),
            file_sha256="409118efb571f49d8bd67c1a87ec7c7569959ae3f34256db2a6238c20aeb11dd",
            class_counts=(6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958),
        ),
        DatasetInfo(
            "fashion_mnist",
            70000,
            784,
            10,
            "pixels / 255",
            "https://github.com/zalandoresearch/fashion-mnist",
            fetch=Source(
                urls=(
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/"
                    "data/fashion/",
                ),
                files=tuple(
                    SourceFile(name, None, content)
                    for name, content in zip(
                        _MNIST_FILES,
                        (
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                        ),
                        strict=True,
                    )
                ),
                format="idx-gz",
                note="Zalando's official download site, then the GitHub repository. No sha256 "
                "of the upstream .gz files is known here (only md5 values are published); the "
                "gunzipped content is checked against shared/datasets/README.md.",
            ),
            file_sha256="f3f837a34b7cf3b4e59ae8a74e08dca0d29c38c0a48db46b2f6b3e881abcbb5e",
            class_counts=(7000,) * 10,
        ),
        DatasetInfo(
            "usps",
            9298,
            256,
            10,
            "x / max, in [0, 1]",
            "the Keysers USPS files",
            fetch=Source(
                urls=(f"{_PAPER_REPO}/usps/",),
                files=(
                    SourceFile("usps_train.jf"),
                    SourceFile(
                        "usps_test.jf",
                        "f802e6ba3fbc8778cdea6a105311fb4a1a8251eb706b77882bb1966116bf87d2",
                    ),
                ),
                format="jf",
                note="The authors' copies in SFI-Visual-Intelligence/Clustering-Module at commit "
                "133741d. The test file's sha256 is in shared/datasets/README.md; the training "
                "file's is not known here (its blob could not be obtained), so it is checked by "
                "the converted shape and class counts only.",
            ),
            file_sha256="406e54d7f93532d9eb5d023b587aa6c9dc0d05cacd86eaadda47aa2d5cfbec6f",
            class_counts=(1553, 1269, 929, 824, 852, 716, 834, 792, 708, 821),
        ),
        DatasetInfo(
            "pendigits",
            10992,
            16,
            10,
            "x / 100",
            "UCI Pen-Based Recognition",
            fetch=Source(
                urls=(f"{_PAPER_REPO}/pendigit/",),
                files=(
                    SourceFile(
                        "pendigits.tra.txt",
                        "e2b9eb9f0d0467e2b64a4816a3420edf2b8043447576f4b84337aba44a9f97d3",
                    ),
                    SourceFile(
                        "pendigits.tes.txt",
                        "8bd03229c5c5291fefe43e45465dd948d2645bf23328b9d993e0b777666b2015",
                    ),
                ),
                format="pendigits",
                note="The UCI files as the authors ship them in "
                "SFI-Visual-Intelligence/Clustering-Module at commit 133741d; sha256 from "
                "shared/datasets/README.md.",
            ),
            file_sha256="53164909a1f1c7a0ada17f8b49867c6fe8fb8808ff948766784d89edd6966adb",
            class_counts=(1143, 1143, 1144, 1055, 1144, 1055, 1056, 1142, 1055, 1055),
        ),
        DatasetInfo(
            "20newsgroups",
            18846,
            2000,
            20,
            "CountVectorizer(2000 terms) then TF-IDF (l2, sublinear), CSR",
            "scikit-learn's fetch_20newsgroups(subset='all')",
            fetch=Source(
                urls=("https://ndownloader.figshare.com/files/5975967",),
                files=(
                    SourceFile(
                        "20news-bydate.tar.gz",
                        "8f1b2514ca22a5ade8fbb9cfa5727df95fa587f4c87b786e15c759fa66d95610",
                    ),
                ),
                format="20news-tar",
                note="The archive scikit-learn's fetch_20newsgroups downloads, with the sha256 "
                "scikit-learn pins for it (sklearn/datasets/_twenty_newsgroups.py). Four terms "
                "tie for the last two of the 2000 columns (shared/datasets/README.md), so up to "
                "2 columns may differ from the shipped copy.",
            ),
            file_sha256="f66c74f57cb9bb9af8fc7221fd2801f5fe8cc117611d7689f7a5aa7da3703f9e",
            class_counts=_NEWS_CLASS_COUNTS,
        ),
        DatasetInfo(
            "reuters10k",
            10000,
            2000,
            4,
            "DEC's recipe: TF-IDF of 2000 words",
            "RCV1 (DEC's script)",
        ),
        DatasetInfo(
            "10x73k",
            73233,
            720,
            8,
            "log2(x + 1), 720 most variable genes, / max",
            "the 10x Genomics PBMC subset of ClusterGAN",
        ),
        DatasetInfo(
            "cifar10",
            60000,
            3072,
            10,
            "pixels / 255",
            "https://www.cs.toronto.edu/~kriz/",
            fetch=Source(
                urls=("https://www.cs.toronto.edu/~kriz/",),
                files=(
                    SourceFile(
                        "cifar-10-binary.tar.gz",
                        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                    ),
                ),
                format="cifar-bin",
                note="The binary version of CIFAR-10 from its authors' page (no pickles); the "
                "sha256 that TensorFlow Datasets and other public loaders pin for it.",
            ),
            class_counts=(6000,) * 10,
        ),
    )
}

_NAME_ALIASES = {
    "fmnist": "fashion_mnist",
    "20news": "20newsgroups",
    "pendigit": "pendigits",
    "reuters": "reuters10k",
    "reuters_10k": "reuters10k",
    "10x_73k": "10x73k",
    "cifar_10": "cifar10",
}


# ---------------------------------------------------------------------------------- locations
def data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder searched for data files (argument, else ``$AECM_DATA``, else the cache)."""
    return _folder(data_home)


def _folder(home: str | os.PathLike | None) -> Path:
    if home is not None:
        return Path(home)
    if os.environ.get("AECM_DATA"):
        return Path(os.environ["AECM_DATA"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "aecm"


def data_home_origin(data_home: str | os.PathLike | None = None) -> str:
    """Why :func:`data_home` picks its folder: ``"argument"``, ``"$AECM_DATA"`` or ``"cache"``."""
    if data_home is not None:
        return "argument"
    return "$AECM_DATA" if os.environ.get("AECM_DATA") else "cache"


def resolve_name(name: str) -> str:
    """The registry key of a data set name (case-insensitive; ``-`` as ``_``; common aliases).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known names.
    """
    key = name.strip().lower().replace("-", "_")
    key = _NAME_ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; known: {', '.join(DATASETS)}.")
    return key


# ---------------------------------------------------------------------------------- loading
def load(name: str, data_home: str | os.PathLike | None = None, *, verify: bool = False):
    """Load a benchmark data set by name (see :data:`DATASETS`): ``(X, y)``.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS` (or an alias such as ``"fmnist"``), or ``"digits"``
        (scikit-learn's bundled digits, no file).
    data_home : path-like, optional
        Folder of the data files (default: ``$AECM_DATA``, else the per-user cache).
    verify : bool, default=False
        Check the file's sha256 first (see :func:`check_file`); a mismatch, or a file whose
        checksum is not known, raises :class:`ChecksumError`.
    """
    if name.strip().lower() == "digits":
        return load_digits()
    try:
        key = resolve_name(name)
    except ValueError:
        known = ", ".join(["digits", *DATASETS])
        raise ValueError(f"Unknown data set {name!r}; known: {known}.") from None
    return _load(DATASETS[key], data_home, verify=verify)


def _missing_file_message(info: DatasetInfo, folder: Path) -> str:
    message = (
        f"{info.filename} was not found in {folder} (searched: the data_home argument, else "
        f"$AECM_DATA, else the per-user cache). "
    )
    if info.fetch is not None:
        return message + (
            f"Run `aecm datasets fetch {info.name}` to download and convert it, or get it from "
            f"{info.source}, preprocess it ({info.preprocessing}) and save X and y with "
            "numpy.savez there."
        )
    return message + (
        f"Get {info.name} from {info.source}, preprocess it ({info.preprocessing}) and save X "
        "and y with numpy.savez there."
    )


def _load(info: DatasetInfo, home: str | os.PathLike | None, *, verify: bool = False):
    folder = _folder(home)
    path = folder / info.filename
    if not path.is_file():
        raise FileNotFoundError(_missing_file_message(info, folder))
    if verify:
        status = check_file(info.name, home)
        if status.verdict != "ok":
            raise ChecksumError(f"{path}: {status.detail}")
    with np.load(path, allow_pickle=False) as data:
        if "y" not in data:
            raise ValueError(f"{path} has no array 'y' (the labels).")
        y = np.asarray(data["y"], dtype=np.int64)
        if "indptr" in data:
            X = sp.load_npz(path).tocsr()
        elif "X" in data:
            X = data["X"]
        else:
            raise ValueError(f"{path} has no array 'X' (the features) and is not a sparse matrix.")
    _check_shapes(info, X.shape, y.shape, str(path))
    if sp.issparse(X):
        return X.astype(np.float32), y
    X = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32, copy=False)
    return X, y


def _check_shapes(info: DatasetInfo, x_shape: tuple, y_shape: tuple, where: str) -> None:
    if tuple(x_shape) != (info.n_samples, info.n_features) or tuple(y_shape) != (info.n_samples,):
        raise ValueError(
            f"{where} holds X of shape {tuple(x_shape)} and y of shape {tuple(y_shape)}; "
            f"{info.name} has "
            f"({info.n_samples}, {info.n_features}) and ({info.n_samples},)."
        )


def load_digits():
    """scikit-learn's bundled 8×8 digits (1797 × 64, 10 classes), pixels / 16 (no file)."""
    from sklearn.datasets import load_digits as sklearn_digits

    X, y = sklearn_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y.astype(np.int64)


def load_mnist(data_home=None):
    """MNIST, 70 000 × 784, pixels / 255."""
    return _load(DATASETS["mnist"], data_home)


def load_fashion_mnist(data_home=None):
    """Fashion-MNIST, 70 000 × 784, pixels / 255."""
    return _load(DATASETS["fashion_mnist"], data_home)


def load_usps(data_home=None):
    """USPS, 9 298 × 256, in [0, 1]."""
    return _load(DATASETS["usps"], data_home)


def load_pendigits(data_home=None):
    """Pendigits, 10 992 × 16, x / 100."""
    return _load(DATASETS["pendigits"], data_home)


def load_20newsgroups(data_home=None):
    """20 Newsgroups, 18 846 × 2 000 TF-IDF, as a float32 CSR matrix."""
    return _load(DATASETS["20newsgroups"], data_home)


def load_reuters10k(data_home=None):
    """Reuters-10k, 10 000 × 2 000 TF-IDF, 4 classes (a file the user provides)."""
    return _load(DATASETS["reuters10k"], data_home)


def load_10x73k(data_home=None):
    """10x73k single-cell counts, 73 233 × 720, 8 cell types (a file the user provides)."""
    return _load(DATASETS["10x73k"], data_home)


def load_cifar10(data_home=None):
    """CIFAR-10 raw pixels, 60 000 × 3 072, pixels / 255 (a file the user provides)."""
    return _load(DATASETS["cifar10"], data_home)


# ---------------------------------------------------------------------------------- checksums
def _gunzipped_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_record(path: Path) -> str | None:
    """The sha256 that :func:`fetch` recorded beside ``path`` (``sha256sum`` format), if any."""
    record = _record_path(path)
    if not record.is_file():
        return None
    words = record.read_text(encoding="utf-8").split()
    return words[0].lower() if words and _HEX64.match(words[0].lower()) else None


@dataclass(frozen=True)
class FileStatus:
    """The state of a data set's local file (:func:`check_file`).

    ``verdict`` is ``"missing"``, ``"ok"`` (the sha256 matches a known value), ``"mismatch"``
    or ``"unknown"`` (no checksum known to compare with); ``detail`` says which value was used.
    """

    name: str
    path: Path
    verdict: str
    sha256: str | None
    detail: str


def check_file(name: str, data_home: str | os.PathLike | None = None) -> FileStatus:
    """Compare a data set's local file with the checksums known for it.

    Two values are known where they exist: the sha256 of this project's distributed copy
    (``DatasetInfo.file_sha256``) and the one :func:`fetch` recorded beside a file it wrote
    (``<name>.npz.sha256``). The file is "ok" when it matches either.
    """
    info = DATASETS[resolve_name(name)]
    path = _folder(data_home) / info.filename
    if not path.is_file():
        return FileStatus(info.name, path, "missing", None, f"{info.filename} is not there")
    actual = sha256_file(path)
    recorded = _read_record(path)
    if actual == info.file_sha256:
        return FileStatus(info.name, path, "ok", actual, "the distributed copy's sha256")
    if recorded is not None and actual == recorded:
        return FileStatus(info.name, path, "ok", actual, "the sha256 recorded by aecm fetch")
    expected = [h for h in (info.file_sha256, recorded) if h]
    if not expected:
        return FileStatus(
            info.name,
            path,
            "unknown",
            actual,
            f"no checksum is known for {info.filename} (sha256 {actual})",
        )
    return FileStatus(
        info.name,
        path,
        "mismatch",
        actual,
        f"checksum mismatch: sha256 {actual}, expected {' or '.join(expected)} (the file is "
        "damaged or not the known copy; fetch it again with `aecm datasets fetch "
        f"{info.name} --force`)",
    )


# ---------------------------------------------------------------------------------- fetching
@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` did.

    Attributes
    ----------
    path : Path
        The data set's file.
    sha256 : str
        sha256 of that file (also recorded in ``<name>.npz.sha256``).
    downloaded : bool
        False when the file was already there and nothing was fetched.
    raw : dict of str to str
        For each downloaded raw file, its sha256 and how it was verified.
    """

    path: Path
    sha256: str
    downloaded: bool
    raw: dict[str, str] = field(default_factory=dict)


def _expected_hashes(source: Source, sha256: str | Mapping[str, str] | None) -> dict[str, str]:
    """The user's ``--sha256`` values by raw file name, checked for form and file names."""
    if sha256 is None:
        return {}
    if isinstance(sha256, str):
        if len(source.files) != 1:
            names = ", ".join(f.filename for f in source.files)
            raise ValueError(
                f"This source has {len(source.files)} files ({names}); give the sha256 of each "
                "as FILE=HEX."
            )
        sha256 = {source.files[0].filename: sha256}
    known = {f.filename for f in source.files}
    given = {}
    for filename, value in sha256.items():
        if filename not in known:
            raise ValueError(
                f"No source file named {filename!r}; the files are {', '.join(sorted(known))}."
            )
        value = value.strip().lower()
        if not _HEX64.match(value):
            raise ValueError(f"Not a sha256 (64 hexadecimal digits): {value!r}.")
        given[filename] = value
    return given


def _file_url(base: str, filename: str, n_files: int) -> str:
    """``base + filename``, or ``base`` itself for a one-file source not ending in ``/``."""
    if n_files == 1 and not base.endswith("/"):
        return base
    return base.rstrip("/") + "/" + filename


def _download(url: str, dest: Path, timeout: float) -> str:
    """Stream ``url`` to ``dest``; return the sha256 of the bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": f"aecm/{__version__}"})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        for block in iter(lambda: response.read(_CHUNK), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def _fetch_raw(
    source: Source,
    file: SourceFile,
    bases: tuple[str, ...],
    workdir: Path,
    given: dict[str, str],
    timeout: float,
    log: Callable[[str], None],
) -> tuple[Path, str]:
    """Download one raw file (trying each base URL) and verify what can be verified."""
    dest = workdir / file.filename
    failures = []
    for base in bases:
        url = _file_url(base, file.filename, len(source.files))
        log(f"downloading {url}")
        try:
            actual = _download(url, dest, timeout)
            break
        except OSError as exc:  # urllib.error.URLError is an OSError
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
    else:
        raise OSError(f"Could not download {file.filename}: {'; '.join(failures)}.")
    expected = given.get(file.filename, file.sha256)
    if expected is not None and actual != expected:
        origin = "the --sha256 value" if file.filename in given else "the registry's"
        others = [b for b in source.urls if b != base]
        hint = f" Other sources of the same file: {', '.join(others)} (--url)." if others else ""
        raise ChecksumError(
            f"Checksum mismatch for {file.filename} from {url}: sha256 {actual}, expected "
            f"{expected} ({origin}). Nothing was written.{hint}"
        )
    verified = "verified" if expected else "no known checksum: NOT verified"
    if file.content_sha256 is not None:
        content = _gunzipped_sha256(dest)
        if content != file.content_sha256:
            raise ChecksumError(
                f"Checksum mismatch for the content of {file.filename} from {url}: sha256 "
                f"{content}, expected {file.content_sha256}. Nothing was written."
            )
        verified = "verified" if expected else "gunzipped content verified"
    return dest, f"sha256 {actual} ({verified})"


def fetch(
    name: str,
    data_home: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str | Mapping[str, str] | None = None,
    force: bool = False,
    timeout: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> FetchResult:
    """Download a data set from its public source, verify it, convert it to ``<name>.npz``.

    The raw files are downloaded into a temporary folder inside the data folder, checked
    against every known sha256 (a mismatch raises :class:`ChecksumError` and leaves nothing
    behind), converted as the paper's ``make_datasets.py`` does, checked for shape and class
    counts, and written under a temporary name then renamed into place (``os.replace``), so an
    interrupted fetch never leaves a partial ``<name>.npz``.

    Parameters
    ----------
    name : str
        A data set with a known source (``DatasetInfo.fetch`` not None).
    data_home : path-like, optional
        Where to write (default: ``$AECM_DATA``, else the per-user cache).
    url : str, optional
        Another base URL holding the same raw files (a mirror, or ``file:///some/folder/``);
        each file is read from ``url + filename``. For a one-file source a URL not ending in
        ``/`` is the file itself.
    sha256 : str or mapping of str to str, optional
        Expected sha256 of the raw files (``{filename: hex}``; a bare string for a one-file
        source). They replace the registry's values for those files.
    force : bool, default=False
        Fetch again even if the file is already there.
    timeout : float, default=60
        Seconds to wait for the server.
    log : callable, optional
        Called with progress messages.

    Returns
    -------
    FetchResult
    """
    info = DATASETS[resolve_name(name)]
    log = log or (lambda message: None)
    if info.fetch is None:
        raise ValueError(
            f"No public source that aecm can convert is known for {info.name}. Get it from "
            f"{info.source}, preprocess it ({info.preprocessing}) and save X and y with "
            f"numpy.savez as {info.filename} in the data folder."
        )
    source = info.fetch
    given = _expected_hashes(source, sha256)
    folder = _folder(data_home)
    target = folder / info.filename
    if target.exists() and not force:
        return FetchResult(target, sha256_file(target), downloaded=False)
    folder.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{info.name}.fetch-", dir=folder))
    log(f"source: {source.note}")
    try:
        bases = (url,) if url else source.urls
        raw, report = {}, {}
        for file in source.files:
            raw[file.filename], report[file.filename] = _fetch_raw(
                source, file, bases, workdir, given, timeout, log
            )
        log(f"converting ({info.preprocessing})")
        arrays = _CONVERTERS[source.format](raw, workdir)
        _check_converted(info, arrays)
        digest = _write_atomically(arrays, target, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return FetchResult(target, digest, downloaded=True, raw=report)


def _check_converted(info: DatasetInfo, arrays: dict[str, np.ndarray]) -> None:
    """Shapes, label range and class counts of converted arrays, against the registry."""
    y = arrays["y"]
    shape = tuple(int(n) for n in arrays["shape"]) if "indptr" in arrays else arrays["X"].shape
    _check_shapes(info, shape, y.shape, f"The converted {info.name}")
    counts = np.bincount(y, minlength=info.n_classes) if y.min() >= 0 else None
    if counts is None or len(counts) != info.n_classes:
        raise ValueError(
            f"The converted {info.name} has labels outside 0..{info.n_classes - 1} "
            f"(min {y.min()}, max {y.max()})."
        )
    if info.class_counts is not None and tuple(counts.tolist()) != info.class_counts:
        raise ValueError(
            f"The converted {info.name} has class counts {tuple(counts.tolist())}; expected "
            f"{info.class_counts}. The download is not the known data."
        )


def _write_atomically(arrays: dict[str, np.ndarray], target: Path, workdir: Path) -> str:
    """Write ``arrays`` with ``numpy.savez`` via a temporary file and ``os.replace``."""
    tmp = workdir / target.name
    np.savez(tmp, **arrays)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    digest = sha256_file(tmp)
    record = workdir / (target.name + ".sha256")
    record.write_text(f"{digest}  {target.name}\n", encoding="utf-8")
    os.replace(tmp, target)
    os.replace(record, _record_path(target))
    try:  # make the renames durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return digest


# ---------------------------------------------------------------------------------- converters
def _read_idx(path: Path) -> np.ndarray:
    """An IDX array (MNIST format), from a ``.gz`` file."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path.name} is not an IDX file of unsigned bytes.")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path.name} holds {data.size} values; its header says {dims}.")
    return data.reshape(dims)


def _convert_idx(raw: dict[str, Path], workdir: Path) -> dict[str, np.ndarray]:
    """MNIST/Fashion-MNIST: train then test, images flattened row-major, raw uint8 pixels."""
    images = [_read_idx(raw[f"{part}-images-idx3-ubyte.gz"]) for part in ("train", "t10k")]
    labels = [_read_idx(raw[f"{part}-labels-idx1-ubyte.gz"]) for part in ("train", "t10k")]
    X = np.concatenate([im.reshape(im.shape[0], -1) for im in images])
    return {"X": X, "y": np.concatenate(labels).astype(np.int64)}


def _read_jf(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A Keysers ``.jf`` file: a header line, ``label v1 … v256`` per row, a trailer line."""
    lines = path.read_text(encoding="ascii").splitlines()[1:-1]
    values = np.array([line.split() for line in lines if line.strip()], dtype=np.float64)
    return values[:, 1:], values[:, 0].astype(np.int64)


def _convert_jf(raw: dict[str, Path], workdir: Path) -> dict[str, np.ndarray]:
    """USPS (``make_usps``): train then test, divided by the global maximum."""
    (x_train, y_train), (x_test, y_test) = (
        _read_jf(raw[f"usps_{p}.jf"]) for p in ("train", "test")
    )
    X = np.concatenate([x_train, x_test])
    return {"X": (X / X.max()).astype(np.float32), "y": np.concatenate([y_train, y_test])}


def _convert_pendigits(raw: dict[str, Path], workdir: Path) -> dict[str, np.ndarray]:
    """Pendigits (``make_pendigit``): 16 features / 100 and the label, train then test."""
    parts = [np.loadtxt(raw[f"pendigits.{p}.txt"], delimiter=",", ndmin=2) for p in ("tra", "tes")]
    data = np.concatenate(parts)
    return {"X": (data[:, :16] / 100.0).astype(np.float32), "y": data[:, -1].astype(np.int64)}


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's regular files, refusing absolute paths and ``..`` (no links, devices)."""
    members = []
    for member in archive.getmembers():
        parts = Path(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts:
            raise ValueError(f"Unsafe path in the archive: {member.name!r}.")
        if member.isfile():
            members.append(member)
    return members


def _extract(archive_path: Path, workdir: Path) -> Path:
    """Extract the regular files of a ``.tar.gz`` into ``workdir/extracted``."""
    root = workdir / "extracted"
    with tarfile.open(archive_path, "r:gz") as archive:
        for member in _safe_members(archive):
            dest = root / member.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    return root


def _convert_20news(raw: dict[str, Path], workdir: Path) -> dict[str, np.ndarray]:
    """20 Newsgroups (``make_20news``) as scikit-learn reads the archive, then TF-IDF."""
    from sklearn.datasets import load_files
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    root = _extract(raw["20news-bydate.tar.gz"], workdir)
    # fetch_20newsgroups(subset="all", shuffle=False): train then test, each in load_files'
    # order (sorted, then shuffled with random_state=0), decoded as latin-1
    parts = [load_files(root / f"20news-bydate-{p}", encoding="latin1") for p in ("train", "test")]
    documents = [doc for part in parts for doc in part.data]
    y = np.concatenate([part.target for part in parts]).astype(np.int64)
    vectorizer = CountVectorizer(dtype=np.float64, max_features=2000)
    counts = vectorizer.fit_transform(documents)
    X = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(counts).tocsr()
    X = X.astype(np.float32)
    return {
        "data": X.data,
        "indices": X.indices,
        "indptr": X.indptr,
        "shape": np.array(X.shape, dtype=np.int64),
        "format": np.array("csr"),
        "y": y,
        "vocabulary": np.asarray(vectorizer.get_feature_names_out(), dtype=str),
    }


def _convert_cifar(raw: dict[str, Path], workdir: Path) -> dict[str, np.ndarray]:
    """CIFAR-10 binary batches: train (batches 1–5) then test, pixels in keras' HWC order."""
    root = _extract(raw["cifar-10-binary.tar.gz"], workdir)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    records = []
    for batch in names:
        found = list(root.rglob(batch))
        if len(found) != 1:
            raise ValueError(f"The CIFAR-10 archive has no single {batch}.")
        records.append(np.fromfile(found[0], dtype=np.uint8).reshape(-1, 3073))
    data = np.concatenate(records)
    # each record: label, then the R, G and B planes of 32×32; keras gives (32, 32, 3) images
    X = data[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(-1, 3072)
    return {"X": np.ascontiguousarray(X), "y": data[:, 0].astype(np.int64)}


_CONVERTERS: dict[str, Callable[[dict[str, Path], Path], dict[str, np.ndarray]]] = {
    "idx-gz": _convert_idx,
    "jf": _convert_jf,
    "pendigits": _convert_pendigits,
    "20news-tar": _convert_20news,
    "cifar-bin": _convert_cifar,
}
