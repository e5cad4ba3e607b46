"""Compare the detail stages on a realism split: the bundled diffusion super-resolution stage, the one-pass detail
network and bicubic, first on real images shrunk to 64 px (against the originals), then on the base generator's
own 64-px images (against the split's real 256-px images).

    python -m scripts.detail_stage_check ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        --detail bundles/detail-nih256-G/net --split V --out docs/realism/V/detail

FID in two fixed random feature spaces (`random_cnn_features`, `second_cnn_features`) with 95% bootstrap intervals,
beside the real floor (split G's 256-px images), the same blurred, and the same shrunk to 64 px and brought
back by bicubic; PSNR where an original exists; high-frequency
power against the real images (log10, 0 = theirs); seconds per image on this machine. Writes check.json and
side_by_side.png into --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from models.data.preprocess import resize
from models.evaluation.generated import MIX_SEED, sample
from models.evaluation.real_images import real_split
from models.metrics.autoencoder_eval import bicubic_from, high_frequency_power, rows_figure
from models.metrics.fid import frechet_distance
from models.metrics.realism import (
    fakes,
    fid_interval,
    random_cnn_features,
    second_cnn_features,
    washed_out_share,
)
from models.metrics.superres_eval import psnr

ROOT = Path(__file__).resolve().parents[1]


def upscalers(pipe, net, fewer_steps: list[int]) -> dict:
    """name -> f(images (N, 64, 64), seeds) -> (N, 256, 256), each timed by the caller; `fewer_steps`: the
    diffusion stage also at these step counts (from the same start)."""
    from models.diffusion.detail_net import upscale
    from models.diffusion.pipeline import SUPERRES_SEED_OFFSET

    def diffusion(steps: int | None):
        return lambda low, seeds: pipe.superres(low, [s + SUPERRES_SEED_OFFSET for s in seeds],
                                                num_inference_steps=steps)

    return {"bicubic": lambda low, seeds: bicubic_up(low), "diffusion stage (served)": diffusion(None),
            **{f"diffusion stage, {n} steps": diffusion(n) for n in fewer_steps},
            "detail net (one pass)": lambda low, seeds: upscale(net, low)}


def bicubic_up(low: np.ndarray, size: int = 256) -> np.ndarray:
    import torch

    x = torch.nn.functional.interpolate(torch.from_numpy(np.asarray(low, np.float32))[:, None], size=(size, size),
                                        mode="bicubic", align_corners=False)
    return x[:, 0].clamp(0, 1).numpy()


def scores(made: np.ndarray, reference: np.ndarray, spaces: dict, reference_f: dict) -> dict:
    """FID with its interval in each space, and high-frequency power, of `made` against `reference`."""
    row = {"high_frequency_power_log10": high_frequency_power(made, reference), "n": len(made)}
    for name, features in spaces.items():
        f = features(made)
        lo, hi = fid_interval(reference_f[name], f, n=100)
        row[f"fid_{name}"] = {"fid": frechet_distance(reference_f[name], f), "interval95": [lo, hi]}
    return row


def run_all(methods: dict, low: np.ndarray, seeds: list[int]) -> tuple[dict, dict]:
    """Every method's outputs for `low`, and its seconds per image."""
    outputs, seconds = {}, {}
    for name, method in methods.items():
        t0 = time.perf_counter()
        outputs[name] = method(low, seeds)
        seconds[name] = (time.perf_counter() - t0) / len(low)
        print(f"{name}: {seconds[name]:.2f} s per image", flush=True)
    return outputs, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="+", help="the NIH folders")
    ap.add_argument("--generator", default=str(ROOT / "models" / "pretrained" / "nih-cxr14"))
    ap.add_argument("--detail", default=str(ROOT / "bundles" / "detail-nih256-G" / "net"))
    ap.add_argument("--split", choices=["V", "T"], default="V")
    ap.add_argument("--fewer-steps", default="", help="also the diffusion stage at these step counts, e.g. 2,4")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    import torch

    from models.diffusion.detail_net import load_detail_net
    from models.diffusion.pipeline import RadSynthPipeline

    torch.set_grad_enabled(False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe, net = RadSynthPipeline.load(args.generator), load_detail_net(args.detail)
    real, labels, _, _ = real_split(args.data, args.split, 256, native_only=True)
    floor, *_ = real_split(args.data, "G", 256, native_only=True)
    spaces = {"random_cnn": random_cnn_features(size=256), "second_cnn": second_cnn_features(size=256)}
    real_f = {name: f(real) for name, f in spaces.items()}
    seeds = [MIX_SEED + i for i in range(len(real))]
    methods = upscalers(pipe, net, [int(n) for n in args.fewer_steps.split(",") if n])
    shrunk = np.stack([resize(im, 64) for im in real])
    alone, alone_s = run_all(methods, shrunk, seeds)
    stage_alone = {name: scores(made, real, spaces, real_f) | {"psnr_db": float(psnr(made, real).mean()),
                                                               "seconds_per_image": alone_s[name]}
                   for name, made in alone.items()}
    setting = {"cfg": pipe.default_guidance, "classifier_scale": 0.0,
               "cfg_interval": pipe.default_guidance_interval}
    base, _, _ = sample(pipe, [(names, seed) for names, seed in zip(labels, seeds, strict=True)], setting)
    made, made_s = run_all(methods, base, seeds)
    on_base = {name: scores(images, real, spaces, real_f) | {"seconds_per_image": made_s[name]}
               for name, images in made.items()}
    references = {"real floor (G)": floor, "blurred real (G)": fakes(floor)["blurred real"],
                  "real 64 px + bicubic (G)": bicubic_from(floor)}
    check = {"split": args.split, "n_real": len(real), "n_floor": len(floor), "generator": args.generator,
             "detail": args.detail, "references": {k: scores(v, real, spaces, real_f) for k, v in references.items()},
             "stage_alone_on_real": stage_alone, "on_base_images": on_base,
             "washed_out_share": {"base images": washed_out_share(base, real),
                                  "real floor (G)": washed_out_share(floor, real)}}
    (out / "check.json").write_text(json.dumps(check, indent=2, default=float))
    rows_figure({f"real {args.split}": real[:6], **{f"base + {k}": v[:6] for k, v in made.items()}},
                out / "side_by_side.png", f"Real {args.split} radiographs, and the base generator's 64-px images for "
                "their findings brought to 256 px by each stage; right of each: a zoomed crop")
    print(json.dumps({k: check[k] for k in ("stage_alone_on_real", "on_base_images")}, indent=1, default=float))


if __name__ == "__main__":
    main()
