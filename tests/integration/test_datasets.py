"""Data sets through the API: an owner uploads an archive, an ingest job registers it (counts, de-identified
DICOM), only its owner sees, trains on and deletes it, and hostile archives leave nothing behind."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

from tests.bombs import bomb_dicom
from tests.conftest import NIH
from tests.integration.conftest import headers, wait_job


def nih_zip(tmp_path: Path) -> bytes:
    shutil.copytree(NIH, tmp_path / "src" / "xrays")
    return Path(shutil.make_archive(str(tmp_path / "up"), "zip", root_dir=tmp_path / "src")).read_bytes()


def upload(client, data: bytes, name: str, owner: str = "alice", **extra):
    return client.post("/datasets", files={"file": ("set.zip", data, "application/zip")}, data={"name": name},
                       headers=headers(owner, **extra))


def test_an_owner_uploads_inspects_trains_on_and_deletes_a_data_set(client, service, tmp_path):
    r = upload(client, nih_zip(tmp_path), "alices-xrays")
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=120)
    images = len(list((NIH / "images").iterdir()))
    assert job["status"] == "succeeded" and job["kind"] == "ingest", job
    assert job["result"]["format"] == "nih" and job["result"]["images"] == images
    mine = {d["name"]: d for d in client.get("/datasets", headers=headers()).json()}
    assert mine["alices-xrays"]["uploaded"] and mine["alices-xrays"]["patients"] > 0
    assert "nih-demo" in mine and not mine["nih-demo"]["uploaded"]
    assert "alices-xrays" not in {d["name"] for d in client.get("/datasets", headers=headers("bob")).json()}
    assert client.get("/datasets/alices-xrays", headers=headers("bob")).status_code == 404
    assert client.get("/datasets/alices-xrays", headers=headers()).json()["per_finding"]["No Finding"] > 0
    # bob can neither train on it nor delete it; alice can train on it by name
    body = {"kind": "classifier", "dataset": "alices-xrays", "resolution": 16, "steps": 1, "name": "on-my-data"}
    assert client.post("/train", json=body, headers=headers("bob")).status_code == 422
    assert client.delete("/datasets/alices-xrays", headers=headers("bob")).status_code == 404
    trained = wait_job(client, client.post("/train", json=body, headers=headers()).json()["id"], timeout=240)
    assert trained["status"] == "succeeded", trained
    # names: the service's cannot be taken, one's own not twice
    assert upload(client, b"x", "nih-demo").status_code == 409
    assert upload(client, b"x", "alices-xrays").status_code == 409
    assert client.delete("/datasets/nih-demo", headers=headers()).status_code == 409
    assert client.delete("/datasets/alices-xrays", headers=headers()).status_code == 204
    assert client.get("/datasets/alices-xrays", headers=headers()).status_code == 404
    assert not list((service["root"] / "var" / "datasets").glob("*alices-xrays*"))


def test_hostile_archives_get_a_4xx_and_leave_nothing_behind(client, service):
    var = service["root"] / "var"

    def stored() -> set[str]:
        return {str(p.relative_to(var)) for p in var.rglob("*") if p.is_file() and "artifacts" in p.parts
                and p.name == "input"} | {str(p) for p in (var / "datasets").glob("*hostile*")}

    before = stored()
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.png", b"\x89PNG")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", b"\0" * 30_000_000)
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("inner.zip", evil.getvalue())
    for data, fix in ((evil.getvalue(), "'..'"), (bomb.getvalue(), "compression bomb"),
                      (nested.getvalue(), "nested archives"), (b"just text", "not a zip")):
        r = upload(client, data, "hostile")
        assert r.status_code == 422 and fix in r.json()["error"]["message"], r.text
    bad_name = upload(client, evil.getvalue(), "../etc")
    assert bad_name.status_code == 422
    assert stored() == before
    assert not (var.parent / "escape.png").exists() and not (var / "escape.png").exists()


def test_synthesize_a_labelled_data_set_download_it_and_balance_another(client):
    body = {"name": "syn-small", "model": "tiny-gen", "per_finding": {"consolidation": 3, "mass": 2}, "steps": 2,
            "qc": {"min_agreement": 0.0, "reject_copies": True}}
    r = client.post("/synthesize", json=body, headers=headers())
    assert r.status_code == 202, r.text
    assert r.json()["params"]["per_finding"] == {"Consolidation": 3, "Mass": 2}
    job = wait_job(client, r.json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    assert job["result"]["images"] == 5 and job["result"]["per_finding"] == {"Consolidation": 3, "Mass": 2}
    listed = client.get("/datasets/syn-small", headers=headers()).json()
    assert listed["uploaded"] and listed["images"] == 5 and listed["per_finding"]["Mass"] == 2
    archive = client.get("/datasets/syn-small/archive", headers=headers())
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        names = zf.namelist()
        rows = zf.read("syn-small/Data_Entry_2017.csv").decode().splitlines()
        assert zf.testzip() is None
    assert sum(n.startswith("syn-small/images/") for n in names) == 5 and "syn-small/rows.jsonl" not in names
    assert len(rows) == 6 and rows[0].startswith("Image Index,Finding Labels") and ",YES,tiny-gen," in rows[1]
    assert client.get("/datasets/syn-small/archive", headers=headers("bob")).status_code == 404
    # what the synthetic images buy: a study on the real fixture patients
    study = {"kind": "augmentation_study", "dataset": "fixtures", "synthetic": "syn-small", "name": "study-1",
             "resolution": 16, "steps": 1, "seeds": 2, "ratios": [1.0]}
    assert client.post("/train", json=study, headers=headers("bob")).status_code == 422  # not bob's data set
    done = wait_job(client, client.post("/train", json=study, headers=headers()).json()["id"], timeout=240)
    assert done["status"] == "succeeded", done
    assert set(done["result"]["verdicts"]) == {"Consolidation", "Mass"}
    assert [a["name"] for a in done["result"]["arms"]] == ["real only", "real + 1x synthetic", "synthetic only"]
    assert {a["name"] for a in done["artifacts"]} == {"study.json", "study.png"}
    # a second data set to top the first one up: every finding it has below 4 gets the difference
    top = client.post("/synthesize", json={"name": "syn-top", "model": "tiny-gen", "balance_to": 4,
                                           "dataset": "syn-small", "steps": 2}, headers=headers())
    assert top.status_code == 202 and top.json()["params"]["per_finding"] == {"Consolidation": 1, "Mass": 2}
    assert wait_job(client, top.json()["id"], timeout=180)["status"] == "succeeded"
    refused = [client.post("/synthesize", json=b, headers=headers()) for b in (
        {"name": "x1", "per_finding": {"consolidation": 1}, "balance_to": 3, "dataset": "nih-demo"},
        {"name": "x2", "per_finding": {"spleen": 1}, "model": "tiny-gen"},
        {"name": "syn-small", "per_finding": {"mass": 1}, "model": "tiny-gen"},
        {"name": "x3", "per_finding": {"mass": 10**6}, "model": "tiny-gen"})]
    assert [r.status_code for r in refused] == [422, 422, 409, 422], [r.text for r in refused]


def test_a_manifest_reaching_into_another_owners_data_set_is_refused_and_deletes_nothing(client, service, tmp_path):
    """The drill's archive: only a labels.csv, whose rows name another owner's manifest and image by `../` and
    by absolute path. Ingest used to delete the manifest (not an image) and build a data set of the image."""
    r = upload(client, nih_zip(tmp_path), "bobs-xrays", owner="bob")
    assert wait_job(client, r.json()["id"], owner="bob", timeout=120)["status"] == "succeeded"
    datasets_dir = service["root"] / "var" / "datasets"
    bobs = next(datasets_dir.glob("*bobs-xrays"))
    image = next(bobs.rglob("*.png"))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in bobs.rglob("*") if p.is_file()}
    for row in (f"../../{bobs.name}/dataset.json", f"../../{image.relative_to(datasets_dir)}", str(image)):
        labels = f"file,labels,patient_id\n{row},Mass,p1\n"
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("labels.csv", labels)
        r = upload(client, archive.getvalue(), "reach-in")
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["id"], timeout=120)
        assert job["status"] == "failed", job
        message = job["error"]["message"]
        assert "labels.csv row 2" in message and ("climbs out" in message or "absolute path" in message), message
        assert str(service["root"]) not in message.replace(str(image), "")  # only the row's own text is quoted
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in bobs.rglob("*") if p.is_file()}
    assert after == before
    assert client.get("/datasets/bobs-xrays", headers=headers("bob")).status_code == 200
    assert client.get("/datasets/reach-in", headers=headers()).status_code == 404


def test_dicom_bombs_are_refused_with_413_on_classify_and_in_archives(client):
    bomb = bomb_dicom(30000, "deflate", pad_meta=6000)
    r = client.post("/classify", files=[("files", ("b.dcm", bomb, "application/dicom"))], headers=headers())
    assert r.status_code == 413 and "inflates to more than" in r.json()["error"]["message"], r.text
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/labels.csv", "file,labels\nb.dcm,Mass\n")
        zf.writestr("set/b.dcm", bomb)
    r = upload(client, archive.getvalue(), "bomb-set")
    assert r.status_code == 413 and "set/b.dcm" in r.json()["error"]["message"], r.text
