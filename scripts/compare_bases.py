"""Compare base generators (UNet weights) on the validation split at the served sampling settings, and choose one
by the realism card's rule.

    python -m scripts.compare_bases models/pretrained/nih-cxr14 bundles/judge-nih-J64 \
        ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        --unet "served=models/pretrained/nih-cxr14/unet" --unet "no augmentation=bundles/nih-base64-G/unet@12,14" \
        [--guidance-rescales 0,0.7] --n 12 --out docs/realism/V/base_choice

Each UNet replaces the generator's base (its interval, noise check and seeds stay the served ones; its guidance is
the served scale or the ones given after @) and makes, for every scale and guidance-rescale share, one image per V
image with that image's findings plus `n` per eligible finding and `n` "No Finding" (the realism card's sets and
seeds). Each row has FID in the judge's and both random CNNs' features (with 95% bootstrap intervals for the V
images), label agreement and its gap to the judge's on the real V images, washed-out, featureless (below the noise
check's structure floor) and noise-dominated shares as delivered, high-frequency power, and seconds per image. The
choice is `choose_setting` over all rows. Writes choice.json and settings.png (the same requests per row, beside
real V images) into --out. No T image is read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generator", help="the served generator folder (its settings and noise check are used)")
    ap.add_argument("judge", help="the judge's classifier folder (trained on split J only)")
    ap.add_argument("data", nargs="+", help="the NIH folders")
    ap.add_argument("--unet", action="append", required=True, metavar="NAME=DIR[@CFG,...]",
                    help="a base to compare: a name and a UNet folder, optionally with its own classifier-free "
                         "guidance scales (default: the served one) (repeat)")
    ap.add_argument("--guidance-rescales", default="0", help="guidance-rescale shares to try with each base")
    ap.add_argument("--n", type=int, default=12, help="images per finding for label agreement")
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def base_spec(spec: str, served_cfg: float) -> tuple[str, str, list[float]]:
    """'NAME=DIR[@CFG,...]' -> the name, the UNet folder and its guidance scales (default: the served one)."""
    name, sep, rest = spec.partition("=")
    if not sep or not rest:
        raise SystemExit(f"--unet {spec!r}: expected NAME=DIR[@CFG,...]")
    folder, _, scales = rest.partition("@")
    return name, folder, [float(c) for c in scales.split(",")] if scales else [served_cfg]


def load_base(pipe, folder: str) -> None:
    """Put the UNet weights of `folder` into `pipe`'s base (same architecture)."""
    import torch

    from models.diffusion.unet import FindingUNet

    unet = FindingUNet.from_pretrained(folder, local_files_only=True, torch_dtype=torch.float32)
    pipe.unet.load_state_dict(unet.state_dict())


def reference_fids(spaces: dict, real_f: dict, floor: np.ndarray) -> dict:
    """FID against V, in each space, of the real floor (G images) and the simple fakes made from it (blurred real,
    real + noise, mean + noise): what a base must be read beside."""
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import fakes

    sets = {"real floor": floor, **fakes(floor)}
    return {name: {k: frechet_distance(f(images), real_f[k]) for k, f in spaces.items()}
            for name, images in sets.items()}


def main() -> None:
    args = parse_args()
    from models.evaluation.realism_measures import choose_setting
    from models.evaluation.weights import folder_digest
    from scripts.realism_card import feature_spaces, load_setup, measure_setting, settings_figure

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = load_setup(args.generator, args.judge, args.data, "V")
    pipe, judge, real, labels, floor = setup.pipe, setup.judge, setup.real, setup.labels, setup.floor
    eligible, real_agree = setup.eligible, setup.real_agree
    spaces = feature_spaces(judge)
    # once: the floor and fakes are the same for every row
    references = reference_fids(spaces, {name: f(real) for name, f in spaces.items()}, floor)
    served = {"cfg": pipe.default_guidance, "classifier_scale": pipe.default_classifier_scale}
    if pipe.default_guidance_interval:
        served["cfg_interval"] = list(pipe.default_guidance_interval)
    rows, mixes = [], {}
    for spec in args.unet:
        name, folder, scales = base_spec(spec, served["cfg"])
        load_base(pipe, folder)
        weights = {"base": name, "unet": folder, "unet_sha256": folder_digest(Path(folder))}
        for cfg, rescale in ((c, float(r)) for c in scales for r in args.guidance_rescales.split(",")):
            setting = served | {"cfg": cfg} | weights | ({"guidance_rescale": rescale} if rescale else {})
            row, sets = measure_setting(pipe, judge, spaces, (real, labels, floor), (eligible, args.n, real_agree),
                                        setting)
            mix = sets["mix"]
            rows.append(row)
            mixes[f"{name}, CFG {cfg:g}" + (f", rescale {rescale:g}" if rescale else "")] = mix
            print(json.dumps(row, default=float), flush=True)
    chosen = choose_setting(rows)
    settings_figure(real, mixes, out / "settings.png", "V")
    (out / "choice.json").write_text(json.dumps({
        "split": "V", "generator": args.generator, "judge": args.judge, "n_real": len(real), "n_per_finding": args.n,
        "references": references,
        "eligible_findings": eligible, "real_label_agreement": real_agree, "settings": rows, "chosen": chosen,
        "rule": "label agreement at most 0.05 above the judge's on real images; of those, the settings within "
                "+/- 0.05 of it first; then those washed out at most 5 points more often than real; then the "
                "lowest geometric mean over the judge's and both random CNNs' features of FID over each space's "
                "best", "figure": "settings.png"}, indent=2, default=float))
    print(f"chosen: {chosen['base']} (rescale {chosen.get('guidance_rescale', 0):g}); wrote {out}/choice.json")


if __name__ == "__main__":
    main()
