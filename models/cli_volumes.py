"""`radsynth train-volume-generator` and `radsynth generate-volume`: 3D DDPMs on 3D MedMNIST volumes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_train_volume_generator(args: argparse.Namespace) -> int:
    import numpy as np

    from models.cli import progress_bar
    from models.data.medmnist import medmnist_label_names
    from models.io.writers import write_png
    from models.volumes.read import read_medmnist3d

    volumes, labels = read_medmnist3d(args.data, "train")
    names = list(medmnist_label_names(Path(args.data), int(labels.max()) + 1))
    print(f"training on {len(volumes)} volumes of {volumes.shape[1:]}; classes: "
          + ", ".join(f"{n} {int((labels == i).sum())}" for i, n in enumerate(names)), file=sys.stderr)
    from models.volumes.train3d import train_volume_generator

    bar, update = progress_bar(args.steps, "train-volume-generator")
    pipe, summary = train_volume_generator(
        volumes, labels, names, size=args.size, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        channels=tuple(int(c) for c in args.channels.split(",")), seed=args.seed, device=args.device,
        progress=lambda s, t, loss: update(s, t, "training", {"loss": loss}))
    bar.close()
    voxel_mm = args.voxel_mm * volumes.shape[1] / args.size
    out = pipe.save(args.out, metadata={"dataset": Path(args.data).name, "voxel_mm": voxel_mm, "training": summary})
    from models.volumes.write import mid_slices

    rows = [np.concatenate([mid_slices(v) for v in pipe(name, 2, seeds=[0, 1], num_inference_steps=25).volumes],
                           axis=1) for name in names]
    write_png(out / "samples.png", np.concatenate(rows, axis=0))
    print(json.dumps(summary | {"model": str(out)}))
    return 0


def cmd_generate_volume(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.cli import progress_bar
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
    tv = sub.add_parser("train-volume-generator", help="train a class-conditional 3D DDPM on a 3D MedMNIST npz")
    tv.add_argument("data", help="a 3D MedMNIST .npz (e.g. adrenalmnist3d_64.npz)")
    tv.add_argument("--out", required=True)
    tv.add_argument("--size", type=int, default=32, help="voxels per side the model generates")
    tv.add_argument("--steps", type=int, default=2000)
    tv.add_argument("--batch-size", type=int, default=8)
    tv.add_argument("--lr", type=float, default=2e-4)
    tv.add_argument("--channels", default="16,32,64")
    tv.add_argument("--voxel-mm", type=float, default=1.0, help="voxel size of the data at its own resolution")
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--device", default="cpu")
    tv.set_defaults(func=cmd_train_volume_generator)
    gv = sub.add_parser("generate-volume", help="generate volumes of a finding as NIfTI and/or DICOM series")
    gv.add_argument("finding")
    gv.add_argument("--model", default="adrenal3d")
    gv.add_argument("--n", type=int, default=1)
    gv.add_argument("--out", required=True)
    gv.add_argument("--format", choices=["nifti", "dicom", "both"], default="nifti")
    gv.add_argument("--sampler", default="dpmsolver++")
    gv.add_argument("--steps", type=int, default=None)
    gv.add_argument("--guidance", type=float, default=2.0)
    gv.add_argument("--seed", type=int, default=None)
    gv.set_defaults(func=cmd_generate_volume)
