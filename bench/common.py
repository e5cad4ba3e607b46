"""Helpers for benchmarks: interleaved repeated timing, medians, a table printer and JSON output."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                sync: Callable[[], object] | None = None) -> dict[str, list[float]]:
    """Time each function `repeats` times, alternating between them so drift affects all alike.

    `sync` (e.g. torch.cuda.synchronize) runs before the clock starts and before it stops, so asynchronous
    device work is counted in the call that queued it."""
    sync = sync or (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`; NaN when empty."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def table(rows: list[dict], columns: list[str]) -> str:
    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  ".join(fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))
    return "\n".join(out)


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def save(name: str, payload: dict) -> Path:
    from models.runtime_info import code_version, hardware

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload | {"hardware": hardware(), "code_version": code_version()}, indent=2))
    return path


def wait_on_events(http, job_id: str, timeout: float = 600) -> dict | None:
    """The job as its server-sent-events stream reports it when it ends (how the web page waits)."""
    job = None
    with http.stream("GET", f"/jobs/{job_id}/events", timeout=timeout) as events:
        event = None
        for line in events.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "job":
                job = json.loads(line.split(":", 1)[1])
                if job["status"] in ("succeeded", "failed", "cancelled"):
                    break
    return job
