"""Cancellation, ownership, idempotency, bad input, health, metrics and SSE against the real service."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from tests.bombs import bomb_dicom, bomb_png, dicom_with_syntax
from tests.conftest import SIIM
from tests.integration.conftest import KEYS, headers, wait_job

pytestmark = pytest.mark.integration
SLOW = "/generate?finding=mass&n=1&sampler=ddpm&steps=1000&qc=false"


def post_file(client, data: bytes, name: str = "x.bin", owner: str = "alice"):
    return client.post("/explain", files={"file": (name, data, "application/octet-stream")}, headers=headers(owner))


def test_cancel_running_and_queued_jobs(client, service):
    running = client.post(SLOW, headers=headers()).json()
    queued = client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=headers()).json()
    wait_job(client, running["id"], until=lambda j: j["status"] == "running" and j["progress"]["step"] > 0)
    q = client.get(f"/jobs/{queued['id']}", headers=headers()).json()
    assert q["status"] == "queued" and q["progress"]["queue_position"] >= 1

    cancelled_q = client.post(f"/jobs/{queued['id']}/cancel", headers=headers()).json()
    assert cancelled_q["status"] == "cancelled"
    r = client.post(f"/jobs/{running['id']}/cancel", headers=headers())
    assert r.status_code == 200 and r.json()["cancel_requested"]
    final = wait_job(client, running["id"])
    assert final["status"] == "cancelled" and final["artifacts"] == [] and final["result"] is None
    assert not (service["root"] / "var" / "artifacts" / running["id"]).exists()
    # The queued one never runs, even though its Celery message is still delivered.
    after = wait_job(client, client.post("/generate?finding=mass&n=1&steps=2&qc=false",
                                         headers=headers()).json()["id"])
    assert after["status"] == "succeeded"
    q = client.get(f"/jobs/{queued['id']}", headers=headers()).json()
    assert q["status"] == "cancelled" and q["started_at"] is None and q["deliveries"] == 0


def test_deleting_a_job_removes_it_its_files_and_its_upload(client, service):
    """Only an ended job can be deleted (409 before, naming the cancel route); afterwards it, its artifacts and
    the stored upload are gone, and its idempotency key makes a new job."""
    var = service["root"] / "var" / "artifacts"
    running = client.post(SLOW, headers=headers()).json()
    r = client.delete(f"/jobs/{running['id']}", headers=headers())
    assert r.status_code == 409 and "/cancel" in r.json()["error"]["message"]
    client.post(f"/jobs/{running['id']}/cancel", headers=headers())
    wait_job(client, running["id"])
    assert client.delete(f"/jobs/{running['id']}", headers=headers()).status_code == 204

    submitted = client.post("/explain", files={"file": ("x.dcm", SIIM.read_bytes())}, data={"n_steps": "4"},
                            headers=headers(**{"Idempotency-Key": "delete-me"})).json()
    job = wait_job(client, submitted["id"])
    upload = job["params"]["upload"]
    assert job["status"] == "succeeded" and (var / job["id"]).is_dir() and (var / upload).is_dir()
    assert client.delete(f"/jobs/{job['id']}", headers=headers("bob")).status_code == 404
    r = client.delete(f"/jobs/{job['id']}", headers=headers())
    assert r.status_code == 204 and not r.content
    assert client.get(f"/jobs/{job['id']}", headers=headers()).status_code == 404
    assert client.get(job["artifacts"][0]["url"], headers=headers()).status_code == 404
    assert not (var / job["id"]).exists() and not (var / upload).exists()
    assert job["id"] not in {j["id"] for j in client.get("/jobs?limit=200", headers=headers()).json()["items"]}
    assert client.delete(f"/jobs/{job['id']}", headers=headers()).status_code == 404
    again = client.post("/explain", files={"file": ("x.dcm", SIIM.read_bytes())}, data={"n_steps": "4"},
                        headers=headers(**{"Idempotency-Key": "delete-me"}))
    assert again.status_code == 202 and again.json()["id"] != job["id"]


def test_unknown_and_foreign_jobs_are_404(client):
    job = client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=headers("alice")).json()
    wait_job(client, job["id"])
    assert client.get("/jobs/" + "0" * 32, headers=headers()).status_code == 404
    for path in (f"/jobs/{job['id']}", f"/jobs/{job['id']}/artifacts/grid.png", f"/jobs/{job['id']}/events"):
        r = client.get(path, headers=headers("bob"))
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    assert client.delete(f"/jobs/{job['id']}", headers=headers("bob")).status_code == 404
    assert client.post(f"/jobs/{job['id']}/cancel", headers=headers("bob")).status_code == 404
    bob_ids = {j["id"] for j in client.get("/jobs?limit=200", headers=headers("bob")).json()["items"]}
    assert job["id"] not in bob_ids
    alice = client.get("/jobs?kind=generate&status=succeeded&limit=200", headers=headers("alice")).json()
    assert job["id"] in {j["id"] for j in alice["items"]}
    assert all(j["kind"] == "generate" and j["status"] == "succeeded" for j in alice["items"])
    assert client.get(f"/jobs/{job['id']}/artifacts/..%2f..%2fetc%2fpasswd", headers=headers()).status_code == 404


def test_api_keys(client):
    assert client.get("/jobs").status_code == 401
    assert client.get("/jobs", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/jobs", headers={"Authorization": f"Bearer {KEYS['bob']}"}).status_code == 200


def test_idempotency_key_returns_the_same_job(client):
    h = headers("alice", **{"Idempotency-Key": "retry-123"})
    a = client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=h).json()
    b = client.post("/generate?finding=mass&n=1&steps=2&qc=false", headers=h).json()
    c = client.post("/generate?finding=mass&n=1&steps=2&qc=false",
                    headers=headers("bob", **{"Idempotency-Key": "retry-123"})).json()
    assert a["id"] == b["id"] != c["id"]


def burned_in() -> bytes:
    ds = pydicom.dcmread(SIIM)
    ds.BurnedInAnnotation = "YES"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("case,status,code,fragment", [
    ("text", 415, "unsupported_format", "not PNG, JPEG or DICOM"),
    ("empty", 415, "unsupported_format", "empty"),
    ("truncated_dicom", 422, "corrupt_image", "DICOM"),
    ("garbage_after_dicm", 422, "corrupt_image", "DICOM"),
    ("htj2k_dicom", 415, "unsupported_transfer_syntax", "High-Throughput JPEG 2000"),
    ("bomb_png", 413, "image_too_large", "pixels"),
    ("bomb_rle_dicom", 413, "image_too_large", "pixels"),
    ("bomb_deflated_dicom", 413, "image_too_large", "inflates to more than"),
    ("bomb_deflated_dicom_padded_meta", 413, "image_too_large", "inflates to more than"),
    ("oversized", 413, "upload_too_large", "larger than"),
    ("corrupt_png", 422, "corrupt_image", "PNG"),
    ("burned_in_annotation", 422, "invalid_input", "burned-in annotation"),
])
def test_bad_uploads_get_a_clear_4xx(client, case, status, code, fragment):
    siim = SIIM.read_bytes()
    data = {
        "text": b"patient: nobody\nthis is not an image\n" * 10,
        "empty": b"",
        "truncated_dicom": siim[:2000],
        "garbage_after_dicm": b"\0" * 128 + b"DICM" + bytes(range(256)) * 8,
        "htj2k_dicom": dicom_with_syntax("1.2.840.10008.1.2.4.201"),
        "bomb_png": bomb_png(20000),
        "bomb_rle_dicom": bomb_dicom(60000, "rle"),
        "bomb_deflated_dicom": bomb_dicom(30000, "deflate"),
        "bomb_deflated_dicom_padded_meta": bomb_dicom(30000, "deflate", pad_meta=6000),
        "oversized": b"\x89PNG\r\n\x1a\n" + b"\0" * 3_100_000,
        "corrupt_png": b"\x89PNG\r\n\x1a\n" + b"\x13" * 500,
        "burned_in_annotation": burned_in(),
    }[case]
    r = post_file(client, data, name="../../etc/passwd")
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and fragment in r.json()["error"]["message"], r.text


@pytest.mark.parametrize("query,fragment", [
    ("finding=pneumonitis", "valid findings are"),
    ("finding=mass&model=nope", "available"),
    ("finding=mass&n=100", "n"),
    ("finding=mass&sampler=heun", "sampler"),
    ("n=2", "finding is required"),
    ("finding=mass&guidance=-1", "guidance"),
    ("finding=mass&classifier_guidance=3", "no guide classifier"),
    ("finding=mass&superres_start=0.5", "has no super-resolution stage"),
    ("finding=mass&superres_start=1.5", "superres_start"),
    ("finding=mass&guidance_interval=0.8:0.2", "lo < hi"),
    ("finding=mass&guidance_interval=early", "'lo:hi'"),
    ("finding=normal&model=tiny-3d&guidance_interval=0:0.5", "2D models"),
    ("finding=mass&guidance_rescale=1.5", "guidance_rescale"),
    ("finding=normal&model=tiny-3d&guidance_rescale=0.5", "2D models"),
])
def test_bad_generate_parameters_get_422_with_the_valid_values(client, query, fragment):
    r = client.post(f"/generate?{query}", headers=headers())
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


def test_bad_train_and_explain_parameters(client):
    r = client.post("/train", json={"kind": "generator", "dataset": "/etc", "name": "x1"}, headers=headers())
    assert r.status_code == 422 and "GET /datasets" in r.json()["error"]["message"]
    r = client.post("/train", json={"kind": "painter", "name": "x1"}, headers=headers())
    assert r.status_code == 422
    img = io.BytesIO()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(img, format="PNG")
    r = client.post("/explain", files={"file": ("a.png", img.getvalue())}, data={"findings": "spleen"},
                    headers=headers())
    assert r.status_code == 422 and "Effusion" in r.json()["error"]["message"]


def test_health_metrics_models_findings(client):
    h = client.get("/health", headers=headers()).json()
    assert not client.get("/health").json()["worker_queues"]  # worker names carry host names: only for a key
    assert h["redis"] and h["workers"]["interactive"] >= 1 and h["workers"]["train"] >= 1 and h["status"] == "ok"
    text = client.get("/metrics").text
    assert 'radsynth_jobs_total{kind="generate",status="succeeded"}' in text and "radsynth_queue_length" in text
    models = client.get("/models", headers=headers()).json()
    assert {"tiny-gen", "tiny-clf"} <= {m["name"] for m in models}
    served = h["worker_queues"].items()
    assert any(w.startswith("worker@") and queues == ["interactive", "train"] for w, queues in served)
    by_name = {m["name"]: m for m in models}
    gen, vol = by_name["tiny-gen"]["generate_defaults"], by_name["tiny-3d"]["generate_defaults"]
    assert (gen["sampler"], gen["steps"], gen["gif"], gen["format"]) == ("dpmsolver++", 15, False, ["png", "dicom"])
    assert gen["steps_per_sampler"]["ddpm"] == 1000 and vol["steps"] == 25 and vol["format"] == ["nifti"]
    assert by_name["tiny-clf"]["generate_defaults"] is None
    # a job that leaves them out runs with exactly these
    job = wait_job(client, client.post("/generate?finding=mass&n=1&qc=false", headers=headers()).json()["id"])
    assert job["params"]["steps"] == gen["steps"] and job["params"]["sampler"] == gen["sampler"]
    assert job["params"]["guidance"] == gen["guidance"] == 2.0  # tiny-gen keeps the pipeline's default
    assert "guidance_interval" not in job["result"]  # tiny-gen has no default interval: every step
    assert "guidance_rescale" not in gen and "guidance_rescale" not in job["result"]  # no default rescale
    asked = wait_job(client, client.post("/generate?finding=mass&n=1&qc=false&guidance_interval=0:0.50"
                                         "&guidance_rescale=0.5", headers=headers()).json()["id"])
    assert asked["params"]["guidance_interval"] == "0:0.5" and asked["result"]["guidance_interval"] == [0.0, 0.5]
    assert asked["params"]["guidance_rescale"] == 0.5 and asked["result"]["guidance_rescale"] == 0.5
    f = client.get("/findings?model=tiny-gen", headers=headers()).json()
    assert "Consolidation" in f["findings"] and "No Finding" in f["findings"]
    assert client.get("/findings?model=unknown", headers=headers()).status_code == 422


def test_server_sent_events_stream_progress_until_the_end(client):
    job = client.post("/generate?finding=mass&n=1&steps=30&qc=false", headers=headers()).json()
    events = []
    with client.stream("GET", f"/jobs/{job['id']}/events", headers=headers()) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
                if kind == "job" and events[-1][1]["status"] in ("succeeded", "failed", "cancelled"):
                    break
    assert events[0][0] == "job" and events[-1][1]["status"] == "succeeded"
    assert any(k == "progress" for k, _ in events)


def test_unparsable_bodies_and_wrong_methods_get_clear_answers(client):
    r = client.post("/train", content=b"{not json", headers=headers(**{"Content-Type": "application/json"}))
    assert r.status_code == 422 and "JSON" in r.json()["error"]["message"], r.text
    r = client.request("OPTIONS", "/jobs/" + "0" * 32, headers=headers())
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) >= {"GET", "DELETE"}
    r = client.post("/generate?finding=mass", headers=headers(**{"Idempotency-Key": "x" * 201}))
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]["message"]


def test_several_findings_by_comma_repeat_or_encoded_plus_and_a_hint_for_a_bare_plus(client, service):
    expected = "Effusion+Cardiomegaly"
    for query in ("finding=effusion,cardiomegaly", "finding=effusion&finding=cardiomegaly",
                  "finding=effusion%2Bcardiomegaly"):
        r = client.post(f"/generate?{query}&n=1&steps=2&qc=false&format=png", headers=headers())
        assert r.status_code == 202, (query, r.text)
        assert r.json()["params"]["finding"] == expected, query
        client.post(f"/jobs/{r.json()['id']}/cancel", headers=headers())
    r = client.post("/generate?finding=effusion+cardiomegaly&n=1", headers=headers())
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "finding=effusion,cardiomegaly" in message and "%2B" in message, message


def test_training_requests_are_bounded_for_the_host(client):
    base = {"kind": "generator", "dataset": "fixtures", "name": "too-big"}
    for field, value, limit in (("steps", 1_000_000, 50_000), ("resolution", 512, 256), ("batch_size", 1024, 128)):
        r = client.post("/train", json=base | {field: value}, headers=headers())
        assert r.status_code == 422, (field, r.text)
        message = r.json()["error"]["message"]
        assert f"{field} must be at most {limit}" in message and "RADSYNTH_MAX_TRAIN_" in message, message


def test_a_webhook_to_the_service_itself_is_refused(client):
    r = client.post("/generate", json={"finding": "mass", "n": 1, "webhook": "http://127.0.0.1:8104/health"},
                    headers=headers())
    assert r.status_code == 422 and "RADSYNTH_WEBHOOK_ALLOW" in r.json()["error"]["message"], r.text


@pytest.mark.parametrize("method, url, fragment", [
    ("POST", "/explain?model=foo", "send it as a form field"),
    ("POST", "/generate?finding=mass&modle=tiny-gen", "the URL parameters of POST /generate are"),
    ("GET", "/jobs?stauts=running", "the URL parameters of GET /jobs are"),
    ("POST", "/train?name=x", "send it in the JSON body"),
    ("GET", "/models?x=1", "GET /models takes no URL parameters"),
])
def test_a_parameter_in_the_wrong_place_gets_a_422_saying_where_it_belongs(client, method, url, fragment):
    files = {"file": ("a.png", SIIM.read_bytes())} if url.startswith("/explain") else None
    r = client.request(method, url, headers=headers(), files=files)
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "does not take" in message and fragment in message, message
    assert client.get("/jobs?status=running&limit=5", headers=headers()).status_code == 200


def test_generate_takes_min_agreement_like_synthesize(client):
    r = client.post("/generate?finding=mass&n=2&steps=2&qc=false&min_agreement=0.5", headers=headers())
    assert r.status_code == 422 and "min_agreement needs qc=true" in r.json()["error"]["message"]
    easy = wait_job(client, client.post("/generate?finding=mass&n=2&steps=2&min_agreement=0.0",
                                        headers=headers()).json()["id"], timeout=180)
    assert easy["status"] == "succeeded" and len(easy["result"]["images"]) == 2, easy
    assert easy["result"]["qc_summary"]["dropped_below_agreement"] == 0
    hard = wait_job(client, client.post("/generate?finding=mass&n=2&steps=2&min_agreement=1.0",
                                        headers=headers()).json()["id"], timeout=180)
    assert hard["status"] == "failed" and "lower min_agreement" in hard["error"]["message"], hard
