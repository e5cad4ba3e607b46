"""Improved precision and recall of generative models (Kynkäänniemi et al. 2019) in any feature space.

Each set's manifold is the union of balls around its samples whose radius is the distance to the k-th nearest
neighbour within the set. Precision: the share of generated samples inside the real manifold (are they
realistic?). Recall: the share of real samples inside the generated manifold (is the real variety covered?).
"""

from __future__ import annotations

import numpy as np


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(sq, 0))


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance from each sample to its k-th nearest other sample of the same set."""
    d = _pairwise(features, features)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def coverage_share(queries: np.ndarray, support: np.ndarray, k: int) -> float:
    """Share of `queries` that fall within the k-NN ball of at least one `support` sample."""
    radii = knn_radii(support, k)
    return float((_pairwise(queries, support) <= radii[None, :]).any(axis=1).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> dict:
    """Precision and recall of `fake` against `real` (N, D) features, standardised by the real statistics."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples in each set")
    mean, std = real.mean(0), real.std(0) + 1e-8
    real, fake = (real - mean) / std, (fake - mean) / std
    return {"precision": coverage_share(fake, real, k), "recall": coverage_share(real, fake, k), "k": k,
            "n_real": len(real), "n_fake": len(fake)}
