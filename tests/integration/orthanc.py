"""A real Orthanc (Debian packages `orthanc` and `orthanc-dicomweb`) for the tests: a throwaway storage folder,
REST on a free port, optionally the DICOMweb plugin and HTTP basic users."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def need_orthanc(dicomweb: bool = False) -> None:
    if not shutil.which(ORTHANC):
        pytest.skip("Debian orthanc not installed (apt-get install orthanc)")
    if dicomweb and not DICOMWEB_PLUGIN.exists():
        pytest.skip("Orthanc's DICOMweb plugin not installed (apt-get install orthanc-dicomweb)")


@contextmanager
def running_orthanc(root: Path, port: int, *, dicomweb: bool = False,
                    users: dict[str, str] | None = None) -> Iterator[httpx.Client]:
    """Start Orthanc on `port`; yield a REST client (authenticated as the first user, if any)."""
    need_orthanc(dicomweb)
    root.mkdir(parents=True, exist_ok=True)
    config = {"Name": "radsynth-test", "StorageDirectory": str(root / "db"), "IndexDirectory": str(root / "db"),
              "HttpPort": port, "DicomPort": 0, "RemoteAccessAllowed": False,
              "AuthenticationEnabled": bool(users), "RegisteredUsers": users or {},
              "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
              "DicomWeb": {"Enable": dicomweb, "Root": "/dicom-web/"}}
    (root / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen([ORTHANC, str(root / "orthanc.json")], stdout=subprocess.DEVNULL,
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
