"""Every card in docs/, each rendered from committed JSON by a pure function (no figures drawn, nothing written), so a
test can re-render them all and fail on any drift between a card and its data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.evaluation.cards import augmentation, counterfactual, ensemble, model, realism

ROOT = Path(__file__).resolve().parents[3]

CARDS: dict[str, Callable[[], str]] = {
    "docs/augmentation.md": augmentation.card_text,
    "docs/explain/counterfactual.md": counterfactual.card_text,
    "docs/explain/ensemble.md": ensemble.card_text,
    "docs/model-card.md": model.card_text,
    "docs/realism-card.md": realism.card_text,
}


def drifted() -> list[str]:
    """Cards whose committed text differs from what their JSON renders to."""
    return [path for path, render in CARDS.items() if (ROOT / path).read_text() != render()]
