"""Probability calibration of a multi-label ensemble: one temperature fitted on validation, ECE and a plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TEMPERATURE_GRID = np.geomspace(0.25, 16.0, 151)


def _mean_of_sigmoids(member_logits: np.ndarray, temperature: float) -> np.ndarray:
    return (1 / (1 + np.exp(-member_logits / temperature))).mean(0)


def member_logits(member_probs: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Each member's logit back from its probability (at temperature 1)."""
    p = np.clip(member_probs, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)


def binary_cross_entropy(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-6) -> float:
    p = np.clip(probs, eps, 1 - eps)
    return float(-(labels * np.log(p) + (1 - labels) * np.log1p(-p)).mean())


def fit_temperature(member_probs: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The temperature (one for all findings) that minimises the validation cross-entropy of the ensemble mean.

    member_probs: (M, N, K) at temperature 1; labels (N, K); mask (K,) selects the findings to fit on (those with
    positives and negatives). One shared value: a few validation positives per finding cannot pin one each."""
    logits = member_logits(member_probs)
    keep = np.ones(labels.shape[1], bool) if mask is None else np.asarray(mask, bool)
    losses = [binary_cross_entropy(_mean_of_sigmoids(logits, t)[:, keep], labels[:, keep]) for t in TEMPERATURE_GRID]
    return float(TEMPERATURE_GRID[int(np.argmin(losses))])


def rescale(member_probs: np.ndarray, temperature: float) -> np.ndarray:
    """Member probabilities (M, N, K) at temperature 1 -> the ensemble mean (N, K) at `temperature`."""
    return _mean_of_sigmoids(member_logits(member_probs), temperature)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict:
    """Equal-width reliability bins over every (image, finding) pair and the expected calibration error.

    ECE = sum over bins of (share of pairs in the bin) x |observed positive rate - mean probability|."""
    p, y = np.asarray(probs, float).ravel(), np.asarray(labels, float).ravel()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        if not sel.any():
            continue
        conf, rate = float(p[sel].mean()), float(y[sel].mean())
        ece += sel.mean() * abs(rate - conf)
        rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(sel.sum()),
                     "mean_probability": conf, "positive_rate": rate})
    return {"ece": float(ece), "bins": rows, "pairs": int(p.size)}


def plot_reliability(path: str | Path, curves: dict[str, dict], title: str) -> None:
    """Reliability diagram: observed positive rate against mean probability per bin, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for name, rel in curves.items():
        xs = [b["mean_probability"] for b in rel["bins"]]
        ys = [b["positive_rate"] for b in rel["bins"]]
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {rel['ece']:.3f})")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1),
           title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
