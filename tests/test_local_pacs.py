"""`radsynth-serve --pacs`: the local Orthanc it starts answers DICOMweb, and becomes push target `orthanc`
beside any the deployment configured."""

from __future__ import annotations

import json
import subprocess
import time

import httpx

from app.local_pacs import missing, orthanc_command, register_target
from core.redis_server import free_port
from core.settings import Settings
from tests.integration.orthanc import need_orthanc


def test_the_local_pacs_answers_dicomweb_and_is_a_push_target(tmp_path):
    need_orthanc(dicomweb=True)
    assert missing() is None
    cmd, base = orthanc_command(tmp_path, free_port())
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, answer = time.time() + 30, None
        while time.time() < deadline and answer is None:
            try:
                answer = httpx.get(f"{base}/dicom-web/studies", timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200 and answer.json() == []
    finally:
        proc.terminate()
        proc.wait(20)
    env = {"RADSYNTH_DICOMWEB_TARGETS": json.dumps({"pacs": {"url": "http://pacs.example/dicom-web"}})}
    register_target(env, base)
    targets = Settings(dicomweb_targets=env["RADSYNTH_DICOMWEB_TARGETS"]).dicomweb()
    assert set(targets) == {"pacs", "orthanc"} and str(targets["orthanc"].url).startswith(base)


def test_a_malformed_target_list_stops_the_service_with_the_reason():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="RADSYNTH_DICOMWEB_TARGETS must be JSON"):
        Settings(dicomweb_targets="pacs=http://x")


def test_a_bad_target_is_named_without_echoing_its_password():
    import pytest

    from core.dicomweb import TargetConfigError, parse_targets

    with pytest.raises(TargetConfigError) as bad:
        parse_targets('{"pacs": {"url": "not a url", "password": "s3cret-value"}}')
    assert "url" in str(bad.value) and "s3cret-value" not in str(bad.value)
