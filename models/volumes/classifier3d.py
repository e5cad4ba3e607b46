"""A small CNN that classifies volumes (3D) or their slices (2D), for judging generated volumes: label agreement,
domain features for FID, and nearest-neighbour memorisation checks. Trained from scratch (no downloads)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class SmallCNN(nn.Module):
    """Three conv blocks (conv, batch norm, ReLU, max-pool), global average pooling, one linear layer."""

    def __init__(self, dims: int, n_classes: int, width: int = 16):
        super().__init__()
        conv, norm, pool = (nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d) if dims == 3 else \
            (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        layers, c_in = [], 1
        for c_out in (width, 2 * width, 4 * width):
            layers += [conv(c_in, c_out, 3, padding=1), norm(c_out), nn.ReLU(inplace=True), pool(2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, n_classes)
        self.dims = dims

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=tuple(range(2, 2 + self.dims)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.inference_mode()
def predict_proba(model: SmallCNN, x: torch.Tensor, batch: int = 64) -> np.ndarray:
    model.eval()
    return np.concatenate([torch.softmax(model(x[s]), 1).numpy() for s in _batches(len(x), batch)])


@torch.inference_mode()
def cnn_features(model: SmallCNN, x: torch.Tensor, batch: int = 64) -> np.ndarray:
    model.eval()
    return np.concatenate([model.features(x[s]).numpy() for s in _batches(len(x), batch)])


def train_cnn(x: torch.Tensor, y: np.ndarray, x_val: torch.Tensor, y_val: np.ndarray, *, dims: int,
              n_classes: int, epochs: int = 15, batch_size: int = 32, lr: float = 2e-3, width: int = 16,
              seed: int = 0, flip: bool = True, progress: Callable[[int, int, float], None] | None = None
              ) -> tuple[SmallCNN, dict]:
    """Inputs in [-1, 1] as (N, 1, ...). Keeps the epoch with the best validation AUROC of class 1 (or accuracy
    for more classes); class-balanced sampling so rare classes are learned."""
    from models.metrics.auroc import auroc

    torch.manual_seed(seed)
    model = SmallCNN(dims, n_classes, width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    labels = torch.as_tensor(y, dtype=torch.long)
    weights = 1.0 / np.bincount(y, minlength=n_classes)[y]
    gen = torch.Generator().manual_seed(seed)
    best, best_score, history = copy.deepcopy(model.state_dict()), -1.0, []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.multinomial(torch.as_tensor(weights), len(y), replacement=True, generator=gen)
        for s in _batches(len(order), batch_size):
            idx = order[s]
            xb = x[idx]
            if flip:
                mask = torch.rand(len(xb), generator=gen) < 0.5
                xb = torch.where(mask.view(-1, *([1] * (xb.ndim - 1))), xb.flip(-1), xb)
            loss = nn.functional.cross_entropy(model(xb), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        p = predict_proba(model, x_val)
        score = auroc(y_val == 1, p[:, 1]) if n_classes == 2 else float((p.argmax(1) == y_val).mean())
        history.append({"epoch": epoch, "val_score": float(score), "loss": loss.item()})
        if score > best_score:
            best, best_score = copy.deepcopy(model.state_dict()), float(score)
        if progress is not None:
            progress(epoch, epochs, float(score))
    model.load_state_dict(best)
    model.eval()
    return model, {"best_val_score": best_score, "history": history}


def axial_slices(volumes: torch.Tensor, keep: float = 0.5) -> tuple[torch.Tensor, np.ndarray]:
    """The central `keep` fraction of axial slices of (N, 1, D, H, W) as (N*k, 1, H, W), with each slice's
    volume index (the outer slices of organ-centred crops are mostly empty)."""
    d = volumes.shape[2]
    k = max(1, int(round(d * keep)))
    start = (d - k) // 2
    s = volumes[:, :, start:start + k].transpose(1, 2).reshape(-1, 1, *volumes.shape[-2:])
    return s, np.repeat(np.arange(len(volumes)), k)
