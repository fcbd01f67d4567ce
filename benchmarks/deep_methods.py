"""The deep methods side by side on one pretrained autoencoder per seed: quality and seconds.

For each data set and seed, one autoencoder d-500-500-2000-10 is pretrained (shared by every
method, as in the paper's protocol); AE+KM is k-means on its embedding, and AE-CM, DEC, IDEC,
DCN and DKM start from a copy of it. Prints, per data set, ACC / NMI / ARI (mean ± std over
seeds, %), the ACC and NMI of k-means on each method's final embedding ("k-ACC", "k-NMI"),
seconds per epoch of pretraining and of each method's clustering phase (joint phase for AE-CM),
and seconds per fit (excluding the shared pretraining). Usage::

    python benchmarks/deep_methods.py --datasets usps pendigits --seeds 5 \
        --pretrain-epochs 50 --epochs 50
    python benchmarks/deep_methods.py --datasets mnist --seeds 3 --pretraining dec-keras \
        --pretrain-epochs 300 --epochs 73 --methods dec,idec --idec-optimizer 0.1 0.99 \
        --out docs/bench/deep-mnist

The MNIST line is the published DEC schedule of the widely used Keras re-implementation (its
``run_exp.py``: 300 pretraining epochs of SGD with learning rate 1 and momentum 0.9 from
fan-in uniform weights, batch 256; then DEC with SGD 0.01 and momentum 0.9 for 2·10⁴
iterations, i.e. 73 epochs of 70 000 rows, target refreshed every 140 iterations; ACC 0.91
for DEC and 0.88 for AE+k-means, mean of 10 runs), with IDEC's published optimiser; add
``aecm,dcn,dkm`` to ``--methods`` for the other methods on the same autoencoders.

``--out`` keeps each finished fit and each pretrained autoencoder, and checkpoints the fit in
progress every ``--checkpoint-every`` epochs (in ``checkpoints/``, removed once the fit is
recorded), so a long run stopped on the way (crash, Ctrl-C, end of a session) goes on where it
stopped, within an epoch or so, when the same command is run again; the table then covers
every seed finished so far. ``--report`` prints the tables of every fit stored in ``--out``
without fitting anything (e.g. while other processes are still running seeds); with
``--update-docs docs/results.md`` it also writes them into that file, between the markers of
the folder's block (``DOCS_BLOCKS``)::

    python benchmarks/deep_methods.py --out docs/bench/deep-mnist --report --update-docs \
        docs/results.md

``--aecm-paper`` adds a row for AE-CM with the authors' tuned values (``AECM.from_paper``),
which pretrains its own autoencoder when the tuned embedding size is not 10.

Reads the data with ``aecm.datasets`` from ``$AECM_DATA``, else ``../shared/datasets``.
Timings are wall-clock seconds on whatever else the machine is doing: compare rows of one run
only.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import itertools
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from _docs import check_same_autoencoder, run_context, write_block
from sklearn.cluster import KMeans

import aecm
from aecm import AECM, DCN, DEC, DKM, IDEC, AEKMeans
from aecm.checkpoint import Checkpointer, data_fingerprint
from aecm.data import make_source
from aecm.methods.autoencoder import ReconstructionObjective
from aecm.metrics import evaluate
from aecm.nn import Autoencoder
from aecm.training import LoopConfig, make_optimizer, train

DATA = Path(os.environ.get("AECM_DATA", Path(__file__).resolve().parents[2] / "shared/datasets"))
# the --methods names, the keys of methods()'s table
METHODS = ("aecm", "aecm-refine", "aecm-unit", "dec", "idec", "dcn", "dkm")
METRICS = ("acc", "nmi", "ari", "k_acc", "k_nmi", "epoch_s", "fit_s")
# the bare PyTorch pretraining loops measured beside aecm's: name → fused Adam step
PEERS = {
    "bare PyTorch pretraining epoch": False,
    "bare PyTorch pretraining epoch, fused Adam": True,
}
AEKM_NAME = "AE+KM (pretraining + k-means)"
# the fields of a record that name its run's configuration (one table each)
CONFIG = ("dataset", "pretraining", "pretrain_epochs", "cm_epochs", "epochs", "batch_size")
# the order of the rows of a table: the start of each method's name
ROW_ORDER = (
    "AE+KM",
    "AE-CM (defaults:",
    "AE-CM (defaults) +",
    "AE-CM (defaults) on",
    "DEC (",
    "IDEC (",
    "DCN (",
    "DKM (",
    "AE-CM from_paper",
)

#: The blocks of the docs that ``--report --update-docs`` writes, by the name of the ``--out``
#: folder whose stored runs they show (see ``_docs.py``).
DOCS_BLOCKS = {
    folder: (f"docs/bench/{folder} tables", "deep_methods.py")
    for folder in ("deep-mnist", "refine-pendigits", "deep-speed")
}


def pm(values, scale=1.0, digits=1):
    values = np.asarray(values, dtype=float) * scale
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def methods(args, k):
    """Name → factory(seed, pretrained autoencoder estimator) of each compared method."""
    common = {"n_epochs": args.epochs, "batch_size": args.batch_size, "device": args.device}
    lr, momentum = args.idec_optimizer
    table = {
        "aecm": (
            "AE-CM (defaults: PyTorch loss, lambda 1, alpha and beta 'auto', step 3e-4)",
            lambda s, ae: AECM(
                k, pretrained=ae, cm_epochs=args.cm_epochs, random_state=s, **common
            ),
        ),
        "aecm-refine": (
            "AE-CM (defaults) + 20 EM iterations on the final embedding (refine_iter=20)",
            lambda s, ae: AECM(
                k, pretrained=ae, cm_epochs=args.cm_epochs, refine_iter=20, random_state=s, **common
            ),
        ),
        "aecm-unit": (
            "AE-CM (defaults) on the embedding scaled to unit-norm k-means centroids",
            lambda s, ae: AECM(
                k, pretrained=unit_centroids(ae), cm_epochs=args.cm_epochs, random_state=s, **common
            ),
        ),
        "dec": (
            "DEC (SGD 0.01, momentum 0.9)",
            lambda s, ae: DEC(k, pretrained=ae, random_state=s, **common),
        ),
        "idec": (
            f"IDEC (SGD {lr:g}, momentum {momentum:g}, gamma 0.1)",
            lambda s, ae: IDEC(
                k, pretrained=ae, learning_rate=lr, momentum=momentum, random_state=s, **common
            ),
        ),
        "dcn": (
            "DCN (Adam 1e-4, lambda 1)",
            lambda s, ae: DCN(k, pretrained=ae, random_state=s, **common),
        ),
        "dkm": (
            "DKM (Adam 1e-3, lambda 1)",
            lambda s, ae: DKM(k, pretrained=ae, random_state=s, **common),
        ),
    }
    table = dict(table[name] for name in args.methods)
    if args.aecm_paper:
        tuned = aecm.paper.tuned(aecm.paper.AECM_TUNED, args.dataset)
        name = (
            "AE-CM from_paper ({embedding_dim}-dim embedding, beta {beta:g}, alpha {alpha:g}, "
            "batch {batch_size})".format(**tuned)
        )
        table[name] = lambda s, ae: AECM.from_paper(
            args.dataset,
            pretrained=ae if ae.embedding_dim == tuned["embedding_dim"] else None,
            pretrain_epochs=args.pretrain_epochs,
            cm_epochs=args.cm_epochs,
            n_epochs=args.epochs,
            random_state=s,
            device=args.device,
        )
    return table


def unit_centroids(ae: AEKMeans) -> Autoencoder:
    """A copy of ``ae``'s autoencoder whose embedding is divided by the root mean square norm
    of its k-means centroids, the decoder's first layer multiplied back (same reconstructions,
    same k-means partition). The CM's loss assumes unit-norm, orthonormal centroids (E2 with
    ‖μ_k‖ = 1 and the orthonormality term); on an embedding whose cluster means are far from
    unit norm, that term pulls the centroids away from the means."""
    network = copy.deepcopy(ae.autoencoder_)
    network.rescale_embedding(float(np.sqrt((ae.cluster_centers_**2).sum(axis=1).mean())))
    return network


def plain_torch_epochs(X: np.ndarray, batch_size: int, device: str, rounds: int = 3) -> dict:
    """Median seconds of a pretraining epoch of bare PyTorch loops (same network, Adam 1e-3,
    MSE, shuffled batches), one per entry of :data:`PEERS` (default or fused Adam step): the
    peers of aecm's pretraining epoch, measured in the same run, their epochs interleaved over
    ``rounds`` rounds so that both see the same machine load."""
    sizes = (X.shape[1], 500, 500, 2000, 10)

    def mlp(sizes):
        layers = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.LeakyReLU(0.2))
        return torch.nn.Sequential(*layers)

    data = torch.as_tensor(X, device=device)
    loops = {}
    for name, fused in PEERS.items():
        net = torch.nn.Sequential(mlp(sizes), mlp(sizes[::-1])).to(device)
        loops[name] = (net, torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused or None))
    seconds = {name: [] for name in PEERS}
    for round_ in range(rounds):
        for name in list(PEERS)[:: 1 if round_ % 2 == 0 else -1]:
            net, optimizer = loops[name]
            started = time.perf_counter()
            for index in torch.randperm(len(data)).split(batch_size):
                batch = data[index]
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(net(batch), batch).backward()
                optimizer.step()
            seconds[name].append(time.perf_counter() - started)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def dec_keras_autoencoder(X: np.ndarray, args, seed: int, checkpoint_dir: Path | None):
    """The autoencoder of the widely used Keras re-implementation of DEC on MNIST: weights
    uniform in ±1/√fan_in, zero biases, ``args.pretrain_epochs`` epochs of SGD (learning rate
    1, momentum 0.9) on the mean squared error, batch ``args.batch_size``; trained by aecm's
    training loop, resumed from ``checkpoint_dir`` when it holds checkpoints of the same
    pretraining. Returns the autoencoder and its pretraining history."""
    generator = torch.Generator().manual_seed(seed)
    autoencoder = Autoencoder(X.shape[1], 10).to(args.device)
    with torch.no_grad():
        for layer in autoencoder.modules():
            if isinstance(layer, torch.nn.Linear):
                bound = layer.in_features**-0.5
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
    objective = ReconstructionObjective(autoencoder)
    optimizer = make_optimizer(torch.optim.SGD, objective.parameters(), lr=1.0, momentum=0.9)
    checkpoints = None
    if checkpoint_dir is not None:
        run = {
            "pretraining": "dec-keras",
            "epochs": args.pretrain_epochs,
            "batch_size": args.batch_size,
            "seed": seed,
            "data": data_fingerprint(X),
        }
        checkpoints, _ = Checkpointer.open(checkpoint_dir, args.checkpoint_every, run, [seed])
    config = LoopConfig(
        args.pretrain_epochs, args.batch_size, averaging=False, checkpoints=checkpoints
    )
    source = make_source(X, torch.device(args.device))
    result = train(objective, optimizer, source, config, generator)
    return autoencoder, result.history


class Store:
    """The runs of one benchmark folder (``--out``): one JSON line per finished fit in
    ``runs.jsonl`` and each seed's pretrained autoencoder in ``pretrained/``, so that a run
    stopped by a crash, Ctrl-C or the end of a session goes on where it stopped. Without a
    folder nothing is kept."""

    def __init__(self, folder: str | None, *, read_only: bool = False) -> None:
        self.folder = Path(folder) if folder else None
        self.records: list[dict] = []
        if self.folder is None:
            return
        if not read_only:
            (self.folder / "pretrained").mkdir(parents=True, exist_ok=True)
        runs = self.folder / "runs.jsonl"
        if runs.exists():
            for number, line in enumerate(runs.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError:  # the last line of a run killed while writing
                    print(f"  (skipping unreadable line {number} of {runs})")

    def matching(self, key: dict) -> list[dict]:
        """The records whose fields include every item of ``key``, in the order stored."""
        return [r for r in self.records if all(r.get(k) == v for k, v in key.items())]

    def done(self, key: dict) -> dict | None:
        """The record of the fit described by ``key``, if it finished."""
        found = self.matching(key)
        return found[0] if found else None

    def add(self, record: dict) -> None:
        self.records.append(record)
        if self.folder is not None:
            with open(self.folder / "runs.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, sort_keys=True) + "\n")
                handle.flush()
                os.fsync(handle.fileno())

    def pretrained(self, name: str) -> Path | None:
        return None if self.folder is None else self.folder / "pretrained" / name

    def checkpoints(self, name: str) -> Path | None:
        """The checkpoint folder of the fit ``name`` while it runs (``None`` without a folder)."""
        if self.folder is None:
            return None
        slug = hashlib.sha256(name.encode()).hexdigest()[:12]
        return self.folder / "checkpoints" / slug

    def finished(self, checkpoints: Path | None) -> None:
        """Drop the checkpoints of a fit whose record is stored."""
        if checkpoints is not None:
            shutil.rmtree(checkpoints, ignore_errors=True)


def pretraining_optimiser(config: dict) -> str:
    return "SGD 1, momentum 0.9" if config["pretraining"] == "dec-keras" else "Adam 1e-3"


def schedule(config: dict) -> str:
    """The schedule of a run's configuration (the fields of :data:`CONFIG`), in words."""
    return (
        f"pretrain {config['pretrain_epochs']} epochs ({pretraining_optimiser(config)}), "
        f"{config['epochs']} clustering epochs (AE-CM: {config['cm_epochs']} CM + "
        f"{config['epochs']} joint), batch {config['batch_size']}"
    )


