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
from models.explain.counterfactual import Counterfactual, summaries
from models.explain.counterfactual_figure import counterfactual_panel
from models.explain.dicom_results import METHOD_NAMES, slug, write_dicom_results
from models.explain.overlay import overlay_rgb
from models.explain.verdict import verdict_line
from models.io.ai_report import ModelDescription
from models.io.overlay_dicom import overlay_dataset
from models.io.writers import atomic_write_bytes, dicom_bytes, png_bytes


def write_explanation(expl: Explanation, pixels: np.ndarray, out_dir: str | Path, *, source_format: str,
                      model_name: str = "", source_dicom: Dataset | None = None, study_key: str = "",
                      counterfactuals: list[Counterfactual] | None = None, generator_name: str = "",
                      model: ModelDescription | None = None) -> list[str]:
    """Write all files of `expl` (and of its counterfactuals); returns their names. Each overlay also comes as
    DICOM: in the study of `source_dicom` (the de-identified upload, whose patient and study attributes only are
    shared) or, for a PNG or JPEG upload, in a new pseudonymous study keyed by `study_key`; beside them the DICOM
    AI results (a Parametric Map per map, one Structured Report of the findings) of `models/explain/dicom_results`,
    described as made by `model` (by default named `model_name`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = ["original.png"]
    h, w = pixels.shape
    scale = min(1.0, 1024 / max(h, w))
    preview = resize(pixels, (max(1, round(h * scale)), max(1, round(w * scale)))) if scale < 1 else pixels
    atomic_write_bytes(out / "original.png", png_bytes(preview, text=DERIVED_TEXT | {"radsynth_artifact": "preview of "
                                                                              "the upload"}))
    for finding in [f for f in expl.findings if f in expl.attributions]:
        p = expl.probabilities[finding]
        title = verdict_line(finding, p) + f"; {len(p['members'])} models"
        rgb = overlay_rgb(pixels, expl.attributions[finding], title=title)
        stem = f"overlay_{slug(finding)}"
        atomic_write_bytes(out / f"{stem}.png", png_rgb(rgb, finding=finding, model=model_name,
                                                       method=expl.settings["method"]))
        npy = io.BytesIO()
        np.save(npy, expl.attributions[finding].astype(np.float32))
        atomic_write_bytes(out / f"attribution_{slug(finding)}.npy", npy.getvalue())
        names += [f"{stem}.png", f"attribution_{slug(finding)}.npy"]
        method = METHOD_NAMES.get(expl.settings["method"], expl.settings["method"])
        legend = {"finding": finding, "method": method, "model": model_name,
                  "probability": round(p["probability"], 4), "std": round(p["std"], 4)}
        legend |= {k: p[k] for k in ("threshold", "threshold_rule", "positive", "test_auroc", "test_auroc_ci95",
                                     "reliable") if k in p}
        ds = overlay_dataset(overlay_rgb(pixels, expl.attributions[finding], max_side=None, legend=False),
                             source=source_dicom, study_key=study_key, series_uid=generate_uid(),
                             series_number=900 + expl.findings.index(finding) + 1,
                             description=f"{method}: {finding} (RadSynth)", legend=legend)
        atomic_write_bytes(out / f"{stem}.dcm", dicom_bytes(ds))
        names.append(f"{stem}.dcm")
    for k, cf in enumerate(counterfactuals or []):
        names += write_counterfactual(cf, pixels, out, generator_name=generator_name, source_dicom=source_dicom,
                                      study_key=study_key, series_number=950 + k + 1)
    model = model or ModelDescription(name=model_name or "classifier", version="unknown", trained_on="unknown")
    names += write_dicom_results(expl, pixels, out, source_dicom=source_dicom, study_key=study_key, model=model,
                                 counterfactuals=counterfactuals)
    summary = expl.summary() | {"model": model_name, "source_format": source_format}
    if counterfactuals is not None:
        summary["counterfactuals"] = summaries(counterfactuals, generator_name)
    atomic_write_bytes(out / "explanation.json", json.dumps(summary, indent=2).encode())
    names.append("explanation.json")
    return names


CF_CAPTION = "counterfactual: |regenerated with the finding - regenerated as No Finding|"


def write_counterfactual(cf: Counterfactual, pixels: np.ndarray, out: Path, *, generator_name: str,
                         source_dicom: Dataset | None, study_key: str, series_number: int) -> list[str]:
    """A counterfactual's files: the side-by-side panel, the difference overlay (PNG and DICOM), the raw map."""
    stem = slug(cf.finding)
    p = cf.probabilities.get(cf.finding, {})
    atomic_write_bytes(out / f"counterfactual_{stem}.png", png_rgb(counterfactual_panel(cf, pixels)))
    title = (f"{cf.finding}: p {p.get('reconstruction', 0):.2f} -> {p.get('counterfactual', 0):.2f} "
             "without the finding")
    atomic_write_bytes(out / f"difference_{stem}.png",
                       png_rgb(overlay_rgb(pixels, cf.difference, title=title, caption=CF_CAPTION)))
    npy = io.BytesIO()
    np.save(npy, cf.difference.astype(np.float32))
    atomic_write_bytes(out / f"difference_{stem}.npy", npy.getvalue())
    legend = {"finding": cf.finding, "method": "Counterfactual (diffusion)", "generator": generator_name,
              "probability_with_finding": round(p.get("reconstruction", 0.0), 4),
              "probability_without": round(p.get("counterfactual", 0.0), 4)} | {
              k: v for k, v in cf.settings.items() if k in ("strength", "ddim_steps", "guidance", "seed")}
    ds = overlay_dataset(overlay_rgb(pixels, cf.difference, max_side=None, legend=False), source=source_dicom,
                         study_key=study_key, series_uid=generate_uid(), series_number=series_number,
                         description=f"Counterfactual: {cf.finding} (RadSynth)", legend=legend,
                         contribution="Counterfactual difference map computed from this image by a diffusion "
                         "generator")
    atomic_write_bytes(out / f"difference_{stem}.dcm", dicom_bytes(ds))
    return [f"counterfactual_{stem}.png", f"difference_{stem}.png", f"difference_{stem}.npy",
            f"difference_{stem}.dcm"]


DERIVED_TEXT = {"radsynth_artifact": "explanation", "derived_from": "the uploaded image",
                "made_by": "RadSynth explainer", "note": "a map of what drove a classifier's output; not a diagnosis"}


def png_rgb(rgb: np.ndarray, **text: str) -> bytes:
    """A colour PNG whose text chunks say it is a derived explanation image (and what made it)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in (DERIVED_TEXT | text).items():
        info.add_text(key, str(value))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
