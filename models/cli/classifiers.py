"""`radsynth` commands around classifiers: train-classifier, train-guide, explain, qc and qc-index."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from models.catalog import DEFAULT_CLASSIFIER, DEFAULT_GENERATOR
from models.data.formats import FORMATS
from models.vocabulary import counterfactual_defaults


def cmd_train_classifier(args: argparse.Namespace) -> int:
    import numpy as np

    from models.classifier.train import ClassifierConfig, SyntheticSpec, train_classifier
    from models.data.registry import open_dataset
    from models.progress import progress_bar

    splits = {s: open_dataset(args.data, s, args.resolution, fmt=args.format) for s in ("train", "val", "test")}
    synthetic = []
    for spec in args.synthetic or []:
        gen, finding, n = spec.rsplit(":", 2)
        synthetic.append(SyntheticSpec(gen, finding, int(n)))
    seeds = [int(s) for s in args.seeds.split(",")]
    main_rank = os.environ.get("RANK", "0") == "0"
    results = {}
    for seed in seeds:
        cfg = ClassifierConfig(resolution=args.resolution, members=args.members, epochs=args.epochs,
                               batch_size=args.batch_size, lr=args.lr, seed=seed, synthetic=synthetic,
                               device=args.device, dataset_name=args.name or Path(args.data).name,
                               stem=args.stem, calibrate=args.calibrate)
        out = Path(args.out) / f"seed{seed}" if len(seeds) > 1 else Path(args.out)
        bar, update = progress_bar(1, f"train-classifier seed {seed}", disable=not main_rank)
        folder, report = train_classifier(splits["train"], splits["val"], out, cfg, test_ds=splits["test"],
                                          progress=update)
        bar.close()
        results[seed] = report
        if main_rank:
            print(f"model: {folder}", file=sys.stderr)
    if not main_rank:  # under torchrun rank 0 reports
        return 0
    names = list(splits["train"].label_names)
    summary = {}
    print(f"{'finding':<20} {'test AUROC (mean +/- sd over seeds)':<38} positives")
    for name in names:
        vals = [r["test"][name]["auroc"] for r in results.values()]
        if all(np.isnan(vals)):
            continue
        entry = {"mean": float(np.nanmean(vals)), "sd": float(np.nanstd(vals)), "per_seed": vals,
                 "ci95_first_seed": results[seeds[0]]["test"][name]["ci95"],
                 "positives": results[seeds[0]]["test"][name]["positives"]}
        summary[name] = entry
        print(f"{name:<20} {entry['mean']:.3f} +/- {entry['sd']:.3f}{'':<22} {entry['positives']}")
    label = "real+synthetic" if synthetic else "real only"
    (Path(args.out) / "summary.json").write_text(json.dumps({"setting": label, "seeds": seeds, "test_auroc": summary,
                                                            "synthetic": [vars(s) for s in synthetic]}, indent=2))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.classifier.ensemble import ClassifierEnsemble
    from models.data.preprocess import load_image_file
    from models.explain.attribution import explain
    from models.explain.report import write_explanation
    from models.io.ai_report import ModelDescription
    from models.io.overlay_dicom import source_dataset

    folder = resolve_model(args.model, kind="classifier")
    ens = ClassifierEnsemble.load(folder)
    image = load_image_file(args.image)
    findings = args.findings.split(",") if args.findings else None
    attribution = {"both": "ig", "counterfactual": None}.get(args.method, args.method)
    expl = explain(ens, image.pixels, findings, method=attribution or "ig", n_steps=args.n_steps,
                   baseline=args.baseline, with_maps=attribution is not None)
    cfs, gen_name = None, ""
    if args.method in ("counterfactual", "both"):
        from models.diffusion.pipeline import RadSynthPipeline
        from models.explain.counterfactual import counterfactuals

        gen_folder = resolve_model(args.generator, kind="generator")
        gen_name = gen_folder.name
        cfs = counterfactuals(RadSynthPipeline.load(gen_folder), ens, image.pixels, expl.findings,
                              strength=args.strength)
    files = write_explanation(expl, image.pixels, args.out, source_format=image.source_format,
                              model_name=folder.name, source_dicom=source_dataset(Path(args.image).read_bytes()),
                              study_key=str(Path(args.image).resolve()), counterfactuals=cfs, generator_name=gen_name,
                              model=ModelDescription.from_config(folder.name, ens.config))
    for cf in cfs or []:
        p = cf.probabilities[cf.finding]
        print(f"counterfactual {cf.finding}: p {p['reconstruction']:.3f} regenerated with it, "
              f"{p['counterfactual']:.3f} as No Finding")
    print(verdict_table(expl.probabilities, expl.findings))
    print("* explained; files in " + str(args.out) + ": " + ", ".join(files))
    return 0


def verdict_table(probabilities: dict[str, dict], explained: list[str]) -> str:
    """Probability, spread, threshold, call and test AUROC [95% interval] per finding, most probable first."""
    from models.explain.verdict import call, trust_text

    lines = [f"{'finding':<20} {'probability':>11} {'sd':>6} {'threshold':>9}  {'call':<8}  how far to trust it"]
    for name, p in sorted(probabilities.items(), key=lambda kv: -kv[1]["probability"]):
        threshold = f"{p['threshold']:.3f}" if "threshold" in p else ""
        mark = " *" if name in explained else ""
        lines.append(f"{name + mark:<20} {p['probability']:>11.3f} {p['std']:>6.3f} {threshold:>9}  "
                     f"{call(p):<8}  {trust_text(p)}")
    return "\n".join(lines)


def cmd_qc(args: argparse.Namespace) -> int:
    import numpy as np

    from models.catalog import resolve_model
    from models.data.preprocess import load_image_file
    from models.qc.checks import summarise
    from models.qc.context import load_qc
    from models.qc.folder import scan_folder

    scan = scan_folder(args.folder, args.finding)
    for note in scan.skipped:
        print(f"skipped {note}", file=sys.stderr)
    if not scan.images:
        raise FileNotFoundError(f"no generated images to score in {args.folder} (PNG or DICOM with RadSynth "
                                "provenance; pass --finding to score plain images)")
    folder = resolve_model(args.generator, kind="generator")
    ctx = load_qc(folder, args.classifier)
    rows = []
    for item in scan.images:
        path, finding = item.path, item.finding
        img = load_image_file(path).pixels
        q = ctx.run(np.asarray(img)[None], finding.split("+"))[0]
        rows.append({"file": path.name, "finding": finding} | q)
        mem = q["memorisation"]
        flag = "COPY?" if mem and mem["flagged"] else ""
        probs = ", ".join(f"{k} {v['probability']:.2f}" for k, v in q["label_agreement"].items())
        print(f"{path.name:<32} {probs:<28} {'agrees' if q['agrees'] else 'disagrees':<10} {flag}")
    summary = summarise(rows)
    (Path(args.folder) / "qc.json").write_text(json.dumps({"summary": summary, "images": rows}, indent=2))
    print(f"agreement rate {summary['agreement_rate']:.2f}, flagged as copies {summary['flagged']}/{summary['images']}")
    return 0


def cmd_qc_index(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.qc.context import write_index

    folder = resolve_model(args.generator, kind="generator")
    index = write_index(folder, args.data, args.classifier, args.format)
    print(f"indexed {len(index.ids)} training images; copy threshold {index.threshold:.4g} "
          f"(calibration {index.calibration})")
    return 0


def cmd_train_guide(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.data.registry import open_dataset
    from models.diffusion.guide import GUIDE_FOLDER
    from models.diffusion.guide_train import train_guide
    from models.progress import progress_bar

    folder = resolve_model(args.generator, kind="generator")
    info = json.loads((folder / "radsynth.json").read_text())
    train, val = (open_dataset(args.data, s, info["resolution"], fmt=args.format) for s in ("train", "val"))
    if list(train.label_names) != info["findings"]:
        print(f"the data's findings {train.label_names} differ from the generator's {info['findings']}",
              file=sys.stderr)
        return 2
    bar, update = progress_bar(args.steps, "train-guide")
    out = train_guide(train, folder / GUIDE_FOLDER, val_ds=val, steps=args.steps, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, device=args.device, precision=args.precision, progress=update)
    bar.close()
    info |= {"guide": True, "default_classifier_scale": args.scale}
    (folder / "radsynth.json").write_text(json.dumps(info, indent=2))
    print(f"guide: {out}; default classifier-guidance scale {args.scale}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from models.catalog import resolve_model
    from models.classifier.ensemble import ClassifierEnsemble
    from models.progress import progress_bar
    from models.workflows.classify import classify, image_files

    files = image_files(args.paths)
    if not files:
        raise FileNotFoundError("no PNG, JPEG or DICOM images in the paths given")
    ens = ClassifierEnsemble.load(resolve_model(args.model, kind="classifier"))
    bar, update = progress_bar(len(files), "classify")
    failed = 0
    for row in classify(ens, files, batch_size=args.batch_size, workers=args.workers,
                        progress=lambda d, t: update(d, t, "classifying", {})):
        failed += "error" in row
        if args.json:
            print(json.dumps(row), flush=True)
        elif "error" in row:
            print(f"{row['file']}: {row['error']}")
        else:
            positive = [f"{k} {v['probability']:.2f}" for k, v in row["probabilities"].items() if v.get("positive")]
            print(f"{row['file']}: {', '.join(positive) or 'nothing above its threshold'}")
    bar.close()
    print(f"classified {len(files) - failed} of {len(files)} files", file=sys.stderr)
    return 0 if failed < len(files) else 2


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register train-classifier, train-guide, explain, classify, qc and qc-index."""
    tc = sub.add_parser("train-classifier", help="train a classifier ensemble (optionally with synthetic images)")
    tc.add_argument("data")
    tc.add_argument("--out", required=True)
    tc.add_argument("--format", choices=FORMATS, default=None)
    tc.add_argument("--name", default=None)
    tc.add_argument("--resolution", type=int, default=64)
    tc.add_argument("--members", type=int, default=3)
    tc.add_argument("--epochs", type=int, default=30)
    tc.add_argument("--batch-size", type=int, default=64)
    tc.add_argument("--lr", type=float, default=1e-3)
    tc.add_argument("--stem", type=int, choices=[1, 2, 4], default=1,
                    help="divide the input side by this in a strided stem first (4 at 256 px keeps it cheap)")
    tc.add_argument("--calibrate", action="store_true",
                    help="fit a temperature on the validation split before choosing thresholds")
    tc.add_argument("--seeds", default="0", help="comma-separated; one ensemble per seed, AUROC spread reported")
    tc.add_argument("--synthetic", action="append", metavar="GENERATOR:FINDING:N",
                    help="add N generated images of FINDING (repeatable)")
    tc.add_argument("--device", default=None)
    tc.set_defaults(func=cmd_train_classifier)

    tgd = sub.add_parser("train-guide", help="train a noise-aware guide classifier for a generator (classifier "
                         "guidance); it is saved inside the generator's folder")
    tgd.add_argument("data", help="the generator's training data (same findings)")
    tgd.add_argument("--generator", required=True, help="generator name or folder")
    tgd.add_argument("--format", choices=FORMATS, default=None)
    tgd.add_argument("--steps", type=int, default=2000)
    tgd.add_argument("--batch-size", type=int, default=64)
    tgd.add_argument("--lr", type=float, default=1e-3)
    tgd.add_argument("--seed", type=int, default=0)
    tgd.add_argument("--scale", type=float, default=0.0, help="default classifier-guidance scale of the generator")
    tgd.add_argument("--device", default=None)
    tgd.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    tgd.set_defaults(func=cmd_train_guide)

    ex = sub.add_parser("explain", help="explain a PNG, JPEG or DICOM X-ray with integrated gradients")
    ex.add_argument("image")
    ex.add_argument("--findings", default=None, help="comma-separated; default: the 3 most probable")
    ex.add_argument("--model", default=DEFAULT_CLASSIFIER)
    ex.add_argument("--method", choices=["ig", "smoothgrad", "counterfactual", "both"], default="ig",
                    help="counterfactual: regenerate the image without each finding (both: ig + counterfactual)")
    ex.add_argument("--generator", default=DEFAULT_GENERATOR, help="generator of counterfactuals")
    ex.add_argument("--strength", type=float, default=counterfactual_defaults.STRENGTH,
                    help="counterfactual: share of the noise schedule the image is noised to")
    ex.add_argument("--n-steps", type=int, default=50)
    ex.add_argument("--baseline", choices=["black", "blur"], default="black")
    ex.add_argument("--out", default="explanation")
    ex.set_defaults(func=cmd_explain)

    cl = sub.add_parser("classify", help="probabilities and thresholds for many X-rays (no heatmaps)")
    cl.add_argument("paths", nargs="+", help="PNG, JPEG or DICOM files, or folders of them")
    cl.add_argument("--model", default=DEFAULT_CLASSIFIER)
    cl.add_argument("--json", action="store_true", help="one JSON object per file (JSON lines) on stdout")
    cl.add_argument("--batch-size", type=int, default=64)
    cl.add_argument("--workers", type=int, default=2, help="decoding threads")
    cl.set_defaults(func=cmd_classify)

    qc = sub.add_parser("qc", help="label agreement and memorisation check of generated images in a folder")
    qc.add_argument("folder")
    qc.add_argument("--generator", default="nih-cxr14")
    qc.add_argument("--classifier", default=None)
    qc.add_argument("--finding", default=None, help="default: read from each PNG's provenance")
    qc.set_defaults(func=cmd_qc)

    qi = sub.add_parser("qc-index", help="build a generator's memorisation index from its training data")
    qi.add_argument("--generator", required=True)
    qi.add_argument("--data", required=True)
    qi.add_argument("--classifier", default=None)
    qi.add_argument("--format", choices=FORMATS, default=None)
    qi.set_defaults(func=cmd_qc_index)
