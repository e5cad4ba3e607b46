"""Render docs/realism-card.md from the realism cards of V (the choices) and T (the figures).

    python -m scripts.render_realism_card docs/realism [--out docs/realism-card.md]
"""

import argparse
from pathlib import Path

from models.evaluation.cards import realism

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=str(realism.FOLDER), help="folder with V/card.json and T/card.json")
    ap.add_argument("--out", default=str(realism.ROOT / "docs" / "realism-card.md"))
    args = ap.parse_args()
    print("wrote", realism.write(Path(args.root), Path(args.out)))
