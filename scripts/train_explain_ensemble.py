"""Train the service's /explain ensemble at 256 px on splits G and J, calibrated and thresholded on V, measured on T.

    python -m scripts.train_explain_ensemble ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256 \
        [--resolution 256] [--stem 4] [--epochs 30] [--source-blind] [--low-resolution 0.5] \
        [--out models/pretrained/nih-cxr14-256-classifier] [--remeasure]

Every non-test patient of both shared sets trains it (G and J; the realism card's judge
is a separate network trained on J only), each member keeps its best epoch by validation AUROC, one temperature
and one threshold per finding are chosen on V, and T (used for nothing else) gives the card's figures: AUROC with
patient-bootstrap CIs, the expected calibration error and a reliability diagram (`docs/explain/ensemble/`).
Where the images come from several folders, every AUROC also comes within-source (positives ranked only against
negatives of their own folder) beside the folder alone as a score; `--source-blind` balances each finding's rate
across the folders in the loss and chooses epochs by the within-source AUROC. `--remeasure` measures the ensemble
in --out again without training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it (as the card's tests compare them)."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def save_test_scores(figures: Path, test, scores, findings: list[str]) -> None:
    """The ensemble's scores on T with T's labels, patients and source folders (`test_scores.npz`, for the card)."""
    import numpy as np

    from models.classifier.train import dataset_groups, dataset_sources

    labels = test.labels_matrix()
    sources = dataset_sources(test)
    np.savez_compressed(figures / "test_scores.npz", scores=scores, labels=labels,
                        groups=np.array(dataset_groups(test)), findings=np.array(findings),
                        sources=sources if sources is not None else np.full(len(labels), ""))


def weight_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every member's weights, keyed by path (the card's test holds them to the bundled model)."""
    return {shown(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.safetensors"))}


def remeasure(folder: Path, val, test, figures: Path) -> None:
    """Measure a trained ensemble again on V and T (weights, calibration and thresholds unchanged)."""
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.pool import ImagePool
    from models.classifier.train import dataset_groups, dataset_sources, evaluate

    ens = ClassifierEnsemble.load(folder)
    report = json.loads((figures / "report.json").read_text())
    for key, ds in (("val", val), ("test", test)):
        pool = ImagePool.of(ds, ens.input_size)
        measured = evaluate(ens, pool, pool.labels, bootstrap=report["config"]["bootstrap"],
                            seed=report["config"]["seed"], groups=dataset_groups(ds), sources=dataset_sources(ds))
        pool.close()
        report[key] = measured["per_finding"]
    save_test_scores(figures, test, measured["scores"], ens.findings)
    report["weights_sha256"] = weight_hashes(folder)
    (figures / "report.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"re-measured {folder}; now: python -m scripts.render_ensemble_card {figures}")


def operating_point_step(args) -> None:
    """--rethreshold (V) or --read-operating-point (T): thresholds for a stated specificity, and what they give."""
    from models.classifier.operating_point import choose_thresholds, record_test_auroc_intervals, test_operating_points

    figures = Path(args.figures)
    report = json.loads((figures / "report.json").read_text())
    if args.rethreshold is not None:
        from models.data.nih import NIHRealismSplit

        thresholds = choose_thresholds(args.out, NIHRealismSplit(args.data, {"V"}, args.resolution), args.rethreshold)
        record_test_auroc_intervals(args.out, report)
        report["thresholds"] = thresholds
        report["threshold_rule"] = json.loads((Path(args.out) / "radsynth.json").read_text())["threshold_rule"]
        report.pop("test_operating_point", None)  # read again on T, afterwards
    else:
        report["test_operating_point"] = test_operating_points(figures / "test_scores.npz", report["thresholds"])
    report["weights_sha256"] = weight_hashes(Path(args.out))
    (figures / "report.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {figures / 'report.json'}; now: python -m scripts.render_ensemble_card {figures}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="the NIH folders (split by patient together)")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--stem", type=int, default=4)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--no-bagging", action="store_true", help="every member sees every image (seeds differ)")
    ap.add_argument("--ema", type=float, default=0.0, help="keep a moving average of each member's weights")
    ap.add_argument("--source-blind", action="store_true",
                    help="balance each finding's rate across the data folders; choose epochs within folders")
    ap.add_argument("--low-resolution", type=float, default=0.0,
                    help="share of training images shrunk 4x and upsampled again")
    ap.add_argument("--out", default=str(ROOT / "models" / "pretrained" / "nih-cxr14-256-classifier"))
    ap.add_argument("--figures", default=str(ROOT / "docs" / "explain" / "ensemble"))
    ap.add_argument("--remeasure", action="store_true",
                    help="no training: measure the ensemble in --out again on V and T into --figures")
    ap.add_argument("--rethreshold", type=float, default=None, metavar="SPECIFICITY",
                    help="no training: choose each finding's threshold on V for this specificity (a V choice; "
                    "read T afterwards with --read-operating-point, in a later change)")
    ap.add_argument("--read-operating-point", action="store_true",
                    help="no training: the sensitivity and specificity on T at the ensemble's thresholds")
    args = ap.parse_args()
    if args.rethreshold is not None or args.read_operating_point:
        operating_point_step(args)
        return

    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHRealismSplit
    from models.progress import progress_bar

    train = NIHRealismSplit(args.data, {"G", "J"}, args.resolution)
    val = NIHRealismSplit(args.data, {"V"}, args.resolution)
    test = NIHRealismSplit(args.data, {"T"}, args.resolution)
    if args.remeasure:
        remeasure(Path(args.out), val, test, Path(args.figures))
        return
    cfg = ClassifierConfig(resolution=args.resolution, members=args.members, epochs=args.epochs, width=args.width,
                           stem=args.stem, calibrate=True, bagging=not args.no_bagging, ema=args.ema,
                           source_blind=args.source_blind, low_resolution=args.low_resolution,
                           dataset_name="nih-cxr14 splits G+J (explain ensemble)")
    bar, update = progress_bar(1, "train-explain-ensemble")
    work = Path(args.out).with_name(Path(args.out).name + ".work")
    folder, report = train_classifier(train, val, work, cfg, test_ds=test, progress=update)
    bar.close()
    install_and_report(folder, report, test, work, Path(args.out), Path(args.figures))


def install_and_report(folder: Path, report: dict, test, work: Path, out: Path, figures: Path) -> None:
    """Move the trained ensemble to `out`, save T's scores and reliability beside the report in `figures`."""
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.train import dataset_arrays
    from models.metrics.calibration import reliability

    figures.mkdir(parents=True, exist_ok=True)
    cal = report["calibration"]
    ens = ClassifierEnsemble.load(folder)
    images, labels = dataset_arrays(test)
    save_test_scores(figures, test, ens.predict(images).mean, ens.findings)
    ens.config.pop("calibration")  # the raw members, to show what calibration changed
    test_uncal = reliability(ens.predict(images).mean, labels.numpy())
    report["test_reliability_uncalibrated"] = test_uncal
    if out.exists():
        shutil.rmtree(out)
    folder.rename(out)
    info = json.loads((out / "radsynth.json").read_text())
    info |= {"role": "explain", "splits": {"train": "G+J", "epochs, temperature and thresholds": "V",
                                           "reported": "T"}}
    (out / "radsynth.json").write_text(json.dumps(info, indent=2, default=float))
    report["weights_sha256"] = weight_hashes(out)
    report["config"] = info["config"] | {"wall_time_s": info["wall_time_s"], "hardware": info["hardware"]}
    report["images_train"] = info["images_real"]
    (figures / "report.json").write_text(json.dumps(report, indent=2, default=float))
    if (work / "roc_test.png").exists():
        shutil.move(str(work / "roc_test.png"), figures / "roc_test.png")
    shutil.rmtree(work, ignore_errors=True)
    for name, entry in report["test"].items():
        print(f"{name:<20} T AUROC {entry['auroc']:.3f} {entry['ci95']}  positives {entry['positives']}")
    print(f"temperature {cal['temperature']:.2f}; "
          f"T ECE {test_uncal['ece']:.3f} -> {report['test_reliability']['ece']:.3f}")
    print(f"ensemble: {out}; now: python -m scripts.render_ensemble_card {figures}")

if __name__ == "__main__":
    main()
