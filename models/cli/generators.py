"""`radsynth train-generator` and `radsynth generate`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from models.data.formats import FORMATS
from models.progress import progress_bar
from models.vocabulary.output_formats import format_argument
from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, SAMPLER_NAMES, parse_guidance_interval


def training_sources(args: argparse.Namespace):
    """(train, validation) data sets of a train-generator call: one source split train/val, or with --splits
    the patient-level realism splits of one or more NIH folders (validation: V)."""
    if args.splits:
        from models.data.nih import NIHRealismSplit
        from models.data.splits import parse_splits

        return (NIHRealismSplit(args.data, parse_splits(args.splits), args.resolution),
                NIHRealismSplit(args.data, {"V"}, args.resolution))
    if len(args.data) > 1:
        raise ValueError("several data folders need --splits (e.g. --splits G): they are split by patient together")
    from models.data.registry import open_dataset

    return (open_dataset(args.data[0], "train", args.resolution, fmt=args.format),
            open_dataset(args.data[0], "val", args.resolution, fmt=args.format))


def cmd_train_generator(args: argparse.Namespace) -> int:
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    train, val = training_sources(args)
    if args.findings:
        train.restrict(args.findings.split(","))
        val.restrict(args.findings.split(","))
    channels = tuple(int(c) for c in args.channels.split(","))
    cfg = GeneratorConfig(resolution=args.resolution, block_out_channels=channels, layers_per_block=args.layers,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          lr_decay_from=args.lr_decay_from, lr_decay_steps=args.lr_decay_steps,
                          lr_final_ratio=args.lr_final_ratio, sample_every=args.sample_every,
                          checkpoint_every=args.checkpoint_every,
                          fid_every=args.fid_every, fid_samples=args.fid_samples, device=args.device,
                          bf16={"auto": None, "bf16": True, "fp32": False}[args.precision],
                          prediction_type=args.prediction, min_snr_gamma=args.min_snr or None,
                          snapshot_every=args.snapshot_every, num_workers=args.workers, augment=not args.no_augment,
                          dataset_name=args.name or "+".join(Path(d).name for d in args.data))
    features = None
    if args.fid_every:
        from models.qc.features import load_feature_extractor

        features = load_feature_extractor(args.features)
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 speaks
    if main_rank:
        print(f"training on {len(train)} images ({len(val)} held out); findings: "
              + ", ".join(f"{k} {v}" for k, v in train.label_counts().items() if v), file=sys.stderr)
    bar, update = progress_bar(cfg.steps, "train-generator", disable=not main_rank or args.progress_json)
    if args.progress_json:  # one JSON line per report on stdout, for a worker that launched this run
        def update(step: int, total: int, message: str, metrics: dict) -> None:
            print(json.dumps({"step": step, "total": total, "message": message} | metrics), flush=True)
    trainer = GeneratorTrainer(train, args.out, cfg, val_ds=val, features=features,
                               progress=update if main_rank else None)
    if args.bundle:
        trainer.on_checkpoint = lambda: trainer.bundle(args.bundle)
    if args.init_from and not (Path(args.out) / "checkpoint.pt").exists():
        trainer.resume_from_bundle(args.init_from)
        print(f"resuming from bundle {args.init_from} at step {trainer.step}", file=sys.stderr)
    final = trainer.run(resume=not args.fresh)
    bar.close()
    if main_rank:
        print(final)
    return 0


def guidance_interval_arg(text: str) -> tuple[float, float]:
    """--guidance-interval LO:HI, with parse_guidance_interval's message when it is not one."""
    try:
        return parse_guidance_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from models.vocabulary.sampling import GIF_FRAMES, Sampling
    from models.workflows.generate import Acceptance, GenerationRequest, generate_to_folder

    bar, update = progress_bar(args.steps or 0, f"generate {args.finding}")
    sampling = Sampling(sampler=args.sampler, steps=args.steps, guidance=args.guidance,
                        guidance_interval=args.guidance_interval, guidance_rescale=args.guidance_rescale,
                        classifier_guidance=args.classifier_guidance, resolution=args.resolution,
                        superres_start=args.superres_start, superres_steps=args.superres_steps,
                        frames=GIF_FRAMES if args.gif else 0)
    checks = args.qc or args.reject_copies or args.min_agreement is not None
    request = GenerationRequest(
        model=args.model, finding=args.finding, n=args.n, sampling=sampling, seed=args.seed, formats=args.format,
        bits=args.bits, accept=Acceptance(args.reject_copies, args.min_agreement) if checks else None)
    result = generate_to_folder(request, args.out, device=args.device,
                                progress=lambda s, t: update(s, t, "sampling", {}))
    bar.close()
    for item in result["images"]:
        line = f"seed {item['seed']}: " + " ".join(item["files"])
        if item.get("noise_redraws"):
            line += f"  (redrawn {item['noise_redraws']}x: the first draw was pixel noise)"
        if "qc" in item:
            agree = ", ".join(f"{k} p={v['probability']:.2f}" for k, v in item["qc"]["label_agreement"].items())
            mem = item["qc"]["memorisation"]
            line += f"  [{agree}{'; FLAGGED as copy' if mem and mem['flagged'] else ''}]"
        print(line)
    if "qc_summary" in result:
        print(f"QC: {json.dumps(result['qc_summary'])}")
    if result.get("gif"):
        print(f"denoising GIF: {result['gif']}")
    print(f"grid: {result['grid']}")
    return 0


