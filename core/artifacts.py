"""Artifact storage behind one interface. Local directory now; names are validated, never client paths."""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Protocol

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ID = re.compile(r"^[a-f0-9]{32}$")
MEDIA_TYPES = {".dcm": "application/dicom", ".npy": "application/octet-stream", ".json": "application/json",
               ".gif": "image/gif", ".png": "image/png", ".zip": "application/zip", ".gz": "application/gzip"}


def media_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def check_name(name: str) -> str:
    if not NAME.match(name) or ".." in name:
        raise ValueError(f"invalid artifact name {name!r}")
    return name


def check_id(job_id: str) -> str:
    if not ID.match(job_id):
        raise ValueError(f"invalid id {job_id!r}")
    return job_id


class ArtifactStore(Protocol):
    """Where artifacts, uploads and trained models live: a local folder, or S3 shared by many hosts."""

    def put_file(self, job_id: str, name: str, source: Path, *, move: bool = False) -> int: ...
    def put_bytes(self, job_id: str, name: str, data: bytes) -> int: ...
    def path(self, job_id: str, name: str) -> Path | None: ...
    def delete_job(self, job_id: str) -> None: ...
    def stale_uploads(self, older_than: float) -> list[str]: ...
    def check(self) -> None: ...
    def publish_model(self, folder: Path, name: str) -> None: ...
    def sync_models(self, dest: Path, *, force: bool = False) -> list[str]: ...


UPLOAD_NAME = "input"  # an upload is stored as <upload id>/input until its job deletes it


class LocalArtifactStore:
    """`root/<job id>/<name>`; every write lands atomically (temp file + rename)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _target(self, job_id: str, name: str) -> Path:
        return self.root / check_id(job_id) / check_name(name)

    def put_bytes(self, job_id: str, name: str, data: bytes) -> int:
        target = self._target(job_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return len(data)

    def put_file(self, job_id: str, name: str, source: Path, *, move: bool = False) -> int:
        """Store a copy of `source` (with `move`, `source` itself: renamed when on the same file system)."""
        target = self._target(job_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        if move:
            shutil.move(source, tmp)
        else:
            shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        return target.stat().st_size

    def path(self, job_id: str, name: str) -> Path | None:
        """The stored file, or None; symlinks and anything outside the store are refused."""
        try:
            target = self._target(job_id, name)
        except ValueError:
            return None
        if target.is_symlink() or not target.is_file():
            return None
        if self.root.resolve() not in target.resolve().parents:
            return None
        return target

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.root / check_id(job_id), ignore_errors=True)

    def stale_uploads(self, older_than: float) -> list[str]:
        """Ids of stored uploads (a folder holding only `input`) last written more than `older_than` s ago."""
        cutoff = time.time() - older_than
        out = []
        for folder in self.root.iterdir():
            upload = folder / UPLOAD_NAME
            if upload.is_file() and [p.name for p in folder.iterdir()] == [UPLOAD_NAME] \
                    and upload.stat().st_mtime < cutoff:
                out.append(folder.name)
        return out

    def check(self) -> None:
        if not self.root.is_dir():
            raise OSError(f"artifact folder {self.root} is missing")

    def publish_model(self, folder: Path, name: str) -> None:
        """Nothing to do: trained models already sit in this host's model folder."""

    def sync_models(self, dest: Path, *, force: bool = False) -> list[str]:
        return []
