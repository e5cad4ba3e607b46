"""The run command's own lines: the curl it suggests works as pasted, with keys on and off."""

from __future__ import annotations

import os
import subprocess

from app.launcher import try_command


def test_the_suggested_curl_sends_the_first_key_without_printing_it():
    line = try_command("http://localhost:8000", with_key=True)
    assert "secret-one" not in line and "X-API-Key" in line
    env = os.environ | {"RADSYNTH_API_KEYS": "secret-one:alice,secret-two:bob"}
    expanded = subprocess.run(["bash", "-c", f"echo {line}"], env=env, capture_output=True, text=True).stdout
    assert "X-API-Key: secret-one" in expanded and "secret-two" not in expanded
    assert "X-API-Key" not in try_command("http://localhost:8000", with_key=False)
