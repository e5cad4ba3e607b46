"""What classifier guidance costs per job: the default job with the model's classifier-guidance scale vs without.

    python -m bench.bench_classifier_guidance [--model nih-cxr14] [--n 4] [--repeats 5] [--precision fp32]

The service's default 2D job (consolidation, DPM-Solver++ at the default steps, classifier-free guidance 2),
timed with the model's default classifier-guidance scale and with 0, interleaved; medians and their ratio.
"""

from __future__ import annotations

import argparse

import torch

from bench.common import interleaved, median, save, table
from models.catalog import resolve_model
from models.diffusion.pipeline import RadSynthPipeline
from models.diffusion.samplers import DEFAULT_SAMPLER
from models.vocabulary.sampler_defaults import default_steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="nih-cxr14")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = ap.parse_args()
    pipe = RadSynthPipeline.load(resolve_model(args.model, kind="generator"))
    scale = pipe.default_classifier_scale
    if pipe.guide is None or scale <= 0:
        raise SystemExit(f"{args.model} has no guide classifier with a default scale: nothing to compare")
    seeds = list(range(args.n))

    def job(c: float):
        return lambda: pipe("consolidation", args.n, seeds=seeds, classifier_scale=c, precision=args.precision)

    t = interleaved({"with": job(scale), "without": job(0.0)}, repeats=args.repeats)
    rows = [{"classifier guidance": name, "median s": median(v), "runs": len(v)} for name, v in t.items()]
    ratio = median(t["with"]) / median(t["without"])
    print(table(rows, ["classifier guidance", "median s", "runs"]))
    steps = default_steps(DEFAULT_SAMPLER)
    print(f"\n{args.n} images, {DEFAULT_SAMPLER} {steps} steps, {args.precision}, {torch.get_num_threads()} threads: "
          f"with scale {scale:g} / without = {ratio:.3f}")
    path = save("classifier_guidance", {"model": args.model, "scale": scale, "n": args.n, "steps": steps,
                                        "precision": args.precision, "threads": torch.get_num_threads(),
                                        "times_s": t, "ratio_of_medians": ratio})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
