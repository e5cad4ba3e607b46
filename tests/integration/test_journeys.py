"""User journeys over HTTP against a real Redis and a real Celery worker: generate, explain, train."""

from __future__ import annotations

import io
import json

import pydicom
import pytest
from PIL import Image

from tests.conftest import NIH, NIH_UPLOAD, SIIM, SIIM_MONO1
from tests.integration.conftest import dump, headers, wait_job

pytestmark = pytest.mark.integration


def download(client, url: str, owner: str = "alice") -> bytes:
    r = client.get(url, headers=headers(owner))
    assert r.status_code == 200, r.text
    return r.content


def test_web_page_is_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "RadSynth" in page.text and "/ui/app.js" in page.text
    assert client.get("/ui/app.js").status_code == 200 and client.get("/ui/style.css").status_code == 200
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_generate_png_dicom_and_gif(client):
    r = client.post("/generate?finding=consolidation&n=2&format=both&gif=true&steps=3&seed=11", headers=headers())
    assert r.status_code == 202, r.text
    job = r.json()
    # The answer is the job as read after queueing it: an idle worker may already have started it.
    assert job["status"] in ("queued", "running")
    assert job["params"]["seed"] == 11 and job["params"]["finding"] == "Consolidation"
    job = wait_job(client, job["id"])
    assert job["status"] == "succeeded", dump(job)
    names = {a["name"]: a for a in job["artifacts"]}
    assert {"000_seed11.png", "001_seed12.png", "000_seed11.dcm", "001_seed12.dcm", "grid.png",
            "denoising.gif"} <= set(names)
    png = Image.open(io.BytesIO(download(client, names["000_seed11.png"]["url"])))
    assert png.size == (16, 16) and png.text["seed"] == "11" and png.text["finding"] == "Consolidation"
    ds = pydicom.dcmread(io.BytesIO(download(client, names["001_seed12.dcm"]["url"])))
    assert ds.ConversionType == "SYN" and '"seed": 12' in ds.ImageComments
    assert Image.open(io.BytesIO(download(client, names["denoising.gif"]["url"]))).n_frames > 1
    assert names["denoising.gif"]["media_type"] == "image/gif" and names["000_seed11.dcm"]["media_type"] == \
        "application/dicom"
    images = job["result"]["images"]
    assert [im["seed"] for im in images] == [11, 12] or all("replaced_attempts" in im["qc"] for im in images)
    for im in images:
        assert 0 <= im["qc"]["label_agreement"]["Consolidation"]["probability"] <= 1
        assert "flagged" in im["qc"]["memorisation"]
    assert job["result"]["qc_summary"]["images"] == 2


def test_generate_accepts_json_and_is_reproducible(client):
    body = {"finding": "effusion", "n": 1, "steps": 3, "seed": 5, "qc": False, "reject_copies": False}
    a = wait_job(client, client.post("/generate", json=body, headers=headers()).json()["id"])
    b = wait_job(client, client.post("/generate", json=body, headers=headers()).json()["id"])
    assert a["status"] == b["status"] == "succeeded"
    png_a = download(client, a["artifacts"][0]["url"])
    png_b = download(client, b["artifacts"][0]["url"])
    assert Image.open(io.BytesIO(png_a)).tobytes() == Image.open(io.BytesIO(png_b)).tobytes()


