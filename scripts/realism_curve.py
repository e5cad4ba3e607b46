"""Realism of a training run's EMA snapshots against training hours, measured on the validation split V only.

    python scripts/realism_curve.py runs/base64 ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--n 64] [--every 1] [--out docs/realism-curve]

For each snapshot (runs/<run>/snapshots/step_*, written with --snapshot-every) and the run's bundle, it samples
one image per V image with that image's findings (DPM-Solver++ 15 steps, classifier-free guidance 2, fixed seeds)
and reports: the noise-dominated share (rougher than the roughest real V image), the saturated share, and FID in
a fixed random-CNN feature space against V, beside the real floor (G images vs V) and the simple fakes (blurred
real, real + noise, mean + noise). Writes curve.json, curve.png (against hours) and samples.png (the newest
snapshot beside real V images). Rows already in OUT/curve.json are kept, so the curve grows across sessions whose
snapshots are gone. No test-split image is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def real_images(roots: list[str], split: str, n: int | None = None):
    from models.data.nih import NIHRealismSplit

    ds = NIHRealismSplit(roots, {split}, 64)
    count = len(ds) if n is None else min(n, len(ds))
    images = np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(count)])
    return images, [ds.records[i].labels or ["No Finding"] for i in range(count)]


def sample(unet_dir: Path, prediction: str, labels: list[list[str]], seed: int = 50_000) -> np.ndarray:
    import torch

    from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
    from models.diffusion.unet import FindingUNet

    unet = FindingUNet.from_pretrained(unet_dir, local_files_only=True, torch_dtype=torch.float32).eval()
    pipe = RadSynthPipeline(unet=unet, scheduler=new_scheduler(prediction_type=prediction))
    requests = [(names, [seed + i]) for i, names in enumerate(labels)]
    out = []
    for start in range(0, len(requests), 32):
        out += [o.images[0] for o in pipe.sample_requests(requests[start:start + 32], num_inference_steps=15,
                                                          guidance_scale=2.0, classifier_scale=0.0)]
    return np.stack(out)


def measure(generated: np.ndarray, real: np.ndarray, features) -> dict:
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import noise_dominated_share, saturated_share

    return {"noise_dominated": noise_dominated_share(generated, real), "saturated": saturated_share(generated),
            "fid_random_cnn": frechet_distance(features(generated), features(real))}


def snapshots(run: Path, every: int) -> list[tuple[int, float, Path]]:
    found = []
    for folder in sorted((run / "snapshots").glob("step_*"))[::every]:
        info = json.loads((folder / "time.json").read_text())
        found.append((info["step"], info["wall_s"] / 3600, folder))
    return found


def main() -> None:
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import fakes, random_cnn_features

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="training run folder (snapshots/ inside)")
    ap.add_argument("data", nargs="+", help="NIH folders (the realism splits' V and G are read from them)")
    ap.add_argument("--n", type=int, default=64, help="images per measurement (at most the V count)")
    ap.add_argument("--every", type=int, default=1, help="measure every k-th snapshot")
    ap.add_argument("--prediction", default="v_prediction")
    ap.add_argument("--out", default=None, help="folder for curve.json/png and samples.png (default: RUN)")
    args = ap.parse_args()
    run, out = Path(args.run), Path(args.out or args.run)
    out.mkdir(parents=True, exist_ok=True)
    real, labels = real_images(args.data, "V", args.n)
    floor_images, _ = real_images(args.data, "G", len(real))
    features = random_cnn_features()
    real_f = features(real)
    reference = {"real_floor_G_vs_V": frechet_distance(features(floor_images), real_f)}
    reference |= {name: frechet_distance(features(fake), real_f) for name, fake in fakes(floor_images).items()}
    previous = out / "curve.json"  # earlier sessions' rows are kept: their snapshots may be gone
    rows = json.loads(previous.read_text())["snapshots"] if previous.exists() else []
    measured = {r["step"] for r in rows}
    newest = None
    for step, hours, folder in snapshots(run, args.every):
        if step in measured:
            continue
        generated = sample(folder, args.prediction, labels)
        rows.append({"step": step, "hours": round(hours, 3)} | measure(generated, real, features))
        print(json.dumps(rows[-1]), flush=True)
        newest = generated
    rows.sort(key=lambda r: r["step"])
    result = {"split": "V", "n": len(real), "sampling": "dpmsolver++ 15 steps, CFG 2, no classifier guidance",
              "reference": reference, "snapshots": rows}
    (out / "curve.json").write_text(json.dumps(result, indent=2))
    if rows:
        plot(rows, reference, out / "curve.png")
    if newest is not None:
        from scripts.model_card import labelled_grid

        labelled_grid({"real V": real[:8], "generated": newest[:8]}, out / "samples.png",
                      f"step {rows[-1]['step']}: real validation images (top), generated with the same findings")
    print(json.dumps(reference))


def plot(rows: list[dict], reference: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = [r["hours"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    a.plot(hours, [r["fid_random_cnn"] for r in rows], "o-", label="generator")
    for name, style in (("real_floor_G_vs_V", "k--"), ("blurred real", "r:"), ("real + noise", "g:")):
        a.axhline(reference[name], linestyle=style[1:], color=style[0], label=name.replace("_", " "))
    a.set_xlabel("training hours (2 CPU cores)")
    a.set_ylabel("FID, random-CNN features, vs V")
    a.set_yscale("log")
    a.legend(fontsize=7)
    b.plot(hours, [100 * r["noise_dominated"] for r in rows], "o-", label="noise-dominated")
    b.plot(hours, [100 * r["saturated"] for r in rows], "s-", label="saturated")
    b.axhline(2, color="k", linestyle="--", label="target 2%")
    b.set_xlabel("training hours (2 CPU cores)")
    b.set_ylabel("% of generated images")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
