"""What the cross-job batcher adds to a lone generate job, measured where it happens (the worker's claim step).

    python -m bench.bench_batch_wait [--repeats 40] [--wait 0.1]

A real redis-server and the worker's own JobStore and `wait_for_companions`: the time from the job's start to
the moment it samples alone, (a) with an empty queue, (b) with 15 queued jobs that cannot share its batch (other
sampler), and (c) with batching off (wait 0). The bound: added latency <= the wait + 10%. The
end-to-end lone-job figure of bench_batching includes sampling-time noise of seconds; this isolates the batcher.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import median, pct, save, table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--wait", type=float, default=0.1)
    args = ap.parse_args()
    from core.contracts import GenerateParams
    from core.jobs import JobStore
    from core.redis_server import free_port, start_redis
    from worker.batching import batch_key, wait_for_companions

    root = Path(tempfile.mkdtemp(prefix="radsynth-bench-"))
    port = free_port()
    redis = start_redis(port, root / "redis")
    try:
        store = JobStore.from_url(f"redis://127.0.0.1:{port}/0")
        model = ROOT / "models" / "pretrained" / "nih-cxr14"
        lone = {"finding": "Consolidation", "n": 1, "steps": 25, "seed": 1}

        def key_of(p: GenerateParams):
            return batch_key(p, model, p.steps or 25)

        def added(wait: float, others: int) -> float:
            for i in range(others):  # queued jobs that cannot join (another sampler)
                store.create("generate", "bench", lone | {"sampler": "ddim", "seed": 100 + i})
            lead, _ = store.create("generate", "bench", lone)
            t0 = time.perf_counter()
            lead = store.start(lead.id, lead.generation, runner="bench")
            claimed = wait_for_companions(store, lead, key_of(GenerateParams.model_validate(lone)), 31, wait,
                                          runner="bench", heartbeat_timeout=120, key_of=key_of)
            seconds = time.perf_counter() - t0
            assert not claimed
            store.r.flushdb()
            return seconds

        rows, raw = [], {}
        for name, wait, others in (("empty queue", args.wait, 0), ("15 incompatible queued", args.wait, 15),
                                   ("batching off (wait 0)", 0.0, 0)):
            values = [added(wait, others) for _ in range(args.repeats)]
            raw[name] = values
            bound = wait * 1.1 if wait else None
            rows.append({"case": name, "wait_ms": wait * 1000, "added_p50_ms": median(values) * 1000,
                         "added_p95_ms": pct(values, 0.95) * 1000, "bound_ms": bound * 1000 if bound else None,
                         "met": (median(values) <= bound) if bound else None})
        print(table(rows, ["case", "wait_ms", "added_p50_ms", "added_p95_ms", "bound_ms", "met"]))
        print(f"wrote {save('batch_wait', {'rows': rows, 'seconds': raw, 'repeats': args.repeats})}")
    finally:
        redis.kill()
        redis.wait()


if __name__ == "__main__":
    main()
