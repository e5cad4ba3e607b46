"""docs/explain/ensemble.md from the /explain ensemble's report (scripts/train_explain_ensemble.py).

Every figure is on split T; the mean AUROC's interval resamples T's patients (all their images together).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]

MIN_POSITIVES = 10  # the mean is over findings with at least this many T positives
TARGET_MEAN = 0.75


def mean_auroc_ci(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, columns: list[int],
                  n: int = 1000, seed: int = 0, sources: np.ndarray | None = None) -> tuple[float, float, float]:
    """Mean AUROC over `columns` (within-source AUROCs when `sources` is given) and its 95% interval over
    resampled patients."""
    from models.metrics.auroc import mean_auroc, patient_resamples

    def mean(idx: np.ndarray) -> float:
        return mean_auroc(labels[idx][:, columns], scores[idx][:, columns], None if sources is None else sources[idx])

    draws = [mean(idx) for idx in patient_resamples(groups, n, np.random.default_rng(seed))]
    return mean(np.arange(len(labels))), float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def recipe(cfg: dict) -> str:
    """How the members differ from each other and what each keeps, in words."""
    seeds = "each on a bootstrap sample" if cfg.get("bagging", True) else "each on every image from its own seed"
    average = f" with a moving average of its weights (decay {cfg['ema']} per step)" if cfg.get("ema") else ""
    blind = (", with each finding's rate balanced across the two folders in the loss (source-blind)"
             if cfg.get("source_blind") else "")
    low = (f", {cfg['low_resolution']:.0%} of the training images shrunk 4x and upsampled again"
           if cfg.get("low_resolution") else "")
    return seeds + average + blind + low


def reproduce_flags(cfg: dict) -> str:
    flags = f" --members {cfg['members']}"
    if not cfg.get("bagging", True):
        flags += " --no-bagging"
    if cfg.get("ema"):
        flags += f" --ema {cfg['ema']}"
    if cfg.get("source_blind"):
        flags += " --source-blind"
    if cfg.get("low_resolution"):
        flags += f" --low-resolution {cfg['low_resolution']}"
    return flags


def tried_section(folder: Path) -> list[str]:
    """The alternatives compared on V before this ensemble was kept (`tried.json`, written by hand from runs)."""
    path = folder / "tried.json"
    if not path.exists():
        return []
    tried = json.loads(path.read_text())
    lines = ["", "## What was compared on V", "", "(Notes: this table is written by hand in `tried.json` from the runs "
             "named in its last column; no test re-measures it.)", "", tried["note"], "",
             "| ensemble or probe | mean AUROC on V (same findings) | within source | command |", "|---|---|---|---|"]
    for row in tried["rows"]:
        within = row.get("val_within_source")
        lines.append(f"| {row['what']} | {row['val_mean_auroc']:.3f} | "
                     f"{'-' if within is None else f'{within:.3f}'} | `{row['command']}` |")
    return lines


def two_sources(data, findings: list[str], judged: list[int], test: dict, pooled: float) -> dict | None:
    """Within-source mean AUROC (with its interval) and the source folder's own score, when T mixes folders."""
    sources = data["sources"] if "sources" in data.files else None
    if sources is None or len(set(sources.tolist())) < 2:
        return None
    mean, lo, hi = mean_auroc_ci(data["scores"], data["labels"], data["groups"], judged, sources=sources)
    alone = float(np.mean([test[findings[k]]["auroc_source_alone"] for k in judged]))
    no_finding = {str(s): float(data["labels"][sources == s, findings.index("No Finding")].mean())
                  for s in sorted(set(sources.tolist()))}
    return {"mean": mean, "lo": lo, "hi": hi, "pooled": pooled, "alone": alone, "no_finding_rate": no_finding,
            "counts": {s: int((sources == s).sum()) for s in no_finding}}


