"""Schemathesis against openapi/openapi.json: every operation, all checks, on a real API and Redis.

    python -m scripts.api_fuzz [--examples 100] [--phases examples,coverage,fuzzing,stateful]

The API runs as a real uvicorn process with tiny models; no worker runs, so accepted jobs stay queued. One
check is left out: `positive_data_acceptance` expects every schema-valid request to succeed, but a model or
finding name that is a valid string yet names nothing is rightly a 422 that lists the valid names.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.integration.deployment import KEY, Deployment

ROOT = Path(__file__).resolve().parents[1]

EXCLUDED_CHECKS = "positive_data_acceptance"


def run_schemathesis(examples: int, phases: str, seed: int, report: Path | None = None) -> subprocess.CompletedProcess:
    """Start Redis and the API, run the Schemathesis CLI against them, stop them; returns the CLI's result."""
    from models.findings import NIH_LABELS
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=100, help="test cases per operation")
    ap.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    out = run_schemathesis(args.examples, args.phases, args.seed)
    print(out.stdout[-8000:], out.stderr[-2000:])
    sys.exit(out.returncode)


if __name__ == "__main__":
    main()