@pytest.mark.parametrize("path", [SIIM, SIIM_MONO1, NIH_UPLOAD], ids=["siim-jpeg", "siim-mono1", "nih-png"])
def test_explain_upload(client, path):
    original = pydicom.dcmread(path) if path.suffix == ".dcm" else None
    with path.open("rb") as fh:
        r = client.post("/explain", files={"file": (path.name, fh, "application/octet-stream")},
                        data={"findings": "effusion,mass", "n_steps": "8"}, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded", dump(job)
    result = job["result"]
    assert result["explained"] == ["Effusion", "Mass"]
    assert len(result["probabilities"]["Effusion"]["members"]) == 3
    names = {a["name"] for a in job["artifacts"]}
    assert {"overlay_effusion.png", "attribution_effusion.npy", "explanation.json", "original.png"} <= names
    overlay = Image.open(io.BytesIO(download(client, f"/jobs/{job['id']}/artifacts/overlay_effusion.png")))
    assert overlay.width == result["image_shape"][1]
    if original is not None:
        assert "overlay_effusion.dcm" in names
        secrets = [str(original[k].value) for k in ("PatientName", "PatientID", "StudyInstanceUID") if k in original]
        blobs = [r.text, client.get(f"/jobs/{job['id']}", headers=headers()).text]
        blobs += [download(client, a["url"]).decode("latin-1") for a in job["artifacts"]]
        for secret in secrets:
            assert all(secret not in blob for blob in blobs), secret


def test_explain_with_a_counterfactual(client):
    with NIH_UPLOAD.open("rb") as fh:
        r = client.post("/explain?method=both", files={"file": (NIH_UPLOAD.name, fh, "image/png")},
                        data={"findings": "effusion", "n_steps": "4", "strength": "0.4"}, headers=headers())
    assert r.status_code == 202, r.text
    assert r.json()["params"]["method"] == "both" and r.json()["params"]["generator"] == "tiny-gen"
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded", dump(job)
    result = job["result"]
    cf = result["counterfactuals"][0]
    assert cf["finding"] == "Effusion" and cf["generator"] == "tiny-gen" and cf["settings"]["strength"] == 0.4
    assert set(cf["probability"]) == {"original", "reconstruction", "counterfactual"}
    names = {a["name"] for a in job["artifacts"]}
    assert {"overlay_effusion.png", "counterfactual_effusion.png", "difference_effusion.png",
            "difference_effusion.dcm"} <= names
    diff = Image.open(io.BytesIO(download(client, f"/jobs/{job['id']}/artifacts/difference_effusion.png")))
    assert diff.width == result["image_shape"][1]


def test_counterfactuals_need_a_generator_that_knows_no_finding(client):
    with NIH_UPLOAD.open("rb") as fh:
        r = client.post("/explain", files={"file": (NIH_UPLOAD.name, fh, "image/png")},
                        data={"method": "counterfactual", "generator": "tiny-3d"}, headers=headers())
    assert r.status_code == 422 and "cannot make counterfactuals" in r.json()["error"]["message"]


def test_classify_many_uploads_in_the_order_sent(client):
    files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in (NIH_UPLOAD, SIIM, NIH_UPLOAD)]
    r = client.post("/classify", files=files, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded", dump(job)
    result = job["result"]
    assert result["images"] == 3 and result["errors"] == 0 and result["source"] == {"files": 3}
    rows = result["rows"]
    assert [row["item"] for row in rows] == [0, 1, 2]

    def probs(row: dict) -> list[float]:
        return [v["probability"] for v in row["probabilities"].values()]

    # the same file sent twice reads the same (up to batch-position rounding); another file does not (the tiny
    # test ensemble answers near 0.5 for everything, so "not the same" is small)
    same = max(abs(a - b) for a, b in zip(probs(rows[0]), probs(rows[2]), strict=True))
    other = max(abs(a - b) for a, b in zip(probs(rows[0]), probs(rows[1]), strict=True))
    assert same < 1e-6 < other and other > 10 * same
    effusion = rows[1]["probabilities"]["Effusion"]
    assert {"probability", "std", "threshold", "positive"} <= set(effusion) and "members" not in effusion
    table = download(client, f"/jobs/{job['id']}/artifacts/classifications.csv").decode().splitlines()
    assert len(table) == 4 and table[0].startswith("item,file,Atelectasis")
    assert f"{effusion['probability']:.4f}" in table[2]
    original = pydicom.dcmread(SIIM)
    blobs = [client.get(f"/jobs/{job['id']}", headers=headers()).text]
    blobs += [download(client, a["url"]).decode("latin-1") for a in job["artifacts"]]
    for secret in (str(original.PatientName), str(original.PatientID), SIIM.name):
        assert all(secret not in blob for blob in blobs), secret
    assert all(row["file"] is None for row in rows)  # names are not kept unless asked
    r = client.post("/classify", files=files, data={"keep_names": "true"}, headers=headers())
    named = wait_job(client, r.json()["id"])
    assert [row["file"] for row in named["result"]["rows"]] == [NIH_UPLOAD.name, SIIM.name, NIH_UPLOAD.name]
    table = download(client, f"/jobs/{named['id']}/artifacts/classifications.csv").decode().splitlines()
    assert table[2].split(",")[1] == SIIM.name


def test_classify_a_data_set_by_name_and_refuse_bad_requests(client):
    r = client.post("/classify", data={"dataset": "fixtures"}, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "succeeded", dump(job)
    images = sorted(p.name for p in (NIH / "images").iterdir())
    assert job["result"]["images"] == len(images) == len(job["result"]["rows"])
    lines = download(client, f"/jobs/{job['id']}/artifacts/classifications.jsonl").decode().splitlines()
    assert [json.loads(line)["file"] for line in lines] == [f"images/{name}" for name in images]
    bad = [("files", ("a.png", NIH_UPLOAD.read_bytes(), "image/png")),
           ("files", ("b.txt", b"not an x-ray", "text/plain"))]
    r = client.post("/classify", files=bad, headers=headers())
    assert r.status_code == 415 and r.json()["error"]["message"].startswith("file 2 of 2:")
    r = client.post("/classify", data={"dataset": "fixtures"}, files=bad[:1], headers=headers())
    assert r.status_code == 422 and "not both" in r.json()["error"]["message"]
    r = client.post("/classify", data={"dataset": "someone-elses"}, headers=headers())
    assert r.status_code == 422 and "unknown dataset" in r.json()["error"]["message"]


def test_train_a_generator_then_generate_with_it(client):
    body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 4, "batch_size": 4,
            "name": "my-tiny-gen", "channels": [8, 16]}
    r = client.post("/train", json=body, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=240)
    assert job["status"] == "succeeded", dump(job)
    assert {"loss.png", "training.json"} <= {a["name"] for a in job["artifacts"]}
    listed = {m["name"]: m for m in client.get("/models", headers=headers()).json()}
    assert listed["my-tiny-gen"]["kind"] == "generator" and "Consolidation" in listed["my-tiny-gen"]["findings"]
    grid = client.get("/models/my-tiny-gen/samples.png", headers=headers())
    assert grid.status_code == 200 and Image.open(io.BytesIO(grid.content)).height > 16
    r = client.post("/generate?finding=mass&model=my-tiny-gen&n=1&steps=2&qc=false", headers=headers())
    assert r.status_code == 202, r.text
    assert wait_job(client, r.json()["id"])["status"] == "succeeded"
    again = client.post("/train", json=body, headers=headers())
    assert again.status_code == 409 and "my-tiny-gen" in again.json()["error"]["message"]


def test_train_a_generator_on_two_torchrun_ranks_then_generate_with_it(client):
    body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 4, "batch_size": 4,
            "name": "my-ddp-gen", "channels": [8, 16], "ranks": 2}
    r = client.post("/train", json=body, headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=300)
    assert job["status"] == "succeeded", dump(job)
    assert job["result"]["ranks"] == 2 and job["result"]["steps"] == 4
    r = client.post("/generate?finding=mass&model=my-ddp-gen&n=1&steps=2&qc=false", headers=headers())
    assert wait_job(client, r.json()["id"])["status"] == "succeeded"
    odd = client.post("/train", json=body | {"name": "odd", "ranks": 3}, headers=headers())
    assert odd.status_code == 422 and "divide evenly over 3 ranks" in odd.text
    clf = client.post("/train", json=body | {"name": "clf", "kind": "classifier"}, headers=headers())
    assert clf.status_code == 422 and "ranks > 1" in clf.text


