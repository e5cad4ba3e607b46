"""Integrated-gradients cost and convergence.

    python -m bench.bench_ig [--model nih-cxr14-64-classifier] [--images 40]

1. Time per image and finding / (n_steps x a bare forward+backward at the same internal batch): target <= 1.2.
2. The smallest n_steps whose convergence error (|sum of attributions - (F(x) - F(baseline))| relative to
   |F(x) - F(baseline)|) stays under 5% on 95% of held-out images.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bench.common import interleaved, median, save, table
from core.settings import DEMO_DATASET
from models.catalog import resolve_model
from models.classifier.ensemble import ClassifierEnsemble
from models.data.nih import NIHChestXray
from models.explain.attribution import attribute, logit_fn, make_baseline


def bare_forward_backward(ens: ClassifierEnsemble, x: torch.Tensor, k: int, batch: int, calls: int) -> None:
    """What IG fundamentally costs: `calls` forward+backward passes of `batch` inputs per member."""
    for m in range(len(ens.members)):
        f = logit_fn(ens, m, k)
        for _ in range(calls):
            xb = x.expand(batch, -1, -1, -1).clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(xb).sum(), xb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="nih-cxr14-64-classifier")
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--finding", default="Effusion")
    args = ap.parse_args()
    ens = ClassifierEnsemble.load(resolve_model(args.model, kind="classifier"))
    k = ens.finding_index(args.finding)
    held = NIHChestXray(DEMO_DATASET, "test", ens.input_size, square="pad")
    images = [((held[i]["image"] + 1) / 2)[None] for i in range(min(args.images, len(held)))]

    rows = []
    x = images[0]
    for n_steps, ib in [(50, 16), (50, 50), (200, 16)]:
        calls = int(np.ceil(n_steps / ib))
        t = interleaved({"ig": lambda n=n_steps, b=ib: attribute(ens, x, k, n_steps=n, internal_batch_size=b),
                         "bare": lambda b=ib, c=calls: bare_forward_backward(ens, x, k, b, c)}, repeats=7)
        # Normalise to per-step cost: the bare loop processes calls*ib inputs per member, IG n_steps.
        ratio = median(t["ig"]) / (median(t["bare"]) * n_steps / (calls * ib))
        rows.append({"n_steps": n_steps, "internal_batch": ib, "ig_s": median(t["ig"]),
                     "bare_fwd_bwd_s": median(t["bare"]), "ratio": ratio})
    print(table(rows, ["n_steps", "internal_batch", "ig_s", "bare_fwd_bwd_s", "ratio"]))

    conv = []
    for n_steps in (4, 8, 16, 32, 50, 100):
        errs = []
        for img in images:
            attr, deltas = attribute(ens, img, k, n_steps=n_steps)
            gaps = []
            for m in range(len(ens.members)):
                f = logit_fn(ens, m, k)
                with torch.no_grad():
                    gaps.append(abs(float(f(img) - f(make_baseline(img, "black")))))
            errs.append(max(d / max(g, 1e-6) for d, g in zip(deltas, gaps, strict=True)))
        share = float(np.mean(np.array(errs) < 0.05))
        conv.append({"n_steps": n_steps, "images": len(errs), "share_under_5pct": share,
                     "median_rel_error": float(np.median(errs))})
    print()
    print(table(conv, ["n_steps", "images", "share_under_5pct", "median_rel_error"]))
    smallest = next((c["n_steps"] for c in conv if c["share_under_5pct"] >= 0.95), None)
    print(f"\nsmallest n_steps with error < 5% on >= 95% of held-out images: {smallest}")
    payload = {"model": args.model, "finding": args.finding, "cost": rows, "convergence": conv,
               "smallest_n_steps": smallest}
    print(f"wrote {save('ig', payload)}")


if __name__ == "__main__":
    main()
