"""``aecm fit``, ``aecm predict``, ``aecm report``: end to end, method by method, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aecm
from aecm.cli import main
from aecm.estimators import PersistentIsotropicGMM, PersistentKMeans
from aecm.metrics import normalized_mutual_info


# ---------------------------------------------------------------------------------- helpers
def _env() -> dict[str, str]:
    """The environment of a subprocess that imports this checkout's aecm."""
    src = str(Path(aecm.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else "")}


def _aecm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aecm", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray, rows: np.ndarray) -> None:
    """Pendigits as a user would have it: integer pen coordinates 0–100, a label column and a
    text column (with a quoted comma) that must be left out of the features."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"x{j}" for j in range(X.shape[1])] + ["label", "writer"])
        for i in rows:
            coordinates = [round(float(v) * 100) for v in X[i]]
            writer.writerow([*coordinates, int(y[i]), f"writer {i % 44}, pen"])


def _read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _digits_csv(path: Path, n: int | None = None) -> Path:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:n], y[:n]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"p{j}" for j in range(64)] + ["digit"])
        for row, label in zip(X.astype(int), y, strict=True):
            writer.writerow([*row.tolist(), int(label)])
    return path


def _error(capsys) -> str:
    """The one-line error message of a failed command."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("aecm: error: ") and "Traceback" not in err[0]
    return err[0]


