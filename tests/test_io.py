"""aecm.io: reading data files, choosing columns, imputing, scaling, and the saved spec."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from aecm._files import atomic_write
from aecm.io import DataSpec, infer_image_shape, read_labels, read_table


def _csv(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------- text tables
def test_csv_with_header_text_column_and_quotes(tmp_path):
    path = _csv(tmp_path, 'a,b,name,label\n1,2.5,"x, y",0\n3,4e1,z,1\n5,-6,w,1\n')
    table = read_table(path)
    assert table.has_header and table.columns == ["a", "b", "name", "label"]
    assert table.numeric_columns == ["a", "b", "label"]
    assert table.non_numeric == {"name": "line 2: 'x, y'"}
    np.testing.assert_array_equal(table.numeric[:, 1], [2.5, 40.0, -6.0])
    spec = DataSpec.fit(table, label_column="label")
    assert spec.features == ["a", "b"]
    assert spec.excluded == {"name": "not numeric (line 2: 'x, y')", "label": "label column"}
    np.testing.assert_array_equal(spec.labels(table), [0, 1, 1])


def test_header_detection_and_delimiters(tmp_path):
    headerless = read_table(_csv(tmp_path, "1,2\n3,4\n"))
    assert not headerless.has_header and headerless.columns == ["x0", "x1"]
    assert headerless.n_rows == 2
    tsv = read_table(_csv(tmp_path, "a\tb\n1\t2\n", "data.tsv"))
    assert tsv.columns == ["a", "b"] and tsv.numeric.tolist() == [[1.0, 2.0]]
    semicolons = read_table(_csv(tmp_path, "a;b\n1;2\n\n3;4\n"))
    assert semicolons.numeric.tolist() == [[1.0, 2.0], [3.0, 4.0]]  # blank line skipped
    forced = read_table(_csv(tmp_path, "1,2\n3,4\n"), header="yes")
    assert forced.columns == ["1", "2"] and forced.n_rows == 1
    # a text column's first cell does not make a header by itself
    data_first = read_table(_csv(tmp_path, "alice,1\nbob,2\n"), keep=["x0"])
    assert not data_first.has_header and data_first.other["x0"].tolist() == ["alice", "bob"]


def test_kept_text_columns_and_row_ids(tmp_path):
    table = read_table(_csv(tmp_path, "id,a,b\nr1,1,2\nr2,3,4\n"), keep=["id"])
    spec = DataSpec.fit(table, id_column="id")
    assert spec.features == ["a", "b"]
    assert spec.row_ids(table).tolist() == ["r1", "r2"]


def test_ragged_rows_name_both_lines(tmp_path):
    with pytest.raises(ValueError, match=r"line 4 has 3 fields but line 1 has 2"):
        read_table(_csv(tmp_path, "a,b\n1,2\n3,4\n5,6,7\n"))


def test_missing_cells(tmp_path):
    table = read_table(_csv(tmp_path, "a,b\n1,NA\n3,4\n?,8\n"))
    with pytest.raises(ValueError, match=r"missing value at row 0 \(line 2\), column 'b'"):
        DataSpec.fit(table)
    spec = DataSpec.fit(table, impute="mean")
    np.testing.assert_array_equal(spec.fill_values, [2.0, 6.0])
    np.testing.assert_array_equal(spec.transform(table), [[1, 6], [3, 4], [2, 8]])
    # a later file is filled with the training means
    later = read_table(_csv(tmp_path, "a,b\n,1\n", "later.csv"))
    np.testing.assert_array_equal(spec.transform(later), [[2, 1]])
    with pytest.raises(ValueError, match="infinite value at row 1"):
        DataSpec.fit(read_table(_csv(tmp_path, "a\n1\ninf\n", "inf.csv")))


def test_unreadable_files(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_table(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="is a folder"):
        read_table(tmp_path)
    with pytest.raises(ValueError, match="is empty"):
        read_table(_csv(tmp_path, "", "empty.csv"))
    with pytest.raises(ValueError, match="no rows"):
        read_table(_csv(tmp_path, "\n\n", "blank.csv"))
    with pytest.raises(ValueError, match=r"unsupported file type '.xlsx'"):
        read_table(_csv(tmp_path, "a", "data.xlsx"))
    (tmp_path / "latin.csv").write_bytes("a,b\n1,\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        read_table(tmp_path / "latin.csv")
    with pytest.raises(ValueError, match="no numeric column"):
        DataSpec.fit(read_table(_csv(tmp_path, "a,b\nx,y\n", "text.csv")))


# ---------------------------------------------------------------------------------- arrays
def test_npy_images_and_npz_arrays(tmp_path):
    images = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    np.save(tmp_path / "images.npy", images)
    table = read_table(tmp_path / "images.npy")
    assert table.image_shape == (4, 3) and table.numeric.shape == (5, 12)
    assert table.numeric.dtype == np.float64
    np.savez(tmp_path / "data.npz", X=np.ones((5, 2), np.float32), y=np.arange(5), other=[1, 2])
    table = read_table(tmp_path / "data.npz")
    assert table.columns == ["x0", "x1", "y"] and table.numeric.dtype == np.float32
    spec = DataSpec.fit(table, label_column="y")
    assert spec.features == ["x0", "x1"] and spec.labels(table).tolist() == [0, 1, 2, 3, 4]
    np.save(tmp_path / "flat.npy", np.arange(3.0))
    with pytest.raises(ValueError, match="1-D"):
        read_table(tmp_path / "flat.npy")
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2)), b=np.ones((2, 3)))
    with pytest.raises(ValueError, match="cannot tell which array holds the features"):
        read_table(tmp_path / "two.npz")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="holds Python objects"):
        read_table(tmp_path / "objects.npy")


def test_sparse_npz(tmp_path):
    X = sp.random(20, 6, density=0.3, format="csr", random_state=0)
    sp.save_npz(tmp_path / "sparse.npz", X)
    table = read_table(tmp_path / "sparse.npz")
    assert sp.issparse(table.numeric) and table.numeric.shape == (20, 6)
    spec = DataSpec.fit(table, scale="standard")
    scaled = spec.transform(table)
    assert sp.issparse(scaled)
    np.testing.assert_allclose(scaled.toarray().std(axis=0), 1.0)
    with pytest.raises(ValueError, match="minmax would turn the sparse matrix dense"):
        DataSpec.fit(table, scale="minmax")


def test_parquet_without_pyarrow_is_a_clear_message(tmp_path, monkeypatch):
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow → ImportError
    with pytest.raises(
        ValueError, match=r"needs pandas and pyarrow.*pip install 'aecm\[parquet\]'"
    ):
        read_table(tmp_path / "data.parquet")


def test_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"a": [1.0, 2.0, None], "b": [1, 2, 3], "name": ["x", "y", "z"]})
    frame.to_parquet(tmp_path / "data.parquet")
    table = read_table(tmp_path / "data.parquet")
    assert table.numeric_columns == ["a", "b"] and "name" in table.non_numeric
    with pytest.raises(ValueError, match="missing value at row 2, column 'a'"):
        DataSpec.fit(table)


# ---------------------------------------------------------------------------------- the spec
def test_columns_option(tmp_path):
    table = read_table(_csv(tmp_path, "a,b,c,name\n1,2,3,x\n4,5,6,y\n"))
    assert DataSpec.fit(table, columns=["c", "a"]).features == ["c", "a"]
    with pytest.raises(ValueError, match=r"--columns names columns: 'zz' not found"):
        DataSpec.fit(table, columns=["a", "zz"])
    with pytest.raises(ValueError, match=r"column 'name' is not numeric \(line 2: 'x'\)"):
        DataSpec.fit(table, columns=["a", "name"])
    with pytest.raises(ValueError, match=r"label column .nope. not found in data\.csv"):
        DataSpec.fit(table, label_column="nope")


def test_scaling_and_constant_features(tmp_path):
    table = read_table(_csv(tmp_path, "a,b,c\n0,10,7\n5,20,7\n10,30,7\n"))
    minmax = DataSpec.fit(table, scale="minmax")
    np.testing.assert_allclose(minmax.transform(table), [[0, 0, 0], [0.5, 0.5, 0], [1, 1, 0]])
    standard = DataSpec.fit(table, scale="standard")
    X = standard.transform(table)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), [1, 1, 0])
    np.testing.assert_allclose(standard.inverse_scale(X), table.numeric)


def test_spec_round_trip_and_column_checks(tmp_path):
    table = read_table(_csv(tmp_path, "a,b,name,label\n1,2,x,0\n3,,y,1\n5,6,z,1\n"))
    spec = DataSpec.fit(table, label_column="label", impute="mean", scale="standard")
    spec.save(tmp_path)
    loaded = DataSpec.load(tmp_path)
    np.testing.assert_array_equal(loaded.transform(table), spec.transform(table))
    assert loaded.features == ["a", "b"] and loaded.label_column == "label"
    # reordered, without the ignored columns: fine; other columns: refused, naming them
    reordered = read_table(_csv(tmp_path, "b,a\n2,1\n", "reordered.csv"))
    np.testing.assert_array_equal(loaded.transform(reordered), spec.transform(table)[:1])
    assert loaded.labels(reordered) is None
    other = read_table(_csv(tmp_path, "a,c\n1,2\n", "other.csv"))
    with pytest.raises(ValueError, match=r"missing columns: 'b'; extra columns: 'c'"):
        loaded.transform(other)
    (tmp_path / "preprocessing.safetensors").write_bytes(b"changed")
    with pytest.raises(ValueError, match="sha256"):
        DataSpec.load(tmp_path)
    with pytest.raises(ValueError, match="written by 'aecm fit'"):
        DataSpec.load(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------- helpers
def test_read_labels(tmp_path):
    (tmp_path / "labels.txt").write_text("class\n3\n1\n3\n")
    assert read_labels(tmp_path / "labels.txt", 3).tolist() == [3, 1, 3]
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    assert read_labels(tmp_path / "names.txt", 2).tolist() == ["cat", "dog"]
    np.save(tmp_path / "labels.npy", np.array([1.0, 2.0]))
    assert read_labels(tmp_path / "labels.npy", 2).dtype == np.int64
    with pytest.raises(ValueError, match="has 4 labels but the data has 5 rows"):
        read_labels(tmp_path / "labels.txt", 5)


def test_infer_image_shape():
    assert infer_image_shape(784, True) == (28, 28)
    assert infer_image_shape(64, True) == (8, 8)
    assert infer_image_shape(16, True) is None  # 4×4: too small to be an image
    assert infer_image_shape(784, False) is None
    assert infer_image_shape(100 * 101, True) is None


def test_atomic_write_leaves_no_temporary(tmp_path):
    atomic_write(tmp_path / "out.txt", "one")
    atomic_write(tmp_path / "out.txt", b"two")
    assert (tmp_path / "out.txt").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
