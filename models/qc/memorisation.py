"""Nearest-training-image search in domain features, with a threshold calibrated on held-out real images."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.classifier.ensemble import ClassifierEnsemble


def standardise(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """z-score each dimension with training statistics, then L2-normalise rows.

    Pooled CNN features share a large common offset, so raw cosine similarity is ~1 for any two images;
    centring on the training distribution first makes the distance reflect what differs between images.
    """
    f = (features.astype(np.float32) - mean) / std
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-8)


@dataclass
class MemorisationIndex:
    """Standardised training-set features, their ids, the statistics used, and the copy threshold."""

    features: np.ndarray
    ids: list[str]
    threshold: float
    calibration: dict
    mean: np.ndarray
    std: np.ndarray

    def nearest(self, features: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Cosine distance to, and index of, the nearest training image for each row (streams the index)."""
        q = standardise(features, self.mean, self.std)
        best_d = np.full(len(q), np.inf, dtype=np.float32)
        best_i = np.zeros(len(q), dtype=np.int64)
        for start in range(0, len(self.features), chunk):
            sims = q @ self.features[start:start + chunk].T
            j = sims.argmax(1)
            d = 1 - sims[np.arange(len(q)), j]
            better = d < best_d
            best_d[better], best_i[better] = d[better], j[better] + start
        return np.maximum(best_d, 0.0), best_i

    def check(self, features: np.ndarray) -> list[dict]:
        d, i = self.nearest(features)
        return [{"nearest_train_id": self.ids[int(j)], "distance": float(dist), "threshold": self.threshold,
                 "flagged": bool(dist < self.threshold)} for dist, j in zip(d, i, strict=True)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez_compressed(path, features=self.features.astype(np.float16), ids=np.array(self.ids),
                            threshold=self.threshold, calibration=json.dumps(self.calibration), mean=self.mean,
                            std=self.std)
        return path

    @classmethod
    def load(cls, path: str | Path) -> MemorisationIndex:
        with np.load(path) as z:
            return cls(z["features"].astype(np.float32), [str(s) for s in z["ids"]], float(z["threshold"]),
                       json.loads(str(z["calibration"])), z["mean"], z["std"])


def build_index(train_features: np.ndarray, train_ids: list[str], heldout_features: np.ndarray, *,
                percentile: float = 1.0, factor: float = 0.5) -> MemorisationIndex:
    """Calibrate: threshold = factor x the `percentile`-th percentile of held-out real -> train distances.

    A held-out real image is by construction no copy, so real novel images sit above the threshold while
    exact or near-exact copies of training images (distance ~0) fall below it.
    """
    mean = train_features.mean(0).astype(np.float32)
    std = np.maximum(train_features.std(0), 1e-6).astype(np.float32)
    index = MemorisationIndex(standardise(train_features, mean, std), list(train_ids), 0.0, {}, mean, std)
    d, _ = index.nearest(heldout_features)
    index.threshold = float(factor * np.percentile(d, percentile))
    index.calibration = {"heldout_images": len(d), "percentile": percentile, "factor": factor,
                         "heldout_distance_min": float(d.min()), "heldout_distance_median": float(np.median(d))}
    return index


def image_features(ens: ClassifierEnsemble, images: np.ndarray) -> np.ndarray:
    """Domain features of grey [0, 1] images (N, H, W), resized to the ensemble's input if needed."""
    from models.data.preprocess import resize

    r = ens.input_size
    if images.shape[-1] != r:
        images = np.stack([resize(im, r) for im in images])
    return ens.features(images)
