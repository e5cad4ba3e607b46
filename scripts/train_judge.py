"""Train the judge: the classifier ensemble that scores generated images in the realism card.

    python -m scripts.train_judge ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--resolution 64] [--out bundles/judge-nih-J64]

It learns from split J only (patients that no generator, guide or super-resolution stage ever saw), keeps each
member's best epoch and its thresholds by validation split V, and reports its own AUROC on T for the card. The
generator never meets it: neither its training nor its guidance reads this folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the NIH folders (split by patient together)")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "bundles" / "judge-nih-J64"))
    args = ap.parse_args()

    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHRealismSplit
    from models.progress import progress_bar

    splits = {s: NIHRealismSplit(args.data, {s}, args.resolution) for s in ("J", "V", "T")}
    cfg = ClassifierConfig(resolution=args.resolution, members=args.members, epochs=args.epochs,
                           dataset_name="nih-cxr14 split J (judge)")
    bar, update = progress_bar(1, "train-judge")
    work = Path(args.out).with_name(Path(args.out).name + ".work")
    folder, report = train_classifier(splits["J"], splits["V"], work, cfg, test_ds=splits["T"], progress=update)
    bar.close()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    folder.rename(out)
    (out / "report.json").write_text((work / "report.json").read_text())
    if (work / "roc_test.png").exists():
        (work / "roc_test.png").rename(out / "roc_test.png")
    info = json.loads((out / "radsynth.json").read_text())
    info |= {"role": "judge", "splits": {"train": "J", "thresholds": "V", "reported": "T"}}
    (out / "radsynth.json").write_text(json.dumps(info, indent=2, default=float))
    shutil.rmtree(work, ignore_errors=True)
    for name, entry in report["test"].items():
        print(f"{name:<20} T AUROC {entry['auroc']:.3f}  positives {entry['positives']}")
    print(f"judge: {out}")


if __name__ == "__main__":
    main()
