"""Explanation sanity: model-randomisation check (Adebayo et al. 2018) and localisation against boxes."""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.stats import spearmanr

from models.classifier.ensemble import ClassifierEnsemble
from models.explain.attribution import attribute


def randomised_copy(ens: ClassifierEnsemble, seed: int = 1234) -> ClassifierEnsemble:
    """The same architecture with every weight re-initialised (cascading randomisation's end point)."""
    torch.manual_seed(seed)
    rand = copy.deepcopy(ens)
    for module in rand.modules():
        if hasattr(module, "reset_parameters") and module is not rand:
            module.reset_parameters()
    return rand.eval()


def randomisation_check(ens: ClassifierEnsemble, images: np.ndarray, finding: str, *, n_steps: int = 32,
                        seed: int = 1234) -> dict:
    """Spearman rank correlation of |attribution| between the trained and a randomised ensemble, per image.

    Explanations that reflect what the model learned should correlate weakly with a random model's.
    """
    rand = randomised_copy(ens, seed)
    k = ens.finding_index(finding)
    rhos = []
    for img in images:
        x = torch.as_tensor(img, dtype=torch.float32)[None, None]
        a, _ = attribute(ens, x, k, n_steps=n_steps)
        b, _ = attribute(rand, x, k, n_steps=n_steps)
        rhos.append(float(spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).statistic))
    return {"finding": finding, "images": len(rhos), "spearman_mean": float(np.nanmean(rhos)),
            "spearman_per_image": rhos}


def box_mask(shape: tuple[int, int], box: tuple[float, float, float, float], scale: float = 1.0) -> np.ndarray:
    """Boolean mask of an (x, y, w, h) box given in coordinates `scale` times the mask's."""
    x, y, w, h = (v / scale for v in box)
    mask = np.zeros(shape, dtype=bool)
    mask[int(max(0, y)): int(np.ceil(min(shape[0], y + h))), int(max(0, x)): int(np.ceil(min(shape[1], x + w)))] = True
    return mask


def localisation(attribution: np.ndarray, mask: np.ndarray) -> dict:
    """Pointing game hit (is the maximum inside?) and the share of positive attribution inside the mask."""
    pos = np.clip(attribution, 0, None)
    hit = bool(mask.flat[int(np.argmax(attribution))])
    total = float(pos.sum())
    share = float(pos[mask].sum() / total) if total > 0 else 0.0
    return {"pointing_hit": hit, "share_inside": share, "mask_fraction": float(mask.mean())}