# ---------------------------------------------------------------------------------- end to end
def test_fit_and_predict_end_to_end_on_pendigits(tmp_path, pendigits):
    """The shell commands a user runs: fit on a CSV, predict on held-out rows, read the outputs.

    Measured: NMI 0.681 on the 9 000 training rows and 0.679 on the 1 992 held-out rows (seed 0;
    0.669 with seed 2); about 13 s for fit and 7 s for predict on 2 shared CPU cores.
    """
    X, y = pendigits
    order = np.random.default_rng(0).permutation(len(X))
    train, held_out = order[:9000], order[9000:]
    _write_csv(tmp_path / "train.csv", X, y, train)
    _write_csv(tmp_path / "held_out.csv", X, y, held_out)
    run_dir = tmp_path / "run"

    fit = _aecm(
        "fit", str(tmp_path / "train.csv"), "--method", "cm", "--n-clusters", "10",
        "--label-column", "label", "--scale", "minmax", "--seed", "0", "--out", str(run_dir),
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    assert "excluded 1 non-numeric column(s): 'writer'" in fit.stderr
    assert "Warning" not in fit.stderr and "Traceback" not in fit.stderr

    labels = _read_labels(run_dir / "labels.csv")
    assert len(labels) == 9000 and list(labels[0]) == ["row", "cluster", "confidence"]
    clusters = np.array([int(r["cluster"]) for r in labels])
    assert clusters.min() >= 0 and clusters.max() <= 9
    confidence = np.array([float(r["confidence"]) for r in labels])
    assert np.all((confidence > 0.09) & (confidence <= 1.0))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["nmi"] > 0.62 and 0 < metrics["acc"] <= 1 and metrics["ari"] > 0.4
    assert np.isclose(metrics["nmi"], normalized_mutual_info(y[train], clusters))
    for name in ("report.html", "run.json", "sample.safetensors", "figures/map.png"):
        assert (run_dir / name).is_file(), name
    spec = json.loads((run_dir / "model" / "data.json").read_text())
    assert spec["features"] == [f"x{j}" for j in range(16)] and spec["scale"] == "minmax"

    predict = _aecm(
        "predict", str(run_dir / "model"), str(tmp_path / "held_out.csv"),
        "--out", str(tmp_path / "held_out_labels.csv"),
    )  # fmt: skip
    assert predict.returncode == 0, predict.stderr
    assert "NMI" in predict.stdout
    predicted = _read_labels(tmp_path / "held_out_labels.csv")
    assert len(predicted) == len(held_out)
    assert [int(r["row"]) for r in predicted] == list(range(len(held_out)))
    held_clusters = np.array([int(r["cluster"]) for r in predicted])
    assert held_clusters.min() >= 0 and held_clusters.max() <= 9
    assert normalized_mutual_info(y[held_out], held_clusters) > 0.6


def test_deep_method_with_few_epochs(tmp_path, capsys):
    """IDEC with a small autoencoder and 2 epochs per phase: the whole pipeline, decoded
    centroids drawn as 8×8 images (64 non-negative features)."""
    data = _digits_csv(tmp_path / "digits.csv", n=300)
    out = tmp_path / "run"
    code = main(
        ["fit", str(data), "--method", "idec", "-k", "4", "--labels", "digit",
         "--scale", "minmax", "--epochs", "2", "--pretrain-epochs", "2",
         "--hidden-dims", "16,16", "--batch-size", "100", "--device", "cpu", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "run.json").read_text())
    assert summary["estimator"] == "IDEC" and summary["image_shape"] == [8, 8]
    assert set(summary["history"]) == {"pretrain", "clustering", "clusters"}
    assert (out / "figures" / "centroids.png").is_file()
    loaded = aecm.load(out / "model")
    assert loaded.hidden_dims == [16, 16] and loaded.n_epochs == 2
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    again = [int(r["cluster"]) for r in _read_labels(tmp_path / "p.csv")]
    assert again == [int(r["cluster"]) for r in _read_labels(out / "labels.csv")]
    capsys.readouterr()


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_classical_methods_round_trip(tmp_path, method, capsys):
    """k-means and the GMM are saved without pickle and predict the same after loading; the
    report is rendered again from the run folder alone, with other options."""
    data = _digits_csv(tmp_path / "digits.csv", n=300)
    out = tmp_path / "run"
    assert main(["fit", str(data), "--method", method, "-k", "6", "--out", str(out)]) == 0
    assert "note: column 'digit' is used as a feature" in capsys.readouterr().err
    fitted = _read_labels(out / "labels.csv")
    assert main(["predict", str(out / "model"), str(data), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = _read_labels(tmp_path / "p.csv")
    assert predicted == fitted
    has_confidence = method == "gmm"
    assert (fitted[0]["confidence"] != "") == has_confidence
    assert not list((out / "model").glob("*.pkl"))

    (out / "report.html").unlink()
    data.unlink()  # the report needs only the run folder
    capsys.readouterr()
    assert main(["report", str(out), "--image-shape", "none", "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    html = (out / "report.html").read_text()
    assert 'id="figure-heatmap"' in html and 'id="figure-centroids"' not in html
    assert not (out / "figures" / "centroids.png").exists()


@pytest.mark.parametrize("cls", [PersistentKMeans, PersistentIsotropicGMM])
def test_classical_estimators_save_and_load(tmp_path, cls):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.5, size=(60, 3)) for c in (0, 4, 8)])
    model = cls(3, random_state=0).fit(X)
    model.save(tmp_path / "m")
    loaded = aecm.load(tmp_path / "m")
    assert type(loaded) is cls
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ---------------------------------------------------------------------------------- usage
def test_help_names_every_subcommand_and_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listing = capsys.readouterr().out
    for name in ("fit", "predict", "report"):
        assert f"    {name} " in listing
    for command in ("fit", "predict", "report"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--method", "--n-clusters", "--labels", "--label-column", "--scale",
                   "--columns", "--impute", "--image-shape", "--overwrite", "--quiet",
                   "MODEL_DIR", "RUN_DIR"):  # fmt: skip
        assert option in text


def test_usage_errors_exit_2(tmp_path, capsys):
    data = _digits_csv(tmp_path / "d.csv", n=50)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), "--method", "spectral", "-k", "3", "--out", "r"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), "--method", "kmeans", "-k", "3", "--epochs", "5", "--out", "r"])
    assert exit_info.value.code == 2
    assert "--epochs does not apply to --method kmeans" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), "--method", "cm", "-k", "3", "--param", "colour=2", "--out", "r"])
    assert exit_info.value.code == 2
    assert "'colour' is not a parameter of ClusteringModule" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- bad input
def _fit(data: Path, out: Path, *extra: str) -> int:
    return main(["fit", str(data), "--method", "cm", "-k", "2", "--out", str(out), *extra])


def test_missing_file(tmp_path, capsys):
    assert _fit(tmp_path / "nope.csv", tmp_path / "r") == 1
    assert f"no such file: {tmp_path / 'nope.csv'}" in _error(capsys)


