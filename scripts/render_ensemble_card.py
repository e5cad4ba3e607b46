"""Render docs/explain/ensemble.md (and its two figures) from the ensemble's report in docs/explain/ensemble.

    python -m scripts.render_ensemble_card [docs/explain/ensemble]
"""

import sys
from pathlib import Path

from models.evaluation.cards import ensemble

if __name__ == "__main__":
    print("wrote", ensemble.write(*(Path(a) for a in sys.argv[1:2])))
