"""Does an explanation point at the lesion? Scores on the phantom benchmark and on the NIH boxes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from models.classifier.ensemble import ClassifierEnsemble
from models.data.phantom import ChestPhantom
from models.explain.attribution import attribute
from models.explain.sanity import box_mask, localisation


def summarise(rows: list[dict]) -> dict:
    """Per finding: images, pointing-game hit rate, mean share inside, and the chance level (mask area)."""
    out: dict[str, dict] = {}
    for name in sorted({r["finding"] for r in rows}):
        sel = [r for r in rows if r["finding"] == name]
        out[name] = {"images": len(sel), "pointing_hit_rate": float(np.mean([r["pointing_hit"] for r in sel])),
                     "share_inside_mean": float(np.mean([r["share_inside"] for r in sel])),
                     "chance_share": float(np.mean([r["mask_fraction"] for r in sel]))}
    return out


def phantom_localisation(ens: ClassifierEnsemble, *, n: int = 80, seed: int = 999, n_steps: int = 32,
                         progress: Callable[[int, int], None] | None = None) -> dict:
    """Explain `n` held-out phantom images with lesions and score the attributions against the masks."""
    ds = ChestPhantom(n, ens.input_size, seed=seed, p_lesion=1.0)
    rows = []
    for i in range(len(ds)):
        img, mask = ds.render(i)
        finding = ds.records[i].meta["finding"]
        if finding not in ens.findings or not mask.any():
            continue
        attr, _ = attribute(ens, torch.from_numpy(img)[None, None], ens.findings.index(finding), n_steps=n_steps)
        rows.append({"finding": finding} | localisation(attr, mask))
        if progress:
            progress(i + 1, len(ds))
    return {"per_finding": summarise(rows), "images": len(rows)}


def nih_box_localisation(ens: ClassifierEnsemble, root: str | Path, *, n_steps: int = 32,
                         original_side: float = 1024.0) -> dict:
    """Score attributions against NIH BBox_List_2017.csv boxes on the images present under `root`."""
    from models.data.nih import nih_boxes
    from models.data.preprocess import load_image_file, to_model_input

    rows = []
    for name, boxes in nih_boxes(root).items():
        path = Path(root) / "images" / name
        if not path.exists():
            continue
        pixels = load_image_file(path).pixels
        square, geom = to_model_input(pixels, ens.input_size, "pad")
        scale = original_side / ens.input_size * (geom.side / max(pixels.shape))
        for finding, box in boxes:
            key = {"Infiltrate": "Infiltration"}.get(finding, finding)
            if key not in ens.findings:
                continue
            attr, _ = attribute(ens, torch.from_numpy(square)[None, None], ens.findings.index(key), n_steps=n_steps)
            mask = box_mask(attr.shape, box, scale=scale)
            rows.append({"finding": key, "image": name} | localisation(attr, mask))
    return {"per_finding": summarise(rows), "images": len(rows), "rows": rows}
