"""The Python client against the real service (uvicorn, Redis, a Celery worker), pushing over DICOMweb to a real
Orthanc with its DICOMweb plugin, read back with dicomweb-client (QIDO-RS search, WADO-RS retrieve): an
explanation lands in its upload's study with an overlay, a Parametric Map per finding and a report whose values
equal the JSON's; a generate job is one study; an archive that is down loses nothing."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import numpy as np
import pydicom
import pytest
from radsynth_client import Client, JobFailed, RadSynthError
from radsynth_client import client as client_module

from models.io.ai_report import report_values
from models.io.deidentify import deidentify
from tests.conftest import NIH_UPLOAD, SIIM
from tests.integration.conftest import KEYS, ORTHANC_PASSWORD
from tests.integration.orthanc import need_orthanc, running_orthanc

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pacs(service, tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("pacs"), service["archives"]["pacs"], dicomweb=True,
                         users={"radsynth": ORTHANC_PASSWORD}) as http:
        yield http


@pytest.fixture(scope="module")
def rs(live_api):
    with Client(live_api, api_key=KEYS["alice"], progress=False) as client:
        yield client


def dicomweb(port: int, password: str | None = ORTHANC_PASSWORD):
    from dicomweb_client.api import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_auth
    from requests.auth import HTTPBasicAuth

    session = create_session_from_auth(HTTPBasicAuth("radsynth", password)) if password else None
    return DICOMwebClient(url=f"http://127.0.0.1:{port}/dicom-web", session=session)


def tag(dataset_json: dict, keyword: str):
    from pydicom.datadict import tag_for_keyword

    return dataset_json[f"{tag_for_keyword(keyword):08X}"]["Value"][0]


def dciodvfy_errors(ds: pydicom.Dataset, tmp_path) -> list[str]:
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def test_an_explanation_lands_in_its_uploads_study_with_maps_and_a_report(rs, pacs, service, tmp_path):
    job = rs.explain(SIIM, findings=["Mass", "Effusion"], n_steps=8, push="pacs")

    push = job.result["push"]
    assert (push["target"], push["stored"], push["failed"], push["pending"]) == ("pacs", len(push["instances"]), 0, 0)
    sent = {i["file"]: i["sop_instance_uid"] for i in push["instances"]}
    assert {"upload.dcm", "overlay_mass.dcm", "overlay_effusion.dcm", "map_mass.dcm", "map_effusion.dcm",
            "findings_sr.dcm"} <= set(sent)
    web = dicomweb(service["archives"]["pacs"])
    found = web.search_for_instances(search_filters={"SOPInstanceUID": sent["upload.dcm"]})
    study_uid, patient_id = tag(found[0], "StudyInstanceUID"), tag(found[0], "PatientID")
    assert patient_id.startswith("RS-")  # the de-identified upload, never the original patient
    assert len(web.search_for_studies(search_filters={"PatientID": patient_id})) == 1
    series = web.search_for_series(study_instance_uid=study_uid)
    modalities = sorted(tag(s, "Modality") for s in series)
    assert len(series) == 1 + 2 + 2 + 1 and modalities.count("SR") == 1  # upload, overlays, maps, report
    in_study = {tag(i, "SOPInstanceUID") for i in web.search_for_instances(study_instance_uid=study_uid)}
    assert set(sent.values()) <= in_study

    def retrieve(name: str) -> pydicom.Dataset:
        [hit] = web.search_for_instances(study_instance_uid=study_uid,
                                         search_filters={"SOPInstanceUID": sent[name]})
        return web.retrieve_instance(study_uid, tag(hit, "SeriesInstanceUID"), sent[name])

    report, upload = retrieve("findings_sr.dcm"), retrieve("upload.dcm")
    values = report_values(report)
    for finding, entry in job.result["probabilities"].items():
        assert values[finding]["probability"] == entry["probability"]
        assert values[finding]["present"] == entry["positive"]
    for name in ("map_mass.dcm", "map_effusion.dcm"):
        pm = retrieve(name)
        assert (pm.Rows, pm.Columns) == (upload.Rows, upload.Columns)
        assert pm.pixel_array.dtype == np.float32
    if shutil.which("dciodvfy"):
        for name in ("findings_sr.dcm", "map_mass.dcm", "overlay_mass.dcm"):
            assert dciodvfy_errors(retrieve(name), tmp_path) == [], name


def test_a_generate_job_arrives_as_one_study(rs, pacs, service):
    job = rs.generate("Mass", n=2, format="png,dicom", push="pacs", qc=False)
    push = job.result["push"]
    assert push["stored"] == 2 and push["pending"] == 0
    web = dicomweb(service["archives"]["pacs"])
    hits = [web.search_for_instances(search_filters={"SOPInstanceUID": i["sop_instance_uid"]})[0]
            for i in push["instances"]]
    assert len({tag(h, "StudyInstanceUID") for h in hits}) == 1
    assert len({tag(h, "SeriesInstanceUID") for h in hits}) == 1


def test_nothing_is_lost_while_the_archive_is_down(rs, service, tmp_path):
    need_orthanc(dicomweb=True)
    job = rs.explain(NIH_UPLOAD, findings=["Mass"], n_steps=8, push="later")  # nothing listens there yet
    push = job.result["push"]
    assert job.status == "succeeded" and push["stored"] == 0 and push["pending"] == len(push["instances"]) >= 4
    assert "unreachable" in push["instances"][0]["detail"]
    with running_orthanc(tmp_path / "later", service["archives"]["later"], dicomweb=True):
        again = rs.jobs.push(job)
        assert again.result["push"]["stored"] == len(push["instances"])
        assert again.result["push"]["pending"] == 0
        assert rs.jobs.get(job).result["push"]["stored"] == len(push["instances"])  # recorded in the job
        web = dicomweb(service["archives"]["later"], password=None)
        for item in again.result["push"]["instances"]:
            assert web.search_for_instances(search_filters={"SOPInstanceUID": item["sop_instance_uid"]})
        assert rs.jobs.push(job).result["push"]["stored"] == len(push["instances"])  # nothing sent twice


def test_push_names_a_configured_archive_and_needs_dicom(rs):
    with pytest.raises(RadSynthError) as refused:
        rs.generate("Mass", n=1, push="http://169.254.169.254/")  # a URL is never a target
    assert refused.value.status == 422 and "configured targets: later, pacs" in refused.value.message
    with pytest.raises(RadSynthError, match="add dicom to format"):
        rs.generate("Mass", n=1, format="png", push="pacs")
    assert rs.request("GET", "/dicomweb").json() == {"targets": ["later", "pacs"]}
    with pytest.raises(RadSynthError, match="nothing to push") as conflict:
        rs.jobs.push(rs.generate("Mass", n=1, qc=False))
    assert conflict.value.status == 409


def test_the_client_saves_classifies_lists_and_raises(rs, tmp_path):
    job = rs.generate("Mass", n=1, format="png", qc=False)
    saved = job.save(tmp_path / "out")
    assert saved and all(p.stat().st_size > 0 for p in saved)
    assert {p.name for p in saved} == {a.name for a in job.artifacts}
    result = rs.classify([NIH_UPLOAD, SIIM])
    assert result.status == "succeeded" and result.result
    assert any(d.name == "fixtures" for d in rs.datasets.list())
    with pytest.raises(RadSynthError) as unknown:
        rs.generate("not-a-finding")
    assert unknown.value.status == 422 and unknown.value.code == "unknown_finding"
    with pytest.raises(RadSynthError) as wrong_key:
        Client(rs.http.base_url.__str__(), api_key="wrong-key-000000", progress=False).jobs.list()
    assert wrong_key.value.status == 401


def test_ctrl_c_while_waiting_cancels_the_job(rs, monkeypatch):
    job = rs.generate("Mass", n=2, sampler="ddpm", steps=1000, qc=False, wait=False)

    def interrupt(self, event):
        raise KeyboardInterrupt

    monkeypatch.setattr(client_module.ProgressBar, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        rs.jobs.wait(job)
    monkeypatch.undo()
    with pytest.raises(JobFailed) as ended:
        rs.jobs.wait(job)
    assert ended.value.job.status == "cancelled"


def test_the_wrong_archive_password_is_a_refusal_not_a_retry(service, tmp_path, monkeypatch):
    from core.dicomweb import DicomwebTarget, push

    need_orthanc(dicomweb=True)
    port = service["archives"]["later"]
    stored = tmp_path / "upload.dcm"
    deidentify(pydicom.dcmread(SIIM)).save_as(stored, enforce_file_format=True)
    with running_orthanc(tmp_path / "locked", port, dicomweb=True, users={"radsynth": "right"}):
        target = DicomwebTarget(url=f"http://127.0.0.1:{port}/dicom-web", username="radsynth", password="wrong")
        record = push("locked", target, [("upload.dcm", stored)], delays=())
    assert record["failed"] == 1 and record["instances"][0]["detail"] == "HTTP 401"
    with pytest.raises(httpx.HTTPError):  # and nothing listens once it is gone
        httpx.get(f"http://127.0.0.1:{port}/system", timeout=2)