def test_empty_and_unreadable_files(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    assert _fit(tmp_path / "empty.csv", tmp_path / "r") == 1
    assert "empty.csv is empty" in _error(capsys)
    (tmp_path / "header.csv").write_text("a,b\n")
    assert _fit(tmp_path / "header.csv", tmp_path / "r") == 1
    assert "has a header line but no data rows" in _error(capsys)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81garbage\x00")
    assert _fit(tmp_path / "binary.csv", tmp_path / "r") == 1
    assert "binary.csv is not a UTF-8 text file" in _error(capsys)
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    assert _fit(tmp_path / "broken.npy", tmp_path / "r") == 1
    assert "broken.npy is not a readable NumPy file" in _error(capsys)


def test_ragged_rows(tmp_path, capsys):
    (tmp_path / "ragged.csv").write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    assert _fit(tmp_path / "ragged.csv", tmp_path / "r") == 1
    assert "ragged.csv: line 3 has 2 fields but line 1 has 3" in _error(capsys)


def test_missing_cells_name_row_and_column_or_are_imputed(tmp_path, capsys):
    (tmp_path / "nan.csv").write_text("a,b\n1,2\n3,\n5,6\n7,8\n")
    assert _fit(tmp_path / "nan.csv", tmp_path / "r") == 1
    message = _error(capsys)
    assert "missing value at row 1 (line 3), column 'b'" in message and "--impute mean" in message
    assert _fit(tmp_path / "nan.csv", tmp_path / "r", "--impute", "mean", "--quiet") == 0
    spec = aecm.io.DataSpec.load(tmp_path / "r" / "model")
    np.testing.assert_allclose(spec.fill_values, [4.0, 16 / 3])


def test_label_column_that_does_not_exist(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    assert _fit(tmp_path / "d.csv", tmp_path / "r", "--label-column", "class") == 1
    assert "label column 'class' not found in d.csv; columns: 'a', 'b'" in _error(capsys)
    assert _fit(tmp_path / "d.csv", tmp_path / "r", "--labels", "class") == 1
    assert "--labels 'class' is neither a column of d.csv nor a file" in _error(capsys)


def test_more_clusters_than_rows(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    assert main(["fit", str(tmp_path / "d.csv"), "--method", "cm", "-k", "5",
                 "--out", str(tmp_path / "r")]) == 1  # fmt: skip
    assert "--n-clusters 5 is larger than the number of rows (3) in d.csv" in _error(capsys)


def test_output_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n5,6\n7,9\n")
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _fit(tmp_path / "d.csv", out) == 1
    assert "exists and is not empty; pass --overwrite" in _error(capsys)
    assert (out / "keep.txt").read_text() == "mine"
    assert _fit(tmp_path / "d.csv", out, "--overwrite", "--quiet") == 0
    assert not (out / "keep.txt").exists() and (out / "report.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_model_folder_that_is_not_an_aecm_model(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.json").write_text("{}")
    args = ["predict", str(tmp_path / "junk"), str(tmp_path / "d.csv"), "--out", "x.csv"]
    assert main(args) == 1
    assert "is not an aecm model" in _error(capsys)
    assert main(["report", str(tmp_path / "junk")]) == 1
    assert "is not an aecm run folder" in _error(capsys)


def test_predict_refuses_other_columns(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,name\n1,2,x\n3,4,y\n5,6,z\n8,8,w\n")
    assert _fit(tmp_path / "d.csv", tmp_path / "r", "--quiet") == 0
    (tmp_path / "other.csv").write_text("a,c,d\n1,2,3\n")
    args = ["predict", str(tmp_path / "r"), str(tmp_path / "other.csv"), "--out", "x.csv"]
    assert main(args) == 1
    message = _error(capsys)
    assert "missing columns: 'b'" in message and "extra columns: 'c', 'd'" in message
    # the same columns in another order, without the text column: accepted
    (tmp_path / "same.csv").write_text("b,a\n2,1\n6,5\n")
    out = tmp_path / "p.csv"
    assert (
        main(["predict", str(tmp_path / "r"), str(tmp_path / "same.csv"), "--out", str(out)]) == 0
    )
    rows = _read_labels(out)
    fitted = _read_labels(tmp_path / "r" / "labels.csv")
    assert [r["cluster"] for r in rows] == [fitted[0]["cluster"], fitted[2]["cluster"]]
    assert (
        main(["predict", str(tmp_path / "r"), str(tmp_path / "same.csv"), "--out", str(out)]) == 1
    )
    assert "exists; pass --overwrite" in _error(capsys)


def test_columns_and_id_column(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("id,a,b,c\nr0,0,0,9\nr1,0.1,0,9\nr2,5,5,0\nr3,5.1,5,0\n")
    out = tmp_path / "run"
    args = ["fit", str(data), "--method", "kmeans", "-k", "2", "--columns", "a,b"]
    assert main([*args, "--id-column", "id", "--out", str(out), "--quiet"]) == 0
    rows = _read_labels(out / "labels.csv")
    assert list(rows[0]) == ["row", "id", "cluster", "confidence"]
    assert [r["id"] for r in rows] == ["r0", "r1", "r2", "r3"]
    assert rows[0]["cluster"] == rows[1]["cluster"] != rows[2]["cluster"] == rows[3]["cluster"]
    spec = json.loads((out / "model" / "data.json").read_text())
    assert spec["features"] == ["a", "b"]
    assert spec["excluded"] == {"id": "id column", "c": "not selected"}
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "p.csv"), "-q"]) == 0
    assert _read_labels(tmp_path / "p.csv") == rows


def test_npz_with_a_labels_file(tmp_path, capsys):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "digits.npz", X=X[:400].reshape(-1, 8, 8))
    np.save(tmp_path / "labels.npy", y[:400])
    out = tmp_path / "run"
    assert main(["fit", str(tmp_path / "digits.npz"), "--method", "gmm", "-k", "10",
                 "--labels", str(tmp_path / "labels.npy"), "--out", str(out)]) == 0  # fmt: skip
    assert "NMI" in capsys.readouterr().out
    summary = json.loads((out / "run.json").read_text())
    assert summary["image_shape"] == [8, 8]  # from the array's shape
    assert summary["data"]["labels"] == f"file {tmp_path / 'labels.npy'}"
    assert json.loads((out / "metrics.json").read_text())["nmi"] > 0.5


# ---------------------------------------------------------------------------------- n_clusters auto
def _blobs_npy(tmp_path: Path) -> tuple[Path, Path]:
    """600 rows of 4 isotropic blobs 8σ apart in 10-D (non-negative) and their labels."""
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(4, 10))
    gaps = np.sqrt(((centers[:, None] - centers[None]) ** 2).sum(-1))[np.triu_indices(4, 1)]
    centers *= 8.0 / gaps.min()
    y = rng.integers(4, size=600)
    X = centers[y] + rng.normal(size=(600, 10))
    np.save(tmp_path / "blobs.npy", (X - X.min(axis=0)).astype(np.float32))
    np.save(tmp_path / "truth.npy", y)
    return tmp_path / "blobs.npy", tmp_path / "truth.npy"


