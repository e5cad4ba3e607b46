"""Explanations as DICOM AI results: a float Parametric Map per explained finding on the upload's own grid and in
its study, and one TID 1500 Structured Report whose values read back equal to the explanation's JSON; both valid
for dciodvfy. A PNG upload gets its image as a Secondary Capture for the results to reference."""

from __future__ import annotations

import io
import json
import shutil

import highdicom as hd
import numpy as np
import pydicom
import pytest

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import load_image_bytes
from models.explain.attribution import explain
from models.explain.report import write_explanation
from models.io.ai_report import ModelDescription, report_values
from models.io.deidentify import deidentify
from models.io.overlay_dicom import source_dataset
from models.vocabulary.finding_codes import PRIVATE_SCHEME, STANDARD_CODES, finding_code
from models.vocabulary.findings import NIH_FINDINGS
from tests.conftest import NIH_UPLOAD, SIIM
from tests.test_overlay_dicom import dciodvfy_errors

MODEL = ModelDescription(name="tiny", version="0.1.0+test", trained_on="fixture (split G)", threshold_rule="Youden")


@pytest.fixture(scope="module")
def ens(tiny_classifier_dir) -> ClassifierEnsemble:
    return ClassifierEnsemble.load(tiny_classifier_dir)


@pytest.fixture(scope="module")
def explained_dicom(ens, tmp_path_factory):
    """SIIM as the service stores it (de-identified), explained for two findings: (stored, folder, pixels)."""
    stored = deidentify(pydicom.dcmread(SIIM))
    buf = io.BytesIO()
    stored.save_as(buf, enforce_file_format=True)
    image = load_image_bytes(buf.getvalue())
    expl = explain(ens, image.pixels, ["Mass", "Effusion"], n_steps=8)
    out = tmp_path_factory.mktemp("ai-results")
    write_explanation(expl, image.pixels, out, source_format="dicom", model_name="tiny",
                      source_dicom=source_dataset(buf.getvalue()), study_key="job-1", model=MODEL)
    return stored, out, image.pixels


def test_each_explained_finding_is_a_float_map_on_the_uploads_grid(explained_dicom):
    stored, out, pixels = explained_dicom
    for name in ("mass", "effusion"):
        ds = pydicom.dcmread(out / f"map_{name}.dcm")
        pm = hd.pm.ParametricMap.from_dataset(ds)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
        assert (ds.Rows, ds.Columns) == (stored.Rows, stored.Columns) == pixels.shape
        assert ds.BitsAllocated == 32 and pm.pixel_array.dtype == np.float32
        assert np.array_equal(pm.pixel_array, np.load(out / f"attribution_{name}.npy"))
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        assert [float(v) for v in measures.PixelSpacing] == [float(v) for v in stored.PixelSpacing]
        assert (ds.StudyInstanceUID, ds.PatientID) == (stored.StudyInstanceUID, stored.PatientID)
        assert ds.SeriesInstanceUID != stored.SeriesInstanceUID
        frame = ds.PerFrameFunctionalGroupsSequence[0]
        source_ref = frame.DerivationImageSequence[0].SourceImageSequence[0]
        assert source_ref.ReferencedSOPInstanceUID == stored.SOPInstanceUID
        mapping = frame.RealWorldValueMappingSequence[0] if "RealWorldValueMappingSequence" in frame else \
            ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        assert name in mapping.LUTExplanation.lower() and "Integrated gradients" in mapping.LUTExplanation
        assert mapping.MeasurementUnitsCodeSequence[0].CodingSchemeDesignator == "UCUM"
        if shutil.which("dciodvfy"):
            assert dciodvfy_errors(out / f"map_{name}.dcm") == []


def test_the_report_holds_every_findings_values_as_the_json_does(explained_dicom):
    stored, out, _ = explained_dicom
    summary = json.loads((out / "explanation.json").read_text())
    ds = pydicom.dcmread(out / "findings_sr.dcm")
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.StudyInstanceUID == stored.StudyInstanceUID and ds.PatientID == stored.PatientID
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == stored.SOPInstanceUID
    values = report_values(ds)
    assert set(values) == set(summary["probabilities"])
    for finding, entry in summary["probabilities"].items():
        assert values[finding]["probability"] == entry["probability"]
        assert values[finding]["std"] == entry["std"]
        assert values[finding]["present"] == entry["positive"]
        if "threshold" in entry:
            assert values[finding]["threshold"] == entry["threshold"]
    for finding, check in summary["shortcuts"].items():
        assert values[finding]["shortcut_share"] == check["shortcut_share"]
        assert values[finding]["shortcut_flagged"] == check["flagged"]
    text = " | ".join(str(e.value) for e in ds.iterall() if e.VR not in ("SQ", "OB", "OW"))
    assert "60046008" in text and "tiny" in text and "0.1.0+test" in text and "trained on: fixture (split G)" in text
    if shutil.which("dciodvfy"):
        assert dciodvfy_errors(out / "findings_sr.dcm") == []


def test_a_png_upload_is_stored_as_dicom_for_its_results_to_reference(ens, tmp_path):
    image = load_image_bytes(NIH_UPLOAD.read_bytes())
    expl = explain(ens, image.pixels, ["Mass"], n_steps=8)
    names = write_explanation(expl, image.pixels, tmp_path, source_format="png", model_name="tiny",
                              source_dicom=None, study_key="job-2", model=MODEL)
    assert {"source.dcm", "map_mass.dcm", "findings_sr.dcm", "overlay_mass.dcm"} <= set(names)
    source, overlay, pm, sr = (pydicom.dcmread(tmp_path / n) for n in ("source.dcm", "overlay_mass.dcm",
                                                                        "map_mass.dcm", "findings_sr.dcm"))
    assert {source.StudyInstanceUID, overlay.StudyInstanceUID, pm.StudyInstanceUID, sr.StudyInstanceUID} == {
        source.StudyInstanceUID}
    assert source.PatientID.startswith("RS-") and source.PatientIdentityRemoved == "YES"
    assert (source.Rows, source.Columns) == image.pixels.shape
    ref = pm.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0].SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    if shutil.which("dciodvfy"):
        for name in ("source.dcm", "map_mass.dcm", "findings_sr.dcm"):
            assert dciodvfy_errors(tmp_path / name) == [], name


def test_every_nih_finding_has_a_code_standard_or_declared_private():
    for finding in NIH_FINDINGS:
        code = finding_code(finding)
        assert code.scheme in ("SCT", "DCM", PRIVATE_SCHEME) and code.value and code.meaning
        assert (code.scheme == PRIVATE_SCHEME) == (finding not in STANDARD_CODES)
    assert finding_code("Pleural_Thickening").scheme == PRIVATE_SCHEME


def test_the_docs_table_lists_every_findings_code():
    from pathlib import Path

    from models.vocabulary.findings import NIH_LABELS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "dicom.md").read_text()
    for finding in NIH_LABELS:
        code = finding_code(finding)
        assert f"| {finding} | " in doc and f"`{code.value}`" in doc, finding
