"""Sampler quality per unit of time: FID/KID and seconds per image for each sampler, against DDPM-1000's spread.

    python -m bench.bench_sampler_quality [--sets 3] [--per-set 32] [--precision bf16]

Every sampler draws the same `--sets` seed sets of `--per-set` images (same seeds, same findings, following the
held-out split's label mix) from the bundled generator with guidance 2. Each set is scored against all held-out
real images (val + test) in the card's domain features. DDPM-1000's seed-to-seed spread is the range of its
per-set FIDs; a sampler is "within the spread" when its mean FID is at most DDPM-1000's worst set. Training-real
subsets of the same size against the same held-out images give the floor at this sample size.

Generated features are cached per (sampler, steps, precision, set) in bench/results/cache/, so an interrupted
run resumes without redoing DDPM-1000 (about 40 s per image in bf16 on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
import torch
from tqdm import tqdm

from bench.common import RESULTS, save, table
from core.settings import DEMO_DATASET
from models.catalog import DEFAULT_CLASSIFIER, resolve_model
from models.classifier.ensemble import ClassifierEnsemble
from models.data.nih import NIHChestXray
from models.diffusion.pipeline import RadSynthPipeline
from models.diffusion.train import real_images
from models.metrics.fid import fid_kid_from_features
from models.qc.memorisation import image_features

CONFIGS: list[tuple[str, int, str | None]] = [  # sampler, steps, precision (None: --precision)
    ("ddpm", 1000, None),
    ("ddim", 50, None),
    ("dpmsolver++", 25, None),
    ("dpmsolver++", 25, "fp32"),  # the service default precision, to show bf16 does not move the figure
    ("dpmsolver++", 15, None),
    ("dpmsolver++", 10, None),
    ("unipc", 10, None),
]
GUIDANCE = 2.0


def heldout_images(res: int) -> tuple[np.ndarray, list[str]]:
    """Held-out real images in [0, 1] and each one's primary label (the generated sets follow this mix)."""
    splits = [NIHChestXray(DEMO_DATASET, split, res) for split in ("val", "test")]
    images = np.concatenate([real_images(ds, len(ds)) for ds in splits])
    return images, [rec.labels[0] for ds in splits for rec in ds.records]


def set_plan(labels: list[str], set_index: int, n: int) -> list[tuple[str, int]]:
    """(finding, seed) for one seed set: findings drawn from the held-out mix, seeds unique per set."""
    rng = np.random.default_rng(1000 + set_index)
    findings = rng.choice(labels, n, replace=True)
    return [(str(f), 300_000 + 1000 * set_index + i) for i, f in enumerate(findings)]


