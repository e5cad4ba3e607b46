"""One-step denoising error of a 3D generator on held-out volumes, per noise level, and the background its samples
end with (how the epsilon model's grey backgrounds were traced; see the 3D section of docs/model-card.md).

    python -m scripts.probe_denoising_3d models/pretrained/adrenal3d
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models.diffusion.samplers import make_scheduler
from models.volumes.diffusion3d import VolumePipeline
from models.volumes.sources import open_volume_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", default="datasets/adrenalmnist3d_64.npz")
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    pipe = VolumePipeline.load(args.model)
    src = open_volume_source(args.data, "test", pipe.size)
    x = torch.as_tensor(src.volumes[: args.n], dtype=torch.float32)
    y = torch.as_tensor(src.labels[: args.n], dtype=torch.long)
    sched = make_scheduler("ddpm", pipe.scheduler_config)  # the training noise schedule
    kind = sched.config.prediction_type
    gen = torch.Generator().manual_seed(0)
    constant = float(torch.mean((x - x.flatten().median()) ** 2))
    print(f"{kind} model; x0 MSE of a constant (the median voxel) guess: {constant:.4f}")
    print("t     x0 MSE (one step from a noised held-out volume)")
    with torch.no_grad():
        for t in (1, 20, 100, 300, 600, 900):
            noise, tt = torch.randn(x.shape, generator=gen), torch.full((len(x),), t)
            noisy = sched.add_noise(x, noise, tt)
            out = pipe.unet(noisy, tt, class_labels=y)
            a = sched.alphas_cumprod[t]
            x0 = a.sqrt() * noisy - (1 - a).sqrt() * out if kind == "v_prediction" else \
                (noisy - (1 - a).sqrt() * out) / a.sqrt()
            print(f"{t:<5} {float(torch.mean((x0 - x) ** 2)):.4f}")
    real = (x[:, 0].numpy() + 1) / 2
    vols = pipe(pipe.findings[0], 2, seeds=[0, 1], num_inference_steps=25).volumes
    print(f"sampled ({pipe.findings[0]}, DPM-Solver++ 25): median voxel {np.median(vols):.3f}, voxels < 0.05: "
          f"{(vols < 0.05).mean():.3f} (held-out real: {(real < 0.05).mean():.3f})")


if __name__ == "__main__":
    main()
