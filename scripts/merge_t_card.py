"""Put a new T reading of the default generator in place of the card's, keeping the record of earlier changes.

    python -m scripts.merge_t_card runs/t-card docs/realism/T --step 8000 \
        --what "the base trained on from step 6,500 to step 8,000 ..." --look "what a reader sees ..."

`scripts/realism_card.py --split T` writes a fresh card with no history. This copies its card and figures over
`docs/realism/T`, carries the old card's `previous_*` entries and `base_changes`, and records the change of base
under `base_changes[step]`: for 64 and 256 px, the old and the new figures of the same T measures. Run it only after
the change was chosen on V and committed; it reads nothing but the two cards.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def summary(card: dict, size: str) -> dict[str, float]:
    """The measures a change of default is read on, at one size, from a T card."""
    b = card[size]

    def to_blur(space: str) -> float:
        d = b[f"distances_{space}"]
        return d["generated"]["fid"] / d["blurred real"]["fid"]

    return {"judge FID / floor": b["distances_judge"]["generated"]["ratio_to_floor"],
            "random-CNN FID / blurred real": to_blur("random_cnn"),
            "second-CNN FID / blurred real": to_blur("second_cnn"),
            "high-frequency power": b["high_frequency_power_log10"]["generated"],
            "agreement gap": b["label_agreement_gap"]}


def merged(old: dict, new: dict, step: int, what: str, look: str) -> dict:
    """The new card with the old card's history and this change of base added."""
    carried = {k: v for k, v in old.items() if k.startswith("previous_")}
    changes = dict(old.get("base_changes", {}))
    changes[str(step)] = {size: {"what": f"{size} px, {what}", "before": summary(old, size),
                                 "after": summary(new, size)} for size in ("256", "64")}
    return new | carried | {"base_changes": changes, "look": look}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("new", help="the folder realism_card.py --split T wrote")
    ap.add_argument("card", help="the card's T folder (rewritten)")
    ap.add_argument("--step", type=int, required=True, help="the training step of the newly served base")
    ap.add_argument("--what", required=True, help="what changed, in words")
    ap.add_argument("--look", required=True, help="what a reader sees in the new side-by-side figure")
    args = ap.parse_args()
    new_dir, card_dir = Path(args.new), Path(args.card)
    old = json.loads((card_dir / "card.json").read_text())
    new = json.loads((new_dir / "card.json").read_text())
    if new.get("split") != "T":
        raise SystemExit(f"{new_dir} holds a card on split {new.get('split')}, not T")
    for png in new_dir.glob("*.png"):
        shutil.copy(png, card_dir / png.name)
    (card_dir / "card.json").write_text(json.dumps(merged(old, new, args.step, args.what, args.look), indent=2,
                                                   default=float))
    print(f"wrote {card_dir / 'card.json'}; base change at step {args.step:,} recorded")


if __name__ == "__main__":
    main()