def collect(records: list[dict], config: dict, names=None, seeds=None) -> dict[str, dict]:
    """Each method's finished fits of one configuration (the first record of each seed):
    metric → values in the order of the seeds, and the thread counts and whether any fit went
    on from checkpoints. ``names``: these methods in this order (default: every method found,
    in the order of :data:`ROW_ORDER`); ``seeds``: only these seeds."""
    first: dict[tuple[str, int], dict] = {}
    for r in records:
        if r["method"] in PEERS or any(r.get(key) != value for key, value in config.items()):
            continue
        if seeds is None or r["seed"] in seeds:
            first.setdefault((r["method"], r["seed"]), r)
    if names is None:
        rank = {p: i for i, p in enumerate(ROW_ORDER)}

        def order(name):
            return min((i for p, i in rank.items() if name.startswith(p)), default=len(rank)), name

        names = sorted({name for name, _ in first}, key=order)
    rows: dict[str, dict] = {}
    for name in names:
        found = [first[key] for key in sorted(key for key in first if key[0] == name)]
        if found:
            rows[name] = {metric: [r[metric] for r in found] for metric in METRICS}
            rows[name]["threads"] = [r["threads"] for r in found]
            rows[name]["resumed"] = any(r.get("resumed") for r in found)
    return rows


def peers_line(records: list[dict], config: dict, seeds=None) -> str | None:
    """aecm's pretraining epoch beside the bare PyTorch loops, where these ran: compared on the
    seeds they ran beside, with the same thread count."""
    matching = [r for r in records if all(r.get(k) == v for k, v in config.items())]
    ours = {
        (r["seed"], r["threads"]): r["epoch_s"]
        for r in matching
        if r["method"] == AEKM_NAME and (seeds is None or r["seed"] in seeds)
    }
    beside = {
        name: [r for r in matching if r["method"] == name and (r["seed"], r["threads"]) in ours]
        for name in PEERS
    }
    if not all(beside.values()):
        return None
    runs = sorted({(r["seed"], r["threads"]) for found in beside.values() for r in found})
    medians = [np.median([r["epoch_s"] for r in found]) for found in beside.values()]
    threads = sorted({t for _, t in runs})
    return (
        f"pretraining epoch (median over seeds {sorted({s for s, _ in runs})}, "
        f"{'/'.join(map(str, threads))} thread{'s' * (threads != [1])}): aecm "
        f"({pretraining_optimiser(config)}) "
        f"{np.median([ours[run] for run in runs]):.2f} s; bare PyTorch loop "
        f"{medians[0]:.2f} s, with the fused Adam step {medians[1]:.2f} s (same network, "
        f"Adam, batch {config['batch_size']})"
    )


