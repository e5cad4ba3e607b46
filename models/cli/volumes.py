"""`radsynth train-volume-generator` and `radsynth generate-volume`: 3D DDPMs on 3D MedMNIST volumes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from models.vocabulary.output_formats import format_argument
from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, SAMPLER_NAMES


def cmd_train_volume_generator(args: argparse.Namespace) -> int:
    from models.progress import progress_bar
    from models.volumes.sources import open_volume_source
    from models.volumes.train3d import save_volume_model, train_volume_generator

    src = open_volume_source(args.data, "train", args.size)
    print(f"training on {len(src.volumes)} volumes at {args.size}^3; classes: "
          + ", ".join(f"{n} {int((src.labels == i).sum())}" for i, n in enumerate(src.findings)), file=sys.stderr)
    channels = tuple(int(c) for c in args.channels.split(","))
    if args.latent:
        from models.volumes.latent3d import train_latent_volume_generator

        bars = {}

        def stage_progress(stage: str, step: int, total: int, loss: float) -> None:
            if stage not in bars:
                for bar_ in bars.values():
                    bar_[0].close()
                bars[stage] = progress_bar(total, f"train {stage}")
            bars[stage][1](step, total, stage, {"loss": loss})

        pipe, summary = train_latent_volume_generator(
            src.volumes, src.labels, src.findings, ae_channels=tuple(int(c) for c in args.ae_channels.split(",")),
            latent_channels=args.latent_channels, ae_steps=args.ae_steps, steps=args.steps,
            batch_size=args.batch_size, channels=channels, seed=args.seed, lr=args.lr, flip=args.flip,
            prediction=args.prediction, progress=stage_progress)
        for bar_ in bars.values():
            bar_[0].close()
    else:
        bar, update = progress_bar(args.steps, "train-volume-generator")
        pipe, summary = train_volume_generator(
            src.volumes, src.labels, src.findings, size=args.size, steps=args.steps, batch_size=args.batch_size,
            lr=args.lr, channels=channels, seed=args.seed, device=args.device, flip=args.flip,
            prediction=args.prediction, progress=lambda s, t, loss: update(s, t, "training", {"loss": loss}))
        bar.close()
    if os.environ.get("RANK", "0") != "0":  # under torchrun rank 0 writes the model
        return 0
    out = save_volume_model(pipe, Path(args.out), dataset=src.name, voxel_mm=src.voxel_mm, summary=summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "losses"} | {"model": str(out)}))
    return 0


def cmd_generate_volume(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.progress import progress_bar
    from models.volumes.generate3d import generate_volumes_to_folder

    bar, update = progress_bar(args.steps or 25, f"generate-volume {args.finding}")
    result = generate_volumes_to_folder(
        model=resolve_model(args.model), finding=args.finding, n=args.n, out_dir=args.out, formats=args.format,
        sampler=args.sampler, steps=args.steps, guidance=args.guidance, seed=args.seed,
        progress=lambda s, t: update(s, t, "sampling", {}))
    bar.close()
    print(json.dumps(result, indent=1))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register train-volume-generator and generate-volume."""
    tv = sub.add_parser("train-volume-generator", help="train a class-conditional 3D DDPM on 3D MedMNIST or a "
                        "folder of NIfTI files / DICOM series with labels.csv")
    tv.add_argument("data", help="a 3D MedMNIST .npz (e.g. adrenalmnist3d_64.npz) or a folder with labels.csv "
                    "(path,label[,split][,modality])")
    tv.add_argument("--out", required=True)
    tv.add_argument("--size", type=int, default=32, help="voxels per side the model generates")
    tv.add_argument("--steps", type=int, default=2000)
    tv.add_argument("--batch-size", type=int, default=8)
    tv.add_argument("--lr", type=float, default=2e-4)
    tv.add_argument("--channels", default="16,32,64")
    tv.add_argument("--flip", action="store_true", help="random left-right flips (mirror-symmetric anatomy)")
    tv.add_argument("--latent", action="store_true", help="latent diffusion: train an autoencoder first, then the "
                    "DDPM on its latents (for sizes where pixel-space 3D is too costly)")
    tv.add_argument("--prediction", choices=["epsilon", "v_prediction"], default="v_prediction",
                    help="what the UNet predicts (v_prediction, the default, keeps sparse volumes' backgrounds "
                    "clean; epsilon left a noisy background at this data size)")
    tv.add_argument("--ae-channels", default="16,32,32", help="autoencoder widths; 2^(levels-1) = compression")
    tv.add_argument("--latent-channels", type=int, default=4)
    tv.add_argument("--ae-steps", type=int, default=1000)
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--device", default="cpu")
    tv.set_defaults(func=cmd_train_volume_generator)
    gv = sub.add_parser("generate-volume", help="generate volumes of a finding as NIfTI and/or DICOM series")
    gv.add_argument("finding")
    gv.add_argument("--model", default="adrenal3d")
    gv.add_argument("--n", type=int, default=1)
    gv.add_argument("--out", required=True)
    gv.add_argument("--format", type=format_argument("volume"), default="nifti",
                    help="nifti, dicom (a series per volume) or both, alone or comma-separated (default nifti)")
    gv.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES)
    gv.add_argument("--steps", type=int, default=None)
    gv.add_argument("--guidance", type=float, default=2.0)
    gv.add_argument("--seed", type=int, default=None)
    gv.set_defaults(func=cmd_generate_volume)