def shortcut_rows(split: dict | None) -> list[str]:
    """Target-table rows for the within-source mean and the folder-alone score."""
    if split is None:
        return []
    met = "met" if split["mean"] >= TARGET_MEAN else "missed"
    return [f"| the same mean within each source folder (a positive ranked only against negatives of its own "
            f"folder: what one hospital's data would see) | {split['mean']:.3f} [{split['lo']:.3f}, "
            f"{split['hi']:.3f}] | >= {TARGET_MEAN} | {met} |",
            f"| the source folder alone as a score (its finding rate), same findings | {split['alone']:.3f} | "
            "reported | - |"]


def plot_sources(path: Path, test: dict, names: list[str]) -> None:
    """Per finding: pooled AUROC, within-source AUROC (with its interval) and the folder alone, on T."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 4), dpi=100)
    within = np.array([test[f]["auroc_within_source"] for f in names])
    err = np.abs(np.array([test[f]["ci95_within_source"] for f in names]).T - within)
    ax.bar(x - 0.27, [test[f]["auroc"] for f in names], 0.27, label="pooled over both folders")
    ax.bar(x, within, 0.27, yerr=err, capsize=2, label="within source (95% CI over patients)")
    ax.bar(x + 0.27, [test[f]["auroc_source_alone"] for f in names], 0.27, label="the folder alone", color="0.6")
    ax.axhline(0.5, color="k", lw=0.8)
    ax.axhline(TARGET_MEAN, color="C3", ls="--", lw=0.8, label=f"the bar for the mean ({TARGET_MEAN})")
    ax.set_xticks(x, [f.replace("_", " ") for f in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0.2, 1.0)
    ax.set_ylabel("AUROC on T")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title("What the ensemble ranks within one folder, against what the folder alone gives")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def shortcut_section(split: dict | None) -> list[str]:
    """Why the pooled AUROC overstates what a single-source data set gets."""
    if split is None:
        return []
    rates = "; ".join(f"`{s}`: {split['counts'][s]} T images, {split['no_finding_rate'][s]:.0%} \"No Finding\""
                      for s in split["counts"])
    return ["", "## Two folders, one shortcut", "",
            f"T mixes the two shared folders ({rates}). They differ in how often each finding occurs and in "
            "sharpness (the 64-px images are upsampled), so a network that only tells the folders apart already "
            f"scores {split['alone']:.3f} on the mean above, and the pooled AUROC ({split['pooled']:.3f}) counts "
            "that. The within-source AUROC ranks each positive only against negatives of its own folder, as on one "
            f"hospital's data, where the ensemble scores {split['mean']:.3f}. Columns \"within source\" and "
            "\"source alone\" give both per finding. The ensemble trains source-blind (each "
            "finding's rate balanced across the folders in the loss, half the images put through the 64-px "
            "folder's resolution) and is chosen on V by the within-source mean, so that it learns the findings "
            "rather than the folder; it cannot unlearn that the folders' images differ.", "",
            "![pooled and within-source AUROC per finding on T](ensemble/within_source.png)"]


def threshold_rule(report: dict) -> str:
    return report.get("threshold_rule", "Youden's J (sensitivity + specificity - 1) maximised on V")


def operating_point_section(report: dict, findings: list[str]) -> list[str]:
    """The calls' rule, and the sensitivity and specificity it gives on T (read after the thresholds were set)."""
    points = report.get("test_operating_point")
    if not points:
        return []
    lines = ["", "## Calls: the thresholds and what they give on T", "",
             f"Rule: {threshold_rule(report)}. T was read once, after the thresholds were set on V. With a few "
             "positives per finding, a sensitivity moves by 1/positives per image.", "",
             "| finding | threshold (V) | sensitivity on T | specificity on T | positives / negatives |",
             "|---|---|---|---|---|"]
    for f in findings:
        e = points.get(f)
        if e is None or f == "No Finding":
            continue
        sens = "n/a" if e["sensitivity"] != e["sensitivity"] else f"{e['sensitivity']:.2f}"
        lines.append(f"| {f} | {report['thresholds'][f]:.3f} | {sens} | {e['specificity']:.2f} | "
                     f"{e['positives']} / {e['negatives']} |")
    return lines


