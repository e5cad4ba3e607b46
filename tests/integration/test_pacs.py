"""What a PACS makes of RadSynth's DICOM: a real Orthanc (Debian package) stores every file over its REST API and
groups them by patient, study and series. An explanation overlay sits in its upload's study as a series of its
own with the source's geometry; one generate request is one study with one series."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest

from core.redis_server import free_port
from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import load_image_bytes
from models.diffusion.pipeline import GenerationOutput
from models.explain.attribution import explain
from models.explain.report import write_explanation
from models.io.deidentify import deidentify
from models.io.overlay_dicom import source_dataset
from models.workflows.generate import write_outputs
from tests.conftest import SIIM
from tests.integration.orthanc import running_orthanc


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("orthanc"), free_port()) as http:
        yield http


def store(http: httpx.Client, path) -> dict:
    r = http.post("/instances", content=path.read_bytes())
    assert r.status_code == 200 and r.json()["Status"] in ("Success", "AlreadyStored"), r.text
    return r.json()


def explained_upload(orthanc: httpx.Client, ens: ClassifierEnsemble, folder: Path,
                     findings: list[str]) -> tuple[dict, list[dict]]:
    """Upload SIIM as the service stores it (de-identified), explain it and store both: (source, overlays)."""
    stored = deidentify(pydicom.dcmread(SIIM))
    buf = io.BytesIO()
    stored.save_as(buf, enforce_file_format=True)
    folder.mkdir()
    (folder / "upload.dcm").write_bytes(buf.getvalue())
    image = load_image_bytes(buf.getvalue())
    expl = explain(ens, image.pixels, findings, n_steps=8)
    write_explanation(expl, image.pixels, folder / "expl", source_format="dicom", model_name="tiny",
                      source_dicom=source_dataset(buf.getvalue()), study_key=folder.name)
    return (store(orthanc, folder / "upload.dcm"),
            [store(orthanc, folder / "expl" / f"overlay_{n.lower()}.dcm") for n in findings])


def test_overlays_join_their_upload_study_and_a_generate_job_is_one_study(orthanc, tiny_classifier_dir, tmp_path):
    ens = ClassifierEnsemble.load(tiny_classifier_dir)
    source, overlays = explained_upload(orthanc, ens, tmp_path / "first", ["Mass", "Effusion"])

    study = orthanc.get(f"/studies/{source['ParentStudy']}").json()
    assert {o["ParentStudy"] for o in overlays} == {source["ParentStudy"]}
    assert len(study["Series"]) == 3  # the upload's series and one per explained finding
    descriptions = sorted(orthanc.get(f"/series/{s}").json()["MainDicomTags"].get("SeriesDescription", "")
                          for s in study["Series"])
    assert sum("Integrated gradients" in d for d in descriptions) == 2
    source_tags = orthanc.get(f"/instances/{source['ID']}/simplified-tags").json()
    for o in overlays:
        tags = orthanc.get(f"/instances/{o['ID']}/simplified-tags").json()
        assert (tags["Rows"], tags["Columns"]) == (source_tags["Rows"], source_tags["Columns"])
        assert tags["PatientID"] == source_tags["PatientID"] and tags["PatientID"].startswith("RS-")
    # the same X-ray uploaded again (another user, another day) is another pseudonymous patient, not merged in
    again, again_overlays = explained_upload(orthanc, ens, tmp_path / "again", ["Mass"])
    assert again["ParentPatient"] != source["ParentPatient"]
    assert {o["ParentPatient"] for o in again_overlays} == {again["ParentPatient"]}
    assert {o["ParentPatient"] for o in overlays} == {source["ParentPatient"]}



    out = GenerationOutput(images=np.random.default_rng(0).random((3, 32, 32)), seeds=[1, 2, 3], findings=["Mass"],
                           sampler="ddim", steps=2, guidance_scale=1.0)
    job = write_outputs(out, tmp_path / "gen", model_name="tiny", formats="dicom")
    generated = [store(orthanc, Path(f)) for item in job["images"] for f in item["files"]]
    assert len({g["ParentStudy"] for g in generated}) == 1 and len({g["ParentSeries"] for g in generated}) == 1
    gen_study = orthanc.get(f"/studies/{generated[0]['ParentStudy']}").json()
    assert len(gen_study["Series"]) == 1
    assert len(orthanc.get(f"/series/{gen_study['Series'][0]}").json()["Instances"]) == 3
    assert generated[0]["ParentPatient"] != source["ParentPatient"]