def add_commands(sub) -> None:
    """Register train-generator and generate."""
    add_train_generator(sub)
    add_generate(sub)


def add_train_generator(sub) -> None:
    tg = sub.add_parser("train-generator", help="train a finding-conditional DDPM on a data source")
    tg.add_argument("data", nargs="+", help="NIH folder, MedMNIST .npz, DICOM folder (with labels.csv) or image "
                    "folder; several NIH folders with --splits")
    tg.add_argument("--splits", default=None, help="train on these patient-level realism splits of the NIH "
                    "folders (G, J, V, T; e.g. G), validating on V (models/data/splits.py)")
    tg.add_argument("--prediction", choices=["v_prediction", "epsilon"], default="v_prediction",
                    help="what the UNet predicts (v-prediction converges to cleaner images)")
    tg.add_argument("--min-snr", type=float, default=5.0, help="min-SNR-gamma loss weighting (0: plain MSE)")
    tg.add_argument("--no-augment", action="store_true", help="train on the images as they are: the affine and "
                    "exposure jitter otherwise applied can leak into what the generator draws (tilted black "
                    "borders, off-range exposure)")
    tg.add_argument("--snapshot-every", type=int, default=0, help="keep the EMA weights every N steps (fp16)")
    tg.add_argument("--bundle", default=None, help="at every checkpoint also write a servable, resumable "
                    "folder with the EMA weights here")
    tg.add_argument("--init-from", default=None, help="resume from a bundle when OUT has no checkpoint")
    tg.add_argument("--out", required=True, help="run folder (checkpoints, plots); the model lands in OUT/model")
    tg.add_argument("--format", choices=FORMATS, default=None)
    tg.add_argument("--name", default=None, help="data set name recorded in the model's metadata")
    tg.add_argument("--resolution", type=int, default=64)
    tg.add_argument("--channels", default="32,64,128,128", help="UNet block widths, comma-separated")
    tg.add_argument("--layers", type=int, default=1, help="ResNet layers per UNet block")
    tg.add_argument("--steps", type=int, default=10_000)
    tg.add_argument("--batch-size", type=int, default=32)
    tg.add_argument("--lr", type=float, default=2e-4)
    tg.add_argument("--lr-decay-from", type=int, default=None, help="step where a cosine decay of the learning "
                    "rate starts (default: constant after the warmup)")
    tg.add_argument("--lr-decay-steps", type=int, default=2000, help="length of that decay")
    tg.add_argument("--lr-final-ratio", type=float, default=0.1, help="learning rate after the decay, as a share "
                    "of --lr")
    tg.add_argument("--seed", type=int, default=0)
    tg.add_argument("--sample-every", type=int, default=1000)
    tg.add_argument("--checkpoint-every", type=int, default=250)
    tg.add_argument("--fid-every", type=int, default=0, help="FID/KID on the held-out split every N steps")
    tg.add_argument("--fid-samples", type=int, default=200)
    tg.add_argument("--features", default=None, help="feature extractor for FID: a classifier folder "
                    "(domain features, the default bundled one if omitted) or inception:PATH")
    tg.add_argument("--findings", default=None, help="train on these findings only (comma-separated)")
    tg.add_argument("--progress-json", action="store_true", help="report progress as JSON lines on stdout")
    tg.add_argument("--workers", type=int, default=0, help="DataLoader processes decoding images ahead of the "
                    "training loop (for large data sets; pre-resize them once with `radsynth prepare`)")
    tg.add_argument("--device", default=None)
    tg.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="UNet arithmetic: bf16 autocast is faster on GPUs and AMX CPUs (1.36x per step on "
                    "the project's 2-core CPU; auto: use it there)")
    tg.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    tg.set_defaults(func=cmd_train_generator)