def learning_curve_section(folder: Path) -> list[str]:
    """AUROC against training patients (`learning_curve.json`, from scripts/ensemble_learning_curve.py)."""
    path = folder / "learning_curve.json"
    curve = json.loads(path.read_text()) if path.exists() else {}
    if "trends" not in curve:  # absent, or runs still going
        return []
    within, pooled, on_val = (curve["trends"][k] for k in ("within_source", "pooled", "val_within_source"))
    reach = within["images_for_bar"]
    lines = ["", "## More patients: the learning curve", "",
             "One member of the bundled recipe trained on a share of the G and J patients (drawn per folder; every "
             "run takes the same number of optimiser steps), V choosing its epoch, calibration and thresholds, T "
             "measuring it (same findings as above). A straight line through mean AUROC against log2(training "
             "images) reads the trend; it is a reading, not a promise: learning curves flatten.", "",
             "| share of patients | images | patients | epochs | seed | V within source | T pooled | T within source |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(curve["rows"], key=lambda r: (r["share"], r["seed"])):
        lines.append(f"| {r['share']:g} | {r['images']} | {r['patients']} | {r['epochs']} | {r['seed']} | "
                     f"{r['val']['within_source']:.3f} | {r['test']['pooled']:.3f} | "
                     f"{r['test']['within_source']:.3f} |")
    have = max(r["images"] for r in curve["rows"])
    where = (f"about {reach:,.0f} training images, {reach / have:.0f} times what G and J hold" if reach
             else "no size at all: the line does not rise")
    far = reach is None or reach > 4 * have
    reading = ("With no pretrained weights allowed and every labelled image that may train it already in G and J, "
               "the bar is a data limit, not a recipe this machine can change." if far else
               "That is within a few doublings: more labelled patients should close it.")
    lines += ["", f"Trend on T: {within['per_doubling']:+.3f} within-source AUROC per doubling of the training "
              f"images ({pooled['per_doubling']:+.3f} pooled). On that line the bar of {curve['bar']} sits at "
              f"{where}. {reading} On V (where each run chose its epoch) the line is "
              f"{'flatter' if on_val['per_doubling'] < within['per_doubling'] else 'steeper'}, "
              f"{on_val['per_doubling']:+.3f} within source per doubling. {len(curve['rows'])} runs at "
              f"{len({r['share'] for r in curve['rows']})} sizes make a rough line: read it as a size of gap, not "
              "a forecast.", "",
              "![mean AUROC against training images](ensemble/learning_curve.png)", "",
              f"`{curve['command']}`"]
    return lines


FOLDER = ROOT / "docs" / "explain" / "ensemble"


def judged_findings(report: dict, findings: list[str]) -> list[int]:
    """Columns the mean counts: findings with at least MIN_POSITIVES positives on T, "No Finding" aside."""
    return [k for k, f in enumerate(findings) if f != "No Finding" and report["test"][f]["positives"] >= MIN_POSITIVES]


def figures(folder: Path = FOLDER) -> None:
    """The card's two plots: AUROC within and across the source folders, and calibration on T."""
    from models.metrics.calibration import plot_reliability

    report = json.loads((folder / "report.json").read_text())
    findings = [str(f) for f in np.load(folder / "test_scores.npz")["findings"]]
    judged = judged_findings(report, findings)
    if "sources" in np.load(folder / "test_scores.npz").files:
        plot_sources(folder / "within_source.png", report["test"], [findings[k] for k in judged])
    cal = report["calibration"]
    plot_reliability(folder / "reliability.png",
                     {"uncalibrated": report["test_reliability_uncalibrated"],
                      f"class-weight offset + temperature {cal['temperature']:.2f}": report["test_reliability"]},
                     "Calibration on T (every image and finding)")


def card_text(folder: Path = FOLDER) -> str:
    """docs/explain/ensemble.md's text from the ensemble's report and T scores in `folder`."""
    report = json.loads((folder / "report.json").read_text())
    data = np.load(folder / "test_scores.npz")
    findings = [str(f) for f in data["findings"]]
    judged = judged_findings(report, findings)
    mean, lo, hi = mean_auroc_ci(data["scores"], data["labels"], data["groups"], judged)
    split = two_sources(data, findings, judged, report["test"], mean)
    lines = [
        *intro(report),
        *targets_section(report, [findings[k] for k in judged], (mean, lo, hi), split),
        *auroc_section(report, findings, split),
        *operating_point_section(report, findings),
        *shortcut_section(split),
        *tried_section(folder),
        *learning_curve_section(folder),
        "",
        "![ROC curves on T](ensemble/roc_test.png)",
        "",
        *calibration_section(report),
        *closing_section(report, findings, mean),
    ]
    return "\n".join(lines)


def intro(report: dict) -> list[str]:
    """What the ensemble is, what it trained on and which split chose and measured what."""
    cfg = report["config"]
    return [
        "# The /explain ensemble (`nih-cxr14-256-classifier`)",
        "",
        "Generated by `scripts/train_explain_ensemble.py` and rendered by `scripts/render_ensemble_card.py`. "
        f"{cfg['members']} members (FindingCNN, width {cfg['width']}, a stem dividing the side by {cfg['stem']}) "
        f"read {cfg['resolution']}-px inputs; they trained on splits G and J of both shared NIH sets "
        f"({report.get('images_train', 'all')} images; 64-px images are upsampled), "
        f"{recipe(cfg)}, each keeping its best epoch of {cfg['epochs']} by "
        f"{'within-source ' if cfg.get('source_blind') else ''}validation AUROC. Split V chose the "
        "epochs, the calibration and one threshold per "
        "finding; split T (patients used for nothing else) gives every figure below. `docs/splits.md` has the "
        "counts.",
        "",
    ]


def targets_section(report: dict, judged: list[str], mean_ci: tuple[float, float, float],
                    split: dict | None) -> list[str]:
    """The targets on T: the mean AUROC, the source shortcut, no finding below chance (pooled and within each
    source folder), and calibration."""
    test, (mean, lo, hi) = report["test"], mean_ci
    below = [f for f in judged if test[f]["auroc"] < 0.5]
    within = [f for f in judged if (test[f].get("auroc_within_source") or 1.0) < 0.5]
    rows = [
        f"| mean AUROC over the {len(judged)} findings with >= {MIN_POSITIVES} T positives | {mean:.3f} "
        f"[{lo:.3f}, {hi:.3f}] | >= {TARGET_MEAN} | {'met' if mean >= TARGET_MEAN else 'missed'} |",
        *shortcut_rows(split),
        f"| findings below 0.5 (pooled) | {', '.join(below) or 'none'} | none | {'missed' if below else 'met'} |",
    ]
    if split:
        rows.append(f"| findings below 0.5 within source | {', '.join(within) or 'none'} | none | "
                    f"{'missed' if within else 'met'} |")
    rows.append(f"| expected calibration error (every image and finding) | {report['test_reliability']['ece']:.3f} "
                f"(uncalibrated {report['test_reliability_uncalibrated']['ece']:.3f}) | stated | - |")
    return ["## Targets (T)", "", "| target | measured | bar | |", "|---|---|---|---|", *rows, ""]


def auroc_section(report: dict, findings: list[str], split: dict | None) -> list[str]:
    """AUROC per finding on T with intervals, the V threshold and the judge's AUROC for scale."""
    judge = ROOT / "bundles" / "judge-nih-J64" / "report.json"
    judge_test = json.loads(judge.read_text())["test"] if judge.exists() else {}
    lines = [
        "## AUROC per finding on T",
        "",
        "Intervals: 95% percentile bootstrap over T's patients. The judge (`bundles/judge-nih-J64`, 64 px, split J "
        "only) is shown for scale: it is the same network trained on a third of the data at a quarter of the "
        "side.",
        "",
        "| finding | AUROC | 95% CI | positives / negatives | threshold (V) | judge (J, 64 px) |"
        + (" within source | source alone |" if split else ""),
        "|---|---|---|---|---|---|" + ("---|---|" if split else ""),
    ]
    for f in findings:
        e = report["test"][f]
        auc = "n/a" if e["auroc"] is None or np.isnan(e["auroc"]) else f"{e['auroc']:.3f}"
        ci = "n/a" if auc == "n/a" else f"[{e['ci95'][0]:.3f}, {e['ci95'][1]:.3f}]"
        j = judge_test.get(f, {}).get("auroc")
        judge_cell = "n/a" if j is None or np.isnan(j) else f"{j:.3f}"
        threshold = "from the findings" if f == "No Finding" else f"{report['thresholds'][f]:.3f}"
        row = f"| {f} | {auc} | {ci} | {e['positives']} / {e['negatives']} | {threshold} | {judge_cell} |"
        if split:
            within = e.get("auroc_within_source")
            row += (" n/a | n/a |" if within is None or np.isnan(within) else
                    f" {within:.3f} [{e['ci95_within_source'][0]:.3f}, {e['ci95_within_source'][1]:.3f}] | "
                    f"{e['auroc_source_alone']:.3f} |")
        lines.append(row)
    return lines


def calibration_section(report: dict) -> list[str]:
    """How the probabilities are calibrated, and how each answer states its threshold and trust."""
    cal = report["calibration"]
    return [
        "## Calibration",
        "",
        f"Training weights each finding's positives (pos_weight up to 20), which moves every logit by log(pos_weight); "
        f"the service takes that back per finding, then divides by one temperature fitted on V "
        f"({cal['temperature']:.2f}). Expected calibration error over every (image, finding) pair, 10 equal-width "
        f"bins: V {cal['val_before']['ece']:.3f} -> {cal['val_after']['ece']:.3f}; T "
        f"{report['test_reliability_uncalibrated']['ece']:.3f} -> {report['test_reliability']['ece']:.3f}. "
        "Most pairs are negatives with small probabilities, so the pooled ECE is small once the base rates are "
        "right; the diagram shows the upper bins, where the few positives are.",
        "",
        "![reliability on T](ensemble/reliability.png)",
        "",
        f"Every answer carries each finding's threshold and the rule that set it ({threshold_rule(report)}), the "
        "call, and the finding's test AUROC with its interval (\"unreliable\" where the interval holds 0.5); "
        "\"No Finding\" is positive exactly when no finding is, so the flags never contradict each other.",
        "",
    ]


def closing_section(report: dict, findings: list[str], mean: float) -> list[str]:
    """What the ensemble is not, what it cost, and how to remake it."""
    cfg, test = report["config"], report["test"]
    positives = [test[f]["positives"] for f in findings if f != "No Finding" and test[f]["positives"]]
    return [
        "## What it is not",
        "",
        "A from-scratch CNN on about 900 radiographs cannot reach what CheXNet-style models reach on 100,000; "
        f"the mean above is {'above' if mean >= TARGET_MEAN else 'below'} the bar of {TARGET_MEAN}. "
        f"Read single-finding AUROCs with their intervals: T has {min(positives)}-{max(positives)} positives per "
        "finding.",
        "",
        f"Trained in {cfg['wall_time_s'] / 60:.0f} min on {cfg['hardware'].get('cpu_count', '?')} CPU cores "
        f"({cfg['hardware'].get('device', 'cpu')}). Weights (SHA-256 in `ensemble/report.json`): "
        "`models/pretrained/nih-cxr14-256-classifier`.",
        "",
        "## Reproduce",
        "",
        "```bash",
        "python -m scripts.train_explain_ensemble ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256"
        + reproduce_flags(cfg),
        "python -m scripts.render_ensemble_card",
        "```",
        "",
    ]


def write(folder: Path = FOLDER) -> Path:
    """Draw the figures and write the card beside its folder."""
    figures(folder)
    out = folder.parent / "ensemble.md"
    out.write_text(card_text(folder))
    return out
