"""A real Orthanc (Debian packages `orthanc` and `orthanc-dicomweb`) for the tests: a throwaway storage folder,
REST on a free port, optionally the DICOMweb plugin and HTTP basic users."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.local_pacs import PLUGIN, orthanc_binary, orthanc_config


def need_orthanc(dicomweb: bool = False) -> None:
    if orthanc_binary() is None:
        pytest.skip("Debian orthanc not installed (apt-get install orthanc)")
    if dicomweb and not PLUGIN.exists():
        pytest.skip("Orthanc's DICOMweb plugin not installed (apt-get install orthanc-dicomweb)")


@contextmanager
def running_orthanc(root: Path, port: int, *, dicomweb: bool = False,
                    users: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    """Start Orthanc on `port`; yield a REST client (authenticated as the first user, if any)."""
    need_orthanc(dicomweb)
    root.mkdir(parents=True, exist_ok=True)
    config = orthanc_config(root / "db", port, dicomweb=dicomweb, users=users)
    (root / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen([orthanc_binary(), str(root / "orthanc.json")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    auth = next(iter(users.items())) if users else None
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, auth=auth)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if http.get("/system").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield http
    finally:
        http.close()
        proc.terminate()
        proc.wait(20)
