"""The S3 store against a real S3-compatible server (moto's server mode, its own process on loopback).

Several hosts are simulated by separate data folders: the API and two workers share only Redis and the bucket.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import NIH, NIH_UPLOAD
from tests.integration.conftest import wait_for
from tests.integration.deployment import Deployment

boto3 = pytest.importorskip("boto3")
BUCKET = "radsynth-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with one bucket; yields its endpoint URL."""
    from core.redis_server import free_port

    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=os.environ | CREDENTIALS)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")

    def ready() -> bool:
        try:
            client.list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    try:
        wait_for(ready, 60, what="the moto S3 server")
        client.create_bucket(Bucket=BUCKET)
        yield {"endpoint": endpoint, "client": client}
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def host_store(s3, cache: Path, prefix: str):
    from core.s3_store import S3Store

    return S3Store(BUCKET, cache, prefix=prefix, client=s3["client"], sync_interval_s=0)


def test_artifacts_written_on_one_host_are_read_on_another(s3, tmp_path):
    a, b = host_store(s3, tmp_path / "a", "unit/"), host_store(s3, tmp_path / "b", "unit/")
    job = "0" * 31 + "1"
    assert a.put_bytes(job, "grid.png", b"\x89PNG fake") == 9
    src = tmp_path / "big.npy"
    src.write_bytes(os.urandom(200_000))
    assert a.put_file(job, "attr.npy", src) == 200_000
    assert b.path(job, "grid.png").read_bytes() == b"\x89PNG fake"
    assert b.path(job, "attr.npy").read_bytes() == src.read_bytes()
    assert b.path(job, "missing.png") is None
    assert b.path(job, "../escape") is None and b.path("../" + job, "grid.png") is None
    with pytest.raises(ValueError):
        a.put_bytes(job, "../x.png", b"")
    a.delete_job(job)
    assert host_store(s3, tmp_path / "c", "unit/").path(job, "grid.png") is None
    b.check()


def test_a_model_reaches_other_hosts_only_when_complete(s3, tmp_path, tiny_generator_dir):
    from models.catalog import describe

    a, b = host_store(s3, tmp_path / "a", "models-unit/"), host_store(s3, tmp_path / "b", "models-unit/")
    # A half-published model (files, no manifest yet) is invisible.
    s3["client"].put_object(Bucket=BUCKET, Key="models-unit/models/half/radsynth.json", Body=b"{}")
    dest = tmp_path / "b-models"
    assert b.sync_models(dest) == [] and not (dest / "half").exists()

    a.publish_model(tiny_generator_dir, "shared-gen")
    assert b.sync_models(dest) == ["shared-gen"]
    for path in tiny_generator_dir.rglob("*"):
        if path.is_file():
            assert (dest / "shared-gen" / path.relative_to(tiny_generator_dir)).read_bytes() == path.read_bytes()
    assert describe(dest / "shared-gen")["kind"] == "generator"
    assert b.sync_models(dest) == []  # already there
    assert not [p for p in dest.iterdir() if p.name.startswith(".sync-")]


def test_two_worker_hosts_share_models_and_artifacts_through_s3(s3, tmp_path, tiny_generator_dir,
                                                                 tiny_classifier_dir):
    """Worker A trains a model and stops; worker B, on another 'host', generates with it and explains an upload
    that the API (a third host) stored; the API serves B's artifacts. Nothing is shared but Redis and S3."""
    d = Deployment(tmp_path, tiny_generator_dir, tiny_classifier_dir, env=CREDENTIALS, store="s3", s3_bucket=BUCKET,
                   s3_prefix="e2e/", s3_endpoint_url=s3["endpoint"], datasets=f"fixtures={NIH}:nih")
    hosts = {"api": tmp_path / "var", "worker-a": tmp_path / "worker-a", "worker-b": tmp_path / "worker-b"}
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("worker-a", data_dir=hosts["worker-a"])
        d.wait_healthy()
        assert d.http.get("/health").json()["store"] == "s3"
        body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 4, "batch_size": 4,
                "name": "s3-gen", "channels": [8, 16]}
        r = d.http.post("/train", json=body)
        assert r.status_code == 202, r.text
        assert d.wait_status(r.json()["id"], timeout=240)["status"] == "succeeded"
        d.kill("worker-a", signal.SIGTERM)

        d.start_worker("worker-b", data_dir=hosts["worker-b"])
        job = d.wait_status(d.generate(model="s3-gen"), timeout=240)
        assert job["status"] == "succeeded", job
        png = next(a for a in job["artifacts"] if a["name"].endswith(".png") and "grid" not in a["name"])
        image = Image.open(io.BytesIO(d.http.get(png["url"]).content))
        assert image.size == (16, 16)
        from models.catalog import owned_folder_name

        synced = hosts["worker-b"] / "models" / owned_folder_name("drill", "s3-gen") / "radsynth.json"
        assert synced.is_file()  # synced, not trained

        with NIH_UPLOAD.open("rb") as fh:
            r = d.http.post("/explain", files={"file": ("x.png", fh, "image/png")}, data={"findings": "effusion"})
        assert r.status_code == 202, r.text
        job = d.wait_status(r.json()["id"], timeout=240)
        assert job["status"] == "succeeded", job
        overlay = next(a for a in job["artifacts"] if a["name"].startswith("overlay") and a["name"].endswith(".png"))
        assert d.http.get(overlay["url"]).status_code == 200
        assert "s3-gen" in {m["name"] for m in d.http.get("/models").json()}
        # Artifacts live in the bucket, not in any host's own artifact folder.
        assert not any((folder / "artifacts").exists() for folder in hosts.values())
        keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="e2e/artifacts/")["Contents"]]
        assert any(k.endswith(png["name"]) for k in keys)
    finally:
        d.stop_all()
