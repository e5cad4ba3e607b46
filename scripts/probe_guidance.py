"""Label agreement of a generator checkpoint at several guidance scales (a quick probe before a full model card).

    python -m scripts.probe_guidance runs/nih-cxr14-64 --guidance 1,2,4,6 --n 16 [--steps 15]
    python -m scripts.probe_guidance models/pretrained/nih-cxr14-64 --guidance 2 --classifier-scale 0,2,4 \
        [--guide runs/guide-nih/guide]

Loads the EMA weights from a training run's checkpoint.pt (or a model folder), generates `n` images per eligible
finding (>= 30 training images) and for "No Finding", and prints the ensemble's AUROC per finding."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from models.evaluation.generated import eligible_findings


def load_generator(path: Path):
    """A RadSynthPipeline from a model folder, or from a run folder's checkpoint (EMA weights)."""
    from models.diffusion.pipeline import RadSynthPipeline

    if (path / "unet").exists():
        return RadSynthPipeline.load(path), "model folder"
    pipe = RadSynthPipeline.load(path / "model")
    state = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=False)
    with torch.no_grad():
        for param, shadow in zip(pipe.unet.parameters(), state["ema"]["shadow_params"], strict=True):
            param.copy_(shadow)
    return pipe, f"checkpoint step {state['step']}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("generator", type=Path)
    ap.add_argument("--guidance", default="1,2,4,6")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--steps", type=int, default=15, help="DPM-Solver++ steps (the service default: 15)")
    ap.add_argument("--classifier-scale", default="0", help="classifier-guidance scales to try (needs a guide)")
    ap.add_argument("--guide", type=Path, help="a guide folder to attach (default: the generator's own, if any)")
    args = ap.parse_args()
    from core.settings import DEMO_DATASET
    from models.catalog import resolve_model
    from models.classifier.ensemble import ClassifierEnsemble
    from models.data.nih import NIHChestXray
    from models.metrics.auroc import separation_auroc
    from models.vocabulary.findings import NO_FINDING

    pipe, source = load_generator(args.generator)
    if args.guide:
        from models.diffusion.guide import load_guide

        pipe.attach_guide(load_guide(args.guide))
    ens = ClassifierEnsemble.load(resolve_model("nih-cxr14-64-classifier", kind="classifier"))
    eligible = eligible_findings(NIHChestXray(DEMO_DATASET, "train", pipe.unet.config.sample_size))
    seeds = list(range(90_000, 90_000 + args.n))
    results = {}
    grid = [(float(g), float(c)) for g in args.guidance.split(",") for c in args.classifier_scale.split(",")]
    for g, c in grid:
        t0 = time.time()

        def gen(name: str, g: float = g, c: float = c) -> np.ndarray:
            return pipe(name, args.n, seeds=seeds, guidance_scale=g, precision=args.precision,
                        num_inference_steps=args.steps, classifier_scale=c).images

        p_normal = ens.predict(gen(NO_FINDING)).mean
        per = {}
        for name in eligible:
            k = ens.findings.index(name)
            p = ens.predict(gen(name)).mean[:, k]
            per[name] = separation_auroc(p, p_normal[:, k])
        results[g, c] = {"mean": float(np.mean(list(per.values()))), "per_finding": per, "s": round(time.time() - t0)}
        print(json.dumps({"source": source, "guidance": g, "classifier_scale": c, "steps": args.steps}
                         | results[g, c]), flush=True)


if __name__ == "__main__":
    main()
