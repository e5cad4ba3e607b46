"""bfloat16 autocast vs float32 for sampling on this machine: the default 2D job and one 3D volume.

    python -m bench.bench_precision [--repeats 3]

2D: the bundled generator, the service's default job (4 consolidation images, DPM-Solver++ 25 steps, guidance 2).
3D: the bundled adrenal3d, one hyperplasia volume at 25 steps. Interleaved repeats, medians, the ratio, and how
far bf16 images are from float32 ones of the same seeds (8-bit grey levels; for the 2D job also the ensemble's
probability of the finding). bf16 pays off only where the hardware has bf16 matrix units (AMX on Xeon, GPUs).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bench.common import interleaved, median, save, table


def grey_levels(a: np.ndarray, b: np.ndarray) -> dict:
    d = np.abs(np.round(a * 255) - np.round(b * 255))
    return {"max_grey_diff": float(d.max()), "mean_grey_diff": float(d.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from models.catalog import BUNDLED_DIR, DEFAULT_CLASSIFIER, DEFAULT_GENERATOR
    from models.classifier.ensemble import ClassifierEnsemble
    from models.diffusion.pipeline import RadSynthPipeline
    from models.training_utils import bf16_default
    from models.volumes.diffusion3d import VolumePipeline

    seeds = [0, 1, 2, 3]
    pipe = RadSynthPipeline.load(BUNDLED_DIR / DEFAULT_GENERATOR)
    run2d = {p: (lambda p=p: pipe("consolidation", 4, seeds=seeds, precision=p)) for p in ("fp32", "bf16")}
    rows, detail = [], {}
    times = interleaved(run2d, args.repeats)
    images = {p: fn().images for p, fn in run2d.items()}
    ens = ClassifierEnsemble.load(BUNDLED_DIR / DEFAULT_CLASSIFIER)
    k = ens.findings.index("Consolidation")
    probs = {p: ens.predict(im).mean[:, k] for p, im in images.items()}
    rows.append({"job": "2D: 4 images, 25 steps", "fp32_s": median(times["fp32"]), "bf16_s": median(times["bf16"]),
                 "speed-up": median(times["fp32"]) / median(times["bf16"]),
                 **grey_levels(images["fp32"], images["bf16"]),
                 "max_prob_diff": float(np.abs(probs["fp32"] - probs["bf16"]).max())})
    detail["2d"] = times
    vol_dir = BUNDLED_DIR / "adrenal3d"
    if vol_dir.is_dir():
        vp = VolumePipeline.load(vol_dir)
        run3d = {p: (lambda p=p: vp("hyperplasia", 1, seeds=[0], precision=p)) for p in ("fp32", "bf16")}
        t3 = interleaved(run3d, args.repeats)
        vols = {p: fn().volumes for p, fn in run3d.items()}
        rows.append({"job": f"3D: 1 volume {vp.size}^3, 25 steps", "fp32_s": median(t3["fp32"]),
                     "bf16_s": median(t3["bf16"]), "speed-up": median(t3["fp32"]) / median(t3["bf16"]),
                     **grey_levels(vols["fp32"], vols["bf16"])})
        detail["3d"] = t3
    print(table(rows, ["job", "fp32_s", "bf16_s", "speed-up", "max_grey_diff", "mean_grey_diff", "max_prob_diff"]))
    path = save("precision", {"rows": rows, "times": detail, "repeats": args.repeats, "threads":
                              torch.get_num_threads(), "amx": bf16_default("cpu")})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
