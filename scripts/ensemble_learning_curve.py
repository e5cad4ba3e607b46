"""How the /explain classifier's AUROC grows with the number of training patients (the data limit).

    python -m scripts.ensemble_learning_curve ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--fractions 0.25,0.5,1] [--seeds 2] [--steps-epochs 30]

Trains one member of the bundled recipe (256 px, source-blind, half the images at low resolution) on a share of
the patients of splits G and J, drawn per source folder so the folders' mix stays; every run takes the same
number of optimiser steps (epochs = 30 / share). V chooses each run's epoch, calibration and thresholds, as for
the bundled ensemble; T gives the figures. Writes `docs/explain/ensemble/learning_curve.json` and `.png`, with a
straight-line fit of mean AUROC against log2(training images) and where that line would reach the bar (0.75):
a reading of the trend, not a promise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from models.evaluation.cards.ensemble import MIN_POSITIVES, TARGET_MEAN
from models.evaluation.learning_curve import fit_trend, mean_figures, patient_share

ROOT = Path(__file__).resolve().parents[1]


def plot(path: Path, rows: list[dict], trends: dict, bundled: dict | None) -> None:
    """Mean T AUROC against training images (log axis), each run as a dot, the fitted lines and the bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = np.array([r["images"] for r in rows])
    grid = np.geomspace(xs.min(), xs.max() * 16, 50)
    for key, colour, label in (("within_source", "tab:blue", "within source"), ("pooled", "tab:grey", "pooled")):
        ax.scatter(xs, [r["test"][key] for r in rows], color=colour, label=f"one member, {label}")
        t = trends[key]
        ax.plot(grid, t["intercept"] + t["per_doubling"] * np.log2(grid), color=colour, ls="--", lw=1,
                label=f"{label} trend: {t['per_doubling']:+.3f} per doubling")
    if bundled:
        ax.scatter([bundled["images"]], [bundled["within_source"]], marker="*", s=160, color="tab:orange",
                   label="bundled ensemble (3 members), within source", zorder=3)
    ax.axhline(TARGET_MEAN, color="tab:red", lw=1, label=f"bar {TARGET_MEAN}")
    ax.axhline(0.5, color="black", lw=0.5, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training images (G and J patients; log scale)")
    ax.set_ylabel("mean AUROC on T")
    ax.set_title("More patients, better classifier: the trend and the bar")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the NIH folders (split by patient together)")
    ap.add_argument("--fractions", default="0.25,0.5,1")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--steps-epochs", type=int, default=30, help="epochs at the full share (others scale up)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "explain" / "ensemble"))
    args = ap.parse_args()

    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHRealismSplit

    train = NIHRealismSplit(args.data, {"G", "J"}, 256)
    val = NIHRealismSplit(args.data, {"V"}, 256)
    test = NIHRealismSplit(args.data, {"T"}, 256)
    all_records = list(train.records)
    out = Path(args.out)
    path = out / "learning_curve.json"
    done = json.loads(path.read_text()) if path.exists() else {"rows": []}
    rows = done["rows"]
    for share in [float(s) for s in args.fractions.split(",")]:
        for seed in range(args.seeds):
            if any(r["share"] == share and r["seed"] == seed for r in rows):
                continue  # resumable: each finished run is kept
            train.records = patient_share(all_records, share, seed)
            cfg = ClassifierConfig(resolution=256, members=1, epochs=round(args.steps_epochs / share), width=32,
                                   stem=4, calibrate=True, bagging=False, source_blind=True, low_resolution=0.5,
                                   seed=seed, bootstrap=200)
            work = Path(tempfile.mkdtemp(prefix="curve-"))
            _, report = train_classifier(train, val, work, cfg, test_ds=test)
            shutil.rmtree(work, ignore_errors=True)
            findings = [f for f, e in report["test"].items()
                        if f != "No Finding" and e["positives"] >= MIN_POSITIVES]
            row = {"share": share, "seed": seed, "images": len(train.records),
                   "patients": len({r.group for r in train.records}), "epochs": cfg.epochs,
                   "findings": findings, "val": mean_figures(report["val"], findings),
                   "test": mean_figures(report["test"], findings)}
            rows.append(row)
            print(json.dumps(row))
            path.write_text(json.dumps({"rows": rows}, indent=2))
    trends = {key: fit_trend(rows, key) for key in ("pooled", "within_source")}
    trends["val_within_source"] = fit_trend(rows, "within_source", "val")
    bundled = None
    report_path = out / "report.json"
    if report_path.exists():
        rep = json.loads(report_path.read_text())
        findings = rows[-1]["findings"]
        bundled = {"images": rep["images_train"], **mean_figures(rep["test"], findings)}
    result = {"rows": rows, "trends": trends, "bar": TARGET_MEAN, "bundled": bundled,
              "command": "python -m scripts.ensemble_learning_curve ../shared/data/nih-cxr14-64 "
                         f"../shared/data/nih-cxr14-256 --fractions {args.fractions} --seeds {args.seeds}"}
    path.write_text(json.dumps(result, indent=2))
    plot(out / "learning_curve.png", rows, trends, bundled)
    for key in ("pooled", "within_source"):
        t = trends[key]
        print(f"{key}: {t['per_doubling']:+.3f} AUROC per doubling; bar at ~{t['images_for_bar'] or float('inf'):.0f}"
              " training images on this trend")


if __name__ == "__main__":
    main()
