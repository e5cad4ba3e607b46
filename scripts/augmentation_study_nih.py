"""A study on the bundled data: does the bundled generator's output help a classifier on unseen patients?

    python -m scripts.augmentation_study_nih ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--findings 4] [--seeds 3] [--epochs 10] [--ratios 0.5,1] [--out docs/augmentation]

Real data: the pinned realism splits of both shared NIH sets (docs/splits.md): splits G and J train, V chooses each
classifier's epoch, T (patients no model here trained on) is the test. Synthetic data: the bundled generator
(`nih-cxr14`, trained on split G only) makes, with the service's QC (copies redrawn), as many images as the
largest ratio needs (ratio x real training images), shared equally among the findings with the most T
positives. The study trains one classifier per arm and seed (real only, real + synthetic at each ratio,
synthetic only) and reports AUROC on T with patient-bootstrap CIs and the paired difference to real only
(`models/workflows/augmentation_study.py`). study.json, study.png and setup.json go to --out; the images go to --work.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the NIH folders (split by patient together)")
    ap.add_argument("--findings", type=int, default=4, help="how many findings (those with the most T positives)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--ratios", default="0.5,1")
    ap.add_argument("--model", default="nih-cxr14")
    ap.add_argument("--out", default=str(ROOT / "docs" / "augmentation"))
    ap.add_argument("--work", default="runs/augmentation-study", help="where the synthetic images go")
    args = ap.parse_args()

    from models.catalog import resolve_model
    from models.data.nih import NIHChestXray, NIHRealismSplit
    from models.diffusion.pipeline import RadSynthPipeline
    from models.progress import progress_bar
    from models.qc.context import load_qc
    from models.workflows.augmentation_study import StudyConfig, run_study
    from models.workflows.synthesize import plan, synthesize, write_labels

    resolution = 64
    splits = {"train": NIHRealismSplit(args.data, {"G", "J"}, resolution),
              "val": NIHRealismSplit(args.data, {"V"}, resolution),
              "test": NIHRealismSplit(args.data, {"T"}, resolution)}
    counts = splits["test"].label_counts()
    findings = sorted((f for f in counts if f != "No Finding"), key=lambda f: -counts[f])[: args.findings]
    ratios = tuple(float(r) for r in args.ratios.split(","))
    wanted = int(np.ceil(max(ratios) * len(splits["train"]) / len(findings)))
    per_finding = dict.fromkeys(findings, wanted)

    folder = resolve_model(args.model, kind="generator")
    work = Path(args.work) / "synthetic"
    bar, update = progress_bar(sum(per_finding.values()), "synthesize")
    summary = synthesize(RadSynthPipeline.load(folder), work, plan(per_finding, seed=24), model_name=folder.name,
                         qc=load_qc(folder), reject_copies=True, sampling={"resolution": resolution},
                         progress=lambda done, total: update(done, total, "synthesizing", {}))
    bar.close()
    write_labels(work, model_name=folder.name)
    synthetic = NIHChestXray(work, "all", resolution)

    cfg = StudyConfig(ratios=ratios, seeds=tuple(range(args.seeds)),
                      resolution=resolution, epochs=args.epochs, width=args.width, findings=findings)
    bar, update = progress_bar(1, "augmentation-study")
    out = Path(args.out)
    report = run_study(splits, synthetic, out, cfg, progress=lambda d, t, m: update(d, t, m, {}))
    bar.close()
    setup = {"real": {"train": "G+J", "val": "V", "test": "T", "images": {k: len(v) for k, v in splits.items()}},
             "synthetic": {"model": folder.name, "per_finding": per_finding, "qc": "copies redrawn",
                           "made": summary["made"], "rejected_draws": summary["rejected_draws"]},
             "command": "python -m scripts.augmentation_study_nih " + " ".join(sys.argv[1:])}
    (out / "setup.json").write_text(json.dumps(setup, indent=2))
    for finding, entry in report["per_finding"].items():
        print(f"{finding}: {entry['verdict']}")
    print(f"wrote {out}/study.json, study.png and setup.json")


if __name__ == "__main__":
    main()
