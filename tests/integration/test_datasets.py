"""Data sets through the API: an owner uploads an archive, an ingest job registers it (counts, de-identified
DICOM), only its owner sees, trains on and deletes it, and hostile archives leave nothing behind."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

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
