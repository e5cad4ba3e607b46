"""Render docs/model-card.md from docs/model-card.json and docs/model-card-3d.json.

    python -m scripts.render_model_card [docs]
"""

import sys
from pathlib import Path

from models.evaluation.cards import model

if __name__ == "__main__":
    print("wrote", model.write_card(*(Path(a) for a in sys.argv[1:2])))
