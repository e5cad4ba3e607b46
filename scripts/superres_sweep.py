"""How much noise-conditioning augmentation the super-resolution stage should be told at sampling time, judged on
the validation split V only.

    python -m scripts.superres_sweep ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--generator models/pretrained/nih-cxr14] [--aug-steps 100,200,250,50] [--steps 30] \
        [--out docs/realism/V/superres]

The super-resolution UNet trained with its low-resolution input noised by a forward-diffusion step s ~ U{0..250}
(cascaded diffusion, Ho et al. 2021): at sampling time a larger s tells it to trust the blurry base image less and
draw more of the fine detail itself. The base generator makes one 64-px image per V image stored at 256 px, with
that image's findings (the service's defaults, fixed seeds); each s super-resolves the same base images with the
same seeds. Each is scored at 256 px as the realism curve scores a snapshot: FID against those V images in the
judge's features (trained on split J only) and in the fixed random CNN's at 256 px, beside the floor (as many
real G images) and the blurred-real fake, the noise-dominated share (rougher than the roughest real V image at
256 px), and seconds per image on this machine. Bicubic upsampling of the same base images is the row for "no
super-resolution"; `--detail` adds the one-pass detail network on the same images. The second random CNN
(another depth, pooling and seed) scores every row too. Writes sweep.json (after every row: a stopped sweep
keeps its rows), sweep.png and samples.png. No test-split image is read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from models.evaluation.sweeps import save_figure, sweep_parser

ROOT = Path(__file__).resolve().parents[1]

SIZE = 256


def plot(rows: list[dict], reference: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len({r["aug_step"] for r in rows if r["aug_step"] is not None}) <= 1:
        return plot_bars(rows, reference, path)
    sr = sorted((r for r in rows if r["aug_step"] is not None and r.get("start", 1) == 1 and not r.get("keep_low")),
                key=lambda r: r["aug_step"])
    partial = [r for r in rows if r["aug_step"] is not None and r not in sr]  # part-way starts, coarse content kept
    bic = next((r for r in rows if r["aug_step"] is None), None)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), dpi=100)
    for ax, key, label in zip(axes, ("fid_judge", "fid_random_cnn", "noise_dominated"),
                              ("FID against V (judge's features)", "FID against V (random CNN, 256 px)",
                               "noise-dominated share"), strict=True):
        ax.plot([r["aug_step"] for r in sr], [r[key] for r in sr], "o-", label="super-resolution")
        for j, r in enumerate(partial):
            ax.plot(r["aug_step"], r[key], "s", color=f"C{4 + j}", label=r["name"])
        if bic is not None:
            ax.axhline(bic[key], color="C1", ls=":", label="bicubic (no super-resolution)")
        space = key.removeprefix("fid_")
        if space in reference:
            for (name, value), colour in zip(reference[space].items(), ("C2", "C3"), strict=False):
                if name in ("real floor (G vs V)", "blurred real"):
                    ax.axhline(value, color=colour, ls="--", lw=1, label=name)
        ax.set_xlabel("noise-conditioning step s told to the super-resolution stage")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    save_figure(fig, f"Super-resolution of the base generator's images on V ({rows[0]['n']} images at 256 px)", path)


def plot_bars(rows: list[dict], reference: dict, path: Path) -> None:
    """One bar per setting (a sweep at a single s), beside the floor and blurred real."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces = [s for s in ("judge", "random_cnn", "second_cnn") if f"fid_{s}" in rows[0]]
    fig, axes = plt.subplots(1, len(spaces), figsize=(7 * len(spaces), 0.45 * len(rows) + 1.5), dpi=100)
    names = [r["name"] for r in rows]
    for ax, space in zip(axes, spaces, strict=True):
        label = {"judge": "FID against V (judge's features)", "random_cnn": "FID against V (random CNN, 256 px)",
                 "second_cnn": "FID against V (second CNN, 256 px)"}[space]
        ax.barh(names, [r[f"fid_{space}"] for r in rows], color=["C1" if r["aug_step"] is None else "C0"
                                                                   for r in rows])
        for name, colour in (("real floor (G vs V)", "C2"), ("blurred real", "C3")):
            ax.axvline(reference[space][name], color=colour, ls="--", lw=1, label=name)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.legend(fontsize=7)
    for ax in axes[1:]:
        ax.set_yticklabels([])
    save_figure(fig, f"Super-resolution of the base generator's images on V ({rows[0]['n']} images at 256 px)", path)


