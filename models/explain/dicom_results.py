"""An explanation as DICOM AI results: a Parametric Map per attribution and per counterfactual difference, and
one Structured Report of every finding's probability and call, all in the upload's study (for a PNG or JPEG
upload, a pseudonymous study that also receives the upload as a Secondary Capture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from models.data.preprocess import resize
from models.explain.attribution import Explanation
from models.explain.counterfactual import Counterfactual
from models.io.ai_report import ModelDescription, findings_report
from models.io.overlay_dicom import upload_capture
from models.io.parametric_map import parametric_map
from models.io.writers import atomic_write_bytes, dicom_bytes
from models.vocabulary.findings import normalise

METHOD_NAMES = {"ig": "Integrated gradients", "smoothgrad": "SmoothGrad"}
MAP_SERIES, DIFFERENCE_SERIES, REPORT_SERIES = 920, 970, 990


def on_source_grid(values: np.ndarray, source: Dataset) -> np.ndarray:
    """`values` resampled to the source's Rows x Columns when the explanation ran on another grid."""
    grid = (int(source.Rows), int(source.Columns))
    return values if values.shape == grid else resize(np.asarray(values, np.float32), grid)


def slug(name: str) -> str:
    return normalise(name) or "finding"


def write_dicom_results(expl: Explanation, pixels: np.ndarray, out: Path, *, source_dicom: Dataset | None,
                        study_key: str, model: ModelDescription,
                        counterfactuals: list[Counterfactual] | None = None) -> list[str]:
    """Write the maps, the report and (for a PNG or JPEG upload) the upload itself as DICOM; returns the names."""
    names: list[str] = []
    source = source_dicom
    if source is None:
        source = upload_capture(pixels, study_key)
        atomic_write_bytes(out / "source.dcm", dicom_bytes(source))
        names.append("source.dcm")
    method = METHOD_NAMES.get(expl.settings["method"], expl.settings["method"])
    label = expl.settings["method"].upper()  # the map's LUT label: IG or SMOOTHGRAD
    for i, finding in enumerate(f for f in expl.findings if f in expl.attributions):
        pm = parametric_map(on_source_grid(expl.attributions[finding], source), source, label=label,
                            explanation=f"{method} for {finding}, logit units per pixel",
                            series_number=MAP_SERIES + i + 1, series_description=f"{method} map: {finding}",
                            model_name=model.name)
        atomic_write_bytes(out / f"map_{slug(finding)}.dcm", dicom_bytes(pm))
        names.append(f"map_{slug(finding)}.dcm")
    for k, cf in enumerate(counterfactuals or []):
        pm = parametric_map(on_source_grid(cf.difference, source), source, label="COUNTERFACTUAL",
                            explanation=f"Counterfactual difference for {cf.finding}, grey level (0-1)",
                            series_number=DIFFERENCE_SERIES + k + 1,
                            series_description=f"Counterfactual map: {cf.finding}", model_name=model.name)
        atomic_write_bytes(out / f"difference_map_{slug(cf.finding)}.dcm", dicom_bytes(pm))
        names.append(f"difference_map_{slug(cf.finding)}.dcm")
    sr = findings_report(expl.summary(), source, model, series_number=REPORT_SERIES)
    atomic_write_bytes(out / "findings_sr.dcm", dicom_bytes(sr))
    return [*names, "findings_sr.dcm"]
