"""``aecm bench``: the resumable results file, its checks, the report, the command line.

Runs use the real Pendigits file (``$AECM_DATA``) with the fast methods (CM and k-means of the
``quick`` profile) on one thread (steady on a shared CPU); the deep path runs once, with a tiny
custom profile on the first 600 rows of Pendigits.
"""

import csv
import json
import os
import signal

import numpy as np
import pytest

from aecm import bench, datasets
from aecm.bench import results as results_module
from aecm.bench.methods import METHODS, Method
from aecm.cli import main
from conftest import data_home


def _rows(folder):
    with open(folder / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _row(method="kmeans", dataset="pendigits", seed=0, acc=0.5, seconds=1.0, **extra):
    row = {name: "" for name in bench.COLUMNS}
    row.update(
        method=method,
        dataset=dataset,
        seed=seed,
        profile="quick",
        params="{}",
        acc=acc,
        nmi=acc,
        ari=acc,
        fit_seconds=seconds,
        peak_rss_mb=100.0,
        peak_rss_scope="run",
        aecm_version="0.1.0",
        torch_version="2",
        device="cpu",
        timestamp="2026-01-01T00:00:00.000+00:00",
    )
    row.update(extra)
    return row


# ------------------------------------------------------------------ running and resuming
def test_rows_are_written_resumed_and_forced(tmp_path):
    home = data_home("pendigits")
    out = tmp_path / "results"
    summary = bench.run_bench(
        "cm,kmeans",
        "pendigits",
        2,
        "quick",
        out,
        data_home=home,
        device="cpu",
        threads=1,
        log=None,
    )
    assert (summary.ran, summary.skipped) == (4, 0)
    rows = _rows(out)
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("cm", "0"),
        ("kmeans", "0"),
        ("cm", "1"),
        ("kmeans", "1"),
    ]
    for row in rows:
        assert row["profile"] == "quick" and row["device"] == "cpu"
        assert 0.4 < float(row["nmi"]) <= 1.0  # measured: CM ≈ 0.67, k-means 0.68
        assert row["k_acc"] == "" and row["pretrain_seconds"] == ""  # not deep methods
        assert float(row["fit_seconds"]) > 0 and float(row["peak_rss_mb"]) > 50
        assert row["peak_rss_scope"] in ("run", "process") and row["threads"] == "1"
    params = json.loads(rows[0]["params"])
    assert params["alpha"] == 13.0 and params["batch_size"] == 80  # the paper's tuned values
    assert json.loads(rows[1]["params"])["n_init"] == 10

    again = bench.run_bench("cm,kmeans", "pendigits", 2, "quick", out, data_home=home, log=None)
    assert (again.ran, again.skipped) == (0, 4)
    assert _rows(out) == rows  # nothing redone: same rows, same timestamps

    forced = bench.run_bench(
        "kmeans", "pendigits", 2, "quick", out, force=True, data_home=home, threads=1, log=None
    )
    assert (forced.ran, forced.skipped) == (2, 0)
    newer = _rows(out)
    assert len(newer) == 6 and newer[:4] == rows
    assert [r["method"] for r in newer[4:]] == ["kmeans", "kmeans"]
    assert min(r["timestamp"] for r in newer[4:]) > max(r["timestamp"] for r in rows)


@pytest.fixture
def small_pendigits(tmp_path, monkeypatch):
    """The first 600 rows of Pendigits registered as the data set "pendigits600"."""
    home = data_home("pendigits")
    X, y = datasets.load_pendigits(home)
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "pendigits600.npz", X=X[:600], y=y[:600])
    info = datasets.DatasetInfo("pendigits600", 600, 16, 10, "x / 100", "test")
    monkeypatch.setitem(datasets.DATASETS, "pendigits600", info)
    return folder


def test_deep_methods_share_one_pretrained_autoencoder(tmp_path, monkeypatch, small_pendigits):
    from aecm import AEKMeans

    fits = []
    original = AEKMeans.fit

    def counting_fit(self, X, y=None):
        fits.append(self.pretrained is None)
        return original(self, X, y)

    monkeypatch.setattr(AEKMeans, "fit", counting_fit)
    tiny = bench.Profile("tiny", "test", 1, 5, 0.0, 1, 1, 1, 1, hidden_dims=(16,), embedding_dim=10)
    out, data = tmp_path / "deep", small_pendigits
    bench.run_bench(
        "aekmeans,dec", "pendigits600", [3], tiny, out, data_home=data, threads=1, log=None
    )
    assert fits == [True, False]  # one pretraining, then AE+KM on the pretrained network
    rows = _rows(out)
    assert [r["method"] for r in rows] == ["aekmeans", "dec"]
    assert rows[0]["pretrain_seconds"] == rows[1]["pretrain_seconds"] != ""
    for row in rows:
        assert 0.0 <= float(row["k_nmi"]) <= 1.0 and row["k_acc"] != ""
        note = json.loads(row["params"])["pretraining"]
        assert note["embedding_dim"] == 10 and note["hidden_dims"] == [16] and note["epochs"] == 1
    assert json.loads(rows[1]["params"])["n_epochs"] == 1

    fits.clear()  # resuming with nothing left to do of the deep methods pretrains nothing
    bench.run_bench("aekmeans,dec", "pendigits600", [3], tiny, out, data_home=data, log=None)
    assert fits == []


