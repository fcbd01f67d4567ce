"""The tables of docs/results.md that a script writes from stored runs are up to date."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cm_suite_summary_is_regenerated_from_its_runs():
    suite = _script("cm_suite")
    text = (ROOT / "docs" / "results.md").read_text()
    written = text[text.index(suite.BEGIN) + len(suite.BEGIN) : text.index(suite.END)].strip()
    store = suite.Store(ROOT / "docs" / "bench" / "cm-suite")
    expected = suite.summary(store, list(suite.DATASETS)).strip()
    assert written == expected, (
        "docs/results.md's cm_suite table differs from docs/bench/cm-suite/runs.jsonl: run "
        "python benchmarks/cm_suite.py --out docs/bench/cm-suite --report --update-docs "
        "docs/results.md"
    )
