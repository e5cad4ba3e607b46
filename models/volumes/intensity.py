"""Intensity handling: CT in Hounsfield units through a window, MR by percentiles; both to [0, 1]."""

from __future__ import annotations

import numpy as np

CT_WINDOWS = {"soft-tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0),
              "abdomen": (60.0, 400.0)}


def ct_window(hu: np.ndarray, level: float = 40.0, width: float = 400.0) -> np.ndarray:
    """Hounsfield units -> [0, 1] through the window (level, width)."""
    low = level - width / 2
    return np.clip((hu.astype(np.float32) - low) / width, 0.0, 1.0)


def percentile_normalise(volume: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """MR (arbitrary units) -> [0, 1] between the `low` and `high` percentiles of the non-zero voxels."""
    v = volume.astype(np.float32)
    body = v[v > 0] if np.any(v > 0) else v.ravel()
    lo, hi = np.percentile(body, [low, high])
    return np.clip((v - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