def generate_set(pipe: RadSynthPipeline, plan: list[tuple[str, int]], sampler: str, steps: int, precision: str,
                 batch: int, bar: tqdm) -> tuple[np.ndarray, float]:
    """Images for one seed set and the sampling seconds they took (feature extraction excluded)."""
    out, seconds = [], 0.0
    for start in range(0, len(plan), batch):
        chunk = plan[start:start + batch]
        t0 = time.perf_counter()
        results = pipe.sample_requests([(f, [s]) for f, s in chunk], sampler=sampler, num_inference_steps=steps,
                                       guidance_scale=GUIDANCE, precision=precision,
                                       classifier_scale=0.0)  # samplers compared without classifier guidance
        seconds += time.perf_counter() - t0
        out.extend(r.images[0] for r in results)
        bar.update(len(chunk))
    return np.stack(out), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="nih-cxr14")
    ap.add_argument("--sets", type=int, default=3)
    ap.add_argument("--per-set", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="bf16",
                    help="UNet precision for every row but the fp32 check (bf16: about 1.7x faster on AMX CPUs)")
    ap.add_argument("--skip-ddpm", action="store_true", help="leave out DDPM-1000 (then no spread is known)")
    args = ap.parse_args()
    torch.manual_seed(0)
    gen_dir = resolve_model(args.model, kind="generator")
    pipe = RadSynthPipeline.load(gen_dir)
    ens = ClassifierEnsemble.load(resolve_model(DEFAULT_CLASSIFIER, kind="classifier"))
    held, held_labels = heldout_images(pipe.unet.config.sample_size)
    f_held = image_features(ens, held)
    cache = RESULTS / "cache" / "sampler_quality"
    cache.mkdir(parents=True, exist_ok=True)
    weights = (gen_dir / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    weights_tag = hashlib.sha256(weights).hexdigest()[:12]  # a retrained model never reuses old samples

    configs = [c for c in CONFIGS if not (args.skip_ddpm and c[0] == "ddpm")]
    rows = []
    for sampler, steps, fixed_precision in configs:
        precision = fixed_precision or args.precision
        fids, kids, seconds = [], [], 0.0
        bar = tqdm(total=args.sets * args.per_set, desc=f"{sampler}-{steps} {precision}", unit="img")
        for s in range(args.sets):
            plan = set_plan(held_labels, s, args.per_set)
            key = f"{args.model}-{weights_tag}-{sampler}-{steps}-{precision}-g{GUIDANCE:g}-set{s}-n{args.per_set}"
            path = cache / f"{key}.npz"
            if path.exists():
                saved = np.load(path)
                feats, sec = saved["features"], float(saved["seconds"])
                bar.update(args.per_set)
            else:
                images, sec = generate_set(pipe, plan, sampler, steps, precision, args.batch, bar)
                feats = image_features(ens, images)
                np.savez(path, features=feats, seconds=sec)
            seconds += sec
            score = fid_kid_from_features(f_held, feats, seed=s)
            fids.append(score["fid"])
            kids.append(score["kid_mean"])
        bar.close()
        rows.append({"sampler": sampler, "steps": steps, "precision": precision,
                     "s_per_image": seconds / (args.sets * args.per_set), "fid_mean": float(np.mean(fids)),
                     "fid_sd": float(np.std(fids, ddof=1)) if len(fids) > 1 else 0.0, "fid_per_set": fids,
                     "kid_mean": float(np.mean(kids)), "kid_per_set": kids})

    rng = np.random.default_rng(0)
    train = NIHChestXray(DEMO_DATASET, "train", pipe.unet.config.sample_size)
    train_x = real_images(train, len(train))
    floor = []
    for s in range(args.sets):
        real = train_x[rng.choice(len(train_x), args.per_set, replace=False)]
        floor.append(fid_kid_from_features(f_held, image_features(ens, real), seed=s)["fid"])

    ddpm = next((r for r in rows if r["sampler"] == "ddpm"), None)
    for r in rows:
        if ddpm is None:
            continue
        r["speedup_vs_ddpm1000"] = ddpm["s_per_image"] / r["s_per_image"]
        r["within_ddpm_spread"] = r["fid_mean"] <= max(ddpm["fid_per_set"])
    cols = ["sampler", "steps", "precision", "s_per_image", "speedup_vs_ddpm1000", "fid_mean", "fid_sd", "kid_mean",
            "within_ddpm_spread"]
    print(table(rows, cols))
    if ddpm is not None:
        print(f"\nDDPM-1000 per-set FIDs (the seed-to-seed spread): "
              f"{', '.join(f'{v:.1f}' for v in ddpm['fid_per_set'])}")
    print(f"floor at this size (training real, {args.per_set} images, vs held-out): "
          f"{', '.join(f'{v:.1f}' for v in floor)}")
    path = save("sampler_quality", {
        "model": args.model, "guidance": GUIDANCE, "sets": args.sets, "per_set": args.per_set, "batch": args.batch,
        "heldout_real": len(held), "features": f"domain: pooled features of the {len(ens.members)} bundled "
        f"classifier members ({f_held.shape[1]} dims)", "rows": rows, "floor_fid_per_set": floor})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