def run_dataset(args, store: Store) -> dict[str, dict[str, list[float]]]:
    X, y = aecm.datasets.load(args.dataset, DATA)
    k = len(np.unique(y))
    config = {
        "dataset": args.dataset,
        "pretrain_epochs": args.pretrain_epochs,
        "epochs": args.epochs,
        "cm_epochs": args.cm_epochs,
        "batch_size": args.batch_size,
        "pretraining": args.pretraining,
    }
    print(
        f"\n## {args.dataset}: n={X.shape[0]} d={X.shape[1]} K={k}; AE d-500-500-2000-10, "
        f"{schedule(config)}, {args.seeds} seeds",
        flush=True,
    )
    context = run_context()
    stamp = {
        "aecm": aecm.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": args.device,
        "machine": context["machine"],
        "date": context["date"],
    }

    def record(name, seed, model, fit_seconds, epoch_seconds, resumed):
        """Store a finished fit; ``resumed``: it went on from checkpoints of an earlier
        process, so ``fit_s`` covers this process's part only."""
        scores = evaluate(y, model.labels_)
        k_labels = KMeans(k, n_init=10, random_state=0).fit_predict(model.transform(X))
        k_scores = evaluate(y, k_labels)
        values = {
            **scores,
            "k_acc": k_scores["acc"],
            "k_nmi": k_scores["nmi"],
            "epoch_s": float(epoch_seconds),
            "fit_s": float(fit_seconds),
        }
        if resumed:
            values["resumed"] = True
        store.add({**config, "seed": seed, "method": name, **values, **stamp})
        print(
            f"  seed {seed} {name}: ACC {scores['acc']:.3f} NMI {scores['nmi']:.3f} "
            f"({fit_seconds:.0f} s)",
            flush=True,
        )

    factories = methods(args, k)
    aekm_name = AEKM_NAME
    for seed in args.only_seeds or range(args.seeds):
        if all(store.done({**config, "seed": seed, "method": m}) for m in [aekm_name, *factories]):
            continue
        prefix = f"{args.dataset}-{args.pretraining}-p{args.pretrain_epochs}-b{args.batch_size}"
        folder = store.pretrained(f"{prefix}-seed{seed}")
        checkpoints = store.checkpoints(f"{prefix}-seed{seed}")
        resumed = checkpoints is not None and checkpoints.exists()
        if folder is not None and folder.exists():
            ae = aecm.load(folder, device=args.device)
            print(f"  seed {seed}: pretrained autoencoder loaded from {folder}", flush=True)
        else:
            started = time.perf_counter()
            if args.pretraining == "dec-keras":
                network, history = dec_keras_autoencoder(X, args, seed, checkpoints)
                ae = AEKMeans(k, pretrained=network, random_state=seed, device=args.device)
                ae.fit(X)
            else:
                ae = AEKMeans(
                    k,
                    pretrain_epochs=args.pretrain_epochs,
                    batch_size=args.batch_size,
                    random_state=seed,
                    device=args.device,
                    checkpoint_dir=checkpoints,
                    checkpoint_every=args.checkpoint_every,
                ).fit(X)
                history = ae.history_["pretrain"]
            fit_seconds = time.perf_counter() - started
            # record, then save, then drop the checkpoints: a run killed in between finds the
            # finished pretraining in its checkpoints and does not record it twice
            stored = store.done({**config, "seed": seed, "method": aekm_name})
            if stored:
                check_same_autoencoder(stored, evaluate(y, ae.labels_), args.dataset, seed)
            else:
                record(aekm_name, seed, ae, fit_seconds, np.median(history["seconds"]), resumed)
            if folder is not None:
                ae.set_params(checkpoint_dir=None).save(folder)
            store.finished(checkpoints)
        if not all(store.done({**config, "method": peer}) for peer in PEERS):
            for peer, seconds in plain_torch_epochs(X, args.batch_size, args.device).items():
                store.add({**config, "seed": seed, "method": peer, "epoch_s": seconds, **stamp})
        for name, make in factories.items():
            if store.done({**config, "seed": seed, "method": name}):
                continue
            started = time.perf_counter()
            checkpoints = store.checkpoints(f"{prefix}-seed{seed}-{name}")
            resumed = checkpoints is not None and checkpoints.exists()
            model = make(seed, ae).set_params(
                checkpoint_dir=checkpoints, checkpoint_every=args.checkpoint_every
            )
            model.fit(X)
            phase = "joint" if "joint" in model.history_ else "clustering"
            record(
                name,
                seed,
                model,
                time.perf_counter() - started,
                np.median(model.history_[phase]["seconds"]),
                resumed,
            )
            store.finished(checkpoints)
    # the seeds asked for, in the order of the methods asked for
    rows = collect(store.records, config, [aekm_name, *factories], range(args.seeds))
    # the peers ran beside one seed's pretraining: compare with the pretraining epochs of the
    # seeds they ran beside, with the same thread count
    line = peers_line(store.records, config, range(args.seeds))
    if line:
        print(f"  {line}", flush=True)
    return rows


