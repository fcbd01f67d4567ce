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


def _expected(name: str, script) -> str:
    if name == "cm_suite":
        return script.summary(script.Store(BENCH / "cm-suite"), list(script.DATASETS))
    if name == "aecm_fidelity":
        folder = BENCH / "aecm-fidelity"
        return script.report(
            script.stored(folder / "runs.jsonl"), script.stored(folder / "reference.jsonl")
        )
    folder = BENCH / name.replace("_", "-")
    return script.report(script.stored(folder / "runs.jsonl"))


@pytest.mark.parametrize("name", ["cm_suite", "aecm_fidelity", "aecm_ablation", "aecm_scale"])
def test_generated_tables_match_their_stored_runs(name):
    script = _script(name)
    written = _script("_docs").read_block(RESULTS, *script.DOCS_BLOCK)
    assert written == _expected(name, script).strip(), (
        f"docs/results.md's {name} tables differ from docs/bench: run python "
        f"benchmarks/{name}.py --report --update-docs docs/results.md"
    )
