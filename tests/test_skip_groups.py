"""A run that skips a browser test says so at the end; under CI=true it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SKIPPING = '''
import pytest

def test_page():
    pytest.skip("Debian chromium not installed")

def test_fine():
    assert True
'''


def run_pytest(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SKIPPING)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = os.environ | {"PYTHONPATH": str(REPO), "CI": "true" if ci else "false"}
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.skip_groups", "-c", str(tmp_path / "pytest.ini"),
           str(tmp_path / "test_sample.py")]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_users_run_stays_green_and_names_the_skipped_group(tmp_path):
    out = run_pytest(tmp_path, ci=False)
    assert out.returncode == 0, out.stdout
    assert "browser: 1 test(s) skipped; to run them: apt-get install chromium" in out.stdout


def test_a_ci_run_with_a_skipped_browser_test_fails(tmp_path):
    out = run_pytest(tmp_path, ci=True)
    assert out.returncode == 1, out.stdout
    assert "fails the run" in out.stdout
