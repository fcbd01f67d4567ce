"""DEC's trajectory on MNIST and where each stopping rule ends it.

The widely used Keras re-implementation of DEC refreshes the target every ``update_interval``
(140) iterations, computes the labels there, and stops at the first refresh where fewer than
``tol`` (0.1 %) of the points changed cluster since the previous one (at most 2·10⁴
iterations). ``aecm.DEC`` refreshes the target at the same iterations but compares the labels
once per epoch and stops after ``n_iter_no_change`` (10) consecutive calm epochs, so it may
train longer. This script starts from the same state as the benchmark's DEC for one seed (the
pretrained autoencoder of ``benchmarks/deep_methods.py --pretraining dec-keras`` and aecm's
k-means initialisation, ``DEC(n_epochs=0)``), trains with aecm's DEC objective and optimiser
step (SGD 0.01, momentum 0.9, batch 256) for the full 2·10⁴ iterations, and at every refresh
records the label change and ACC / NMI / ARI, one JSON line each. It then prints where the
Keras rule stops and the scores there and at the end. Usage::

    python benchmarks/dec_trace.py --seed 0 --pretrained docs/bench/deep-mnist/pretrained/\
mnist-dec-keras-p300-b256-seed0 --out docs/bench/deep-mnist/dec-trace-seed0.jsonl

Running the same command again prints the summary of a finished trace without training;
``--report`` prints the summary and the table of a stored trace (without ``--pretrained``, and
without loading the data), and ``--update-docs docs/results.md`` writes that table into the
file::

    python benchmarks/dec_trace.py --out docs/bench/deep-mnist/dec-trace-seed0.jsonl --report \
        --update-docs docs/results.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np
import torch
from _docs import stored, write_block

import aecm
from aecm import DEC
from aecm.data import make_source
from aecm.methods.dec import DECObjective
from aecm.metrics import evaluate
from aecm.training import make_optimizer, run_steps

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))


def endless_batches(source, batch_size: int, generator: torch.Generator):
    """Shuffled epochs of ``(index, rows)``, one after the other, without end."""
    return itertools.chain.from_iterable(
        source.shuffled_batches(batch_size, generator) for _ in itertools.count()
    )


def trace(args, X: np.ndarray, y: np.ndarray, out: Path) -> None:
    """Train from the benchmark's DEC initialisation; append one record per target refresh."""
    k = len(np.unique(y))
    ae = aecm.load(args.pretrained, device="cpu")
    start = DEC(k, pretrained=ae, n_epochs=0, random_state=args.seed, device="cpu").fit(X)
    source = make_source(X, torch.device("cpu"))
    objective = DECObjective(
        start.autoencoder_,
        torch.as_tensor(start.cluster_centers_, dtype=torch.float32),
        source,
        update_interval=args.update_interval,
    )
    optimizer = make_optimizer(
        torch.optim.SGD, objective.parameters(), lr=args.learning_rate, momentum=0.9
    )
    batches = endless_batches(source, args.batch_size, torch.Generator().manual_seed(args.seed))
    last = torch.as_tensor(start.labels_)
    with out.open("w") as file:
        file.write(json.dumps({"iteration": 0, **evaluate(y, last.numpy())}) + "\n")
        for iteration in range(args.update_interval, args.iterations + 1, args.update_interval):
            steps = itertools.islice(batches, args.update_interval)
            run_steps(objective, optimizer, steps, args.update_interval, source.device)
            with torch.no_grad():
                labels = torch.cat([objective.assign(b) for b in source.ordered_batches()])
            change = (labels != last).float().mean().item()
            last = labels
            record = {"iteration": iteration, "label_change": change}
            record.update(evaluate(y, labels.numpy()))
            file.write(json.dumps(record) + "\n")
            file.flush()
            print(
                f"  iteration {iteration}: label change {change:.5f}, ACC {record['acc']:.4f}",
                flush=True,
            )


#: The block of the docs that ``--update-docs`` writes (see ``_docs.py``).
DOCS_BLOCK = ("dec_trace table", "dec_trace.py")


