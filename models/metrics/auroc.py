"""AUROC (Mann-Whitney), bootstrap confidence intervals, ROC curves and Youden thresholds."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.stats import rankdata


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def separation_auroc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """AUROC of scores from two groups (e.g. images of a finding vs "No Finding" images); NaN if one is empty."""
    positive_scores, negative_scores = np.asarray(positive_scores), np.asarray(negative_scores)
    return auroc(np.r_[np.ones(len(positive_scores)), np.zeros(len(negative_scores))],
                 np.r_[positive_scores, negative_scores])


def within_source_auroc(labels: np.ndarray, scores: np.ndarray, sources: np.ndarray) -> float:
    """AUROC over the positive-negative pairs that share a source (data set, site, scanner); NaN without such pairs.

    Pooled over sources that differ in finding rate, the plain AUROC rewards telling the sources apart; this one
    only counts ranking within a source (each source's AUROC weighted by its number of pairs)."""
    labels, scores, sources = np.asarray(labels).astype(bool), np.asarray(scores), np.asarray(sources)
    total, pairs = 0.0, 0
    for source in np.unique(sources):
        rows = sources == source
        n = int(labels[rows].sum()) * int((~labels[rows]).sum())
        if n:
            total += auroc(labels[rows], scores[rows]) * n
            pairs += n
    return total / pairs if pairs else float("nan")


def mean_auroc(labels: np.ndarray, scores: np.ndarray, sources: np.ndarray | None = None) -> float:
    """Mean AUROC over the columns (findings) that have both classes, within-source when `sources` is given; NaN
    when no column has both."""
    values = [auroc(labels[:, k], scores[:, k]) if sources is None
              else within_source_auroc(labels[:, k], scores[:, k], sources) for k in range(labels.shape[1])]
    return float(np.nanmean(values)) if not np.all(np.isnan(values)) else float("nan")


def patient_resamples(groups, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """`n` bootstrap resamples of row indices that draw patients (each with all its rows) with replacement."""
    patients = sorted(set(groups))
    rows_of = {p: np.flatnonzero(np.asarray(groups) == p) for p in patients}
    for _ in range(n):
        yield np.concatenate([rows_of[p] for p in rng.choice(patients, len(patients))])


def bootstrap_ci(labels: np.ndarray, scores: np.ndarray, *, n: int = 1000, alpha: float = 0.05,
                 seed: int = 0, groups: np.ndarray | None = None,
                 sources: np.ndarray | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUROC over resampled images, or over resampled patients (all images
    of a drawn patient together) when `groups` gives each image's patient; of the within-source AUROC when
    `sources` gives each image's source."""
    rng = np.random.default_rng(seed)
    labels, scores = np.asarray(labels), np.asarray(scores)
    draws = patient_resamples(groups, n, rng) if groups is not None else (
        rng.integers(0, len(labels), len(labels)) for _ in range(n))
    values = []
    for idx in draws:
        value = (auroc(labels[idx], scores[idx]) if sources is None
                 else within_source_auroc(labels[idx], scores[idx], np.asarray(sources)[idx]))
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds, from the highest score down."""
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    s, y = np.asarray(scores)[order], labels[order]
    tps, fps = np.cumsum(y), np.cumsum(~y)
    keep = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tpr = np.r_[0, tps[keep] / max(1, y.sum())]
    fpr = np.r_[0, fps[keep] / max(1, (~y).sum())]
    return fpr, tpr, np.r_[np.inf, s[keep]]


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising sensitivity + specificity - 1 (0.5 when undefined)."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return 0.5
    fpr, tpr, thr = roc_curve(labels, scores)
    best = int(np.argmax(tpr - fpr))
    return float(min(thr[best], 1.0))


def specificity_threshold(labels: np.ndarray, scores: np.ndarray, specificity: float = 0.9) -> float:
    """The lowest score threshold (positive: score >= threshold) whose specificity on these labels is at least
    `specificity` (0.5 when undefined: no negatives or no positives)."""
    labels = np.asarray(labels).astype(bool)
    if labels.all() or not labels.any():
        return 0.5
    negatives = np.sort(np.asarray(scores, np.float64)[~labels])
    for candidate in np.unique(np.r_[negatives, np.nextafter(negatives[-1], np.inf)]):
        if (negatives < candidate).mean() >= specificity:
            return float(min(candidate, 1.0))
    return 1.0


def operating_point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float | int]:
    """Sensitivity and specificity of `scores >= threshold`, with the counts they rest on."""
    labels = np.asarray(labels).astype(bool)
    called = np.asarray(scores) >= threshold
    pos, neg = int(labels.sum()), int((~labels).sum())
    return {"sensitivity": float(called[labels].mean()) if pos else float("nan"),
            "specificity": float((~called[~labels]).mean()) if neg else float("nan"),
            "positives": pos, "negatives": neg}


def plot_roc(path, curves: dict[str, tuple[np.ndarray, np.ndarray, float, tuple[float, float]]], title: str) -> None:
    """One ROC panel with a line per finding, labelled with AUROC and its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    for name, (fpr, tpr, value, (lo, hi)) in curves.items():
        ax.plot(fpr, tpr, label=f"{name}: {value:.2f} [{lo:.2f}, {hi:.2f}]")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
