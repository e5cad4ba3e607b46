"""Realism of a training run's EMA weights against training steps, measured on the validation split V only, and
what more training would buy (a fitted, extrapolated curve).

    python -m scripts.realism_curve runs/base64 ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--judge bundles/judge-nih-J64] [--extra 2400=models/pretrained/nih-cxr14/unet] [--out DIR]

For each snapshot (runs/<run>/snapshots/step_*, written with --snapshot-every), each `--extra STEP=UNET_DIR` and
the run's bundle (`--bundle`), it samples one image per V image with that image's findings (DPM-Solver++ 15 steps,
classifier-free guidance 2, fixed seeds) and reports the noise-dominated and saturated shares and FID against all
of V in two feature spaces: the judge's (trained on split J only: never on the generator's patients) and a fixed
random CNN's, each also as a ratio to the real floor (as many G images against V), beside the simple fakes.

It then fits the judge-feature FID's excess over the floor as `a * step^-b` and projects the realism card's
ratio on T (anchored at the step the card measured) to the step where it would reach the card's bar (2.0),
converted to CPU-hours at the measured seconds per step (`fit` below says why the anchor). Writes curve.json
(rows of earlier sessions are kept: their snapshots may be gone), curve.png and samples.png (the newest weights
beside real V images). No test-split image is read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.evaluation.feature_spaces import Spaces
from models.evaluation.generated import sample_per_label
from models.evaluation.real_images import real_images

ROOT = Path(__file__).resolve().parents[1]

PROJECTION_LIMIT = 1e6  # steps: a projection past this is reported as "not reached", not drawn
TARGET_RATIO = 2.0  # the realism card's bar: FID <= 2 x the real floor in the judge's features
SAMPLING = "dpmsolver++ 15 steps, CFG 2, no classifier guidance"


def sample(unet_dir: Path, prediction: str, labels: list[list[str]]) -> np.ndarray:
    """The realism curve's sampling (SAMPLING) of one snapshot's UNet."""
    import torch

    from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
    from models.diffusion.unet import FindingUNet

    unet = FindingUNet.from_pretrained(unet_dir, local_files_only=True, torch_dtype=torch.float32).eval()
    return sample_per_label(RadSynthPipeline(unet=unet, scheduler=new_scheduler(prediction_type=prediction)), labels)


def weights(run: Path, extra: list[str], bundle: Path | None) -> list[tuple[int, Path]]:
    """(step, UNet folder) for every snapshot of the run, every --extra and the bundle."""
    found = {int(json.loads((f / "time.json").read_text())["step"]): f for f in (run / "snapshots").glob("step_*")}
    for spec in extra:
        step, folder = spec.split("=", 1)
        found[int(step)] = Path(folder)
    if bundle is not None and (bundle / "resume.json").exists():
        found[int(json.loads((bundle / "resume.json").read_text())["step"])] = bundle / "unet"
    return sorted(found.items())


def fit(rows: list[dict], floor: float, seconds_per_step: float, anchor: dict | None) -> dict | None:
    """How fast the generator's excess over the real floor shrinks with training, and when the card's bar is met.

    The excess `fid_judge - floor` (judge's features, on V) is fitted as `a * step^-b` (least squares in log-log).
    V's 144 images inflate the floor (a small-sample bias), so V's ratio is not the card's; the projection is
    anchored on the card instead: its ratio on T at its step shrinks towards 1 as the fitted excess does, and the
    bar (2.0) is met where `1 + (anchor_ratio - 1) * excess(step) / excess(anchor_step) = 2.0`."""
    points = [(r["step"], r["fid_judge"] - floor) for r in rows if r["fid_judge"] > floor]
    if len(points) < 3:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    slope, intercept = np.polyfit(x, y, 1)
    b, a = -float(slope), float(np.exp(intercept))
    result = {"a": a, "b": b, "points": len(points), "steps": [p[0] for p in points],
              "seconds_per_step": seconds_per_step,
              "rule": "fid_judge(V) - floor(V) = a * step^-b, least squares in log-log"}
    if anchor is None:
        return result
    result["anchor"] = anchor
    if b <= 0:
        return result | {"steps_to_target": None, "note": "no improvement with steps over the measured range"}
    shrink = (TARGET_RATIO - 1) / (anchor["ratio"] - 1)  # the excess must fall to this share of the anchor's
    steps = anchor["step"] * shrink ** (-1 / b)
    return result | {"steps_to_target": float(steps), "cpu_hours_to_target": float(steps * seconds_per_step / 3600)}


def card_anchor(card_path: Path) -> dict | None:
    """The realism card's 64-px judge-feature ratio on T and the base generator's training step it measured."""
    if not card_path.exists():
        return None
    card = json.loads(card_path.read_text())
    info = json.loads((ROOT / card["generator"] / "radsynth.json").read_text())
    return {"step": int(info["steps"]), "ratio": card["64"]["distances_judge"]["generated"]["ratio_to_floor"],
            "card": str(card_path.relative_to(ROOT))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="training run folder (snapshots/ inside)")
    ap.add_argument("data", nargs="+", help="NIH folders (the realism splits' V and G are read from them)")
    ap.add_argument("--judge", default=str(ROOT / "bundles" / "judge-nih-J64"))
    ap.add_argument("--extra", action="append", default=[], help="STEP=UNET_DIR: weights kept elsewhere")
    ap.add_argument("--bundle", default=None, help="the run's bundle folder (its unet/ and resume.json)")
    ap.add_argument("--seconds-per-step", type=float, default=3.9,
                    help="training speed for the hours axis (measured on the training machine, uncontended)")
    ap.add_argument("--card", default=str(ROOT / "docs" / "realism" / "T" / "card.json"),
                    help="the realism card whose T figure anchors the projection")
    ap.add_argument("--prediction", default="v_prediction")
    ap.add_argument("--out", default=None, help="folder for curve.json/png and samples.png (default: RUN)")
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out or args.run)
    out.mkdir(parents=True, exist_ok=True)
    real, labels = real_images(args.data, "V")
    floor, _ = real_images(args.data, "G", len(real))
    spaces = Spaces(args.judge, real, floor)
    previous = json.loads((out / "curve.json").read_text()) if (out / "curve.json").exists() else {}
    rows = [r for r in previous.get("snapshots", []) if r.get("n") == len(real) and "fid_judge" in r]
    # rows of another protocol (64 images, random-CNN FID only) stay as history; they are not comparable
    earlier = previous.get("earlier", []) + [r for r in previous.get("snapshots", []) if r not in rows]
    measured = {r["step"] for r in rows}
    bundle = Path(args.bundle) if args.bundle else None
    newest = None
    for step, folder in weights(run, args.extra, bundle):
        if step in measured:
            continue
        generated = sample(folder, args.prediction, labels)
        rows.append({"step": step, "n": len(real)} | spaces.measure(generated))
        print(json.dumps(rows[-1]), flush=True)
        newest = generated  # weights come in step order: the last one measured is the newest
    rows.sort(key=lambda r: r["step"])
    result = {"split": "V", "n": len(real), "sampling": SAMPLING, "judge": args.judge,
              "reference": spaces.reference, "snapshots": rows, "earlier": earlier,
              "fit": fit(rows, spaces.reference["judge"]["real floor (G vs V)"], args.seconds_per_step,
                         card_anchor(Path(args.card))),
              "target_ratio": TARGET_RATIO}
    (out / "curve.json").write_text(json.dumps(result, indent=2))
    if rows:
        plot(result, out / "curve.png")
    if newest is not None:
        from models.evaluation.figures import labelled_grid

        labelled_grid({"real V": real[:8], "generated": newest[:8]}, out / "samples.png",
                      f"step {rows[-1]['step']}: real validation images (top), generated with the same findings")
    print(json.dumps({"reference": spaces.reference, "fit": result["fit"]}, indent=1))


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, ref, fitted = result["snapshots"], result["reference"], result["fit"]
    steps = np.array([r["step"] for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), dpi=100)
    for ax, space, title in ((axes[0], "judge", "judge's features (trained on J only)"),
                             (axes[1], "random_cnn", "fixed random-CNN features")):
        ax.plot(steps, [r[f"fid_{space}"] for r in rows], "o-", label="generator (EMA)")
        for name, style in (("real floor (G vs V)", "k--"), ("blurred real", "r:"), ("real + noise", "g:")):
            ax.axhline(ref[space][name], color=style[0], linestyle=style[1:], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("training steps (batch 32)")
        ax.set_ylabel(f"FID vs V ({result['n']} images)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[2]
    reachable = fitted and fitted.get("steps_to_target") and fitted["steps_to_target"] <= PROJECTION_LIMIT
    if fitted and fitted.get("anchor") and fitted.get("b") is not None and not reachable:
        ax.text(0.5, 0.5, f"flat: the excess shrinks as step^-{fitted['b']:.2f}\n"
                f"({100 * (1 - 2 ** -fitted['b']):.1f}% per doubling);\nthe bar is not reached within "
                f"{PROJECTION_LIMIT:.0e} steps", ha="center", va="center", transform=ax.transAxes, fontsize=9)
    elif reachable:
        anchor, floor = fitted["anchor"], ref["judge"]["real floor (G vs V)"]
        excess_at_anchor = fitted["a"] * anchor["step"] ** -fitted["b"]
        measured = [1 + (anchor["ratio"] - 1) * (r["fid_judge"] - floor) / excess_at_anchor for r in rows]
        xs = np.geomspace(min(steps.min(), anchor["step"]), fitted["steps_to_target"] * 1.5, 60)
        ax.plot(steps, measured, "o", label="measured on V, scaled to the card")
        ax.plot(xs, 1 + (anchor["ratio"] - 1) * fitted["a"] * xs ** -fitted["b"] / excess_at_anchor, "--",
                label=f"fit (excess ~ step^-{fitted['b']:.2f})")
        ax.plot([anchor["step"]], [anchor["ratio"]], "s", color="k", label=f"card on T (step {anchor['step']:,})")
        ax.axhline(result["target_ratio"], color="m", linestyle="-.",
                   label=f"bar 2.0: ~{fitted['steps_to_target']:,.0f} steps, ~{fitted['cpu_hours_to_target']:,.0f} "
                         "CPU-h")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "too few points to project", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("training steps (batch 32)")
    ax.set_ylabel("FID / real floor, judge, 64 px")
    ax.set_title("what more training buys: the card's ratio, projected", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
