"""The README's Python examples run, in order, in one namespace (as a reader would paste them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


@pytest.mark.filterwarnings("ignore::aecm.exceptions.CollapseWarning")
def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = _blocks()
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)  # the examples write files (a saved model, checkpoints, .npy)
    namespace: dict = {}
    for number, code in enumerate(blocks, start=1):
        started = time.perf_counter()
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # name the block in the failure
            raise AssertionError(f"README.md python block {number} fails: {exc!r}") from exc
        print(f"block {number}: {time.perf_counter() - started:.1f} s")
    assert (tmp_path / "select_k.png").is_file()
    assert (tmp_path / "digits-aecm").exists() and namespace["same"].n_clusters_ == 10
