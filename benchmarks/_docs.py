"""Stored runs of the benchmark scripts (one JSON record per line), and the tables they write
into the docs between two marker lines."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def run_context() -> dict:
    """What a stored run records of where and when it ran: versions, machine, threads, date."""
    import torch

    import aecm

    return {
        "aecm_version": aecm.__version__,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch thread(s)",
        "date": time.strftime("%Y-%m-%d"),
    }


def check_same_autoencoder(stored_row: dict, scores: dict, dataset: str, seed: int) -> None:
    """A seed whose autoencoder is pretrained again (resumed in a later run, or its saved copy
    missing) must give its stored AE+KM row's scores, or the methods fitted now would not start
    from the network that the seed's stored methods started from."""
    if any(abs(stored_row[m] - float(scores[m])) > 1e-4 for m in ("acc", "nmi")):
        raise SystemExit(
            f"{dataset} seed {seed}: the autoencoder pretrained now gives AE+KM ACC "
            f"{scores['acc']:.4f}, the stored AE+KM row {stored_row['acc']:.4f}: the methods "
            "fitted now would not start from the stored autoencoder (different code, threads or "
            "machine); measure the seed again in a fresh --out."
        )


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


def schedule_parser(
    doc: str, out: Path, *, pretrain_epochs: int, cm_epochs: int, epochs: int
) -> argparse.ArgumentParser:
    """The options the AE-CM benchmark scripts share: the schedule, the store and the report."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--pretrain-epochs", type=int, default=pretrain_epochs)
    parser.add_argument("--cm-epochs", type=int, default=cm_epochs)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--report", action="store_true", help="only print the stored runs")
    parser.add_argument("--update-docs", type=Path, help="write the tables into this file")
    return parser


def measuring(args: argparse.Namespace) -> bool:
    """Whether the script runs fits (not only ``--report``/``--update-docs``); then its store's
    folder exists."""
    if args.report or args.update_docs:
        return False
    args.out.mkdir(parents=True, exist_ok=True)
    return True


def publish(args: argparse.Namespace, text: str, block: tuple[str, str]) -> None:
    """Print the tables and, with ``--update-docs``, write them into the docs' ``block``."""
    print(text)
    if args.update_docs:
        write_block(args.update_docs, *block, text)