def test_ctrl_c_keeps_the_finished_rows_and_the_file_valid(tmp_path, monkeypatch):
    home = data_home("pendigits")

    def interrupt(cell, pretrained):
        raise KeyboardInterrupt

    monkeypatch.setitem(METHODS, "boom", Method("boom", "interrupts", interrupt))
    out = tmp_path / "results"
    with pytest.raises(KeyboardInterrupt):
        bench.run_bench(
            "kmeans,boom", "pendigits", 1, "quick", out, data_home=home, threads=1, log=None
        )
    assert [r["method"] for r in _rows(out)] == ["kmeans"]
    assert len(bench.read_results(out / "results.csv")) == 1


def test_a_row_being_written_when_ctrl_c_comes_is_completed_first(tmp_path, monkeypatch):
    original = results_module._write_synced

    def write_with_ctrl_c(path, text, mode):
        if mode == "a":
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the append
        original(path, text, mode)

    monkeypatch.setattr(results_module, "_write_synced", write_with_ctrl_c)
    path = tmp_path / "results.csv"
    with pytest.raises(KeyboardInterrupt):
        results_module.append_row(path, _row())
    assert len(bench.read_results(path)) == 1


# ------------------------------------------------------------------ refusals
def test_corrupted_results_are_refused_with_the_row_number(tmp_path, capsys):
    home = data_home("pendigits")
    path = tmp_path / "results.csv"
    for seed in range(3):
        results_module.append_row(path, _row(seed=seed))
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",0.5,0.5,0.5,", ",0.5,abc,0.5,")  # row 2 (line 3)
    path.write_text("".join(lines))
    before = path.read_bytes()
    with pytest.raises(bench.ResultsError, match=r"row 2 \(line 3\) is invalid: nmi 'abc'"):
        bench.run_bench("kmeans", "pendigits", 1, "quick", tmp_path, data_home=home, log=None)
    with pytest.raises(bench.ResultsError, match="row 2"):
        bench.write_report(tmp_path)
    argv = ["bench", "--methods", "kmeans", "--datasets", "pendigits", "--out", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aecm: error: ") and "row 2 (line 3)" in err and "Traceback" not in err
    assert path.read_bytes() == before  # never rewritten

    path.write_bytes(before.replace(b",0.5,abc,0.5,", b",0.5,0.5,0.5,")[:-20])  # cut mid-row
    with pytest.raises(bench.ResultsError, match=r"row 3 \(line 4\) is invalid"):
        bench.read_results(path)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(bench.ResultsError, match="does not start with the header"):
        bench.read_results(path)


def test_unknown_names_list_the_valid_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match="Unknown method 'svm'; valid: cm, cm-default, kmeans"):
        bench.run_bench("cm,svm", "pendigits", out=tmp_path, log=None)
    with pytest.raises(ValueError, match="Unknown data set 'imagenet'; valid: mnist, fashion"):
        bench.run_bench("cm", "imagenet", out=tmp_path, log=None)
    with pytest.raises(ValueError, match="Unknown profile 'huge'; known: quick, medium, paper"):
        bench.run_bench("cm", "pendigits", profile="huge", out=tmp_path, log=None)
    for argv, message in (
        (["--methods", "svm", "--datasets", "usps"], "Unknown method 'svm'; valid: cm, cm-default"),
        (["--datasets", "usps,imagenet"], "Unknown data set 'imagenet'; valid: mnist"),
        (["--methods", "cm"], "--datasets is required (valid: mnist"),
        (["--datasets", "usps", "--profile", "huge"], "invalid choice: 'huge'"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", *argv, "--out", str(tmp_path)])
        assert exit_info.value.code == 2  # usage errors
        assert message in capsys.readouterr().err
    assert not (tmp_path / "results.csv").exists()


def test_unwritable_results_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=r"results folder .*file/results"):
        bench.run_bench("kmeans", "pendigits", out=blocker / "results", log=None)
    argv = ["bench", "--methods", "kmeans", "--datasets", "pendigits", "--out", str(blocker)]
    assert main(argv) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    if os.geteuid() != 0:  # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match=r"results folder .*locked is not writable"):
            bench.run_bench("kmeans", "pendigits", out=locked, log=None)


def test_missing_data_file_fails_before_any_run(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"No data file for usps .*aecm datasets fetch usps"
    ):
        bench.run_bench("kmeans", "usps", out=tmp_path / "r", data_home=tmp_path, log=None)
    assert not (tmp_path / "r" / "results.csv").exists()


# ------------------------------------------------------------------ report
def _table(markdown, title):
    """The rows of the Markdown table under ``### title`` as lists of cells."""
    block = markdown.split(f"### {title}\n\n", 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def test_report_has_the_right_cells_bold_best_and_a_chart(tmp_path):
    path = tmp_path / "results.csv"
    for seed, (km, cm) in enumerate([(0.60, 0.70), (0.62, 0.74)]):
        results_module.append_row(path, _row("kmeans", seed=seed, acc=km, seconds=1.0))
        results_module.append_row(path, _row("cm", seed=seed, acc=cm, seconds=2.0))
        results_module.append_row(path, _row("kmeans", "usps", seed, acc=0.5, seconds=3.0))
    results_module.append_row(path, _row("kmeans", seed=1, acc=0.64, seconds=1.0))  # --force
    deep = {"k_acc": 0.9, "k_nmi": 0.8, "pretrain_seconds": 5.0}
    results_module.append_row(path, _row("dec", seed=0, acc=0.1, seconds=4.0, **deep))
    files = bench.write_report(tmp_path, reference=True)
    text = files.markdown.read_text()
    assert files.markdown == tmp_path / "report.md"
    assert "| method | usps | pendigits |" in text  # the registry's order
    assert _table(text, "ACC %") == [
        ["`cm`", "", "**72.0 ± 2.0**"],
        ["`kmeans`", "**50.0 ± 0.0**", "62.0 ± 2.0"],  # seed 1's newer row (0.64) counts
        ["`dec`", "", "10.0 ± 0.0"],
    ]
    k_nmi = _table(text, "k-NMI % (k-means on the final embedding)")
    assert k_nmi == [["`dec`", "", "**80.0 ± 0.0**"]]
    assert _table(text, "Runs and time") == [
        ["`cm`", "2", "2", "4.0", "2.00", "100"],
        ["`kmeans`", "2", "4", "8.0", "2.00", "100"],
        ["`dec`", "1", "1", "4.0", "4.00", "100"],
    ]
    assert "Shared pretraining: 5.0 s in total for 1 autoencoders" in text
    assert "8 rows in `results.csv` (7 cells" in text
    reference = text.split("## Reference figures (not aecm runs)", 1)[1]
    assert "| pendigits | KMeans |" in reference and "| usps | DEC (ClustPy) |" in reference
    assert "| mnist |" not in reference
    assert files.figures == (tmp_path / "report.png",)
    assert files.figures[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md", "report.png", "results.csv"]


def test_report_command(tmp_path, capsys):
    assert main(["bench", "report", str(tmp_path)]) == 1
    assert "No results.csv in" in capsys.readouterr().err
    path = tmp_path / "results.csv"
    results_module.append_row(path, _row())
    results_module.append_row(path, _row(seed=1, profile="medium"))
    assert main(["bench", "report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'report-medium.png'}" in out
    assert f"wrote {tmp_path / 'report-quick.png'}" in out
    text = (tmp_path / "report.md").read_text()
    assert "## Profile `medium`" in text and "## Profile `quick`" in text
    assert "Reference figures" not in text


def test_command_line_run(tmp_path, capsys):
    home = data_home("pendigits")
    argv = ["bench", "--methods", "kmeans", "--datasets", "Pendigits", "--seeds", "1"]
    argv += [
        "--out",
        str(tmp_path),
        "--data-home",
        str(home),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 of 1 runs to do (profile quick, device cpu, 1 threads)" in out
    assert "[1/1] kmeans pendigits seed 0: ACC 0.667 NMI 0.682 ARI 0.532" in out
    assert main(argv) == 0
    assert "done: 0 runs now, 1 already in" in capsys.readouterr().out
    row = _rows(tmp_path)[0]
    assert np.isclose(float(row["acc"]), 0.667031, atol=1e-6)


def test_aecm_defaults_get_an_embedding_as_large_as_k():
    """AE-CM needs ``embedding_dim >= n_clusters``: 20 Newsgroups (K = 20) gets p = 20 (the
    run failed with p = 10), the 10-class data sets keep the baselines' shared p = 10."""
    from aecm.bench.methods import Cell
    from aecm.bench.profiles import get_profile

    method = METHODS["aecm-default"]
    for k, expected in ((20, 20), (10, 10)):
        cell = Cell("any", k, 0, get_profile("quick"), "cpu")
        assert method.embedding_dim(cell) == expected
        estimator = method.build(cell, None)
        assert estimator.embedding_dim == expected
        estimator._check_method_params(None)  # no ValueError
