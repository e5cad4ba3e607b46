"""The rule that chooses the second stage's default on V: no noise-dominated image, within the job budget, lowest
judge FID. Candidates are the diffusion super-resolution settings and, where the sweep scored it, the one-pass
detail network."""

from __future__ import annotations

RULE = ("no noise-dominated image on V; of the settings whose default job meets the budget (benchmark, side by "
        "side), the lowest FID in the judge's features on V; when none meets it, the lowest FID of all")

DETAIL = ("detail",)


def bench_key(result: dict) -> tuple:
    """What a benchmarked job ran as its second stage: the detail network, or the diffusion stage's start and
    steps."""
    if result.get("detail_stage"):
        return DETAIL
    return float(result["superres_start"]), int(result["superres_steps"])


def row_key(row: dict) -> tuple:
    """The same for a sweep row."""
    if row.get("stage") == "detail":
        return DETAIL
    return float(row.get("start", 1.0)), int(row["steps"])


def job_seconds(bench: dict) -> dict[tuple, float]:
    """Median seconds of the default job per second stage the benchmark ran."""
    runs = [bench] + list(bench.get("variants", {}).values())
    return {bench_key(r["result"]): float(r["median_s"]) for r in runs}


def choose(rows: list[dict], seconds: dict[tuple, float], budget_s: float) -> tuple[dict, list[dict]]:
    """The chosen row and every candidate with its job time (None where the benchmark did not run it)."""
    candidates = []
    for r in rows:
        if (r["aug_step"] is None and r.get("stage") != "detail") or r["noise_dominated"] > 0:
            continue  # bicubic is not a stage the service offers
        candidates.append(r | {"job_seconds": seconds.get(row_key(r))})
    timed = [c for c in candidates if c["job_seconds"] is not None and c["job_seconds"] <= budget_s]
    return min(timed or candidates, key=lambda c: c["fid_judge"]), candidates
