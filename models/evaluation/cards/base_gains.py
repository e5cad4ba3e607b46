"""What training the base on bought, step by step, read from the V comparisons' rows (never typed by hand)."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

STEP = re.compile(r"step ([\d,]+)")


def best_in_band(rows: list[dict], band: float) -> dict[int, dict]:
    """Per training step, the row with the lowest judge-feature FID among those whose label-agreement gap is
    inside +/- `band` (the rows the V rule could serve)."""
    best: dict[int, dict] = {}
    for row in rows:
        found = STEP.search(row.get("base", ""))
        if not found or abs(row.get("agreement_gap", 0.0)) > band:
            continue
        step = int(found.group(1).replace(",", ""))
        if step not in best or row["fid_judge"] < best[step]["fid_judge"]:
            best[step] = row
    return best


def interval_name(setting: dict) -> str:
    """Where a setting's classifier-free guidance applies, in words."""
    interval = setting.get("cfg_interval")
    return "every step" if not interval else "t/T {:g}-{:g}".format(*interval)


def setting_name(row: dict) -> str:
    """'CFG 14, t/T 0-0.7' for one row, marked when its base trained with augmentation."""
    augmented = ", augmented" if re.search(r"\baugmented\b", row.get("base", "")) else ""
    return f"CFG {row['cfg']:g}, {interval_name(row)}{augmented}"


def training_gains(choice_paths: list[Path], band: float) -> tuple[str, bool] | None:
    """One sentence: the judge-feature FID on V at each measured step's best in-band setting, and how much lower
    each step is than the one before; with whether the last step lowered it. None when fewer than two steps were
    measured."""
    rows = [row for path in choice_paths if path.exists() for row in json.loads(path.read_text())["settings"]]
    best = best_in_band(rows, band)
    if len(best) < 2:
        return None
    steps = sorted(best)
    chain = " -> ".join(f"{best[s]['fid_judge']:.1f} (step {s:,}, {setting_name(best[s])})" for s in steps)
    changes = ", ".join(change(best[a]["fid_judge"], best[b]["fid_judge"]) for a, b in pairwise(steps))
    last_lowered = best[steps[-1]]["fid_judge"] < best[steps[-2]]["fid_judge"]
    return (f"the judge-feature FID on V at each measured step's best setting inside the agreement band went "
            f"{chain}: {changes} from each step to the next"), last_lowered


def change(before: float, after: float) -> str:
    """'26% lower' or '17% higher'."""
    share = after / before - 1
    return f"{100 * abs(share):.0f}% {'higher' if share > 0 else 'lower'}"
