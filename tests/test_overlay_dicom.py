"""DICOM that belongs where it came from: an explanation overlay joins its de-identified upload's study, a PNG
upload's overlay gets a pseudonymous study, and one generate request is one study and series."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import load_image_bytes
from models.explain.attribution import explain
from models.explain.report import write_explanation
from models.io.deidentify import deidentify
from models.io.overlay_dicom import source_dataset
from tests.conftest import NIH_UPLOAD, SIIM


def strings(ds: pydicom.Dataset):
    for element in ds.iterall():
        if element.VR in ("SQ", "OB", "OW", "UN"):
            continue
        yield f"{element.keyword}={element.value}"


def dciodvfy_errors(path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def ens(tiny_classifier_dir) -> ClassifierEnsemble:
    return ClassifierEnsemble.load(tiny_classifier_dir)


def test_a_dicom_uploads_overlay_joins_its_study_as_a_new_series(ens, tmp_path):
    stored = deidentify(pydicom.dcmread(SIIM))  # what the service keeps of the upload
    buf = io.BytesIO()
    stored.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    image = load_image_bytes(data)
    expl = explain(ens, image.pixels, ["Mass", "Effusion"], n_steps=8)
    write_explanation(expl, image.pixels, tmp_path, source_format="dicom", model_name="tiny",
                      source_dicom=source_dataset(data), study_key="job-1")
    mass, effusion = (pydicom.dcmread(tmp_path / f"overlay_{n}.dcm") for n in ("mass", "effusion"))
    for ov in (mass, effusion):
        assert (ov.PatientID, ov.PatientName, ov.StudyInstanceUID) == (stored.PatientID, stored.PatientName,
                                                                       stored.StudyInstanceUID)
        assert ov.SeriesInstanceUID != stored.SeriesInstanceUID
        assert ov.SourceImageSequence[0].ReferencedSOPInstanceUID == stored.SOPInstanceUID
        assert (ov.Rows, ov.Columns) == (stored.Rows, stored.Columns) == image.pixels.shape
        spacing = stored.get("PixelSpacing") or stored.get("ImagerPixelSpacing")
        if spacing is not None:
            assert list(ov.PixelSpacing) == list(spacing)
        assert (ov.BurnedInAnnotation, ov.ConversionType, ov.Modality) == ("NO", "WSD", stored.Modality)
        assert not [s for s in strings(ov) if "synthetic" in s.lower()]
        assert "Mass" in mass.SeriesDescription and "Integrated gradients" in mass.SeriesDescription
    assert mass.SeriesInstanceUID != effusion.SeriesInstanceUID
    assert '"probability"' in mass.ImageComments
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(tmp_path / "overlay_mass.dcm") == []


def test_a_png_uploads_overlay_gets_a_pseudonymous_study(ens, tmp_path):
    data = NIH_UPLOAD.read_bytes()
    image = load_image_bytes(data)
    expl = explain(ens, image.pixels, ["Cardiomegaly"], n_steps=8)
    write_explanation(expl, image.pixels, tmp_path, source_format="png", source_dicom=source_dataset(data),
                      study_key="job-2")
    ov = pydicom.dcmread(tmp_path / "overlay_cardiomegaly.dcm")
    assert ov.PatientID.startswith("RS-") and ov.PatientName.family_name == "ANONYMOUS"
    assert "Laterality" not in ov  # a chest is not a paired body part: omitted, not sent empty
    assert (ov.Rows, ov.Columns) == image.pixels.shape and "SourceImageSequence" not in ov
    assert not [s for s in strings(ov) if "synthetic" in s.lower()]
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(tmp_path / "overlay_cardiomegaly.dcm") == []


def test_one_generate_request_is_one_study_and_series_of_one_synthetic_patient(tmp_path):
    from models.diffusion.pipeline import GenerationOutput
    from models.workflows.generate import write_outputs

    out = GenerationOutput(images=np.random.default_rng(0).random((3, 16, 16)), seeds=[1, 2, 3],
                           findings=["Mass"], sampler="ddim", steps=2, guidance_scale=1.0)
    first = write_outputs(out, tmp_path / "a", model_name="tiny", formats="dicom")
    second = write_outputs(out, tmp_path / "b", model_name="tiny", formats="dicom")
    a = [pydicom.dcmread(f) for item in first["images"] for f in item["files"]]
    b = pydicom.dcmread(second["images"][0]["files"][0])
    assert len({(d.StudyInstanceUID, d.SeriesInstanceUID, d.PatientID) for d in a}) == 1
    assert [d.InstanceNumber for d in a] == [1, 2, 3] and len({d.SOPInstanceUID for d in a}) == 3
    assert b.StudyInstanceUID != a[0].StudyInstanceUID and b.PatientID != a[0].PatientID