_CM_FAST = ["--epochs", "30", "--batch-size", "64", "--device", "cpu"]


def test_fit_auto_reports_the_number_found(tmp_path, capsys):
    data, truth = _blobs_npy(tmp_path)
    out = tmp_path / "run"
    # pruning needs steps: 150 epochs, as test_auto_k's AUTO
    fast = ["--epochs", "150", *_CM_FAST[2:]]
    args = ["fit", str(data), "--method", "cm", "-k", "auto", "--max-clusters", "12",
            "--labels", str(truth), *fast, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "into 4 clusters (found by --n-clusters auto)" in printed
    summary = json.loads((out / "run.json").read_text())
    assert summary["n_clusters"] == 4 and summary["n_clusters_requested"] == "auto"
    assert summary["params"]["max_clusters"] == 12 and "--n-clusters auto" in summary["command"]
    assert summary["history"]["n_clusters"][0] == 12 and summary["history"]["pruned"]
    assert json.loads((out / "metrics.json").read_text())["n_clusters"] == 4
    assert "4 found by n_clusters=&#x27;auto&#x27; from 12" in (out / "report.html").read_text()
    assert (out / "figures" / "training.png").is_file()
    loaded = aecm.load(out / "model")
    assert loaded.n_clusters == "auto" and loaded.n_clusters_ == 4
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "p.csv"), "-q"]) == 0
    assert _read_labels(tmp_path / "p.csv") == _read_labels(out / "labels.csv")


