"""Which sampler and step count make the most realistic base images, judged on the validation split V only.

    python -m scripts.sampler_sweep ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--generator models/pretrained/nih-cxr14] [--config dpmsolver++:15 --config ddpm:50 ...] \
        [--out docs/realism/V/samplers]

Each configuration samples one 64-px image per V image with that image's findings (fixed seeds, CFG 2, no
classifier guidance) and is scored as the realism curve scores a snapshot (`scripts/realism_curve.py`): FID
against all of V in the judge's features (trained on split J only) and in a fixed random CNN's, noise-dominated
and saturated shares, and seconds per image on this machine. Writes sweep.json, sweep.png (FID against seconds)
and samples.png (the same V findings and seeds under every configuration). No test-split image is read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from models.evaluation.sweeps import save_figure, sweep_parser

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_CONFIGS = ["dpmsolver++:15", "euler_a:30", "ddpm:50", "dpmsolver++:30"]


def timed_sample(pipe, labels: list[list[str]], sampler: str, steps: int, guidance: float
                 ) -> tuple[np.ndarray, float]:
    """The images of `sample_per_label` and the seconds per image they took."""
    from models.evaluation.generated import sample_per_label

    started = time.perf_counter()
    images = sample_per_label(pipe, labels, sampler=sampler, steps=steps, guidance=guidance)
    return images, (time.perf_counter() - started) / len(labels)

def plot(rows: list[dict], reference: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    for ax, space in zip(axes, ("judge", "random_cnn"), strict=True):
        for r in rows:
            ax.scatter(r["seconds_per_image"], r[f"fid_{space}"], color="C0")
            ax.annotate(r["config"], (r["seconds_per_image"], r[f"fid_{space}"]), fontsize=8,
                        textcoords="offset points", xytext=(4, 4))
        for (name, value), colour in zip(reference[space].items(), ("C2", "C3", "C4", "C5"), strict=False):
            ax.axhline(value, color=colour, ls="--", lw=1, label=name)
        ax.set_xlabel("seconds per 64-px image (2 CPU cores, batch of 32)")
        ax.set_ylabel(f"FID against V ({space.replace('_', ' ')} features)")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    save_figure(fig, "Samplers of the bundled base generator on V (144 images)", path)


def main() -> None:
    ap = sweep_parser(__doc__, ROOT / "docs" / "realism" / "V" / "samplers")
    ap.add_argument("--config", action="append", default=None, help="SAMPLER:STEPS (repeatable)")
    ap.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale")
    ap.add_argument("--keep", action="store_true",
                    help="keep the rows of an earlier sweep.json in --out whose configurations are not run again")
    args = ap.parse_args()

    import torch

    from models.diffusion.pipeline import RadSynthPipeline
    from models.evaluation.feature_spaces import Spaces
    from models.evaluation.figures import labelled_grid
    from models.evaluation.real_images import real_images
    from models.progress import progress_bar

    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real, labels = real_images(args.data, "V")
    floor, _ = real_images(args.data, "G", len(real))
    spaces = Spaces(args.judge, real, floor)
    pipe = RadSynthPipeline.load(args.generator)
    configs = args.config or DEFAULT_CONFIGS
    rows, grids = [], {"real V": real[:8]}
    if args.keep and (out / "sweep.json").exists():
        rows = [r for r in json.loads((out / "sweep.json").read_text())["configs"] if r["config"] not in configs]
        saved = np.load(out / "grids.npz") if (out / "grids.npz").exists() else {}
        for r in rows:  # the first 8 again from their seeds when an earlier sweep kept no images
            grids[r["config"]] = (saved[r["config"]] if r["config"] in saved else
                                  timed_sample(pipe, labels[:8], r["sampler"], r["steps"], r["guidance"])[0])
    bar, update = progress_bar(len(configs), "sampler-sweep")
    for i, config in enumerate(configs):
        sampler, steps = config.split(":")
        generated, seconds = timed_sample(pipe, labels, sampler, int(steps), args.guidance)
        rows.append({"config": config, "sampler": sampler, "steps": int(steps), "guidance": args.guidance,
                     "seconds_per_image": seconds, "n": len(real)} | spaces.measure(generated))
        grids[config] = generated[:8]
        update(i + 1, len(configs), config, {"fid_judge": rows[-1]["fid_judge"]})
        result = {"split": "V", "n": len(real), "generator": args.generator, "judge": args.judge,
                  "sampling": f"CFG {args.guidance}, no classifier guidance, 64 px, seeds 50000 + V index",
                  "reference": spaces.reference, "configs": rows}
        (out / "sweep.json").write_text(json.dumps(result, indent=2))  # after each: a stopped sweep keeps its rows
        np.savez_compressed(out / "grids.npz", **{k: v for k, v in grids.items() if k != "real V"})
    bar.close()
    plot(rows, spaces.reference, out / "sweep.png")
    labelled_grid(grids, out / "samples.png", "real V images (top) and generated with their findings, per sampler")


if __name__ == "__main__":
    main()
