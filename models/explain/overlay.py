"""Render attribution overlays on the original image with a colour map and a legend."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.data.preprocess import resize

IG_CAPTION = "integrated gradients (positive evidence)"


def colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Map [0, 1] values to RGB uint8 with a matplotlib colour map."""
    import matplotlib

    return (matplotlib.colormaps[name](np.clip(values, 0, 1))[..., :3] * 255).astype(np.uint8)


def display_map(attribution: np.ndarray, percentile: float = 99.0, smooth_frac: float = 0.01) -> np.ndarray:
    """Positive evidence, lightly smoothed and scaled to [0, 1] by a high percentile."""
    from scipy.ndimage import gaussian_filter

    pos = np.clip(attribution, 0, None)
    sigma = max(1.0, smooth_frac * max(pos.shape))
    pos = gaussian_filter(pos, sigma)
    top = np.percentile(pos, percentile) if pos.any() else 1.0
    return np.clip(pos / (top or 1.0), 0, 1)


def overlay_rgb(image: np.ndarray, attribution: np.ndarray, *, title: str = "", max_side: int | None = 1024,
                alpha: float = 0.6, legend: bool = True, caption: str = IG_CAPTION) -> np.ndarray:
    """RGB uint8 overlay at the original geometry (downscaled to `max_side` unless None), with a legend strip
    below it unless `legend` is False (a DICOM overlay keeps the source's exact Rows x Columns)."""
    h, w = image.shape
    scale = 1.0 if max_side is None else min(1.0, max_side / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    grey = resize(image, size) if scale < 1 else image
    heat = display_map(resize(attribution, size) if scale < 1 else attribution)
    base = np.repeat((np.clip(grey, 0, 1) * 255)[..., None], 3, -1)
    colour = colormap(heat).astype(np.float32)
    a = (alpha * heat)[..., None]
    blended = (base * (1 - a) + colour * a).astype(np.uint8)
    return add_legend(blended, title, caption) if legend else blended


def add_legend(rgb: np.ndarray, title: str, caption: str = IG_CAPTION) -> np.ndarray:
    """Append a colour bar (low -> high attribution) at the right and, left of it, the title and caption, each
    wrapped to the room left by the bar (the band grows to fit them)."""
    h, w, _ = rgb.shape
    font = ImageFont.load_default()
    bar_w = max(40, w // 3)
    room = max(60, w - bar_w - 16)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = [(line, (0, 0, 0)) for line in wrap(title, room, font, measure)]
    lines += [(line, (80, 80, 80)) for line in wrap(caption, room, font, measure)]
    band = max(36, h // 12, 8 + 14 * len(lines))
    canvas = Image.new("RGB", (w, h + band), (255, 255, 255))
    canvas.paste(Image.fromarray(rgb), (0, 0))
    bar = colormap(np.tile(np.linspace(0, 1, bar_w), (max(6, min(band, 72) // 4), 1)))
    canvas.paste(Image.fromarray(bar), (w - bar_w - 4, h + 4))
    draw = ImageDraw.Draw(canvas)
    draw.text((w - bar_w - 4, h + 6 + bar.shape[0]), "low", fill=(0, 0, 0), font=font)
    draw.text((w - 28, h + 6 + bar.shape[0]), "high", fill=(0, 0, 0), font=font)
    for i, (line, colour) in enumerate(lines):
        draw.text((4, h + 4 + 14 * i), line, fill=colour, font=font)
    return np.asarray(canvas)


def wrap(text: str, width: int, font, draw: ImageDraw.ImageDraw) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` pixels in `font` (a long word stays whole)."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])
