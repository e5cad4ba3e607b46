"""Artifacts and trained models in an S3-compatible bucket, so many API and worker hosts share one deployment.

Objects are written whole (an S3 PUT or a completed multipart upload is atomic) and never rewritten under the same
key. Each host keeps a read-through cache of what it has read, under its own data folder. A model is published
file by file with its manifest last, so a host never syncs half a model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from core.artifacts import check_id, check_name

MANIFEST = "radsynth-manifest.json"


class S3Store:
    """`<prefix>artifacts/<job id>/<name>` and `<prefix>models/<name>/<file>` in one bucket."""

    def __init__(self, bucket: str, cache_dir: Path, *, prefix: str = "radsynth/", endpoint_url: str | None = None,
                 region: str | None = None, client=None, sync_interval_s: float = 2.0):
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None)
        self.s3, self.bucket = client, bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.cache = Path(cache_dir)
        self.sync_interval_s = sync_interval_s
        self._last_sync = 0.0
        self._sync_lock = threading.Lock()

    # -- artifacts ---------------------------------------------------------------------------------------
    def _key(self, job_id: str, name: str) -> str:
        return f"{self.prefix}artifacts/{check_id(job_id)}/{check_name(name)}"

    def put_bytes(self, job_id: str, name: str, data: bytes) -> int:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(job_id, name), Body=data)
        return len(data)

    def put_file(self, job_id: str, name: str, source: Path, *, move: bool = False) -> int:
        self.s3.upload_file(str(source), self.bucket, self._key(job_id, name))
        size = Path(source).stat().st_size
        if move:
            Path(source).unlink()
        return size

    def path(self, job_id: str, name: str) -> Path | None:
        """A local copy of the object (downloaded once per host), or None if it is not stored."""
        try:
            key = self._key(job_id, name)
        except ValueError:
            return None
        local = self.cache / "artifacts" / job_id / name
        if local.is_file():
            return local
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".tmp-")
        os.close(fd)
        try:
            self.s3.download_file(self.bucket, key, tmp)
        except Exception as exc:  # noqa: BLE001 - botocore raises ClientError (404) or its own subclasses
            Path(tmp).unlink(missing_ok=True)
            if _is_missing(exc):
                return None
            raise
        os.replace(tmp, local)
        return local

    def stale_uploads(self, older_than: float) -> list[str]:
        """Not swept in S3: a bucket lifecycle rule on `<prefix>artifacts/*/input` does it (docs/reliability.md)."""
        return []

    def delete_job(self, job_id: str) -> None:
        prefix = f"{self.prefix}artifacts/{check_id(job_id)}/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        shutil.rmtree(self.cache / "artifacts" / job_id, ignore_errors=True)

    def check(self) -> None:
        """Raise if the bucket cannot be reached (for /health)."""
        self.s3.head_bucket(Bucket=self.bucket)

    # -- trained models ----------------------------------------------------------------------------------
    def publish_model(self, folder: Path, name: str) -> None:
        """Upload a model folder; the manifest goes last, so readers see the whole model or none of it."""
        base = f"{self.prefix}models/{check_name(name)}/"
        files = {}
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            self.s3.upload_file(str(path), self.bucket, base + rel)
            files[rel] = path.stat().st_size
        manifest = {"name": name, "files": files, "published": time.time()}
        self.s3.put_object(Bucket=self.bucket, Key=base + MANIFEST, Body=json.dumps(manifest).encode())

    def remote_models(self) -> list[str]:
        names = []
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}models/", Delimiter="/")
        for page in pages:
            names += [p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for p in page.get("CommonPrefixes", [])]
        return names

    def sync_models(self, dest: Path, *, force: bool = False) -> list[str]:
        """Copy every published model missing from `dest` into it (atomically, one folder each).

        Throttled to one listing per `sync_interval_s` unless forced (e.g. when a name was not found).
        """
        with self._sync_lock:
            if not force and time.monotonic() - self._last_sync < self.sync_interval_s:
                return []
            self._last_sync = time.monotonic()
            added = []
            for name in self.remote_models():
                if (Path(dest) / name).exists():
                    continue
                if self._fetch_model(name, Path(dest)):
                    added.append(name)
            return added

    def _fetch_model(self, name: str, dest: Path) -> bool:
        base = f"{self.prefix}models/{name}/"
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=base + MANIFEST)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return False  # still being published
            raise
        manifest = json.loads(body)
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".sync-{name}-"))
        try:
            for rel in manifest["files"]:
                target = staging / rel
                if ".." in Path(rel).parts:
                    raise ValueError(f"model {name!r} lists an unsafe path {rel!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(self.bucket, base + rel, str(target))
            os.rename(staging, dest / name)
        except OSError:
            if not (dest / name).exists():
                raise
            # else: another process on this host synced it first
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True


def _is_missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}
