"""The rule that chooses the super-resolution default on V: no noise-dominated image, within the job budget, lowest
judge FID."""

from __future__ import annotations

RULE = ("no noise-dominated image on V; of the settings whose default job meets the budget (benchmark, side by "
        "side), the lowest FID in the judge's features on V; when none meets it, the lowest FID of all")


def job_seconds(bench: dict) -> dict[tuple[float, int], float]:
    """Median seconds of the default job per (super-resolution start, steps) the benchmark ran."""
    runs = [bench] + list(bench.get("variants", {}).values())
    return {(float(r["result"]["superres_start"]), int(r["result"]["superres_steps"])): float(r["median_s"])
            for r in runs}


def choose(rows: list[dict], seconds: dict[tuple[float, int], float], budget_s: float) -> tuple[dict, list[dict]]:
    """The chosen row and every candidate with its job time (None where the benchmark did not run it)."""
    candidates = []
    for r in rows:
        if r["aug_step"] is None or r["noise_dominated"] > 0:
            continue
        key = (float(r.get("start", 1.0)), int(r["steps"]))
        candidates.append(r | {"job_seconds": seconds.get(key)})
    timed = [c for c in candidates if c["job_seconds"] is not None and c["job_seconds"] <= budget_s]
    return min(timed or candidates, key=lambda c: c["fid_judge"]), candidates