def start_and_steps(text: str, default_steps: int) -> tuple[float, int]:
    """Parse START or START:STEPS (a start with its own number of super-resolution steps)."""
    start, _, steps = text.partition(":")
    return float(start), int(steps) if steps else default_steps


def diffusion_stage(pipe, folder: str):
    """The generator's diffusion super-resolution stage, which the sweep's diffusion rows sample; SystemExit naming
    the fix when it has none (the detail network's rows alone need none: `--aug-steps ''`)."""
    if pipe.superres is None or getattr(pipe.superres, "one_pass", False):
        raise SystemExit(f"{folder} has no diffusion super-resolution stage: pass --generator with one (the "
                         "bundles README assembles it), or --aug-steps '' to score the detail network's rows only")
    return pipe.superres


def detail_images(folder: str, low: np.ndarray, keep_low: int = 0) -> np.ndarray:
    from models.diffusion.detail_net import DetailStage

    return DetailStage.load(folder)(low, keep_low=keep_low)


def detail_row(folder: str, low: np.ndarray, spaces, keep_low: int = 0) -> tuple[dict, np.ndarray]:
    """The one-pass detail network on the same base images (with the base image's coarse content put back at
    1/`keep_low` of the side, or not), as a row the second stage's choice can weigh, and its images."""
    started = time.perf_counter()
    high = detail_images(folder, low, keep_low)
    seconds = (time.perf_counter() - started) / len(low)
    kept = f", base's coarse content{'' if keep_low == 4 else f' at 1/{keep_low}'}" if keep_low else ""
    return {"aug_step": None, "stage": "detail", "detail": folder, "start": 1.0, "steps": 1,
            "name": f"detail net (one pass){kept}", "seconds_per_image": seconds, "n": len(low),
            **({"keep_low": keep_low} if keep_low else {})} | spaces.measure(high), high


def parse_args():
    ap = sweep_parser(__doc__, ROOT / "docs" / "realism" / "V" / "superres")
    ap.add_argument("--aug-steps", default="100,200,250,50", help="noise-conditioning steps s (comma list)")
    ap.add_argument("--steps", type=int, default=None, help="super-resolution steps (default: the model's)")
    ap.add_argument("--keep-low", action="store_true", help="also score each setting with the base image's coarse "
                    "content put back (keep_base_low_frequencies: no extra sampling)")
    ap.add_argument("--keep-low-factors", default="4", help="with --keep-low: the sizes (output side / factor) at "
                    "which the base image is put back (comma list; 4: the base's own size)")
    ap.add_argument("--starts", default="1", help="where sampling starts, as a share of the noise schedule (comma "
                    "list; < 1: from the upsampled base image noised to that level; START:STEPS gives that start "
                    "its own number of steps)")
    ap.add_argument("--detail", default=None, help="also the one-pass detail network in this folder (e.g. "
                    "bundles/detail-nih256-G/net) on the same base images")
    return ap.parse_args()