def add_generate(sub) -> None:
    gen = sub.add_parser("generate", help="generate images of a finding into a folder")
    gen.add_argument("finding", help="finding name(s), e.g. consolidation or 'effusion+cardiomegaly'")
    gen.add_argument("--model", default="nih-cxr14", help="bundled model name or model folder")
    gen.add_argument("-n", type=int, default=4, help="how many images (default 4)")
    gen.add_argument("--out", default="generated",
                     help="folder for the images, made if missing (default: ./generated)")
    gen.add_argument("--format", type=format_argument("image"), default="png",
                     help="png, dicom or both, alone or comma-separated (default png)")
    gen.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES)
    gen.add_argument("--steps", type=int, default=None)
    gen.add_argument("--guidance", type=float, default=None,
                     help="classifier-free guidance (default: the model's own, chosen on its validation split)")
    gen.add_argument("--classifier-guidance", type=float, default=None,
                     help="classifier-guidance scale (0 = off; default: the model's own)")
    gen.add_argument("--guidance-interval", type=guidance_interval_arg, default=None, metavar="LO:HI",
                     help="where in the noise schedule classifier-free guidance applies (t/T; 0:1 every step; "
                     "default: the model's)")
    gen.add_argument("--guidance-rescale", type=float, default=None, metavar="SHARE",
                     help="guidance rescale, 0 (plain guidance) to 1, against washed-out images at large guidance "
                     "(default: the model's)")
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--gif", action="store_true", help="also write a denoising GIF")
    gen.add_argument("--bits", type=int, choices=[8, 16], default=8)
    gen.add_argument("--resolution", type=int, default=None,
                     help="image side: the base size or the super-resolution size (default: the largest)")
    gen.add_argument("--superres-start", type=float, default=None,
                     help="where the super-resolution stage starts (share of its schedule; 1: pure noise; 0.5: "
                     "from the upsampled base image noised half-way, about half the time; default: the model's)")
    gen.add_argument("--superres-steps", type=int, default=None,
                     help="super-resolution steps (default: the model's, scaled by --superres-start)")
    gen.add_argument("--device", default=None)
    gen.add_argument("--qc", action="store_true", help="score label agreement and memorisation per image")
    gen.add_argument("--reject-copies", action="store_true", help="regenerate images flagged as training copies")
    gen.add_argument("--min-agreement", type=float, default=None, metavar="P",
                     help="redraw images whose QC probability of the finding is below P (up to 3 times) and leave "
                     "out those that stay below it")
    gen.set_defaults(func=cmd_generate)
