"""The data-set loaders on the real files in $AECM_DATA, their errors, list and fetch.

Fetching is tested offline only: the raw files are written in tmp_path in the source format and
read through ``file://`` URLs. Nothing is downloaded.
"""

import gzip
import hashlib
import io
import shutil
import tarfile

import numpy as np
import pytest
import scipy.sparse as sp

from aecm import datasets
from aecm.cli import main
from conftest import data_home

EXPECTED = {  # name: (n, d, K, sparse)
    "mnist": (70000, 784, 10, False),
    "fashion_mnist": (70000, 784, 10, False),
    "usps": (9298, 256, 10, False),
    "pendigits": (10992, 16, 10, False),
    "20newsgroups": (18846, 2000, 20, True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_data_sets_load_as_documented(name):
    home = data_home(name)
    n, d, k, sparse = EXPECTED[name]
    X, y = getattr(datasets, f"load_{name}")(data_home=home)
    assert X.shape == (n, d) and y.shape == (n,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert sp.issparse(X) == sparse
    assert len(np.unique(y)) == k
    values = X.data if sparse else X
    assert values.min() >= 0.0 and values.max() <= 1.0 + 1e-6


def test_environment_variable_and_name_lookup(monkeypatch):
    home = data_home("pendigits")
    monkeypatch.setenv("AECM_DATA", str(home))
    X, y = datasets.load("Pendigits")
    assert X.shape == (10992, 16) and np.bincount(y)[0] == 1143
    X, y = datasets.load("digits")
    assert X.shape == (1797, 64) and X.max() == 1.0 and len(np.unique(y)) == 10
    with pytest.raises(ValueError, match="Unknown data set 'imagenet'; known: digits, mnist"):
        datasets.load("imagenet")


def test_missing_file_names_file_folder_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"reuters10k.npz was not found in .*RCV1"):
        datasets.load_reuters10k(data_home=tmp_path)


def test_wrong_shape_is_refused(tmp_path):
    np.savez(tmp_path / "usps.npz", X=np.zeros((10, 256), np.float32), y=np.zeros(10))
    with pytest.raises(ValueError, match=r"shape \(10, 256\).*usps has \(9298, 256\)"):
        datasets.load_usps(data_home=tmp_path)
    np.savez(tmp_path / "pendigits.npz", X=np.zeros((10, 16), np.float32))
    with pytest.raises(ValueError, match="no array 'y'"):
        datasets.load_pendigits(data_home=tmp_path)


# ------------------------------------------------------------------ checksums of local files
def test_check_file_knows_the_distributed_copies():
    home = data_home("pendigits")
    status = datasets.check_file("pendigits", home)
    assert status.verdict == "ok" and status.sha256 == datasets.DATASETS["pendigits"].file_sha256
    X, _ = datasets.load("pendigits", home, verify=True)
    assert X.shape == (10992, 16)


def test_damaged_or_unknown_file_fails_verification(tmp_path):
    home = data_home("pendigits")
    shutil.copy(home / "pendigits.npz", tmp_path / "pendigits.npz")
    with open(tmp_path / "pendigits.npz", "ab") as handle:
        handle.write(b"\0")  # still loads as a zip, but the bytes changed
    with pytest.raises(datasets.ChecksumError, match=r"checksum mismatch: sha256 .* expected 5316"):
        datasets.load("pendigits", tmp_path, verify=True)
    assert datasets.load("pendigits", tmp_path)[0].shape == (10992, 16)  # verify is opt-in
    np.savez(tmp_path / "reuters10k.npz", X=np.zeros((10000, 2000), np.float32), y=np.zeros(10000))
    status = datasets.check_file("reuters10k", tmp_path)
    assert status.verdict == "unknown" and "no checksum is known" in status.detail
    with pytest.raises(datasets.ChecksumError, match=r"no checksum is known for reuters10k.npz"):
        datasets.load("reuters10k", tmp_path, verify=True)
    assert datasets.check_file("usps", tmp_path).verdict == "missing"


# ------------------------------------------------------------------ aecm datasets list
def test_list_shows_folder_sizes_and_presence(capsys, tmp_path):
    home = data_home("pendigits")
    assert main(["datasets", "list", "--data-home", str(home)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Data folder: {home} (from --data-home)")
    row = next(line for line in out.splitlines() if line.startswith("| pendigits"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["pendigits", "10,992", "16", "10", "x / 100", "pendigits.npz", "yes", "yes"]
    reuters = next(line for line in out.splitlines() if line.startswith("| reuters10k"))
    assert "| no " in reuters and "no (see its source)" in reuters

    assert main(["datasets", "list", "--data-home", str(tmp_path), "--verify"]) == 0
    rows = [line.strip("|").split("|") for line in capsys.readouterr().out.splitlines()[4:]]
    assert len(rows) == len(datasets.DATASETS) and all(r[6].strip() == "no" for r in rows)


def test_list_follows_the_environment_variable(capsys, monkeypatch):
    home = data_home("pendigits", "usps", "mnist", "fashion_mnist", "20newsgroups")
    monkeypatch.setenv("AECM_DATA", str(home))
    assert main(["datasets", "list", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "from $AECM_DATA" in out
    assert out.count("yes, sha256 ok") == 5


# ------------------------------------------------------------------ aecm datasets fetch
def _pendigits_sources(folder):
    """The shipped Pendigits written back in the UCI text format; {file name: sha256}."""
    home = data_home("pendigits")
    X, y = datasets.load_pendigits(home)
    values = np.rint(X.astype(np.float64) * 100).astype(int)
    hashes = {}
    for name, rows in (
        ("pendigits.tra.txt", slice(0, 7494)),
        ("pendigits.tes.txt", slice(7494, None)),
    ):
        text = "".join(
            ",".join(f"{v:3d}" for v in [*r, label]) + "\n"
            for r, label in zip(values[rows], y[rows], strict=True)
        )
        (folder / name).write_text(text)
        hashes[name] = hashlib.sha256(text.encode()).hexdigest()
    return hashes


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_fetch_from_a_file_url_converts_like_the_loader(tmp_path):
    home = data_home("pendigits")
    raw, home = tmp_path / "raw", tmp_path / "home"
    raw.mkdir()
    hashes = _pendigits_sources(raw)
    result = datasets.fetch("pendigits", home, url=raw.as_uri() + "/", sha256=hashes)
    assert result.downloaded and result.path == home / "pendigits.npz"
    assert all("(verified)" in note for note in result.raw.values())
    assert _leftovers(home) == ["pendigits.npz", "pendigits.npz.sha256"]
    X, y = datasets.load("pendigits", home, verify=True)  # verified against the fetch record
    X0, y0 = datasets.load_pendigits(home)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    again = datasets.fetch("pendigits", home, url="file:///nowhere/")
    assert not again.downloaded and again.sha256 == result.sha256


def test_checksum_mismatch_leaves_nothing_behind(tmp_path):
    raw, home = tmp_path / "raw", tmp_path / "home"
    raw.mkdir()
    _pendigits_sources(raw)  # not byte-identical to the authors' files: the registry's sha differs
    with pytest.raises(datasets.ChecksumError, match=r"pendigits.tra.txt .* expected e2b9eb9f"):
        datasets.fetch("pendigits", home, url=raw.as_uri() + "/")
    assert _leftovers(home) == []
    with pytest.raises(datasets.ChecksumError, match="--sha256 value"):
        datasets.fetch("pendigits", home, url=raw.as_uri(), sha256={"pendigits.tra.txt": "0" * 64})
    assert _leftovers(home) == []


def test_fetch_command_prints_what_it_verified(tmp_path, capsys):
    raw, home = tmp_path / "raw", tmp_path / "home"
    raw.mkdir()
    hashes = _pendigits_sources(raw)
    argv = ["datasets", "fetch", "pendigits", "--data-home", str(home), "--url", raw.as_uri()]
    sha = [f"--sha256={name}={digest}" for name, digest in hashes.items()]
    assert main([*argv, *sha]) == 0
    out = capsys.readouterr().out
    assert f"pendigits.tra.txt: sha256 {hashes['pendigits.tra.txt']} (verified)" in out
    assert f"wrote {home / 'pendigits.npz'}" in out
    assert main([*argv]) == 0 and "already there" in capsys.readouterr().out
    assert main([*argv, "--force"]) == 1  # the registry's checksums: a one-line error
    err = capsys.readouterr().err
    assert err.startswith("aecm: error: Checksum mismatch for pendigits.tra.txt")
    assert (home / "pendigits.npz").is_file()  # the earlier good file is untouched
    assert main([*argv, "--force", "--sha256", "ab" * 32]) == 1
    assert "give the sha256 of each as FILE=HEX" in capsys.readouterr().err


def test_fetch_refuses_data_sets_without_a_source(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"No public source .* reuters10k.*RCV1"):
        datasets.fetch("reuters10k", tmp_path)
    assert main(["datasets", "fetch", "imagenet", "--data-home", str(tmp_path)]) == 1
    assert "Unknown data set 'imagenet'; known: mnist" in capsys.readouterr().err


@pytest.fixture
def tiny(monkeypatch):
    """Register a small data set whose source has no known checksum."""

    def register(fmt, files, n, d, k, counts=None):
        source = datasets.Source(("file:///nowhere/",), files, fmt, "test")
        info = datasets.DatasetInfo("tiny", n, d, k, "test", "test", source, None, counts)
        monkeypatch.setitem(datasets.DATASETS, "tiny", info)

    return register


def test_unknown_raw_checksum_is_reported_not_invented(tmp_path, tiny):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = "".join(",".join(["50"] * 16 + [str(i % 3)]) + "\n" for i in range(6))
    (raw / "pendigits.tra.txt").write_text(rows)
    (raw / "pendigits.tes.txt").write_text(rows[: len(rows) // 2])
    files = (datasets.SourceFile("pendigits.tra.txt"), datasets.SourceFile("pendigits.tes.txt"))
    tiny("pendigits", files, 9, 16, 3, counts=(3, 3, 3))
    result = datasets.fetch("tiny", tmp_path / "home", url=raw.as_uri())
    digest = hashlib.sha256(rows.encode()).hexdigest()
    assert result.raw["pendigits.tra.txt"] == f"sha256 {digest} (no known checksum: NOT verified)"
    X, y = datasets.load("tiny", tmp_path / "home")
    assert X.shape == (9, 16) and np.all(X == 0.5) and list(np.bincount(y)) == [3, 3, 3]

    tiny("pendigits", files, 10, 16, 3)  # the converted shape differs from the registry's
    with pytest.raises(ValueError, match=r"converted tiny holds X of shape \(9, 16\)"):
        datasets.fetch("tiny", tmp_path / "other", url=raw.as_uri())
    assert _leftovers(tmp_path / "other") == []
    tiny("pendigits", files, 9, 16, 3, counts=(4, 3, 2))
    with pytest.raises(ValueError, match=r"class counts \(3, 3, 3\); expected \(4, 3, 2\)"):
        datasets.fetch("tiny", tmp_path / "other", url=raw.as_uri())


def _idx_gz(path, array):
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    content = header + array.astype(np.uint8).tobytes()
    with gzip.open(path, "wb") as handle:
        handle.write(content)
    return hashlib.sha256(content).hexdigest()


def test_idx_files_are_checked_after_gunzip_and_flattened(tmp_path, tiny):
    raw = tmp_path / "raw"
    raw.mkdir()
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (4, 2, 3)), "t10k": rng.integers(0, 256, (2, 2, 3))}
    files = []
    for part, im in images.items():
        content = _idx_gz(raw / f"{part}-images-idx3-ubyte.gz", im)
        files.append(datasets.SourceFile(f"{part}-images-idx3-ubyte.gz", None, content))
        labels = np.arange(len(im)) % 2
        files.append(
            datasets.SourceFile(
                f"{part}-labels-idx1-ubyte.gz",
                None,
                _idx_gz(raw / f"{part}-labels-idx1-ubyte.gz", labels),
            )
        )
    tiny("idx-gz", tuple(files), 6, 6, 2)
    result = datasets.fetch("tiny", tmp_path / "home", url=raw.as_uri() + "/")
    assert all(note.endswith("(gunzipped content verified)") for note in result.raw.values())
    X, y = datasets.load("tiny", tmp_path / "home")
    expected = np.concatenate([images["train"], images["t10k"]]).reshape(6, 6) / 255.0
    np.testing.assert_allclose(X, expected.astype(np.float32))
    np.testing.assert_array_equal(y, [0, 1, 0, 1, 0, 1])

    bad = list(files)
    bad[0] = datasets.SourceFile(files[0].filename, None, "f" * 64)
    tiny("idx-gz", tuple(bad), 6, 6, 2)
    with pytest.raises(datasets.ChecksumError, match=r"content of train-images-idx3-ubyte.gz"):
        datasets.fetch("tiny", tmp_path / "other", url=raw.as_uri() + "/")
    assert _leftovers(tmp_path / "other") == []


def test_usps_jf_files_are_merged_and_scaled_by_the_global_max(tmp_path, tiny):
    raw = tmp_path / "raw"
    raw.mkdir()
    body = ["0 " + " ".join(["0.5"] * 4), "1 " + " ".join(["2.0"] * 4)]
    (raw / "usps_train.jf").write_text("\n".join(["2 4", *body, "-1"]) + "\n")
    (raw / "usps_test.jf").write_text("\n".join(["2 4", body[0], "-1"]) + "\n")
    files = (datasets.SourceFile("usps_train.jf"), datasets.SourceFile("usps_test.jf"))
    tiny("jf", files, 3, 4, 2)
    datasets.fetch("tiny", tmp_path / "home", url=raw.as_uri())
    X, y = datasets.load("tiny", tmp_path / "home")
    np.testing.assert_array_equal(X[:, 0], [0.25, 1.0, 0.25])
    np.testing.assert_array_equal(y, [0, 1, 0])


def _tar_gz(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_cifar_binary_batches_become_keras_pixel_order(tmp_path):
    records = []
    for batch in range(6):
        label = np.array([batch % 10], np.uint8)
        planes = np.stack([np.full((32, 32), c + batch, np.uint8) for c in range(3)])
        records.append(np.concatenate([label, planes.ravel()]).tobytes())
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    _tar_gz(
        tmp_path / "cifar-10-binary.tar.gz",
        {f"cifar-10-batches-bin/{n}": r for n, r in zip(names, records, strict=True)},
    )
    arrays = datasets._convert_cifar(
        {"cifar-10-binary.tar.gz": tmp_path / "cifar-10-binary.tar.gz"}, tmp_path
    )
    assert arrays["X"].shape == (6, 3072) and arrays["X"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["X"][2, :6], [2, 3, 4, 2, 3, 4])  # R, G, B per pixel
    np.testing.assert_array_equal(arrays["y"], [0, 1, 2, 3, 4, 5])


def test_20news_archive_is_read_in_scikit_learns_order(tmp_path):
    docs = {
        "20news-bydate-train/alt.atheism/1": b"god exists maybe",
        "20news-bydate-train/alt.atheism/2": b"no god here",
        "20news-bydate-train/sci.space/3": b"space rockets orbit",
        "20news-bydate-test/alt.atheism/4": b"god again",
        "20news-bydate-test/sci.space/5": b"orbit \xe9t\xe9",  # latin-1
    }
    _tar_gz(tmp_path / "20news-bydate.tar.gz", docs)
    arrays = datasets._convert_20news(
        {"20news-bydate.tar.gz": tmp_path / "20news-bydate.tar.gz"}, tmp_path / "w"
    )
    X = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=arrays["shape"])
    assert X.shape[0] == 5 and X.dtype == np.float32
    np.testing.assert_allclose(sp.linalg.norm(X, axis=1), 1.0, rtol=1e-6)
    assert sorted(arrays["y"][:3]) == [0, 0, 1] and sorted(arrays["y"][3:]) == [0, 1]
    assert "été" in arrays["vocabulary"] and str(arrays["format"]) == "csr"


def test_archives_with_unsafe_paths_are_refused(tmp_path):
    _tar_gz(tmp_path / "20news-bydate.tar.gz", {"../evil": b"x"})
    with pytest.raises(ValueError, match=r"Unsafe path in the archive: '../evil'"):
        datasets._convert_20news(
            {"20news-bydate.tar.gz": tmp_path / "20news-bydate.tar.gz"}, tmp_path
        )
    assert not (tmp_path.parent / "evil").exists()
