"""The counterfactual panel: the upload as the generator sees it, both regenerations and their difference."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from models.data.preprocess import resize
from models.explain.counterfactual import Counterfactual, generator_input
from models.explain.overlay import colormap

TILE = 256


def grey_tile(image: np.ndarray) -> np.ndarray:
    up = resize(np.clip(image, 0, 1), TILE)
    return np.repeat((np.clip(up, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)


def difference_tile(diff: np.ndarray) -> tuple[np.ndarray, float]:
    """Signed difference: red where the finding made the image brighter, blue where darker; the colours span
    +/- the returned value (the 99.5th percentile of |difference|, in grey levels of [0, 1])."""
    up = resize(diff, TILE)
    top = float(np.percentile(np.abs(up), 99.5)) or 1.0
    return colormap(np.clip(0.5 + up / (2 * top), 0, 1), "RdBu_r"), top


def counterfactual_panel(cf: Counterfactual, source: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 row of four tiles with captions; `source` (the upload) adds its generator-size crop first."""
    p = cf.probabilities.get(cf.finding, {})
    diff_rgb, span = difference_tile(cf.difference_model)
    tiles = [(grey_tile(cf.reconstruction), f"regenerated with {cf.finding}", f"p = {p.get('reconstruction', 0):.2f}"),
             (grey_tile(cf.counterfactual), "regenerated as No Finding", f"p = {p.get('counterfactual', 0):.2f}"),
             (diff_rgb, "difference (red: brighter with it)",
              f"colours span +/- {span:.2f}; strength {cf.settings.get('strength', '?')}")]
    if source is not None:
        square, _ = generator_input(source, cf.reconstruction.shape[0])
        tiles.insert(0, (grey_tile(square), "upload, as the generator sees it", f"p = {p.get('original', 0):.2f}"))
    band = 34
    canvas = Image.new("RGB", (TILE * len(tiles) + 4 * (len(tiles) - 1), TILE + band), (255, 255, 255))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for i, (tile, line1, line2) in enumerate(tiles):
        x = i * (TILE + 4)
        canvas.paste(Image.fromarray(tile), (x, 0))
        draw.text((x + 4, TILE + 3), line1, fill=(0, 0, 0), font=font)
        draw.text((x + 4, TILE + 17), line2, fill=(80, 80, 80), font=font)
    return np.asarray(canvas)
