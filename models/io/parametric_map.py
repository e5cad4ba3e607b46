"""Attribution and counterfactual maps as DICOM Parametric Maps: 32-bit float values on the source image's pixel
grid, in its study, referencing it, with a real-world value mapping that names the method, the finding and the
unit.

A projection radiograph (CR, DX or a Secondary Capture) has no patient coordinate system, but the Parametric Map
IOD requires a Frame of Reference and plane positions. The map gets a nominal frame of its own (origin 0,
identity orientation, the source's pixel spacing) so that the object is complete; what ties it to the X-ray is
the pixel grid (the source's Rows, Columns and spacing, "spatial locations preserved") and the reference to the
source instance, which is what 2D viewers use.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
from pydicom.dataset import Dataset

from models import __version__
from models.io.overlay_dicom import SPACING
from models.vocabulary.finding_codes import UNITLESS


def with_nominal_geometry(source: Dataset) -> Dataset:
    """A copy of `source` that carries a nominal frame of reference if it has none (see the module's note)."""
    from highdicom import UID

    geo = copy.deepcopy(source)
    if "FrameOfReferenceUID" in geo and "ImagePositionPatient" in geo and "ImageOrientationPatient" in geo:
        return geo
    geo.FrameOfReferenceUID = UID()
    geo.ImagePositionPatient = [0.0, 0.0, 0.0]
    geo.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    spacing = next((source[k].value for k in SPACING if k in source), [1.0, 1.0])
    geo.PixelSpacing = [float(v) for v in spacing]
    geo.SliceThickness = 1.0
    return geo


def parametric_map(values: np.ndarray, source: Dataset, *, label: str, explanation: str, series_number: int,
                   series_description: str, model_name: str, unit: tuple[str, str, str] = UNITLESS) -> Dataset:
    """A single-frame float Parametric Map of `values` over `source` (a de-identified DICOM header with its
    SOP, study and patient attributes). `label` (16 characters at most) and `explanation` name the map's
    quantity in its real-world value mapping; the window spans the values' symmetric range."""
    import highdicom as hd

    grid = np.asarray(values, dtype=np.float32)
    if grid.shape != (int(source.Rows), int(source.Columns)):
        raise ValueError(f"a map of shape {grid.shape} is not on the source's {source.Rows} x {source.Columns} grid")
    peak = float(np.abs(grid).max()) or 1.0
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=label[:16], lut_explanation=explanation[:64], unit=hd.sr.CodedConcept(*unit),
        value_range=(float(grid.min()), float(grid.max())), slope=1, intercept=0)
    window = hd.VOILUTTransformation(window_center=0.0, window_width=2 * peak, voi_lut_function="LINEAR_EXACT")
    with warnings.catch_warnings():  # highdicom warns about attributes a projection source lacks
        warnings.simplefilter("ignore")
        pm = hd.pm.ParametricMap(
            source_images=[with_nominal_geometry(source)], pixel_array=grid,
            series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="RadSynth", manufacturer_model_name=model_name[:64] or "RadSynth",
            software_versions=__version__, device_serial_number="none",
            contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
            voi_lut_transformations=[window], series_description=series_description[:64])
    pm.BodyPartExamined = str(source.get("BodyPartExamined", "") or "CHEST")
    return pm
