"""Render docs/augmentation.md from docs/augmentation (study.json, setup.json).

    python -m scripts.render_augmentation_card [docs/augmentation]
"""

import sys
from pathlib import Path

from models.evaluation.cards import augmentation

if __name__ == "__main__":
    print("wrote", augmentation.write(*(Path(a) for a in sys.argv[1:2])))
