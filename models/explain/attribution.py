"""Captum integrated gradients for each ensemble member and finding, averaged over members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, NoiseTunnel

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import SquareGeometry, heatmap_to_original, to_model_input
from models.explain.shortcuts import shortcut_check
from models.vocabulary.findings import NO_FINDING, resolve

Method = Literal["ig", "smoothgrad"]
Baseline = Literal["black", "blur"]


@dataclass
class Explanation:
    """Probabilities, attributions on the model grid and on the original grid, and IG convergence deltas."""

    findings: list[str]
    probabilities: dict[str, dict]
    attributions_model: dict[str, np.ndarray]
    attributions: dict[str, np.ndarray]
    deltas: dict[str, list[float]]
    geometry: SquareGeometry
    settings: dict = field(default_factory=dict)
    shortcuts: dict[str, dict] = field(default_factory=dict)  # per finding: models/explain/shortcuts.py

    def summary(self) -> dict:
        """JSON-ready: probabilities (all findings), explained findings, deltas, shortcut checks and settings."""
        return {"probabilities": self.probabilities, "explained": self.findings,
                "convergence_delta": self.deltas, "settings": self.settings, "shortcuts": self.shortcuts,
                "attribution_sum": {k: float(v.sum()) for k, v in self.attributions_model.items()}}


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, 1, H, W) with reflect padding."""
    radius = max(1, int(3 * sigma))
    coords = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def make_baseline(x: torch.Tensor, kind: Baseline) -> torch.Tensor:
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        return gaussian_blur(x, sigma=x.shape[-1] / 8)
    raise ValueError(f"unknown baseline {kind!r}; valid baselines: black, blur")


def logit_fn(ens: ClassifierEnsemble, member: int, finding: int):
    """F(x) = member's logit for one finding on [0, 1] input (the quantity IG decomposes)."""
    net = ens.members[member]

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(ens.normalise(x))[:, finding]

    return forward


def attribute(ens: ClassifierEnsemble, x: torch.Tensor, finding: int, *, method: Method = "ig", n_steps: int = 50,
              baseline: Baseline = "black", internal_batch_size: int = 16, nt_samples: int = 8,
              nt_stdev: float = 0.1, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """Mean attribution over members for one finding on (1, 1, R, R) input, and each member's delta."""
    maps, deltas = [], []
    base = make_baseline(x, baseline)
    for m in range(len(ens.members)):
        ig = IntegratedGradients(logit_fn(ens, m, finding))
        if method == "ig":
            attr, delta = ig.attribute(x, baselines=base, n_steps=n_steps, method="gausslegendre",
                                       internal_batch_size=internal_batch_size, return_convergence_delta=True)
        elif method == "smoothgrad":
            torch.manual_seed(seed + m)
            attr, delta = NoiseTunnel(ig).attribute(
                x, baselines=base, n_steps=n_steps, method="gausslegendre", internal_batch_size=internal_batch_size,
                nt_type="smoothgrad", nt_samples=nt_samples, nt_samples_batch_size=1, stdevs=nt_stdev,
                return_convergence_delta=True)
        else:
            raise ValueError(f"unknown method {method!r}; valid methods: ig, smoothgrad")
        maps.append(attr.detach()[0, 0].numpy())
        deltas.append(float(delta.abs().max()))
    return np.mean(maps, 0).astype(np.float32), deltas


def to_original_grid(attribution: np.ndarray, geom: SquareGeometry) -> np.ndarray:
    """Resample a model-grid attribution onto the original pixels, keeping its total.

    Resizing keeps values per unit area, so each original pixel gets (model side / square side)^2 of the value.
    """
    scale = (attribution.shape[0] / geom.side) ** 2
    return (heatmap_to_original(attribution, geom) * scale).astype(np.float32)


def default_findings(ens: ClassifierEnsemble, mean_probs: np.ndarray, top: int = 3) -> list[str]:
    """The `top` most probable findings other than "No Finding"."""
    order = [k for k in np.argsort(-mean_probs) if ens.findings[k] != NO_FINDING]
    return [ens.findings[k] for k in order[:top]]


def explain(ens: ClassifierEnsemble, pixels: np.ndarray, findings: str | Sequence[str] | None = None, *,
            method: Method = "ig", n_steps: int = 50, baseline: Baseline = "black", internal_batch_size: int = 16,
            with_maps: bool = True, progress=None) -> Explanation:
    """Explain a grey [0, 1] image of any size: the model sees it padded square and resized; maps come back.
    `with_maps=False` gives the probabilities and the chosen findings only (a counterfactual explains them)."""
    if not 1 <= n_steps <= 1000:
        raise ValueError("n_steps must be between 1 and 1000")
    ens.eval()
    square, geom = to_model_input(pixels, ens.input_size, mode="pad")
    x = torch.from_numpy(square)[None, None]
    pred = ens.predict(x)
    probs = ens.answer(pred)[0]
    names = resolve(findings, ens.findings) if findings else default_findings(ens, pred.mean[0])
    model_maps, maps, deltas = {}, {}, {}
    for i, name in enumerate(names if with_maps else []):
        attr, d = attribute(ens, x, ens.findings.index(name), method=method, n_steps=n_steps, baseline=baseline,
                            internal_batch_size=internal_batch_size)
        model_maps[name] = attr
        maps[name] = to_original_grid(attr, geom)
        deltas[name] = d
        if progress:
            progress(i + 1, len(names))
    settings = {"method": method if with_maps else "counterfactual", "members": len(ens.members),
                "model_input": [ens.input_size, ens.input_size], "original_shape": list(pixels.shape),
                "square": "pad"}
    if with_maps:  # the attribution's own settings only where attributions were computed
        settings |= {"n_steps": n_steps, "integration": "gausslegendre", "baseline": baseline,
                     "internal_batch_size": internal_batch_size,
                     "target": "member logit, attributions averaged over members"}
    shortcuts = {name: shortcut_check(pixels, maps[name]) for name in maps}
    return Explanation(names, probs, model_maps, maps, deltas, geom, settings, shortcuts)
