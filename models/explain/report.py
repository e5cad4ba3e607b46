"""Write an explanation's files: overlay PNGs, raw attributions (.npy), a JSON and, for DICOM, a Secondary Capture."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from models.data.preprocess import resize
from models.explain.attribution import Explanation
from models.explain.overlay import overlay_rgb
from models.findings import normalise
from models.io.overlay_dicom import overlay_dataset
from models.io.writers import atomic_write_bytes, dicom_bytes, png_bytes

METHOD_NAMES = {"ig": "Integrated gradients", "smoothgrad": "SmoothGrad"}


def slug(name: str) -> str:
    return normalise(name) or "finding"


def write_explanation(expl: Explanation, pixels: np.ndarray, out_dir: str | Path, *, source_format: str,
                      model_name: str = "", source_dicom: Dataset | None = None, study_key: str = "") -> list[str]:
    """Write all files of `expl`; returns their names. Each overlay also comes as DICOM: in the study of
    `source_dicom` (the de-identified upload, whose patient and study attributes only are shared) or, for a PNG
    or JPEG upload, in a new pseudonymous study keyed by `study_key`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = ["original.png"]
    h, w = pixels.shape
    scale = min(1.0, 1024 / max(h, w))
    preview = resize(pixels, (max(1, round(h * scale)), max(1, round(w * scale)))) if scale < 1 else pixels
    atomic_write_bytes(out / "original.png", png_bytes(preview))
    for finding in expl.findings:
        p = expl.probabilities[finding]
        title = f"{finding}: p = {p['probability']:.2f} +/- {p['std']:.2f} ({len(p['members'])} models)"
        rgb = overlay_rgb(pixels, expl.attributions[finding], title=title)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="PNG")
        stem = f"overlay_{slug(finding)}"
        atomic_write_bytes(out / f"{stem}.png", buf.getvalue())
        npy = io.BytesIO()
        np.save(npy, expl.attributions[finding].astype(np.float32))
        atomic_write_bytes(out / f"attribution_{slug(finding)}.npy", npy.getvalue())
        names += [f"{stem}.png", f"attribution_{slug(finding)}.npy"]
        method = METHOD_NAMES.get(expl.settings["method"], expl.settings["method"])
        legend = {"finding": finding, "method": method, "model": model_name,
                  "probability": round(p["probability"], 4), "std": round(p["std"], 4)}
        legend |= {k: p[k] for k in ("threshold", "threshold_rule", "positive") if k in p}
        ds = overlay_dataset(overlay_rgb(pixels, expl.attributions[finding], max_side=None, legend=False),
                             source=source_dicom, study_key=study_key, series_uid=generate_uid(),
                             series_number=900 + expl.findings.index(finding) + 1,
                             description=f"{method}: {finding} (RadSynth)", legend=legend)
        atomic_write_bytes(out / f"{stem}.dcm", dicom_bytes(ds))
        names.append(f"{stem}.dcm")
    summary = expl.summary() | {"model": model_name, "source_format": source_format}
    atomic_write_bytes(out / "explanation.json", json.dumps(summary, indent=2).encode())
    names.append("explanation.json")
    return names
