"""The tables of docs/results.md that a script writes from stored runs are up to date."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"
BENCH = ROOT / "docs" / "bench"


def _script(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the scripts import benchmarks/_docs.py
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def _expected(name: str, folder: str, script) -> str:
    if name == "cm_suite":
        return script.summary(script.Store(BENCH / "cm-suite"), list(script.DATASETS))
    if name == "aecm_fidelity":
        folder = BENCH / "aecm-fidelity"
        return script.report(
            script.stored(folder / "runs.jsonl"), script.stored(folder / "reference.jsonl")
        )
    if name == "bench_grid":
        return script.report(script.read_results(BENCH / script.RESULTS_FILE))
    if name == "dec_trace":
        return script.report(script.stored(BENCH / "deep-mnist" / "dec-trace-seed0.jsonl"))
    stored = _script("_docs").stored
    return script.report(stored(BENCH / (folder or name.replace("_", "-")) / "runs.jsonl"))


# a script's name, or "script/folder" for a script that writes one block per --out folder
BLOCKS = [
    "cm_suite",
    "aecm_fidelity",
    "aecm_ablation",
    "aecm_scale",
    "aecm_defaults",
    "bench_grid",
    "deep_methods/deep-mnist",
    "deep_methods/refine-pendigits",
    "deep_methods/deep-speed",
    "dec_trace",
    "auto_k",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_generated_tables_match_their_stored_runs(block):
    name, _, folder = block.partition("/")
    script = _script(name)
    markers = script.DOCS_BLOCKS[folder] if folder else script.DOCS_BLOCK
    written = _script("_docs").read_block(RESULTS, *markers)
    out = f" --out docs/bench/{folder}" if folder else ""
    assert written == _expected(name, folder, script).strip(), (
        f"docs/results.md's {block} tables differ from docs/bench: run python "
        f"benchmarks/{name}.py{out} --report --update-docs docs/results.md"
    )


def test_auto_k_stores_each_fit_once_and_writes_its_tables(tmp_path, monkeypatch):
    script = _script("auto_k")
    grid = ["--part", "synthetic", "--true-k", "3", "--sizes", "300", "--separations", "8"]
    grid += ["--k-max", "4", "--select-k", "gmm", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["auto_k.py", *grid])
    script.main()
    records = script.stored(tmp_path / "runs.jsonl")
    assert [r["method"] for r in records] == ["cm auto", "select_k gmm", "bgm"]
    for r in records:
        assert (r["true_k"], r["n"], r["sep"], r["seed"]) == (3, 300, 8.0, 0)
        assert r["k_found"] == 3 and r["seconds"] > 0 and r["date"] and r["machine"]
    assert records[0]["ari"] > 0.9 and records[1]["ari"] is None  # select_k keeps no labels

    def refit(*args):
        raise AssertionError("a stored fit ran again")

    monkeypatch.setattr(script, "FITS", dict.fromkeys(script.FITS, refit))
    script.main()  # every fit is stored: nothing runs, nothing is added
    assert script.stored(tmp_path / "runs.jsonl") == records

    docs, helpers = tmp_path / "results.md", _script("_docs")
    docs.write_text("\n".join(["before", *helpers.markers(*script.DOCS_BLOCK), "after"]))
    monkeypatch.setattr(sys, "argv", ["auto_k.py", *grid, "--report", "--update-docs", str(docs)])
    script.main()
    written = helpers.read_block(docs, *script.DOCS_BLOCK)
    assert written == script.report(records).strip()
    assert "| 3 | 300 | 8 | 3 (" in written and "Exact K in 1 cell: CM auto 1" in written


def test_a_resumed_seed_stops_when_its_autoencoder_differs_from_the_stored_one():
    """aecm_defaults and deep_methods pretrain a resumed seed's autoencoder again: its AE+KM
    scores must match the stored row, or the seed's methods would start from two networks."""
    check = _script("_docs").check_same_autoencoder
    stored = {"method": "AE+KM", "acc": 0.8123, "nmi": 0.7431}
    check(stored, {"acc": 0.81231, "nmi": 0.74309}, "mnist", 0)
    with pytest.raises(SystemExit, match=r"seed 0.*0\.8000.*0\.8123"):
        check(stored, {"acc": 0.8, "nmi": 0.7431}, "mnist", 0)
    with pytest.raises(SystemExit, match=r"seed 0.*0\.8123.*0\.8123"):
        check(stored, {"acc": 0.8123, "nmi": 0.75}, "mnist", 0)
