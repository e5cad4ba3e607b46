"""Every card in docs/ is what its committed JSON renders to, and an edited figure shows up as drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.evaluation.cards import CARDS, ROOT, drifted, realism


def test_every_card_matches_its_json():
    assert drifted() == [], "re-render with `python -m scripts.render_<card>_card` (docs/README.md lists them)"


@pytest.mark.parametrize("path", sorted(CARDS))
def test_each_registered_card_exists(path: str):
    assert (ROOT / path).is_file()


def test_an_edited_figure_is_drift(tmp_path: Path):
    """Change one FID in the T card's JSON: the rendered card no longer equals the committed one."""
    copy = tmp_path / "realism"
    shutil.copytree(realism.FOLDER, copy, ignore=shutil.ignore_patterns("*.png", "*.gif", "*.npz"))
    card = json.loads((copy / "T" / "card.json").read_text())
    assert edit_first_number(card["64"]["distances_judge"]), "no figure found to edit"
    (copy / "T" / "card.json").write_text(json.dumps(card))
    assert realism.card_text(copy) != (ROOT / "docs" / "realism-card.md").read_text()
    assert realism.card_text(realism.FOLDER) == (ROOT / "docs" / "realism-card.md").read_text()


def edit_first_number(block: dict) -> bool:
    """Add 1 to the first float found in a nested dict (in place)."""
    for key, value in block.items():
        if isinstance(value, float):
            block[key] = value + 1.0
            return True
        if isinstance(value, dict) and edit_first_number(value):
            return True
    return False
