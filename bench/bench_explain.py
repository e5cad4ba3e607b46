"""Seconds per explanation of a 1024-px upload through the service, and per counterfactual.

    python -m bench.bench_explain [--repeats 3]

A real Redis, API (uvicorn) and Celery worker with the bundled models, on this machine. The upload is the real
1024 x 1024 SIIM-ACR chest DICOM in tests/fixtures. Each request is timed from POST until the job has ended and its
overlay PNGs are downloaded (the client waits on the job's event stream), on a warm worker, median of `--repeats`:

1. `POST /explain` with every default: integrated gradients, 50 steps, the 3 most probable findings, PNG and
   DICOM overlays (target: <= 15 s on 2 cores).
2. `method=counterfactual` for one finding, and `method=both` for one finding.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, rss_mb, save, table, wait_on_events
from tests.integration.deployment import Deployment

ROOT = Path(__file__).resolve().parents[1]

GENERATOR = ROOT / "models" / "pretrained" / "nih-cxr14"
CLASSIFIER = ROOT / "models" / "pretrained" / "nih-cxr14-256-classifier"
UPLOAD = ROOT / "tests" / "fixtures" / "uploads" / "siim_chest_cr.dcm"
THREADS = 2
CASES = {
    "defaults (ig, 50 steps, top 3 findings)": {},
    "counterfactual, 1 finding": {"method": "counterfactual", "findings": "effusion"},
    "ig + counterfactual, 1 finding": {"method": "both", "findings": "effusion"},
}


def explain_once(d: Deployment, form: dict) -> tuple[float, dict]:
    """POST the upload, wait on the event stream, download the PNGs; (seconds, job)."""
    t0 = time.perf_counter()
    with UPLOAD.open("rb") as fh:
        r = d.http.post("/explain", files={"file": (UPLOAD.name, fh, "application/dicom")}, data=form)
    r.raise_for_status()
    job = wait_on_events(d.http, r.json()["id"])
    assert job and job["status"] == "succeeded", job
    for art in job["artifacts"]:
        if art["name"].endswith(".png"):
            d.http.get(art["url"]).raise_for_status()
    return time.perf_counter() - t0, job


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    env = {"RADSYNTH_DEFAULT_GENERATOR": GENERATOR.name, "RADSYNTH_DEFAULT_CLASSIFIER": CLASSIFIER.name,
           "OMP_NUM_THREADS": str(THREADS)}
    d = Deployment(Path(tempfile.mkdtemp(prefix="radsynth-bench-")), GENERATOR, CLASSIFIER, env=env)
    rows = []
    try:
        d.start_redis()
        d.start_api()
        d.start_worker("explain", warm_up=True)
        d.wait_healthy()
        for form in CASES.values():  # each path once before timing (models loaded, caches warm)
            explain_once(d, form)
        for name, form in CASES.items():
            times = [explain_once(d, form)[0] for _ in range(args.repeats)]
            rows.append({"request": name, "median s": median(times), "seconds": times, "form": form})
        pool_rss = rss_mb(d.pool_children("explain")[0])
    finally:
        d.stop_all()
    print(f"POST /explain of a 1024 x 1024 DICOM on a warm worker, {THREADS} threads, median of {args.repeats}:")
    print(table(rows, ["request", "median s"]))
    print(f"worker pool RSS {pool_rss:.0f} MB; target for the defaults: <= 15 s")
    command = "python -m bench.bench_explain " + " ".join(sys.argv[1:])
    print(f"wrote {save('explain', {'rows': rows, 'pool_rss_mb': pool_rss, 'threads': THREADS, 'command': command})}")


if __name__ == "__main__":
    main()
