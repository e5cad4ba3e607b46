"""A one-pass detail network (64 -> 256 px): a small residual CNN over the bicubic upsample (trained adversarially
by models/diffusion/detail_train.py), and the generator stage that serves it. One forward pass replaces the
diffusion super-resolution stage's steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

WEIGHTS = "detail_net.safetensors"
CONFIG = "detail_net.json"


class ResidualBlock(torch.nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.LeakyReLU(0.2),
                                        torch.nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)  # residual scaling keeps a deep stack stable without normalisation


class DetailNet(torch.nn.Module):
    """Bicubic upsample plus a learned residual: features at the low resolution, then two x2 pixel-shuffle
    upsamplings. Input and output in [-1, 1], (N, 1, h, w) -> (N, 1, scale h, scale w)."""

    def __init__(self, scale: int = 4, width: int = 32, blocks: int = 6):
        super().__init__()
        if scale not in (2, 4):
            raise ValueError("scale must be 2 or 4")
        self.scale, self.width, self.blocks = scale, width, blocks
        self.head = torch.nn.Conv2d(1, width, 3, padding=1)
        self.body = torch.nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)],
                                        torch.nn.Conv2d(width, width, 3, padding=1))
        ups = []
        for _ in range({2: 1, 4: 2}[scale]):
            ups += [torch.nn.Conv2d(width, 4 * width, 3, padding=1), torch.nn.PixelShuffle(2), torch.nn.LeakyReLU(0.2)]
        self.up = torch.nn.Sequential(*ups, torch.nn.Conv2d(width, 1, 3, padding=1))
        torch.nn.init.zeros_(self.up[-1].weight)  # starts as plain bicubic
        torch.nn.init.zeros_(self.up[-1].bias)

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(low, scale_factor=self.scale, mode="bicubic", align_corners=False)
        features = self.head(low)
        return (base + self.up(features + self.body(features))).clamp(-1, 1)


def save_detail_net(net: DetailNet, folder: Path, meta: dict) -> Path:
    """The network's weights (safetensors) and what it is (detail_net.json: its config, training steps, data)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, folder / WEIGHTS)
    architecture = {"scale": net.scale, "width": net.width, "blocks": net.blocks}
    (folder / CONFIG).write_text(json.dumps(meta | {"architecture": architecture}, indent=2, default=str))
    return folder


def load_detail_net(folder: str | Path) -> DetailNet:
    """A saved DetailNet, in eval mode."""
    meta = json.loads((Path(folder) / CONFIG).read_text())
    arch = meta.get("architecture") or meta["config"]  # files written before the architecture was recorded
    net = DetailNet(arch["scale"], arch["width"], arch["blocks"])
    net.load_state_dict(load_file(Path(folder) / WEIGHTS))
    return net.eval()


@torch.no_grad()
def upscale(net: DetailNet, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """(N, h, w) images in [0, 1] -> (N, scale h, scale w) in [0, 1]."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.asarray(images[i:i + batch], np.float32))[:, None] * 2 - 1
        out.append(((net(x)[:, 0] + 1) / 2).clamp(0, 1).numpy())
    return np.concatenate(out)


DETAIL_KIND = "detail_net"


class DetailStage:
    """A trained DetailNet as a generator's second stage, with the super-resolution stage's interface: one pass,
    so no steps, start, conditioning step or seeds (the same input always gives the same output)."""

    one_pass = True
    default_start, default_aug_step = 1.0, None

    def __init__(self, net: DetailNet, metadata: dict | None = None):
        self.net, self.metadata = net.eval(), metadata or {}
        self.scale = net.scale
        # > 0: the base image is put back at 1/keep_low of the output's side, so what the noise check passed at
        # the base size is what is delivered there (keep_base_low_frequencies)
        self.keep_low = int(self.metadata.get("keep_low") or 0)

    def steps_from(self, start: float) -> int:
        return 1

    def __call__(self, low: np.ndarray, seeds=None, *, callback=None, keep_low: int | None = None,
                 **_: object) -> np.ndarray:
        out = upscale(self.net, low)
        factor = self.keep_low if keep_low is None else int(keep_low)
        if factor:
            from models.diffusion.superres import keep_base_low_frequencies_01

            out = keep_base_low_frequencies_01(out, low, factor)
        if callback:
            callback(1, 1)
        return out

    def info(self) -> dict:
        return {"kind": DETAIL_KIND, "scale": self.scale, "one_pass": True, "width": self.net.width,
                "blocks": self.net.blocks, "steps": self.metadata.get("steps"), "keep_low": self.keep_low}

    def save(self, path: str | Path, *, metadata: dict | None = None, half: bool = False) -> Path:
        return save_detail_net(self.net, Path(path), self.metadata | (metadata or {}))

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> DetailStage:
        path = Path(path)
        return cls(load_detail_net(path).to(device), json.loads((path / CONFIG).read_text()))
