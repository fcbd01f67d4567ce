"""``aecm datasets``: list the benchmark data sets and fetch them from their public sources."""

from __future__ import annotations

import argparse

from aecm.cli._common import CommandError, format_table

__all__ = ["register"]

_ORIGIN = {
    "argument": "from --data-home",
    "$AECM_DATA": "from $AECM_DATA",
    "cache": "the per-user cache; set $AECM_DATA or --data-home to use another folder",
}


def _list(args: argparse.Namespace) -> int:
    from aecm import datasets

    folder = datasets.data_home(args.data_home)
    print(f"Data folder: {folder} ({_ORIGIN[datasets.data_home_origin(args.data_home)]})\n")
    rows = []
    for info in datasets.DATASETS.values():
        if args.verify:
            status = datasets.check_file(info.name, args.data_home)
            present = {"ok": "yes, sha256 ok", "mismatch": "yes, sha256 MISMATCH"}.get(
                status.verdict, "yes, sha256 unknown" if status.verdict == "unknown" else "no"
            )
        else:
            present = "yes" if (folder / info.filename).is_file() else "no"
        rows.append(
            {
                "name": info.name,
                "n": f"{info.n_samples:,}",
                "d": f"{info.n_features:,}",
                "K": str(info.n_classes),
                "preprocessing": info.preprocessing,
                "file": info.filename,
                "present": present,
                "fetch": "yes" if info.fetch is not None else "no (see its source)",
            }
        )
    print(format_table(rows))
    return 0


def _sha256_values(values: list[str] | None) -> str | dict[str, str] | None:
    """``--sha256`` values: one bare HEX, or FILE=HEX pairs."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = {}
    for value in values:
        filename, sep, digest = value.partition("=")
        if not sep:
            raise CommandError(f"--sha256 {value!r}: with several values, write each as FILE=HEX.")
        pairs[filename] = digest
    return pairs


def _fetch(args: argparse.Namespace) -> int:
    from aecm import datasets

    result = datasets.fetch(
        args.name,
        args.data_home,
        url=args.url,
        sha256=_sha256_values(args.sha256),
        force=args.force,
        log=lambda message: print(message, flush=True),
    )
    if not result.downloaded:
        print(f"{result.path} is already there (sha256 {result.sha256}); --force fetches again.")
        return 0
    for filename, note in result.raw.items():
        print(f"{filename}: {note}")
    print(f"wrote {result.path} (sha256 {result.sha256}, recorded in {result.path.name}.sha256)")
    return 0


def _help(parser: argparse.ArgumentParser):
    """A handler that prints ``parser``'s help and returns 2 (no action given)."""

    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``datasets`` (with ``list`` and ``fetch``) to the subcommands."""
    parser = commands.add_parser(
        "datasets",
        help="list the benchmark data sets, or download one from its public source",
        description="The paper's benchmark data sets: where aecm looks for them, and a fetcher "
        "that downloads, verifies (sha256) and converts them for users with internet access.",
    )
    parser.set_defaults(handler=_help(parser))
    actions = parser.add_subparsers(dest="datasets_command", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="each data set with n, d, K, preprocessing and whether its file is present",
        description="List the data sets aecm knows, and whether each file is in the folder "
        "that would be searched (shown first).",
    )
    listing.add_argument("--data-home", metavar="DIR", help="the data folder to look in")
    listing.add_argument(
        "--verify", action="store_true", help="also check each present file's sha256"
    )
    listing.set_defaults(handler=_list)

    fetch = actions.add_parser(
        "fetch",
        help="download a data set, verify it and convert it to <name>.npz",
        description="Download a data set from its public source (the original host, then "
        "mirrors), verify the sha256 of the raw files where one is known, convert it as the "
        "paper's make_datasets.py does and write <name>.npz atomically in the data folder. "
        "Raw files without a known checksum are reported with their computed sha256.",
    )
    fetch.add_argument("name", help="the data set (see `aecm datasets list`)")
    fetch.add_argument("--data-home", metavar="DIR", help="where to write (default: as list)")
    fetch.add_argument(
        "--url",
        metavar="URL",
        help="another base URL holding the same raw files (a mirror, or file:///folder/)",
    )
    fetch.add_argument(
        "--sha256",
        metavar="[FILE=]HEX",
        action="append",
        help="expected sha256 of a raw file (repeat as FILE=HEX for several files)",
    )
    fetch.add_argument("--force", action="store_true", help="fetch again if the file exists")
    fetch.set_defaults(handler=_fetch)
