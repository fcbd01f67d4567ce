"""Stored runs of the benchmark scripts (one JSON record per line), and the tables they write
into the docs between two marker lines."""

from __future__ import annotations

import json
from pathlib import Path


def stored(path: Path) -> list[dict]:
    """The records of a JSON-lines file of runs; none when it does not exist yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def markers(name: str, script: str) -> tuple[str, str]:
    """The lines around the block ``name`` that ``benchmarks/<script>`` writes."""
    return (
        f"<!-- {name}: written by benchmarks/{script} --update-docs; do not edit -->",
        f"<!-- end of {name} -->",
    )


def read_block(path: Path, name: str, script: str) -> str:
    """The text between the markers of ``name`` in ``path``, stripped."""
    begin, end = markers(name, script)
    text = path.read_text()
    return text[text.index(begin) + len(begin) : text.index(end)].strip()


def write_block(path: Path, name: str, script: str, block: str) -> None:
    """Replace the text between the markers of ``name`` in ``path`` by ``block``."""
    begin, end = markers(name, script)
    text = path.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    path.write_text(text[:start] + "\n" + block.strip() + "\n" + text[stop:])
