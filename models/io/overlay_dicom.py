"""Explanation overlays as DICOM that belong where their source came from.

An overlay of an uploaded DICOM joins the upload's (already de-identified) study: the same pseudonymous patient
and study, a new series named after the method and finding, a Source Image Sequence reference to the source
instance, and the source's Rows, Columns and pixel spacing. The legend is text (DerivationDescription,
ImageComments), never pixels. A PNG or JPEG upload gets the same overlay in a new pseudonymous study.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from models.io.writers import synthetic_dicom_dataset

# Patient and study attributes an overlay shares with its (de-identified) source.
SHARED_WITH_SOURCE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientIdentityRemoved",
                      "DeidentificationMethod", "DeidentificationMethodCodeSequence", "StudyInstanceUID",
                      "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
                      "StudyDescription", "Modality", "Laterality", "PatientOrientation")
SPACING = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def source_dataset(data: bytes) -> Dataset | None:
    """The header of a DICOM upload (as stored: the service keeps uploads de-identified), None for PNG/JPEG."""
    import io

    import pydicom

    from models.io.sniff import sniff_format

    if sniff_format(data[:132]) != "dicom":
        return None
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def pseudonymous_study(key: str) -> Dataset:
    """Patient and study of a non-DICOM upload: a pseudonym derived from `key` (the job), no identity at all."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = dt.datetime.now(dt.UTC)
    ds = Dataset()
    ds.PatientName = f"ANONYMOUS^{digest[:8].upper()}"
    ds.PatientID = f"RS-{digest[:12].upper()}"
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "RadSynth: image file upload, no patient attributes"
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[digest])
    ds.StudyDate, ds.StudyTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "", "", ""
    ds.StudyDescription = "RadSynth explanation"
    ds.Modality = "OT"
    return ds


def overlay_dataset(rgb: np.ndarray, *, source: Dataset | None, study_key: str, series_uid: str,
                    series_number: int, description: str, legend: dict,
                    contribution: str = "Attribution overlay computed from this image by a classifier ensemble",
                    ) -> Dataset:
    """A Secondary Capture of the RGB overlay `rgb` (the source's own Rows x Columns), in the source's study."""
    ds = synthetic_dicom_dataset(rgb, legend, synthetic=False, description=description, series_uid=series_uid)
    del ds.SyntheticData
    shared = source if source is not None else pseudonymous_study(study_key)
    for keyword in SHARED_WITH_SOURCE:
        if keyword in shared:
            setattr(ds, keyword, shared[keyword].value)
        elif keyword in ds:  # never keep the generator's own wording: an overlay is of a real image
            delattr(ds, keyword)
    for keyword in ("PatientName", "PatientID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
                    "AccessionNumber", "PatientBirthDate", "PatientSex", "Modality",
                    "PatientOrientation"):  # type 1, 2 and 2C: present, empty when the source had none
        # (Laterality, type 2C for paired body parts only, is kept only when the source says one)
        if keyword not in ds:
            setattr(ds, keyword, "OT" if keyword == "Modality" else "")
    if not str(ds.get("Laterality", "")).strip() and "Laterality" in ds:
        del ds.Laterality  # the chest (BodyPartExamined) is not paired: type 2C, left out rather than empty
    equipment = ds.ContributingEquipmentSequence[0]
    equipment.ManufacturerModelName = "RadSynth explainer"
    equipment.ContributionDescription = contribution
    if source is not None:
        ref = Dataset()
        ref.ReferencedSOPClassUID = source.SOPClassUID
        ref.ReferencedSOPInstanceUID = source.SOPInstanceUID
        ds.SourceImageSequence = DicomSequence([ref])
        for keyword in SPACING:
            if keyword in source:
                ds.PixelSpacing = source[keyword].value
                break
    ds.SeriesNumber = series_number
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "NO"
    ds.ImageComments = json.dumps(legend, sort_keys=True)[:10240]
    ds.DerivationDescription = ("RadSynth explanation: " + ", ".join(f"{k} {v}" for k, v in legend.items()))[:1024]
    return ds


def upload_capture(pixels: np.ndarray, study_key: str) -> Dataset:
    """A PNG or JPEG upload as a grey Secondary Capture in its pseudonymous study, so that the DICOM results of
    its explanation (maps, report) have an image to reference."""
    ds = overlay_dataset(np.clip(pixels, 0, 1), source=None, study_key=study_key, series_uid=generate_uid(),
                         series_number=1, description="Uploaded image (RadSynth)",
                         legend={"content": "the uploaded image, stored without any patient attributes"},
                         contribution="The uploaded PNG or JPEG image, stored as DICOM for its results to "
                         "reference")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    return ds
