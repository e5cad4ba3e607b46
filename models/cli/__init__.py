"""`radsynth` command line: train generators and classifiers, generate, explain, run QC.

One module per group of commands; each registers its subcommands with `add_commands`."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_parser() -> argparse.ArgumentParser:
    """The `radsynth` parser with every command group's subcommands."""
    from models.cli import classifiers, datasets, generators, superres, volumes

    parser = argparse.ArgumentParser(prog="radsynth", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (generators, classifiers, volumes, superres, datasets):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"radsynth: error: {exc}", file=sys.stderr)
        return 2
