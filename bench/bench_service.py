"""What the service adds on top of the pipeline, and the time to the first image on this machine.

    python -m bench.bench_service [--repeats 5] [--small 20] [--cold 2]
    python -m bench.bench_service --default-only [--repeats 3] [--superres-start 0.5]   # the default job
    python -m bench.bench_service --default-only --also-model runs/nih-cxr14-diffusion-sr   # ... beside another

A real Redis, API (uvicorn) and Celery worker with the bundled models, all on this machine. The client waits for
the end of each job on its server-sent-events stream (as the web page does) and then downloads every image.

1. Service overhead: end-to-end time (POST until the last image is downloaded) / the bare in-process pipeline
   doing the same sampling (same model, seeds, sampler, steps, torch threads), interleaved, medians.
2. Added latency of small jobs (1 image, 2 steps): end-to-end minus the bare pipeline, p50 and p95.
3. Seconds to the first image for `POST /generate?finding=consolidation` with every default (4 images, 15
   DPM-Solver++ steps, classifier guidance, QC on, PNG + DICOM) sent to a freshly started worker, with and
   without warm-up, then the same request again; and the worker processes' memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, pct, rss_mb, save, table, wait_on_events
from tests.integration.deployment import Deployment

ROOT = Path(__file__).resolve().parents[1]

GENERATOR = ROOT / "models" / "pretrained" / "nih-cxr14"
CLASSIFIER = ROOT / "models" / "pretrained" / "nih-cxr14-256-classifier"
THREADS = 2


def deployment() -> Deployment:
    env = {"RADSYNTH_DEFAULT_GENERATOR": GENERATOR.name, "RADSYNTH_DEFAULT_CLASSIFIER": CLASSIFIER.name,
           "OMP_NUM_THREADS": str(THREADS)}
    return Deployment(Path(tempfile.mkdtemp(prefix="radsynth-bench-")), GENERATOR, CLASSIFIER, env=env)


def with_model(folder: Path, models: Path) -> str:
    """A copy of the generator `folder` (e.g. the default assembled with another second stage) in the
    deployment's model folder `models`; returns the `model` query parameter that selects it."""
    shutil.copytree(folder, models / folder.name)
    return f"model={folder.name}"


def run_job(d: Deployment, params: dict) -> tuple[float, float, dict]:
    """POST, wait on the event stream, download every PNG; returns (seconds to done, seconds total, job)."""
    t0 = time.perf_counter()
    r = d.http.post("/generate", params=params)
    if r.is_error:
        raise SystemExit(f"POST /generate {params}: {r.status_code} {r.text}")
    job = wait_on_events(d.http, r.json()["id"])
    done = time.perf_counter() - t0
    assert job and job["status"] == "succeeded", job
    for art in job["artifacts"]:
        if art["name"].endswith(".png") and art["name"] != "grid.png":
            d.http.get(art["url"]).raise_for_status()
    return done, time.perf_counter() - t0, job


def overhead(d: Deployment, repeats: int, small: int) -> dict:
    import torch

    from models.diffusion.pipeline import RadSynthPipeline

    torch.set_num_threads(THREADS)
    pipe = RadSynthPipeline.load(GENERATOR)
    big = {"finding": "consolidation", "n": 2, "steps": 25, "sampler": "dpmsolver++", "guidance": 2.0,
           "qc": "false", "format": "png", "gif": "false"}
    tiny = big | {"n": 1, "steps": 2}

    def bare(params: dict, seed: int) -> float:
        t0 = time.perf_counter()
        pipe("Consolidation", params["n"], seeds=[seed + i for i in range(params["n"])], sampler=params["sampler"],
             num_inference_steps=params["steps"], guidance_scale=params["guidance"])
        return time.perf_counter() - t0

    run_job(d, tiny | {"seed": 1})  # the worker loads the model
    bare(tiny, 1)
    rows = {"service": [], "bare": []}
    for i in range(repeats):
        rows["service"].append(run_job(d, big | {"seed": 100 + i})[1])
        rows["bare"].append(bare(big, 100 + i))
    added = []
    for i in range(small):
        e2e = run_job(d, tiny | {"seed": 200 + i})[1]
        added.append(e2e - bare(tiny, 200 + i))
    added.sort()
    return {
        "job": big, "service_s": rows["service"], "bare_s": rows["bare"],
        "service_median_s": median(rows["service"]), "bare_median_s": median(rows["bare"]),
        "ratio": median(rows["service"]) / median(rows["bare"]),
        "small_job": tiny, "small_added_s": added, "small_added_p50_s": median(added),
        "small_added_p95_s": pct(added, 0.95),
    }


def first_image(d: Deployment, cold: int, settle: float) -> list[dict]:
    """A fresh worker per round, warm-up off and on alternately. The request comes `settle` seconds after the
    worker reports healthy (a worker that has just started, not one caught mid-start); then the same request
    again, as every later user sees it."""
    rows = []
    for i in range(cold):
        for warm in (False, True):
            name = f"cold{i}{'w' if warm else ''}"
            launched = time.perf_counter()
            d.start_worker(name, warm_up=warm)
            d.wait_healthy()
            ready = time.perf_counter() - launched
            time.sleep(settle)
            request = {"finding": "consolidation", "seed": 7 + i}
            first, second = run_job(d, request)[1], run_job(d, request | {"seed": 70 + i})[1]
            child = d.pool_children(name)[0]
            rows.append({"warm_up": warm, "worker_healthy_s": ready, "first_image_s": first,
                         "next_request_s": second, "pool_rss_mb": rss_mb(child),
                         "main_rss_mb": rss_mb(d.procs[name].pid)})
            d.kill(name)
    return rows