def table(rows: dict[str, dict], fit_seconds: bool = True) -> list[str]:
    """The Markdown table of :func:`collect`'s rows, with the column s / fit or without."""
    header = "| method | seeds | ACC % | NMI % | ARI % | k-ACC % | k-NMI % | s / epoch |"
    lines = [header + (" s / fit |" if fit_seconds else "")]
    lines.append("| --- " * (header.count("|") - 1 + fit_seconds) + "|")
    for name, r in rows.items():
        cells = [str(len(r["acc"]))]
        cells += [pm(r[m], 100) for m in ("acc", "nmi", "ari", "k_acc", "k_nmi")]
        cells.append(pm(r["epoch_s"], digits=3))
        if fit_seconds:
            cells.append(pm(r["fit_s"], digits=1))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def notes(rows: dict[str, dict], fit_seconds: bool = True) -> list[str]:
    """What the seconds of :func:`table` are, one sentence a line."""
    lines = [
        "s / epoch: pretraining for AE+KM, the clustering phase otherwise (AE-CM: joint phase); "
        + (
            "s / fit excludes the shared pretraining, except for AE+KM (pretraining + k-means) "
            "and for AE-CM from_paper when it pretrains its own autoencoder."
            if fit_seconds
            else "s / fit is left out: some fits went on from the checkpoints of an earlier "
            "process, and their seconds cover only the last process's part."
        )
    ]
    threads = sorted({t for r in rows.values() for t in r["threads"]})
    if len(threads) > 1:
        lines.append(
            f"The seeds ran with {' or '.join(map(str, threads))} threads (processes with "
            "different settings wrote to one --out folder): the seconds mix them."
        )
    # the AE-CM row measured on the most seeds, named: rows of different defaults may be stored
    joint = [(name, r["epoch_s"]) for name, r in rows.items() if name.startswith("AE-CM (defaults")]
    idec = [r["epoch_s"] for name, r in rows.items() if name.startswith("IDEC")]
    if joint and idec:
        name, seconds = max(joint, key=lambda row: len(row[1]))
        ratio = np.median(seconds) / np.median(idec[0])
        lines.append(f"{name} joint epoch / IDEC epoch (same batch size, medians): {ratio:.2f}")
    return lines


