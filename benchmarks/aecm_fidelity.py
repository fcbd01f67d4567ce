"""AE-CM phase by phase, in the authors' "pre" schedule, beside their own clustering module.

For each ``DATASET:SEED``: an autoencoder pretrained ``--pretrain-epochs`` at batch 256 (as the
reference does; ``AEKMeans`` with 20 k-means restarts gives the AE+KM row), then from a copy of it
``AECM.from_paper`` (or ``--config defaults``: aecm's defaults with ``embedding_dim`` of the
paper) with ``n_epochs=0`` (the CM phase alone) and with the full schedule (final). One JSON line
per data set and seed is appended to ``--out``/runs.jsonl; finished ones are skipped, so the
command can be run again after an interruption. ``--report`` prints the tables of the stored runs
beside the reference's records (``--reference``, written by
``../shared/reference/aecm_pre_reference.py`` with ``AECM_PRE_OUT``). Usage, one core each::

    OMP_NUM_THREADS=1 python benchmarks/aecm_fidelity.py pendigits:0 pendigits:1 usps:0
    cd /tmp && OMP_NUM_THREADS=1 TORCH_THREADS=1 \\
        AECM_PRE_OUT=$OLDPWD/docs/bench/aecm-fidelity/reference.jsonl \\
        python $OLDPWD/../shared/reference/aecm_pre_reference.py pendigits:0 pendigits:1 usps:0
    python benchmarks/aecm_fidelity.py --report --update-docs docs/results.md
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from _docs import run_context, stored, write_block

import aecm
from aecm import AECM, AEKMeans
from aecm.metrics import evaluate

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
OUT = Path(__file__).resolve().parents[1] / "docs/bench/aecm-fidelity"
PHASES = (("ae_km", "AE+KM"), ("cm", "CM phase"), ("aecm", "AE-CM final"))


def _scores(y, labels) -> dict[str, float]:
    return {key: round(float(value), 4) for key, value in evaluate(y, labels).items()}


def run_one(name: str, seed: int, args) -> dict:
    X, y = aecm.datasets.load(name, DATA)
    k = len(np.unique(y))
    tuned = aecm.paper.tuned(aecm.paper.AECM_TUNED, name)
    dim = tuned["embedding_dim"]
    record = {
        "dataset": name,
        "seed": seed,
        "config": args.config,
        "params": args.params,
        "schedule": [args.pretrain_epochs, args.cm_epochs, args.epochs],
        **run_context(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        ae = AEKMeans(
            k,
            embedding_dim=dim,
            pretrain_epochs=args.pretrain_epochs,
            kmeans_n_init=20,
            random_state=seed,
        ).fit(X)
        record["ae_km"] = _scores(y, ae.labels_)
        record["seconds_pretrain"] = round(time.perf_counter() - started, 1)
        for phase, n_epochs in (("cm", 0), ("aecm", args.epochs)):
            params = {
                "pretrained": ae,
                "cm_epochs": args.cm_epochs,
                "n_epochs": n_epochs,
                "random_state": seed,
                **args.params,
            }
            if args.config == "paper":
                model = AECM.from_paper(name, **params)
            else:
                model = AECM(k, embedding_dim=dim, **params)
            started = time.perf_counter()
            model.fit(X)
            record[phase] = _scores(y, model.labels_)
            record["params"] = {**args.params, "loss": model.loss}  # what ran, whatever the default
            record[f"seconds_{phase}"] = round(time.perf_counter() - started, 1)
            record[f"empty_clusters_{phase}"] = int(k - len(np.unique(model.labels_)))
    return record


def _cell(values: list[float]) -> str:
    if not values:
        return "–"
    values = 100 * np.asarray(values)
    return f"{values.mean():.1f} ± {values.std():.1f}"


#: The block of the docs that ``--update-docs`` writes (see ``_docs.py``).
DOCS_BLOCK = ("aecm_fidelity tables", "aecm_fidelity.py")


def report(runs: list[dict], reference: list[dict], config: str = "paper") -> str:
    """For each set of changed parameters (none first) and data set: each phase's ACC and NMI,
    aecm beside the reference, over the seeds that both sides have; then the final ACC per
    seed."""
    theirs: dict[tuple[str, int], dict] = {}  # the reference writes one row per phase
    for row in reference:
        theirs.setdefault((row["dataset"], row["seed"]), {})[row["phase"]] = row
    theirs = {key: rows for key, rows in theirs.items() if "aecm" in rows}
    ours = [r for r in runs if r["config"] == config]
    variants = sorted({json.dumps(r.get("params", {}), sort_keys=True) for r in ours}, key=len)
    lines = []
    for variant in variants:
        changed = ", ".join(f"{k}={v!r}" for k, v in json.loads(variant).items())
        title = f"`AECM.from_paper({changed})`" if changed else "`AECM.from_paper`"
        for name in sorted({r["dataset"] for r in ours}):
            mine = {
                r["seed"]: r
                for r in ours
                if r["dataset"] == name
                and json.dumps(r.get("params", {}), sort_keys=True) == variant
            }
            seeds = sorted(s for s in mine if (name, s) in theirs)
            if not seeds:
                continue
            first = mine[seeds[0]]
            lines += [
                f"**{name}**, {title}, seeds {', '.join(map(str, seeds))}, ACC / NMI %, mean ± "
                f"std over seeds (aecm {first['aecm_version']}, {first['torch']}, "
                f"{', '.join(sorted({mine[s]['date'] for s in seeds}))}):",
                "",
                "| phase | aecm ACC | reference ACC | aecm NMI | reference NMI |",
                "| --- | --- | --- | --- | --- |",
            ]
            for key, label in PHASES:
                cells = []
                for metric in ("acc", "nmi"):
                    cells.append(_cell([mine[s][key][metric] for s in seeds]))
                    cells.append(_cell([theirs[name, s][key][metric] for s in seeds]))
                lines.append(f"| {label} | {' | '.join(cells)} |")
            per_seed = " / ".join(
                f"{100 * mine[s]['aecm']['acc']:.1f} vs {100 * theirs[name, s]['aecm']['acc']:.1f}"
                for s in seeds
            )
            lines += ["", f"Final ACC per seed, aecm vs reference: {per_seed}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="DATASET:SEED, e.g. pendigits:0")
    parser.add_argument("--config", choices=["paper", "defaults"], default="paper")
    parser.add_argument("--pretrain-epochs", type=int, default=50)
    parser.add_argument("--cm-epochs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help='changed parameters, e.g. \'{"loss": "pytorch"}\'',
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--reference", type=Path, default=OUT / "reference.jsonl")
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--update-docs", type=Path, help="write the tables into this file")
    args = parser.parse_args()
    if args.report or args.update_docs:
        runs, reference = stored(args.out / "runs.jsonl"), stored(args.reference)
        text = report(runs, reference, args.config)
        print(text)
        if args.update_docs:
            write_block(args.update_docs, *DOCS_BLOCK, text)
        return
    store = args.out / "runs.jsonl"
    store.parent.mkdir(parents=True, exist_ok=True)
    schedule = [args.pretrain_epochs, args.cm_epochs, args.epochs]
    for item in args.runs:
        name, seed = item.split(":")
        params = dict(args.params)
        if "loss" not in params:  # the records name the loss that ran
            model = AECM.from_paper(name) if args.config == "paper" else AECM()
            params["loss"] = model.loss
        done = any(
            r["dataset"] == name
            and r["seed"] == int(seed)
            and r["config"] == args.config
            and r.get("params", {}) == params
            and r["schedule"] == schedule
            for r in stored(store)
        )
        if done:
            print(f"{item}: stored, skipped")
            continue
        record = run_one(name, int(seed), args)
        with store.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(
            f"{item}: AE+KM {record['ae_km']['acc']:.3f}, CM phase {record['cm']['acc']:.3f}, "
            f"final {record['aecm']['acc']:.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
