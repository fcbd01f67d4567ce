"""Tables that a benchmark script writes into the docs between two marker lines."""

from __future__ import annotations

from pathlib import Path


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
