"""The T card merge keeps the record of earlier default changes and records the new one from both cards."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from scripts.merge_t_card import merged, summary

CARD = Path(__file__).resolve().parents[1] / "docs" / "realism" / "T" / "card.json"


def test_a_new_t_reading_keeps_the_history_and_records_the_change_of_base() -> None:
    old = json.loads(CARD.read_text())
    new = {k: v for k, v in copy.deepcopy(old).items() if not k.startswith("previous_")
           and k not in ("base_changes", "look")}
    new["256"]["label_agreement_gap"] = 0.01
    new["64"]["distances_judge"]["generated"]["ratio_to_floor"] = 1.2

    card = merged(old, new, 99999, "the base trained on", "ribs in most images")

    assert {k for k in old if k.startswith("previous_")} <= set(card)
    assert set(old["base_changes"]) < set(card["base_changes"])
    change = card["base_changes"]["99999"]
    assert change["256"]["before"] == summary(old, "256")
    assert change["256"]["after"]["agreement gap"] == 0.01
    assert change["64"]["after"]["judge FID / floor"] == 1.2
    assert change["64"]["what"].startswith("64 px, the base trained on")
    assert card["look"] == "ribs in most images"
