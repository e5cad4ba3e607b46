"""The S3 store against a real S3-compatible server (moto's server mode, its own process on loopback).

Several hosts are simulated by separate data folders: the API and two workers share only Redis and the bucket.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import NIH, NIH_UPLOAD
from tests.integration.conftest import wait_for

boto3 = pytest.importorskip("boto3")
REPO = Path(__file__).resolve().parents[2]
BUCKET = "radsynth-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with one bucket; yields its endpoint URL."""
    from worker.redis_server import free_port

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
    from worker.s3_store import S3Store

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


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=open(log, "wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_two_worker_hosts_share_models_and_artifacts_through_s3(s3, tmp_path, tiny_generator_dir,
                                                                 tiny_classifier_dir):
    """Worker A trains a model and stops; worker B, on another 'host', generates with it and explains an upload
    that the API (a third host) stored; the API serves B's artifacts. Nothing is shared but Redis and S3."""
    from worker.processes import api_command, worker_command
    from worker.redis_server import free_port, start_redis

    models = tmp_path / "bundled"
    models.mkdir()
    shutil.copytree(tiny_generator_dir, models / "tiny-gen")
    shutil.copytree(tiny_classifier_dir, models / "tiny-clf")
    redis_port, api_port = free_port(), free_port()
    redis_proc = start_redis(redis_port, tmp_path / "redis", log=tmp_path / "redis.log")
    key = "s3-key-0123456789"
    base = os.environ | CREDENTIALS | {
        "RADSYNTH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "RADSYNTH_STORE": "s3",
        "RADSYNTH_S3_BUCKET": BUCKET, "RADSYNTH_S3_PREFIX": "e2e/", "RADSYNTH_S3_ENDPOINT_URL": s3["endpoint"],
        "RADSYNTH_MODEL_DIRS": str(models), "RADSYNTH_DEFAULT_GENERATOR": "tiny-gen",
        "RADSYNTH_DEFAULT_CLASSIFIER": "tiny-clf", "RADSYNTH_API_KEYS": f"{key}:carol",
        "RADSYNTH_DATASETS": f"fixtures={NIH}:nih", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    host = {name: base | {"RADSYNTH_DATA_DIR": str(tmp_path / name)} for name in ("api", "worker-a", "worker-b")}
    api = start(api_command(port=api_port), host["api"], tmp_path / "api.log")
    worker_a = start(worker_command(name="a"), host["worker-a"], tmp_path / "worker-a.log")
    worker_b = None
    http = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": key}, timeout=30)

    def finished(job_id: str, timeout: float = 240) -> dict:
        def poll():
            job = http.get(f"/jobs/{job_id}").json()
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None
        return wait_for(poll, timeout, interval=0.5, what=f"job {job_id}")

    try:
        wait_for(lambda: _healthy(http), 90, interval=0.5, what="the API and worker A")
        assert http.get("/health").json()["store"] == "s3"
        body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 4, "batch_size": 4,
                "name": "s3-gen", "channels": [8, 16]}
        r = http.post("/train", json=body)
        assert r.status_code == 202, r.text
        assert finished(r.json()["id"])["status"] == "succeeded"
        stop(worker_a)

        worker_b = start(worker_command(name="b"), host["worker-b"], tmp_path / "worker-b.log")
        r = http.post("/generate", params={"finding": "mass", "model": "s3-gen", "n": 1, "steps": 2, "qc": "false"})
        assert r.status_code == 202, r.text
        job = finished(r.json()["id"])
        assert job["status"] == "succeeded", job
        png = next(a for a in job["artifacts"] if a["name"].endswith(".png") and "grid" not in a["name"])
        image = Image.open(io.BytesIO(http.get(png["url"]).content))
        assert image.size == (16, 16)
        assert (tmp_path / "worker-b" / "models" / "s3-gen" / "radsynth.json").is_file()  # synced, not trained

        with NIH_UPLOAD.open("rb") as fh:
            r = http.post("/explain", files={"file": ("x.png", fh, "image/png")}, data={"findings": "effusion"})
        assert r.status_code == 202, r.text
        job = finished(r.json()["id"])
        assert job["status"] == "succeeded", job
        overlay = next(a for a in job["artifacts"] if a["name"].startswith("overlay") and a["name"].endswith(".png"))
        assert http.get(overlay["url"]).status_code == 200
        assert "s3-gen" in {m["name"] for m in http.get("/models").json()}
        # Artifacts live in the bucket, not in any host's own artifact folder.
        assert not any((tmp_path / h / "artifacts").exists() for h in host)
        keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="e2e/artifacts/")["Contents"]]
        assert any(k.endswith(png["name"]) for k in keys)
    finally:
        http.close()
        for proc in (worker_b, worker_a, api):
            if proc is not None and proc.poll() is None:
                stop(proc)
        redis_proc.terminate()
        redis_proc.wait(10)


def _healthy(http: httpx.Client) -> bool:
    try:
        h = http.get("/health").json()
    except httpx.HTTPError:
        return False
    return h.get("status") == "ok"
