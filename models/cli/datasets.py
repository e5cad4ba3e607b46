"""`radsynth synthesize`: a labelled synthetic data set in the NIH layout, without the service."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def per_finding_argument(text: str) -> dict[str, int]:
    """'consolidation=200,mass=200' -> {'consolidation': 200, 'mass': 200}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("=")
        if not count.strip().isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"{part!r}: write finding=count, e.g. consolidation=200")
        out[name.strip()] = int(count)
    if not out:
        raise argparse.ArgumentTypeError("name at least one finding=count")
    return out


def cmd_synthesize(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.diffusion.pipeline import RadSynthPipeline
    from models.progress import progress_bar
    from models.vocabulary.findings import resolve
    from models.workflows.synthesize import plan, synthesize, write_labels

    folder = resolve_model(args.model, kind="generator")
    pipe = RadSynthPipeline.load(folder)
    wanted = {"+".join(resolve(name.split("+"), pipe.findings)): n for name, n in args.per_finding.items()}
    qc = None
    if args.min_agreement is not None or args.reject_copies:
        from models.qc.context import load_qc

        qc = load_qc(folder)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31 - 10_000_000)
    out = Path(args.out)
    saved = out / "synthesize.json"
    if saved.exists():  # resuming: the first run's plan, whatever this command line says
        settings = json.loads(saved.read_text())
        wanted, seed = settings["per_finding"], settings["seed"]
    else:
        out.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"model": folder.name, "per_finding": wanted, "seed": seed}, indent=2))
    bar, update = progress_bar(sum(wanted.values()), "synthesize")
    summary = synthesize(pipe, out, plan(wanted, seed), model_name=folder.name, qc=qc,
                         min_agreement=args.min_agreement, reject_copies=args.reject_copies,
                         batch_size=args.batch_size, bits=args.bits,
                         sampling={"sampler": args.sampler, "num_inference_steps": args.steps,
                                   "guidance_scale": args.guidance, "resolution": args.resolution},
                         progress=lambda done, total: update(done, total, "synthesizing", {}))
    bar.close()
    labels = write_labels(out, model_name=folder.name)
    print(json.dumps(summary | {"labels": str(labels), "seed": seed}, indent=2))
    return 0


def share(text: str) -> float:
    """A held-out share between 0.05 and 0.5 (argparse type)."""
    value = float(text)
    if not 0.05 <= value <= 0.5:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0.05 and 0.5")
    return value


def cmd_augmentation_study(args: argparse.Namespace) -> int:
    from models.data.registry import open_dataset, open_splits
    from models.progress import progress_bar
    from models.workflows.augmentation_study import StudyConfig, run_study

    splits = open_splits(args.real, args.resolution, fmt=args.format, test_share=args.test_share)
    synthetic = open_dataset(args.synthetic, "all", args.resolution, fmt="nih")
    cfg = StudyConfig(ratios=tuple(float(r) for r in args.ratios.split(",")), seeds=tuple(range(args.seeds)),
                      resolution=args.resolution, epochs=args.epochs, synthetic_only=not args.no_synthetic_only,
                      findings=args.findings.split(",") if args.findings else None)
    bar, update = progress_bar(1, "augmentation-study")
    report = run_study(splits, synthetic, args.out, cfg, progress=lambda d, t, m: update(d, t, m, {}))
    bar.close()
    for finding, entry in report["per_finding"].items():
        arms = ", ".join(f"{a} {v['auroc']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
                         for a, v in entry["arms"].items())
        print(f"{finding}: {entry['verdict']}" + (f" ({arms})" if arms else ""))
    print(f"wrote {args.out}/study.json and study.png")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from models.data.prepare import prepare
    from models.progress import progress_bar

    bar, update = progress_bar(1, f"prepare {args.resolution} px")
    with bar:
        summary = prepare(args.data, args.out, args.resolution, workers=args.workers,
                          progress=lambda d, n: update(d, n, "", {}))
    print(json.dumps(summary))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, SAMPLER_NAMES

    pr = sub.add_parser("prepare", help="pre-resize an NIH-layout data set once to the training resolution "
                        "(same layout; train on the copy)")
    pr.add_argument("data", help="NIH folder: images/ and Data_Entry_2017.csv")
    pr.add_argument("--out", required=True, help="the copy's folder (re-run to resume)")
    pr.add_argument("--resolution", type=int, default=256)
    pr.add_argument("--workers", type=int, default=2, help="processes decoding and resizing in parallel")
    pr.set_defaults(func=cmd_prepare)

    sy = sub.add_parser("synthesize", help="write a labelled synthetic data set (NIH layout) of chosen findings; "
                        "re-run the same command to resume")
    sy.add_argument("per_finding", type=per_finding_argument,
                    help="finding=count pairs, e.g. consolidation=200,mass=200")
    sy.add_argument("--out", required=True)
    sy.add_argument("--model", default="nih-cxr14", help="bundled model name or model folder")
    sy.add_argument("--min-agreement", type=float, default=None,
                    help="redraw images whose QC probability for their finding is below this")
    sy.add_argument("--reject-copies", action="store_true", help="redraw images flagged as training copies")
    sy.add_argument("--sampler", default=DEFAULT_SAMPLER, choices=SAMPLER_NAMES)
    sy.add_argument("--steps", type=int, default=None)
    sy.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance (default: the model's own, chosen on its validation split)")
    sy.add_argument("--resolution", type=int, default=None)
    sy.add_argument("--batch-size", type=int, default=16)
    sy.add_argument("--bits", type=int, choices=[8, 16], default=8)
    sy.add_argument("--seed", type=int, default=None)
    sy.set_defaults(func=cmd_synthesize)

    st = sub.add_parser("augmentation-study", help="train classifiers on real, real + synthetic and synthetic "
                        "images and test them on the real data set's held-out patients")
    st.add_argument("real", help="the real data set (any layout)")
    st.add_argument("synthetic", help="a synthetic data set (radsynth synthesize)")
    st.add_argument("--out", required=True)
    st.add_argument("--format", default=None, help="the real data set's layout (default: recognised)")
    st.add_argument("--ratios", default="0.5,1", help="synthetic images per real training image, comma-separated")
    st.add_argument("--seeds", type=int, default=3)
    st.add_argument("--epochs", type=int, default=10)
    st.add_argument("--resolution", type=int, default=64)
    st.add_argument("--findings", default=None, help="findings to report (default: the synthetic set's)")
    st.add_argument("--no-synthetic-only", action="store_true", help="skip the synthetic-only arm")
    st.add_argument("--test-share", type=share, default=None, help="share of the real patients held out for "
                    "testing (default: the data set's own split, 10%%); more gives a rare finding more test positives")
    st.set_defaults(func=cmd_augmentation_study)