def test_train_with_chosen_findings_and_a_webhook(client):
    import json as _json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(_json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.2", 0), Hook)  # allowed by RADSYNTH_WEBHOOK_ALLOW in the test service
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 2, "batch_size": 4,
                "name": "mass-only", "channels": [8, 16], "findings": ["mass", "no finding"],
                "webhook": f"http://127.0.0.2:{server.server_port}/done"}
        r = client.post("/train", json=body, headers=headers())
        assert r.status_code == 202, r.text
        assert r.json()["params"]["findings"] == ["Mass", "No Finding"]
        job = wait_job(client, r.json()["id"], timeout=240)
        assert job["status"] == "succeeded", dump(job)
        findings = client.get("/findings?model=mass-only", headers=headers()).json()["findings"]
        assert findings == ["Mass", "No Finding"]
        from tests.integration.conftest import wait_for

        wait_for(lambda: received, 10, what="the webhook")
        assert received[0]["id"] == job["id"] and received[0]["status"] == "succeeded"
        bad = client.post("/train", json=body | {"name": "x2", "findings": ["spleen"]}, headers=headers())
        assert bad.status_code == 422 and "Consolidation" in bad.json()["error"]["message"]
        mnist = client.post("/train", json=body | {"name": "x3", "dataset": "pneumonia", "findings": ["mass"]},
                            headers=headers())
        assert mnist.status_code == 422, mnist.text
        assert "pneumonia" in mnist.json()["error"]["message"] and "normal" in mnist.json()["error"]["message"]
    finally:
        server.shutdown()


def test_a_generator_with_a_super_resolution_stage_serves_both_sizes(client, service):
    from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
    from models.diffusion.superres import SuperResPipeline, SuperResUNet

    pipe = RadSynthPipeline.load(service["models"] / "tiny-gen")
    sr = SuperResUNet(sample_size=64, block_out_channels=(8, 16), norm_num_groups=4)
    pipe.attach_superres(SuperResPipeline(sr.eval(), new_scheduler(prediction_type="v_prediction"), default_steps=2))
    pipe.save(service["models"] / "tiny-cascade")
    listed = {m["name"]: m for m in client.get("/models", headers=headers()).json()}["tiny-cascade"]
    assert listed["resolution"] == 64 and listed["details"]["resolutions"] == [16, 64]
    assert listed["generate_defaults"]["resolution"] == 64
    for resolution, side in ((None, 64), (16, 16)):
        query = {"finding": "mass", "n": 1, "steps": 2, "qc": "false", "model": "tiny-cascade", "format": "both"}
        if resolution:
            query["resolution"] = resolution
        job = wait_job(client, client.post("/generate", params=query, headers=headers()).json()["id"])
        assert job["status"] == "succeeded", dump(job)
        png = next(a for a in job["artifacts"] if a["name"].endswith(".png") and a["name"] != "grid.png")
        assert Image.open(io.BytesIO(download(client, png["url"]))).size == (side, side)
        dcm = next(a for a in job["artifacts"] if a["name"].endswith(".dcm"))
        ds = pydicom.dcmread(io.BytesIO(download(client, dcm["url"])))
        assert ds.Rows == side and float(ds.PixelSpacing[0]) == pytest.approx(420.0 / side, rel=1e-4)
    r = client.post("/generate", params={"finding": "mass", "model": "tiny-cascade", "resolution": 32},
                    headers=headers())
    assert r.status_code == 422 and "16 or 64-px" in r.json()["error"]["message"]
