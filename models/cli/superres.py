"""`radsynth train-superres`: train the 64 -> 256 super-resolution stage on real 256-px radiographs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from models.data.nih import native_records


def cmd_train_superres(args: argparse.Namespace) -> int:
    from models.data.nih import NIHRealismSplit
    from models.data.splits import parse_splits
    from models.diffusion.superres_train import SuperResConfig, SuperResPairs, SuperResTrainer
    from models.progress import progress_bar

    ds = native_records(NIHRealismSplit(args.data, parse_splits(args.splits), args.resolution), args.resolution)
    if not len(ds):
        raise ValueError(f"no image of at least {args.resolution} px in {', '.join(args.data)} ({args.splits})")
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 speaks
    if main_rank:
        print(f"decoding {len(ds)} images of splits {args.splits} at {args.resolution} px", file=sys.stderr)
    pairs = SuperResPairs(ds, args.resolution, 4)
    cfg = SuperResConfig(resolution=args.resolution, crop=args.crop, steps=args.steps, batch_size=args.batch_size,
                         lr=args.lr, block_out_channels=tuple(int(c) for c in args.channels.split(",")),
                         checkpoint_every=args.checkpoint_every)
    bar, update = progress_bar(cfg.steps, "train-superres", disable=not main_rank)
    trainer = SuperResTrainer(pairs, args.out, cfg, progress=update)
    if args.init_from and not (Path(args.out) / "checkpoint.pt").exists():
        trainer.resume_from_bundle(args.init_from)
    final = trainer.run(bundle_to=args.bundle)
    bar.close()
    if main_rank:
        print(final)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    sr = sub.add_parser("train-superres", help="train the 64->256 super-resolution stage (no labels needed)")
    sr.add_argument("data", nargs="+", help="NIH folders holding 256-px (or larger) images")
    sr.add_argument("--splits", default="G+J", help="realism splits to train on (default G+J: it sees no labels)")
    sr.add_argument("--out", required=True)
    sr.add_argument("--resolution", type=int, default=256)
    sr.add_argument("--crop", type=int, default=96, help="training crop side (a multiple of 8)")
    sr.add_argument("--channels", default="16,32,64,128", help="UNet widths; the first runs at full size, so it "
                    "is kept narrow (2.6x faster per 256-px step than 32,64,128,128)")
    sr.add_argument("--steps", type=int, default=10_000)
    sr.add_argument("--batch-size", type=int, default=16)
    sr.add_argument("--lr", type=float, default=2e-4)
    sr.add_argument("--checkpoint-every", type=int, default=100)
    sr.add_argument("--bundle", default=None, help="write a servable, resumable folder here at every checkpoint")
    sr.add_argument("--init-from", default=None, help="resume from a bundle when OUT has no checkpoint")
    sr.set_defaults(func=cmd_train_superres)
