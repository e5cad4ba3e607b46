"""What the sweeps on the validation split share: their command line (the NIH folders, the bundled generator and
the judge) and how their figures are saved."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sweep_parser(doc: str, out: Path) -> argparse.ArgumentParser:
    """The arguments every V sweep takes; a sweep adds its own."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("data", nargs="+", help="NIH folders (the realism splits' V and G are read from them)")
    ap.add_argument("--generator", default=str(ROOT / "models" / "pretrained" / "nih-cxr14"))
    ap.add_argument("--judge", default=str(ROOT / "bundles" / "judge-nih-J64"))
    ap.add_argument("--out", default=str(out))
    return ap


def save_figure(fig, title: str, path: Path) -> None:
    """Title, lay out, write and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
