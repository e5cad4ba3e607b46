"""Render docs/explain/counterfactual.md from the V and T checks in docs/explain/counterfactual.

    python -m scripts.render_counterfactual_card [docs/explain/counterfactual]
"""

import sys
from pathlib import Path

from models.evaluation.cards import counterfactual

if __name__ == "__main__":
    print("wrote", counterfactual.write(*(Path(a) for a in sys.argv[1:2])))
