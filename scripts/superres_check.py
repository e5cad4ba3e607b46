"""Check the super-resolution stage alone: shrink real 256-px radiographs of a split to 64 px (the
training filter), bring them back with the SR stage and with bicubic upsampling, and compare both with the
originals: PSNR, SSIM, FID in a random CNN at 256 px (beside the real floor: another real split against the
same originals) and the high-frequency power spectrum. Writes JSON, a spectrum plot and crops side by side.

    python -m scripts.superres_check runs/sr256-bundle ../shared/data/nih-cxr14-256 --split T --out docs/superres
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from models.data.nih import NIHRealismSplit
from models.data.preprocess import resize
from models.diffusion.superres import SuperResPipeline
from models.evaluation.real_images import bicubic
from models.metrics.superres_eval import compare, radial_power_spectrum
from models.progress import progress_bar


def real_images(root: str, split: str, size: int, limit: int | None) -> np.ndarray:
    ds = NIHRealismSplit([root], {split}, size)
    n = len(ds) if limit is None else min(limit, len(ds))
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(n)])


def figure(path: Path, rows: dict[str, np.ndarray], spectra: dict[str, np.ndarray], n: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(2.6 * n, 2.6 * (len(rows) + 1)))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            crop = images[c, 64:192, 64:192]  # the centre at full resolution: the detail is the point
            axes[r, c].imshow(crop, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=10)
    spec = plt.subplot2grid((len(rows) + 1, n), (len(rows), 0), colspan=n, fig=fig)
    for c in range(n):
        axes[len(rows), c].remove()
    for name, curve in spectra.items():
        spec.loglog(np.arange(1, len(curve) + 1), curve, label=name)
    spec.set_xlabel("spatial frequency (cycles per image)")
    spec.set_ylabel("power")
    spec.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a super-resolution folder (e.g. runs/sr256-bundle or <generator>/superres)")
    ap.add_argument("data256", help="the NIH folder of 256-px images (nih-cxr14-256)")
    ap.add_argument("--split", default="T", help="realism split to check on (V for choices, T for the card)")
    ap.add_argument("--floor-split", default="J", help="another split of real images for the real floor")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--aug-step", type=int, default=None,
                    help="noise-conditioning step told to the stage (default: the model's)")
    ap.add_argument("--start", type=float, default=None,
                    help="where the stage starts, a share of its schedule (default: the model's)")
    ap.add_argument("--keep-low", type=int, default=None,
                    help="keep the input's coarse content seen at 1/N of the output's side (0: off; default: the "
                         "model's)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    pipe = SuperResPipeline.load(args.model)
    size = int(pipe.unet.config.sample_size)
    real = real_images(args.data256, args.split, size, args.limit)
    floor = real_images(args.data256, args.floor_split, size, len(real))
    low = np.stack([resize(im, size // pipe.scale) for im in real]).clip(0, 1)
    start_used = pipe.default_start if args.start is None else args.start
    start = time.perf_counter()
    bar, update = progress_bar(1, "super-resolving")
    with bar:
        sr = pipe(low, list(range(len(low))), num_inference_steps=args.steps, aug_step=args.aug_step,
                  start=args.start, keep_low=args.keep_low,
                  callback=lambda done, total: update(done, total, "sampling", {}))
    seconds = time.perf_counter() - start
    candidates = {"super-resolution": sr, "bicubic": bicubic(low, size), "other real images (floor)": floor}
    scores = compare(candidates, real)
    report = {"model": str(args.model), "split": args.split, "n": len(real), "size": size,
              "steps": args.steps or pipe.steps_from(start_used),
              "start": start_used, "keep_low": pipe.keep_low if args.keep_low is None else args.keep_low,
              "aug_step": pipe.default_aug_step if args.aug_step is None else args.aug_step,
              "seconds_per_image": seconds / len(real),
              "scores": scores, "note": "PSNR/SSIM of the floor compare unrelated images (not a target); FID and "
              "spectrum distance are against the originals of the split"}
    (out / "superres_check.json").write_text(json.dumps(report, indent=2))
    spectra = {"real": radial_power_spectrum(real), "super-resolution": radial_power_spectrum(sr),
               "bicubic": radial_power_spectrum(candidates["bicubic"])}
    figure(out / "superres_check.png", {"real 256": real, "bicubic": candidates["bicubic"],
                                        "super-resolution": sr}, spectra)
    for name, s in scores.items():
        print(f"{name:28s} PSNR {s['psnr_db']:.2f} dB  SSIM {s['ssim']:.3f}  FID {s['fid_random_cnn']:.2f}  "
              f"spectrum {s['spectrum_distance']:.3f}")
    print(f"{seconds / len(real):.2f} s per image; wrote {out}/superres_check.json and .png")


if __name__ == "__main__":
    main()
