"""3D volumes through the service: POST /generate with a volume model returns NIfTI and a DICOM series with the
model's geometry; train jobs accept 3D data; requests that mix 2D and 3D get a 422 saying what to use instead.
Real Redis, a real Celery worker, nibabel and pydicom on the downloaded files."""

from __future__ import annotations

import gzip
import io
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tests.integration.conftest import dump, headers, wait_job

pytestmark = pytest.mark.integration


def artifacts(client, job: dict) -> dict[str, bytes]:
    out = {}
    for a in job["artifacts"]:
        r = client.get(a["url"], headers=headers())
        assert r.status_code == 200, r.text
        out[a["name"]] = r.content
    return out


def test_generate_a_volume_as_nifti_and_a_dicom_series(client):
    r = client.post("/generate?model=tiny-3d&finding=hyperplasia&format=both&n=2&steps=3&seed=7", headers=headers())
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=300)  # the first volume job loads the 3D stack
    assert job["status"] == "succeeded", dump(job)
    result = job["result"]
    assert result["kind"] == "volumes" and result["findings"] == ["hyperplasia"] and result["seeds"] == [7, 8]
    assert result["shape_zyx"] == [16, 16, 16] and result["spacing_mm_xyz"] == [1.5, 1.5, 1.5]
    files = artifacts(client, job)
    media = {a["name"]: a["media_type"] for a in job["artifacts"]}
    assert media["000_seed7.nii.gz"] == "application/gzip" and media["000_seed7_dicom.zip"] == "application/zip"
    assert {"volumes.png", "000_seed7_slices.png", "001_seed8_sweep.gif"} <= set(files)
    from PIL import Image

    overview = Image.open(io.BytesIO(files["volumes.png"]))  # labelled views and rows, and it says what it is
    assert overview.text["synthetic"] == "yes" and overview.text["model"] == "tiny-3d" and overview.width > 3 * 128

    img = nib.Nifti1Image.from_bytes(gzip.decompress(files["000_seed7.nii.gz"]))
    assert img.shape == (16, 16, 16) and img.header.get_xyzt_units()[0] == "mm"
    np.testing.assert_allclose(img.header.get_zooms(), (1.5, 1.5, 1.5))
    np.testing.assert_allclose(np.abs(np.diag(img.affine)[:3]), 1.5)
    assert int(img.header["sform_code"]) == 1
    data = np.asarray(img.dataobj)
    assert 0 <= data.min() and data.max() <= 1 and data.std() > 0

    with zipfile.ZipFile(io.BytesIO(files["000_seed7_dicom.zip"])) as zf:
        slices = [pydicom.dcmread(io.BytesIO(zf.read(name))) for name in zf.namelist()]
    assert len(slices) == 16
    slices.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    np.testing.assert_allclose(np.diff([float(d.ImagePositionPatient[2]) for d in slices]), 1.5, atol=1e-3)
    assert [float(v) for v in slices[0].PixelSpacing] == [1.5, 1.5]
    assert len({d.SeriesInstanceUID for d in slices}) == 1 and all(d.SyntheticData == "YES" for d in slices)
    stack = np.stack([d.pixel_array for d in slices]).astype(np.float32) / 65535
    np.testing.assert_allclose(stack, data.transpose(2, 1, 0), atol=2e-3)  # the same voxels as the NIfTI

    again = wait_job(client, client.post("/generate?model=tiny-3d&finding=hyperplasia&format=nifti&n=1&steps=3"
                                         "&seed=7", headers=headers()).json()["id"])
    same = artifacts(client, again)["000_seed7.nii.gz"]
    np.testing.assert_array_equal(np.asarray(nib.Nifti1Image.from_bytes(gzip.decompress(same)).dataobj), data)


@pytest.mark.parametrize("query, fix", [
    ("model=tiny-3d&finding=hyperplasia&format=png", "use nifti, dicom"),
    ("model=tiny-3d&finding=hyperplasia&n=9", "at most 8"),
    ("model=tiny-3d&finding=hyperplasia&gif=true", "slice-sweep GIF"),
    ("model=tiny-3d&finding=normal%2Bhyperplasia", "one finding per volume"),
    ("model=tiny-3d&finding=consolidation", "hyperplasia"),
    ("finding=consolidation&format=nifti", "volume models"),
    ("model=tiny-clf&finding=consolidation", "unknown generator"),
])
def test_2d_and_3d_requests_that_do_not_fit_the_model_are_refused_with_the_fix(client, query, fix):
    r = client.post(f"/generate?{query}", headers=headers())
    assert r.status_code == 422 and fix in r.json()["error"]["message"], r.text


def test_the_model_list_shows_the_volume_generator(client):
    models = {m["name"]: m for m in client.get("/models", headers=headers()).json()}
    assert models["tiny-3d"]["kind"] == "generator3d" and models["tiny-3d"]["findings"] == ["normal", "hyperplasia"]


def test_train_a_volume_generator_then_generate_with_it(client):
    bad = client.post("/train", json={"kind": "generator3d", "dataset": "fixtures", "name": "x3d"},
                      headers=headers())
    assert bad.status_code == 422 and "3D dataset" in bad.json()["error"]["message"]
    bad = client.post("/train", json={"kind": "generator", "dataset": "adrenal", "name": "x3d"}, headers=headers())
    assert bad.status_code == 422 and "generator3d" in bad.json()["error"]["message"]
    body = {"kind": "generator3d", "dataset": "adrenal", "name": "adrenal-trained", "resolution": 16, "steps": 3,
            "batch_size": 2, "channels": [8, 16]}
    job = wait_job(client, client.post("/train", json=body, headers=headers()).json()["id"], timeout=300)
    assert job["status"] == "succeeded", dump(job)
    assert job["result"]["kind"] == "generator3d" and job["result"]["volumes"] == 6
    assert {"samples.png", "loss.png", "training.json"} <= {a["name"] for a in job["artifacts"]}
    models = {m["name"]: m for m in client.get("/models", headers=headers()).json()}
    assert models["adrenal-trained"]["kind"] == "generator3d"
    made = wait_job(client, client.post("/generate?model=adrenal-trained&finding=normal&format=dicom&n=1&steps=2",
                                        headers=headers()).json()["id"])
    assert made["status"] == "succeeded", dump(made)
    assert [a["name"] for a in made["artifacts"] if a["name"].endswith(".zip")] == \
        [f"000_seed{made['params']['seed']}_dicom.zip"]


def test_train_a_latent_volume_generator_and_generate_with_it(client):
    bad = client.post("/train", json={"kind": "generator3d", "dataset": "adrenal", "name": "lat", "resolution": 24,
                                      "latent": True}, headers=headers())
    assert bad.status_code == 422 and "multiple of 16" in bad.json()["error"]["message"]
    body = {"kind": "generator3d", "dataset": "adrenal", "name": "adrenal-latent", "resolution": 16, "steps": 2,
            "batch_size": 2, "channels": [8, 16], "latent": True}
    job = wait_job(client, client.post("/train", json=body, headers=headers()).json()["id"], timeout=300)
    assert job["status"] == "succeeded", dump(job)
    made = wait_job(client, client.post("/generate?model=adrenal-latent&finding=hyperplasia&format=nifti&n=1"
                                        "&steps=2", headers=headers()).json()["id"])
    assert made["status"] == "succeeded", dump(made)
    assert made["result"]["shape_zyx"] == [16, 16, 16]  # decoded from 4^3 latents back to the volume size
