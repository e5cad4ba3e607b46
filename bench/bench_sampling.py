"""CPU (or GPU) time per 64x64 image by sampler, and our pipeline vs a bare diffusers loop.

    python -m bench.bench_sampling [--model nih-cxr14] [--batch 4] [--repeats 3]

Sampler timings: DDPM-1000, DDIM-50, DPM-Solver++ at 25 and 10 steps, UniPC-10 (guidance 2, both halves in
one batch). Overhead: RadSynthPipeline.__call__ vs a hand-written loop over the same UNet, scheduler, batch,
steps and guidance, interleaved; the ratio of medians is the pipeline's overhead (target <= 1.05).
"""

from __future__ import annotations

import argparse

import torch

from bench.common import interleaved, median, save, table
from models.catalog import resolve_model
from models.diffusion.pipeline import RadSynthPipeline
from models.diffusion.samplers import make_scheduler


def bare_loop(pipe: RadSynthPipeline, finding: str, batch: int, steps: int, guidance: float, seed: int) -> torch.Tensor:
    """The minimal diffusers-style loop: no seeds per image, no frames, no callbacks."""
    unet = pipe.unet
    sched = make_scheduler("dpmsolver++", pipe.scheduler.config)
    sched.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    size = unet.config.sample_size
    x = torch.randn((batch, 1, size, size), generator=g)
    labels = torch.cat([unet.encode_findings(finding, batch), unet.null_labels(batch)])
    with torch.inference_mode():
        for t in sched.timesteps:
            eps = unet(torch.cat([x, x]), t.expand(2 * batch), labels)
            cond, uncond = eps.chunk(2)
            x = sched.step(uncond + guidance * (cond - uncond), t, x).prev_sample
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="nih-cxr14")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-ddpm", action="store_true", help="skip the slow DDPM-1000 row")
    args = ap.parse_args()
    pipe = RadSynthPipeline.load(resolve_model(args.model, kind="generator"))
    finding, b = "Consolidation", args.batch
    rows = []
    configs = [("ddim", 50), ("dpmsolver++", 25), ("dpmsolver++", 10), ("unipc", 10)]
    if not args.skip_ddpm:
        configs.insert(0, ("ddpm", 1000))
    for sampler, steps in configs:
        reps = 1 if sampler == "ddpm" else args.repeats
        def run(s=sampler, n=steps):
            return pipe(finding, b, seeds=list(range(b)), sampler=s, num_inference_steps=n, classifier_scale=0.0)

        t = interleaved({"run": run}, reps, warmup=0 if reps == 1 else 1)
        sec = median(t["run"]) / b
        rows.append({"sampler": sampler, "steps": steps, "batch": b, "s_per_image": sec, "runs": reps})
    base = next((r["s_per_image"] for r in rows if r["sampler"] == "ddpm"), None)
    for r in rows:
        r["speedup_vs_ddpm1000"] = base / r["s_per_image"] if base else None
    print(table(rows, ["sampler", "steps", "batch", "s_per_image", "speedup_vs_ddpm1000", "runs"]))

    steps = 25
    t = interleaved({
        "pipeline": lambda: pipe(finding, b, seeds=list(range(b)), sampler="dpmsolver++", num_inference_steps=steps,
                                 classifier_scale=0.0),  # the bare loop has no guide classifier
        "bare_loop": lambda: bare_loop(pipe, finding, b, steps, 2.0, 0),
    }, repeats=max(5, args.repeats))
    ratio = median(t["pipeline"]) / median(t["bare_loop"])
    print(f"\npipeline / bare diffusers loop (dpmsolver++ {steps} steps, batch {b}, guidance 2): "
          f"{median(t['pipeline']):.3f} s / {median(t['bare_loop']):.3f} s = {ratio:.3f}  (target <= 1.05)")
    path = save("sampling", {"model": args.model, "rows": rows, "overhead": {
        "pipeline_s": t["pipeline"], "bare_s": t["bare_loop"], "ratio_of_medians": ratio, "steps": steps,
        "batch": b}})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
