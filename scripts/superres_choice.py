"""Choose the super-resolution stage's default (where it starts, its steps, whether it keeps the base image's
coarse content) from a V sweep and the default-job benchmark, and write the choice beside the sweep.

    python -m scripts.superres_choice docs/realism/V/superres_cfg14/sweep.json \
        [--bench bench/results/default_job.json] [--budget-s 8]

Rule: of the super-resolution settings with no noise-dominated image on V, those whose default job
(`POST /generate?finding=consolidation`, 4 images at 256 px, timed side by side by `bench.bench_service
--default-only`) meets the issue's budget; of those, the lowest FID in the judge's features on V. When none meets
the budget, the lowest FID of all. Keeping the base image's coarse content costs one pooling and one upsampling
per image, so it takes the time of the same start and steps without it. Reads no test-split image.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.evaluation.superres_choice import RULE, choose, job_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sweeps", nargs="+", help="sweep.json files of scripts/superres_sweep.py on V (same base "
                    "images; per-row steps); the choice is written beside the first")
    ap.add_argument("--bench", default="bench/results/default_job.json",
                    help="the default-job benchmark with the candidates' starts and steps")
    ap.add_argument("--budget-s", type=float, default=8.0, help="seconds per default job (the target: 8)")
    args = ap.parse_args()
    rows, seen = [], set()
    for path in args.sweeps:
        for row in json.loads(Path(path).read_text())["rows"]:
            if row["name"] not in seen:
                rows.append(row | {"sweep": path})
                seen.add(row["name"])
    bench = json.loads(Path(args.bench).read_text())
    chosen, candidates = choose(rows, job_seconds(bench), args.budget_s)
    out = Path(args.sweeps[0]).with_name("choice.json")
    out.write_text(json.dumps({"rule": RULE, "budget_s": args.budget_s, "bench_command": bench.get("command"),
                               "bench_code_version": bench.get("code_version"), "candidates": candidates,
                               "chosen": chosen}, indent=2))
    print(f"chosen: {chosen['name']} (FID judge {chosen['fid_judge']:.1f}, job {chosen['job_seconds']} s); "
          f"wrote {out}")


if __name__ == "__main__":
    main()