def batches_per_epoch(dataset: str, batch_size: int) -> int:
    return -(-aecm.datasets.DATASETS[aecm.datasets.resolve_name(dataset)].n_samples // batch_size)


def report(
    records: list[dict], dataset: str = "mnist", batch_size: int = 256, tol: float = 1e-3
) -> str:
    """The trace's milestones as a Markdown table: the k-means start, the 1st, 10th and 20th
    target refreshes, the refresh where the Keras rule stops (the first with a label change
    below ``tol``), the highest ACC and the last refresh."""
    per_epoch = batches_per_epoch(dataset, batch_size)
    marks: dict[int, list[str]] = {}

    def mark(record: dict, text: str) -> None:
        marks.setdefault(record["iteration"], []).append(text)

    mark(records[0], "k-means initialisation")
    for number, name in ((1, "1st"), (10, "10th"), (20, "20th")):
        if number < len(records):
            mark(records[number], f"{name} refresh")
    calm = [r for r in records[1:] if r["label_change"] < tol]
    if calm:
        mark(calm[0], f"the Keras rule stops (first change < {100 * tol:g} %)")
    mark(max(records, key=lambda r: r["acc"]), "highest ACC")
    mark(records[-1], "end")
    lines = [
        f"**{dataset}**, DEC from the k-means start, target refreshed every "
        f"{records[1]['iteration']} iterations of batch {batch_size} ({per_epoch} per epoch), "
        f"{len(records) - 1} refreshes:",
        "",
        "| iteration (epoch) | where | label change since the previous refresh | ACC % | NMI % "
        "| ARI % |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for record in records:
        if record["iteration"] not in marks:
            continue
        change = record.get("label_change")
        lines.append(
            f"| {record['iteration']} ({record['iteration'] / per_epoch:.1f}) | "
            f"{'; '.join(marks[record['iteration']])} | "
            f"{'–' if change is None else f'{100 * change:.3g} %'} | {100 * record['acc']:.1f} | "
            f"{100 * record['nmi']:.1f} | {100 * record['ari']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def summary(records: list[dict], tol: float, batches_per_epoch: int) -> None:
    def line(name: str, r: dict) -> None:
        print(
            f"{name}: iteration {r['iteration']} (epoch {r['iteration'] / batches_per_epoch:.1f}),"
            f" ACC {100 * r['acc']:.1f} NMI {100 * r['nmi']:.1f} ARI {100 * r['ari']:.1f}"
        )

    line("k-means initialisation", records[0])
    calm = [r for r in records[1:] if r["label_change"] < tol]
    if calm:
        line(f"Keras rule (first refresh with label change < {tol:g})", calm[0])
    else:
        print(f"Keras rule: the label change never fell below {tol:g}")
    line("end", records[-1])
    best = max(records, key=lambda r: r["acc"])
    line("highest ACC on the way", best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrained", type=Path, help="required unless --report")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--update-interval", type=int, default=140)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", action="store_true", help="only print the stored trace")
    parser.add_argument("--update-docs", type=Path, help="write the table into this file")
    args = parser.parse_args()
    last = args.iterations // args.update_interval * args.update_interval
    finished = args.out.exists() and any(
        json.loads(line)["iteration"] == last for line in args.out.read_text().splitlines()
    )
    if not (finished or args.report or args.update_docs):
        if args.pretrained is None:
            parser.error("--pretrained is required to train (or give --report)")
        X, y = aecm.datasets.load(args.dataset, DATA)
        print(f"aecm {aecm.__version__}, torch {torch.__version__}, seed {args.seed}", flush=True)
        trace(args, X, y, args.out)
    records = stored(args.out)
    if not records:
        parser.error(f"no stored trace in {args.out}")
    summary(records, args.tol, batches_per_epoch(args.dataset, args.batch_size))
    if args.report or args.update_docs:
        text = report(records, args.dataset, args.batch_size, args.tol)
        print("\n" + text, end="")
        if args.update_docs:
            write_block(args.update_docs, *DOCS_BLOCK, text)


if __name__ == "__main__":
    main()
