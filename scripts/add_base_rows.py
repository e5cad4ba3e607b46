"""Add a V guidance sweep of one base (scripts/realism_card.py --split V --choice-only, same --n) to the base
comparison (scripts/compare_bases.py) and choose again over all rows by the same rule.

    python -m scripts.add_base_rows docs/realism/V/base_choice/choice.json docs/realism/V/choice.json \
        --base "no augmentation (step 4,500)" --unet bundles/nih-base64-G/unet

Both scripts draw the same V requests with the same seeds and score them against the same floor, so their rows
compare; the runs must agree on the number of V images and of images per finding. No image is drawn here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def merged(comparison: dict, sweep: dict, base: str, unet: str, sweep_n: int | None = None) -> dict:
    """The comparison with the sweep's rows (named `base`) added, and chosen again by the rule; `sweep_n` is the
    sweep's images per finding where its file does not record it."""
    from models.evaluation.realism_measures import choose_setting

    n = sweep.get("n_per_finding", sweep_n)
    if n is None:
        raise SystemExit("the sweep does not record its images per finding: pass --sweep-n (its --n)")
    if n != comparison["n_per_finding"]:
        raise SystemExit(f"the sweep drew {n} images per finding, the comparison {comparison['n_per_finding']}: "
                         "rerun it with the same --n")
    if sweep["split"] != "V":
        raise SystemExit(f"the sweep is on split {sweep['split']}; only V rows may choose a base")
    known = {(r["base"], r["cfg"], tuple(r.get("cfg_interval") or ()), r.get("guidance_rescale", 0))
             for r in comparison["settings"]}
    from models.evaluation.weights import folder_digest

    digest = folder_digest(Path(unet))
    added = [r | {"base": base, "unet": unet, "unet_sha256": digest} for r in sweep["settings"]
             if (base, r["cfg"], tuple(r.get("cfg_interval") or ()), r.get("guidance_rescale", 0)) not in known]
    missing = [r for r in added if "fid_intervals" not in r]
    if missing:
        raise SystemExit("the sweep's rows lack FID intervals: rerun it with the current scripts/realism_card.py")
    rows = comparison["settings"] + added
    return comparison | {"settings": rows, "chosen": choose_setting(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("comparison", help="the base comparison's choice.json (rewritten)")
    ap.add_argument("sweep", help="a V sweep's choice.json of one base")
    ap.add_argument("--base", required=True, help="the name the base's rows carry")
    ap.add_argument("--unet", required=True, help="the base's UNet folder, recorded")
    ap.add_argument("--sweep-n", type=int, default=None, help="the sweep's --n, where its file does not say")
    args = ap.parse_args()
    path = Path(args.comparison)
    result = merged(json.loads(path.read_text()), json.loads(Path(args.sweep).read_text()), args.base, args.unet,
                    args.sweep_n)
    path.write_text(json.dumps(result, indent=2, default=float))
    chosen = result["chosen"]
    print(f"chosen: {chosen['base']} at CFG {chosen['cfg']:g}; wrote {path}")


if __name__ == "__main__":
    main()
