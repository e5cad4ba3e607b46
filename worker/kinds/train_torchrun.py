"""Generator training jobs over several processes: the worker launches torchrun on its own host (one rank per GPU,
gloo CPU ranks where there is none), relays rank 0's progress, and stops every rank on cancel or when it dies.

A redelivered job (the worker's host died) launches again into the same run folder, and the run resumes from its
last checkpoint at whatever number of ranks it is given.
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.contracts import TrainParams
from worker.context import Context

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the worker process dies (torchrun then stops its ranks)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def torchrun_command(p: TrainParams, root: Path, fmt: str | None, run_dir: Path) -> list[str]:
    channels = ",".join(str(c) for c in (p.channels or (32, 64, 128, 128)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={p.ranks}",
           "-m", "models.cli", "train-generator", str(root), "--out", str(run_dir), "--progress-json",
           "--resolution", str(p.resolution), "--steps", str(p.steps), "--batch-size", str(p.batch_size),
           "--channels", channels, "--layers", "1", "--sample-every", str(max(1, p.steps) if p.preview else 0),
           "--checkpoint-every", str(max(1, min(250, p.steps // 4 or 1))), "--name", p.dataset]
    if fmt:
        cmd += ["--format", fmt]
    if p.findings:
        cmd += ["--findings", ",".join(p.findings)]
    return cmd


def train_generator_torchrun(ctx: Context, p: TrainParams, entry, run_dir: Path):
    """Run `radsynth train-generator` under torchrun with `p.ranks` processes; (model folder, result, files)."""
    root, fmt = entry.path, entry.format
    run_dir.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // p.ranks)
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    log = (run_dir / "torchrun.log").open("a")
    proc = subprocess.Popen(torchrun_command(p, root, fmt, run_dir), stdout=subprocess.PIPE, stderr=log, env=env,
                            text=True, start_new_session=True, preexec_fn=die_with_parent)
    last = collections.deque(maxlen=20)
    try:
        for line in proc.stdout:
            last.append(line)
            try:
                report = json.loads(line)
            except ValueError:
                continue
            if isinstance(report, dict) and "step" in report:
                ctx.progress(report["step"], report["total"], f"training on {p.ranks} ranks")
        code = proc.wait()
    except BaseException:  # cancelled (JobCancelled), or the worker is stopping
        os.killpg(proc.pid, signal.SIGTERM)  # torchrun and every rank
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    finally:
        log.close()
    if code != 0:
        tail = (run_dir / "torchrun.log").read_text()[-2000:]
        raise RuntimeError(f"torchrun with {p.ranks} ranks exited with {code}: {tail}")
    folder = run_dir / "model"
    meta = json.loads((folder / "training.json").read_text())
    files = {"loss.png": run_dir / "loss.png", "training.json": folder / "training.json"}
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if grids:
        files["samples.png"] = grids[-1]
    return folder, {"steps": meta.get("steps"), "final_loss": meta.get("final_loss"), "ranks": p.ranks,
                    "distributed": meta.get("distributed")}, files
