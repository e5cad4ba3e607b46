"""Is an explanation looking at the patient or at a shortcut? The share of positive attribution that falls on the
image's outer border band (collimation edges, cropped text) and on burned-in markers or devices (small, bright,
saturated blobs: side markers, catheter tips, electrodes); flagged when together they hold most of it."""

from __future__ import annotations

import numpy as np

BORDER_FRACTION = 0.08  # the outer band: 8% of the shorter side on each edge
BRIGHT = 0.97  # grey level (of [0, 1]) above which a pixel counts as burned-in or metal
DOMINATES = 0.5  # flagged when border and markers hold more than half of the positive attribution
RULE = (f"flagged when more than {DOMINATES:.0%} of the positive attribution lies in the outer border band "
        f"({BORDER_FRACTION:.0%} of the shorter side) or on bright saturated blobs (grey >= {BRIGHT}, markers and "
        "devices)")


def shortcut_masks(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(border band, bright blobs grown by a few pixels) as boolean maps of the image's shape."""
    from scipy.ndimage import binary_dilation

    h, w = image.shape
    band = max(1, round(BORDER_FRACTION * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    bright = np.asarray(image) >= BRIGHT
    grow = max(1, round(0.005 * max(h, w)))
    markers = binary_dilation(bright, iterations=grow) if bright.any() else bright
    return border, markers


def shortcut_check(image: np.ndarray, attribution: np.ndarray) -> dict:
    """Shares of positive attribution on the border band, on bright markers, on either; and the flag."""
    positive = np.clip(np.asarray(attribution, dtype=np.float64), 0, None)
    total = positive.sum()
    border, markers = shortcut_masks(image)
    if total <= 0:
        return {"border_share": 0.0, "marker_share": 0.0, "shortcut_share": 0.0, "flagged": False, "rule": RULE}
    shares = {name: float(positive[mask].sum() / total)
              for name, mask in (("border_share", border), ("marker_share", markers),
                                 ("shortcut_share", border | markers))}
    return shares | {"flagged": shares["shortcut_share"] > DOMINATES, "rule": RULE}