def print_table(rows) -> None:
    print()
    print("\n".join(table(rows)))
    print("\n" + "\n".join(notes(rows)), flush=True)


def _distinct(records: list[dict], field: str) -> str:
    return " or ".join(map(str, sorted({r[field] for r in records if field in r})))


def report(records: list[dict]) -> str:
    """The tables of every stored fit, one per configuration (data set and schedule) in the
    order first stored: a line that names the data set, the schedule, the seeds and the
    versions, the table, and what its seconds are. ``s / fit`` is left out of a table where a
    fit went on from checkpoints."""
    configs: list[dict] = []
    for r in records:
        config = {key: r[key] for key in CONFIG}
        if config not in configs:
            configs.append(config)
    parts = []
    for config in configs:
        rows = collect(records, config)
        if not rows:
            continue
        fit_seconds = not any(r["resumed"] for r in rows.values())
        found = [r for r in records if all(r.get(k) == v for k, v in config.items())]
        info = aecm.datasets.DATASETS.get(config["dataset"])
        size = (
            f" (n = {info.n_samples}, d = {info.n_features}, K = {info.n_classes})" if info else ""
        )
        seeds = sorted({r["seed"] for r in found if r["method"] not in PEERS})
        threads = _distinct(found, "threads")
        # where and when, for the runs that recorded it (records from 2026-12-07 on)
        dates = sorted({r["date"] for r in found if "date" in r})
        where = ""
        if dates:
            span = " to ".join(dict.fromkeys([dates[0], dates[-1]]))
            undated = " (the earlier runs undated)" if any("date" not in r for r in found) else ""
            where = f"; {span}{undated}, {_distinct(found, 'machine')}"
        lines = [
            f"**{config['dataset']}**{size}, AE d-500-500-2000-10, {schedule(config)}; seeds "
            f"{', '.join(map(str, seeds))}; aecm {_distinct(found, 'aecm')}, torch "
            f"{_distinct(found, 'torch')}, device {_distinct(found, 'device')}, "
            f"{threads} thread{'s' * (threads != '1')} per process{where}:",
            "",
            *table(rows, fit_seconds),
            "",
            *notes(rows, fit_seconds),
        ]
        line = peers_line(records, config)
        if line:
            lines.append(line[0].upper() + line[1:] + ".")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["usps", "pendigits"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--pretrain-epochs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=50, help="clustering/joint epochs")
    parser.add_argument("--cm-epochs", type=int, default=None, help="AE-CM's CM phase (--epochs)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--aecm-paper", action="store_true", help="add AE-CM from_paper")
    parser.add_argument(
        "--methods",
        default="aecm,aecm-refine,dec,idec,dcn,dkm",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=f"comma-separated among {', '.join(METHODS)} (AE+KM always runs)",
    )
    parser.add_argument(
        "--idec-optimizer",
        nargs=2,
        type=float,
        default=(0.01, 0.9),
        metavar=("LR", "MOMENTUM"),
        help="IDEC's SGD (default: aecm's, 0.01 0.9; IDEC's paper: 0.1 0.99)",
    )
    parser.add_argument(
        "--only-seeds",
        type=lambda text: [int(seed) for seed in text.split(",")],
        help="run these seeds only (e.g. 0,1), to share the seeds among processes writing to "
        "one --out folder; the table covers the seeds of --seeds found there",
    )
    parser.add_argument(
        "--pretraining",
        choices=("aecm", "dec-keras"),
        default="aecm",
        help="aecm: the estimators' pretraining (Glorot weights, Adam 1e-3); dec-keras: the "
        "Keras DEC re-implementation's (fan-in uniform weights, SGD 1 with momentum 0.9)",
    )
    parser.add_argument(
        "--out",
        help="keep each finished fit (runs.jsonl) and pretrained autoencoder in this folder; "
        "running the same command again goes on where it stopped",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print the tables of every fit stored in --out (finished so far) without fitting",
    )
    parser.add_argument(
        "--update-docs",
        type=Path,
        help="with --report, write the tables into this file (the block of --out's folder: "
        f"{', '.join(DOCS_BLOCKS)})",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="with --out, epochs between checkpoints of the fit in progress (default 1)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose among {', '.join(METHODS)}")
    if args.report and not args.out:
        parser.error("--report reads the fits stored in --out; give --out")
    if args.update_docs and not args.report:
        parser.error("--update-docs writes the tables of --report; give --report")
    if args.update_docs and Path(args.out).name not in DOCS_BLOCKS:
        parser.error(f"--update-docs: no block of the docs shows {args.out}")
    if args.cm_epochs is None:
        args.cm_epochs = args.epochs
    if args.report:
        text = report(Store(args.out, read_only=True).records)
        print(text, end="")
        if args.update_docs:
            write_block(args.update_docs, *DOCS_BLOCKS[Path(args.out).name], text)
        return
    print(
        f"aecm {aecm.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}, "
        f"device {args.device}",
        flush=True,
    )
    store = Store(args.out)
    for dataset in args.datasets:
        args.dataset = dataset
        started = time.perf_counter()
        rows = run_dataset(args, store)
        print_table(rows)
        print(f"{dataset}: {time.perf_counter() - started:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()
