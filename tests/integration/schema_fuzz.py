"""Schemathesis against a real API (Redis + uvicorn, tiny models): used by the fuzz test and scripts/api_fuzz.py."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.integration.deployment import KEY, Deployment

ROOT = Path(__file__).resolve().parents[2]


EXCLUDED_CHECKS = "positive_data_acceptance"


def run_schemathesis(examples: int, phases: str, seed: int, report: Path | None = None) -> subprocess.CompletedProcess:
    """Start Redis and the API, run the Schemathesis CLI against them, stop them; returns the CLI's result."""
    from models.vocabulary.findings import NIH_LABELS
    from tests.conftest import tiny_pipeline

    root = Path(tempfile.mkdtemp(prefix="radsynth-apifuzz-"))
    gen = root / "tiny-gen"
    tiny_pipeline(NIH_LABELS).save(gen)
    d = Deployment(root / "deployment", gen, ROOT / "models" / "pretrained" / "nih-cxr14-64-classifier")
    try:
        d.start_redis()
        d.start_api()
        cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", str(ROOT / "openapi" / "openapi.json"),
               "--url", f"http://127.0.0.1:{d.api_port}", "-H", f"X-API-Key: {KEY}", "--checks", "all",
               "--exclude-checks", EXCLUDED_CHECKS, "-n", str(examples), "--seed", str(seed), "--workers", "1",
               "--phases", phases, "--no-color"]
        if report:
            cmd += ["--report", "junit", "--report-junit-path", str(report)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    finally:
        d.stop_all()