def main() -> None:
    args = parse_args()

    import torch

    from models.diffusion.pipeline import SUPERRES_SEED_OFFSET, RadSynthPipeline
    from models.diffusion.superres import keep_base_low_frequencies_01
    from models.evaluation.feature_spaces import Spaces
    from models.evaluation.figures import labelled_grid
    from models.evaluation.generated import sample_per_label
    from models.evaluation.real_images import bicubic, real_split
    from models.progress import progress_bar

    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real, labels, *_ = real_split(args.data, "V", SIZE, native_only=True)
    g_real, *_ = real_split(args.data, "G", SIZE, native_only=True)
    floor = g_real[np.random.default_rng(0).choice(len(g_real), min(len(real), len(g_real)), replace=False)]
    spaces = Spaces(args.judge, real, floor, size=SIZE)
    pipe = RadSynthPipeline.load(args.generator)
    aug_steps = [int(s) for s in args.aug_steps.split(",") if s]  # --aug-steps "": the detail network's rows only
    stage = diffusion_stage(pipe, args.generator) if aug_steps else None
    guidance = pipe.default_guidance
    steps = args.steps or (stage.default_steps if stage else None)
    settings = [(s, *start_and_steps(start, steps)) for start in args.starts.split(",") for s in aug_steps]
    low = sample_per_label(pipe, labels, guidance=guidance)
    seeds = [50_000 + i + SUPERRES_SEED_OFFSET for i in range(len(low))]  # as sample_per_label's, offset
    interval = pipe.default_guidance_interval
    where = "t/T {:g}-{:g}".format(*interval) if interval else "every step"

    def result(rows: list[dict]) -> dict:
        return {"split": "V", "n": len(real), "size": SIZE, "generator": args.generator, "judge": args.judge,
                "base": f"dpmsolver++ 15 steps, CFG {guidance:g} at {where}, no classifier guidance, the noise "
                        "check's redraws, seeds 50000 + index",
                "superres_steps": steps, "default_aug_step": stage.default_aug_step if stage else None,
                "reference": spaces.reference, "rows": rows}

    rows = [{"aug_step": None, "name": "bicubic", "seconds_per_image": 0.0, "n": len(real)}
            | spaces.measure(bicubic(low, SIZE))]
    grids = {"real V": real[:8], "bicubic": bicubic(low[:8], SIZE)}
    bar, update = progress_bar(len(settings), "superres-sweep")
    for i, (s, start, n_steps) in enumerate(settings):
        started = time.perf_counter()
        high = stage(low, seeds, num_inference_steps=n_steps, aug_step=s, batch_size=8, start=start,
                             keep_low=0)
        seconds = (time.perf_counter() - started) / len(low)
        name = f"s = {s}" + (f", start {start:g}" if start < 1 else "") + (f", {n_steps} steps" if n_steps != steps
                                                                           else "")
        rows.append({"aug_step": s, "start": start, "steps": n_steps, "name": name, "seconds_per_image": seconds,
                     "n": len(real)} | spaces.measure(high))
        grids[name] = high[:8]
        plain = rows[-1]
        for factor in [int(f) for f in args.keep_low_factors.split(",")] if args.keep_low else []:
            kept = keep_base_low_frequencies_01(high, low, factor)
            label = "base's coarse content" + ("" if factor == stage.scale else f" at 1/{factor}")
            rows.append(plain | {"name": f"{name}, {label}", "keep_low": factor}
                        | spaces.measure(kept))
            grids[rows[-1]["name"]] = kept[:8]
        update(i + 1, len(settings), name, {"fid_judge": rows[-1]["fid_judge"],
                                                   "fid_random_cnn": rows[-1]["fid_random_cnn"]})
        (out / "sweep.json").write_text(json.dumps(result(rows), indent=2))
    for factor in ([0] + ([int(f) for f in args.keep_low_factors.split(",")] if args.keep_low else [])
                   if args.detail else []):
        row, high = detail_row(args.detail, low, spaces, factor)
        rows.append(row)
        grids[row["name"]] = high[:8]
    bar.close()
    (out / "sweep.json").write_text(json.dumps(result(rows), indent=2))
    plot(rows, spaces.reference, out / "sweep.png")
    labelled_grid(grids, out / "samples.png",
                  "real V images (top), then the same base images upsampled bicubically and super-resolved per s")


if __name__ == "__main__":
    main()
