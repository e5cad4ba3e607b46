"""CLI commands for classifiers, explanations and QC (kept apart so models/cli.py stays short)."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register train-classifier, explain and qc (filled in by models.classifier / explain / qc)."""
    return None
