"""Fit a generator's noise check on its training split and measure, on V, what it changes.

    python -m scripts.fit_noise_check models/pretrained/nih-cxr14 ../shared/data/nih-cxr14-64 \
        ../shared/data/nih-cxr14-256 [--quantile 0.99] [--max-attempts 2] [--out docs/realism/V/noise_check]

The limits are the `quantile` of the roughness and the 1 - `quantile` of the structure (band-pass energy) of the
generator's own training images (split G; models/diffusion/noise_check.py): fixed before any measurement, so a real
radiograph is redrawn about 1 time in 100 for each. The script writes the check into the
model's radsynth.json, then samples one 64-px image per V image with its findings at the model's defaults (the
realism card's seeds), raw and through the check, and reports the noise-dominated share (rougher than the roughest
real V image), the featureless share (less structure than the floor) and the washed-out share (less chest contrast
than the contrast floor) of both, how many images were redrawn and what the redraws cost. An earlier report's
comparison of redraw counts (`attempts_compared`) is kept. Reads no test-split image.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def measured(check, real: np.ndarray, raw: np.ndarray, delivered: np.ndarray, redrawn: int) -> dict:
    """What the check does on V: each limit's count among the raw and the delivered images, and the real V
    images' shares below each."""
    from models.metrics.realism import lung_contrast, noise_dominated_share, roughness, structure

    def counts(images: np.ndarray) -> dict:
        return {"noise_dominated": noise_dominated_share(images, real),
                "above_limit": int(check.too_rough(images).sum()),
                "featureless": int(check.featureless(images).sum()),
                "washed_out": int(check.washed_out(images).sum())}

    def extremes(measure, floor, key: str, pick) -> dict:
        return {"floor": floor} | {f"{name}_{key}": float(pick(measure(x))) for name, x in
                                  (("real_V", real), ("raw", raw), ("delivered", delivered))}

    return {"split": "V", "n": len(real), "noise_check": check.to_json(),
            "real_V_redrawn_share": float(check.fails(real).mean()),
            "real_V_featureless_share": float(check.featureless(real).mean()),
            "real_V_washed_out_share": float(check.washed_out(real).mean()),
            "raw": counts(raw) | {"failing": redrawn}, "delivered": counts(delivered),
            "redrawn": redrawn, "redrawn_share": redrawn / len(raw),
            "roughness": extremes(roughness, check.roughness_limit, "max", np.max),
            "structure": extremes(structure, check.structure_limit, "min", np.min),
            "contrast": extremes(lung_contrast, check.contrast_limit, "min", np.min)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("generator")
    ap.add_argument("data", nargs="+", help="the NIH folders")
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--max-attempts", type=int, default=2, help="redraws of a failing image; the least failing "
                    "candidate is delivered when all fail")
    ap.add_argument("--out", default="docs/realism/V/noise_check")
    args = ap.parse_args()

    import torch

    from models.diffusion.noise_check import fit_noise_check
    from models.diffusion.pipeline import RadSynthPipeline
    from models.evaluation.generated import MIX_SEED, sample
    from models.evaluation.real_images import real_split

    torch.set_grad_enabled(False)
    folder = Path(args.generator)
    g_images, *_ = real_split(args.data, "G", 64)
    check = fit_noise_check(g_images, quantile=args.quantile, dataset="nih-cxr14 split G",
                            max_attempts=args.max_attempts)
    meta_path = folder / "radsynth.json"
    meta = json.loads(meta_path.read_text()) | {"noise_check": check.to_json()}
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    print(f"wrote the noise check into {meta_path}: {check}")

    pipe = RadSynthPipeline.load(folder)
    real, labels, *_ = real_split(args.data, "V", 64)
    requests = [(names, MIX_SEED + i) for i, names in enumerate(labels)]
    defaults = {"cfg": pipe.default_guidance, "classifier_scale": pipe.default_classifier_scale}
    t0 = time.perf_counter()
    raw, _, _ = sample(pipe, requests, defaults, redraw_noise=False)
    raw_s = time.perf_counter() - t0
    # Images the check passes are the raw ones (same seeds); only the flagged ones are sampled again through it.
    flagged = np.flatnonzero(check.fails(raw))
    delivered, seeds = raw.copy(), [s for _, s in requests]
    t0 = time.perf_counter()
    if len(flagged):
        redo, redo_seeds, _ = sample(pipe, [requests[i] for i in flagged], defaults)
        delivered[flagged] = redo
        for j, i in enumerate(flagged):
            seeds[i] = redo_seeds[j]
    redraw_s = time.perf_counter() - t0
    report = measured(check, real, raw, delivered, len(flagged)) | {
        "seconds": {"raw_batch_per_image": raw_s / len(raw), "redraws": redraw_s},
        "sampling": {"guidance": pipe.default_guidance, "seeds": f"{MIX_SEED} + V index"}}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    earlier = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    if "attempts_compared" in earlier:
        report["attempts_compared"] = earlier["attempts_compared"]
        report["attempts_compared_with"] = earlier.get("attempts_compared_with", earlier["noise_check"])
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if len(flagged):
        from models.io.writers import grid, write_png

        pairs = [im for i in flagged for im in (raw[i], delivered[i])]
        write_png(out / "redrawn.png", grid(pairs, cols=2), text={"rows": "raw | redrawn, one V request each"})
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
