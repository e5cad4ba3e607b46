"""Scaling of the generator trainer on this machine: one process vs two gloo ranks under torchrun.

    python -m bench.bench_ddp [--steps 12] [--repeats 3]

The same run (the bundled UNet widths at 64 px, global batch 32, the NIH demo data set) as `radsynth
train-generator` with 2 torch threads in one process, and as `torchrun --nproc_per_node=2` with 1 thread per rank
(the machine's 2 cores either way). Seconds per step are read from the runs' checkpoint wall clocks, after a
2-step warm-up, median of `--repeats`. Both use the same 2 cores, so the efficiency of the 2-rank run is its rate
over the 1-rank rate: what data-parallel splitting costs (gradient all-reduce, smaller per-rank batches) against
one process using both cores through its threads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, save, table

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT / "datasets" / "nih-cxr14-64"
BATCH = 32


def run(ranks: int, steps: int, out: Path) -> float:
    """Seconds per step of one training run (the first 2 steps excluded)."""
    args = [str(DATA), "--out", str(out), "--steps", str(steps), "--batch-size", str(BATCH), "--layers", "2",
            "--channels", "32,64,128,128", "--sample-every", "0", "--checkpoint-every", "1000", "--fresh"]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(2 // ranks)}
    if ranks == 1:
        cmd = [sys.executable, "-m", "models.cli", "train-generator", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
               "-m", "models.cli", "train-generator", *args]
    warm = [*cmd[:cmd.index("--steps") + 1], "2", *cmd[cmd.index("--steps") + 2:]]
    subprocess.run(warm, check=True, env=env, cwd=ROOT, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    t_full = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(warm, check=True, env=env, cwd=ROOT, capture_output=True)
    t_warm = time.perf_counter() - t0
    return (t_full - t_warm) / (steps - 2)  # start-up, data loading and export cancel out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="radsynth-ddp-") as tmp:
        for ranks in (1, 2):
            per_step = [run(ranks, args.steps, Path(tmp) / f"r{ranks}-{i}") for i in range(args.repeats)]
            rows.append({"ranks": ranks, "threads per rank": 2 // ranks, "s/step": median(per_step),
                         "samples/s": BATCH / median(per_step), "runs": per_step})
    one, two = rows[0]["samples/s"], rows[1]["samples/s"]
    rows[1]["efficiency"] = two / one
    print(f"train-generator, global batch {BATCH}, 64 px, {args.steps} steps, median of {args.repeats} (2 cores):")
    print(table(rows, ["ranks", "threads per rank", "s/step", "samples/s", "efficiency"]))
    command = "python -m bench.bench_ddp " + " ".join(sys.argv[1:])
    print(f"wrote {save('ddp_scaling', {'rows': rows, 'batch': BATCH, 'command': command})}")


if __name__ == "__main__":
    main()