def test_fit_auto_with_aecm(tmp_path, capsys):
    """AE-CM with a small autoencoder (10 -> 32 -> 10): the pruning stage and both phases."""
    data, truth = _blobs_npy(tmp_path)
    out = tmp_path / "run"
    args = ["fit", str(data), "--method", "aecm", "-k", "auto", "--min-cluster-weight", "0.02",
            "--hidden-dims", "32", "--pretrain-epochs", "50", "--epochs", "3", "--batch-size",
            "64", "--param", "cm_epochs=60", "--device", "cpu", "--labels", str(truth),
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    assert "into 4 clusters (found by --n-clusters auto)" in capsys.readouterr().out
    summary = json.loads((out / "run.json").read_text())
    assert summary["params"]["min_cluster_weight"] == 0.02
    assert summary["params"]["embedding_dim"] == 10  # max(10, --max-clusters or 10)
    assert set(summary["history"]) == {"pretrain", "prune", "cm", "joint", "clusters"}
    assert json.loads((out / "metrics.json").read_text())["ari"] > 0.95
    assert aecm.load(out / "model").n_clusters_ == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "kmeans", "-k", "auto"],
         "--n-clusters auto does not apply to --method kmeans; the methods that find the number "
         "of clusters are: aecm, cm"),
        (["--method", "dec", "-k", "auto"], "does not apply to --method dec"),
        (["--method", "cm", "-k", "3", "--max-clusters", "5"],
         "--max-clusters applies only with --n-clusters auto"),
        (["--method", "cm", "-k", "3", "--min-cluster-weight", "0.1"],
         "--min-cluster-weight applies only with --n-clusters auto"),
        (["--method", "cm", "-k", "many"], "expected an integer, got 'many' (or auto)"),
    ],
)  # fmt: skip
def test_fit_auto_usage_errors(tmp_path, capsys, extra, message):
    data, _ = _blobs_npy(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(data), *extra, "--out", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-clusters", "1"], "'max_clusters' parameter of ClusteringModule must be an int in "
         "the range [2, inf) or None; got 1"),
        (["--max-clusters", "601"], "max_clusters=601 must be <= the number of samples (600)"),
        (["--min-cluster-weight", "0"], "'min_cluster_weight' parameter of ClusteringModule must "
         "be a float in the range (0, 1); got 0.0"),
        (["--min-cluster-weight", "1"], "'min_cluster_weight' parameter"),
    ],
)  # fmt: skip
def test_fit_auto_bad_values_exit_1(tmp_path, capsys, extra, message):
    data, _ = _blobs_npy(tmp_path)
    args = ["fit", str(data), "--method", "cm", "-k", "auto", *extra, "--out", str(tmp_path / "r")]
    assert main(args) == 1
    assert message in _error(capsys)
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------- select-k
def test_select_k_prints_the_table_and_writes_csv_and_png(tmp_path, capsys):
    data, truth = _blobs_npy(tmp_path)
    out = tmp_path / "sk"
    args = ["select-k", str(data), "--method", "gmm", "--k-range", "2:7", "--seeds", "3",
            "--labels", str(truth), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "K in 2..7, 3 seed(s) per K" in printed
    assert "  4*" in printed and "best K: 4 (lowest BIC; the labels have 4 classes)" in printed
    rows = list(csv.DictReader((out / "select_k.csv").open()))
    assert [int(r["k"]) for r in rows] == [2, 3, 4, 5, 6, 7]
    assert [r["best"] for r in rows] == ["0", "0", "1", "0", "0", "0"]
    bic = [float(r["bic"]) for r in rows]
    assert bic[2] == min(bic) and float(rows[2]["stability"]) == pytest.approx(1.0)
    # the same numbers as the Python function with the same seed
    X = np.load(data).astype(np.float64)
    result = aecm.select_k(X, method="gmm", k_range=range(2, 8), n_seeds=3, random_state=0)
    np.testing.assert_allclose(bic, result.table["bic"], rtol=1e-12)
    assert (out / "select_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["select_k.csv", "select_k.png"]


def test_select_k_with_the_cm_reads_a_csv_like_fit(tmp_path, capsys):
    """A CSV with a label column and a list of K; without --out nothing is written."""
    data, truth = _blobs_npy(tmp_path)
    X, y = np.load(data), np.load(truth)
    with open(tmp_path / "blobs.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{j}" for j in range(10)] + ["label"])
        writer.writerows([[*map(float, row), int(c)] for row, c in zip(X, y, strict=True)])
    args = ["select-k", str(tmp_path / "blobs.csv"), "--label-column", "label", "--k-range",
            "3,4,5", "--seeds", "2", "--quiet", *_CM_FAST]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "best K: 4 (lowest BIC; the labels have 4 classes)" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs.csv", "blobs.npy", "truth.npy"]


@pytest.mark.parametrize(
    ("k_range", "message"),
    [
        ("2:x", "--k-range '2:x' is not a range: give A:B (e.g. 2:30), A:B:STEP or a list 3,5,8"),
        ("2:4:6:8", "is not a range"),
        ("7:3", "--k-range '7:3' holds no number of clusters"),
        ("", "--k-range '' holds no number of clusters"),
        ("0:4", "--k-range '0:4' holds 0; numbers of clusters must be at least 1"),
        ("3,0,5", "holds 0; numbers of clusters must be at least 1"),
        ("2:6:0", "--k-range '2:6:0': the step must be at least 1"),
        ("2,601", "k_range holds 601, more clusters than the number of samples (600)"),
    ],
)
def test_select_k_bad_k_range_exits_1(tmp_path, capsys, k_range, message):
    data, _ = _blobs_npy(tmp_path)
    out = tmp_path / "sk"
    args = ["select-k", str(data), "--method", "gmm", "--k-range", k_range, "--out", str(out)]
    assert main(args) == 1
    assert message in _error(capsys)
    assert not out.exists()


def test_select_k_usage_errors(tmp_path, capsys):
    data, _ = _blobs_npy(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["select-k", str(data), "--method", "gmm", "--epochs", "5"])
    assert exit_info.value.code == 2
    assert "--epochs applies only to --method cm" in capsys.readouterr().err
    assert main(["select-k", str(tmp_path / "missing.npy")]) == 1
    assert "no such file" in _error(capsys)


def test_select_k_subprocess(tmp_path):
    """The command as a user runs it: a bad --k-range ends the process with exit code 1 and
    one line on stderr (the good path is covered through main above)."""
    data, _ = _blobs_npy(tmp_path)
    bad = _aecm("select-k", str(data), "--k-range", "0:3")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == (
        "aecm: error: --k-range '0:3' holds 0; numbers of clusters must be at least 1"
    )


def test_columns_on_scales_orders_of_magnitude_apart_get_a_note(tmp_path, capsys):
    """Penguin-like measurements: millimetres beside grams. Unscaled, the grams decide the
    clusters, and the command says so, naming the columns; with --scale standard it is quiet."""
    rng = np.random.default_rng(0)
    species = np.repeat(np.arange(3), 40)
    bill = np.array([39.0, 48.0, 47.0])[species] + rng.normal(0, 2.5, 120)
    depth = np.array([18.0, 18.5, 15.0])[species] + rng.normal(0, 0.8, 120)
    mass = np.array([3700.0, 3730.0, 5100.0])[species] + rng.normal(0, 450, 120)
    path = tmp_path / "penguins.csv"
    lines = ["bill_length_mm,bill_depth_mm,body_mass_g,species"]
    rows = zip(bill, depth, mass, species, strict=True)
    lines += [f"{b:.1f},{d:.1f},{m:.0f},s{k}" for b, d, m, k in rows]
    path.write_text("\n".join(lines) + "\n")
    common = ["--method", "kmeans", "-k", "3", "--label-column", "species"]
    assert _fit(path, tmp_path / "raw", *common) == 0
    err = capsys.readouterr().err
    assert "scales differ by a factor of" in err
    assert "'bill_depth_mm'" in err and "'body_mass_g'" in err and "--scale standard" in err
    assert _fit(path, tmp_path / "scaled", *common, "--scale", "standard") == 0
    assert "scales differ" not in capsys.readouterr().err