def parse_variant(text: str) -> dict[str, float | int | str]:
    """`superres_start=0.5,superres_steps=20` -> the request's extra query parameters (numbers where they are;
    text such as `guidance_interval=0:1` as it is)."""
    out: dict[str, float | int | str] = {}
    for pair in text.split(","):
        key, _, value = pair.partition("=")
        value = value.strip()
        try:
            out[key.strip()] = int(value) if value.isdigit() else float(value)
        except ValueError:
            out[key.strip()] = value
    return out


def default_job(d: Deployment, repeats: int, variants: dict[str, dict] | None = None) -> dict:
    """The target: `POST /generate?finding=consolidation` with every default (4 images at 256 px through the
    super-resolution stage, QC, PNG + DICOM) on a warm worker, end to end, median of `repeats`. Each of `variants`
    (name -> extra query parameters, e.g. a part-way super-resolution start) runs interleaved with it."""
    d.start_worker("default", warm_up=True)
    d.wait_healthy()
    run_job(d, {"finding": "consolidation", "seed": 1})  # the first request after start is not the steady state
    variants = {"default": {}} | (variants or {})
    times: dict[str, list[float]] = {name: [] for name in variants}
    results: dict[str, dict] = {}
    for i in range(repeats):
        for name, extra in variants.items():
            done, total, job = run_job(d, {"finding": "consolidation", "seed": 300 + i} | extra)
            times[name].append(total)
            results[name] = {k: job["result"].get(k) for k in ("resolution", "steps", "superres_steps",
                                                                "superres_start", "detail_stage", "guidance",
                                                                "guidance_interval")}
    child = d.pool_children("default")[0]
    out = {"seconds": times["default"], "median_s": median(times["default"]), "pool_rss_mb": rss_mb(child),
           "main_rss_mb": rss_mb(d.procs["default"].pid), "result": results["default"]}
    out["variants"] = {name: {"params": extra, "seconds": times[name], "median_s": median(times[name]),
                              "ratio_to_default": median(times[name]) / out["median_s"], "result": results[name]}
                       for name, extra in variants.items() if name != "default"}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--cold", type=int, default=2, help="fresh-worker rounds per warm-up setting")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds between worker start and first request")
    ap.add_argument("--default-only", action="store_true", help="only the default job on a warm worker ")
    ap.add_argument("--superres-start", type=float, default=None,
                    help="with --default-only: also the same job starting super-resolution part-way, interleaved")
    ap.add_argument("--also", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                    help="with --default-only: also the same job with these query parameters, interleaved "
                    "(repeatable; e.g. superres_start=0.5,superres_steps=20)")
    ap.add_argument("--also-model", type=Path, action="append", default=[], metavar="FOLDER",
                    help="with --default-only: also the same job on this generator folder (its folder name is the "
                    "model's name; e.g. the default assembled with another second stage), interleaved")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    d = deployment()
    args.also += [with_model(folder, d.root / "models") for folder in args.also_model]
    if args.default_only:
        try:
            d.start_redis()
            d.start_api()
            extra = args.also + ([f"superres_start={args.superres_start}"] if args.superres_start else [])
            result = default_job(d, args.repeats, {text: parse_variant(text) for text in extra})
        finally:
            d.stop_all()
        print(f"default job (4 images at {result['result']['resolution']} px, QC, PNG + DICOM): median "
              f"{result['median_s']:.1f} s over {args.repeats} on {THREADS} threads (target <= 8 s); worker pool "
              f"RSS {result['pool_rss_mb']:.0f} MB")
        for name, part in result["variants"].items():
            stage = part["result"].get("detail_stage") or f"{part['result']['superres_steps']} super-resolution steps"
            print(f"with {name} ({stage}): median "
                  f"{part['median_s']:.1f} s, {part['ratio_to_default']:.2f} x the default")
        command = "python -m bench.bench_service " + " ".join(sys.argv[1:])
        print(f"wrote {save('default_job', result | {'threads': THREADS, 'command': command})}")
        return
    try:
        d.start_redis()
        d.start_api()
        cold = first_image(d, args.cold, args.settle)
        d.start_worker("steady")
        d.wait_healthy()
        over = overhead(d, args.repeats, args.small)
    finally:
        d.stop_all()
    summary = []
    for warm in (False, True):
        sel = [r for r in cold if r["warm_up"] == warm]
        summary.append({"warm_up": warm, "first request s": median([r["first_image_s"] for r in sel]),
                        "next request s": median([r["next_request_s"] for r in sel]),
                        "pool RSS MB": median([r["pool_rss_mb"] for r in sel]),
                        "main RSS MB": median([r["main_rss_mb"] for r in sel])})
    print("POST /generate?finding=consolidation, every default (4 images, 15 steps, classifier guidance, QC, "
          "PNG + DICOM):")
    print(table(summary, ["warm_up", "first request s", "next request s", "pool RSS MB", "main RSS MB"]))
    print(f"\nservice {over['service_median_s']:.2f} s / bare pipeline {over['bare_median_s']:.2f} s = "
          f"{over['ratio']:.3f} (2 images, 25 steps; target <= 1.10)")
    print(f"small jobs (1 image, 2 steps): added latency p50 {over['small_added_p50_s'] * 1000:.0f} ms, "
          f"p95 {over['small_added_p95_s'] * 1000:.0f} ms over {args.small} jobs")
    print(f"spread of the service runs: {statistics.pstdev(over['service_s']):.3f} s")
    path = save("service", {"first_image": cold, "first_image_summary": summary, "overhead": over,
                            "threads": THREADS, "command": "python -m bench.bench_service " + " ".join(sys.argv[1:])})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
