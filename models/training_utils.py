"""Pieces shared by generator and classifier training: deterministic batches, caching, checkpoints, plots."""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

ProgressFn = Callable[[int, int, str, dict], None]


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A generator determined by (seed, step, stream): resumed runs draw exactly the same numbers."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step * 7919 + stream * 104_729) % (2**63 - 1))


def batch_indices(n: int, batch: int, step: int, seed: int) -> list[int]:
    """Indices of batch `step` in an endless stream of seeded epoch permutations."""
    start = step * batch
    out: list[int] = []
    while len(out) < batch:
        epoch, offset = divmod(start + len(out), n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1009 + epoch)).tolist()
        out.extend(perm[offset: offset + batch - len(out)])
    return out


class CachedDataset(Dataset):
    """Keeps decoded items of a small dataset in memory (used only when they fit a small budget)."""

    def __init__(self, base: Dataset):
        self.base = base
        self.cache: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict:
        if i not in self.cache:
            self.cache[i] = self.base[i]
        return self.cache[i]


def maybe_cache(ds: Dataset, resolution: int, budget_bytes: int = 512 * 2**20) -> Dataset:
    return CachedDataset(ds) if len(ds) * resolution * resolution * 4 <= budget_bytes else ds


class StepBatches(Sampler[list[int]]):
    """One rank's share of every global batch from step `start` to `stop`: the dataset indices `batch_indices`
    gives, so a DataLoader over it yields the batches the trainer would draw itself (and resumes at any step)."""

    def __init__(self, n: int, batch: int, seed: int, positions: range, start: int, stop: int):
        self.n, self.batch, self.seed, self.positions, self.start, self.stop = n, batch, seed, positions, start, stop

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            every = batch_indices(self.n, self.batch, step, self.seed)
            yield [every[p] for p in self.positions]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def collate_images(items: list[dict]) -> dict:
    return {"image": torch.stack([it["image"] for it in items]), "labels": torch.stack([it["labels"] for it in items])}


def batch_stream(ds: Dataset, sampler: StepBatches, *, workers: int = 0, pin_memory: bool = False) -> Iterator[dict]:
    """Decoded batches in step order; with `workers` > 0, that many processes decode ahead of the training loop
    (4 batches each), into pinned memory when training on a GPU."""
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=workers, collate_fn=collate_images,
                        pin_memory=pin_memory, persistent_workers=False,
                        prefetch_factor=4 if workers > 0 else None,
                        # spawned, not forked: forking a process that already runs threads can deadlock
                        multiprocessing_context="spawn" if workers > 0 else None)
    return iter(loader)


def load_batch(ds: Dataset, indices: list[int], pool=None) -> dict:
    items = list(pool.map(ds.__getitem__, indices)) if pool else [ds[i] for i in indices]
    return {"image": torch.stack([it["image"] for it in items]), "labels": torch.stack([it["labels"] for it in items])}


def optimise(model: torch.nn.Module, opt: torch.optim.Optimizer, ema, loss: torch.Tensor, grad_clip: float) -> float:
    """One optimiser step on `loss` with gradient clipping, then the EMA update; returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    ema.step(model.parameters())
    return float(loss.detach())


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def atomic_torch_save(obj: object, path: Path) -> None:
    """torch.save to a temporary file, fsync, then rename: a crash never leaves a half checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_curves(path: Path, series: dict[str, list[tuple[int, float]]], *, title: str, ylabel: str,
                log: bool = False) -> None:
    """Line plot of named (step, value) series to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for name, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def smooth(values: list[float], window: int = 50) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def bf16_default(device: str) -> bool:
    """bfloat16 autocast pays off on GPUs and on CPUs with AMX tiles (Sapphire Rapids and later)."""
    if torch.device(device).type == "cuda":
        return True
    try:
        with open("/proc/cpuinfo") as fh:
            return "amx_bf16" in fh.read()
    except OSError:
        return False


class CheckpointedTrainer:
    """The step loop, atomic checkpoints and resume that the image trainers share (the autoencoder, the detail
    network). A subclass sets `STATE` (the attributes saved: modules, optimisers, EMA), `LOSS_KEYS` (what progress
    shows) and `cfg` (with steps and checkpoint_every), and implements `train_step`, `bundle` and `export`."""

    STATE: tuple[str, ...] = ()
    LOSS_KEYS: tuple[str, ...] = ()
    CHECKPOINT = "checkpoint.pt"

    def __init__(self, out_dir: str | Path, progress: Callable | None, should_stop: Callable[[], bool] | None):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress, self.should_stop = progress, should_stop or (lambda: False)
        self.step, self.losses, self.wall_before, self.started, self.warmup_from = 0, [], 0.0, time.time(), 0

    def wall(self) -> float:
        return self.wall_before + time.time() - self.started

    def save_checkpoint(self) -> None:
        atomic_torch_save({name: getattr(self, name).state_dict() for name in self.STATE} | {
            "step": self.step, "losses": self.losses, "wall": self.wall()}, self.out / self.CHECKPOINT)

    def try_resume(self) -> bool:
        path = self.out / self.CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, weights_only=False)
        for name in self.STATE:
            getattr(self, name).load_state_dict(state[name])
        self.step, self.losses, self.wall_before = state["step"], state["losses"], state["wall"]
        return True

    def train_step(self) -> dict[str, float]:
        raise NotImplementedError

    def bundle(self, dest: str | Path) -> Path:
        raise NotImplementedError

    def export(self) -> Path:
        raise NotImplementedError

    def run(self, *, bundle_to: str | Path | None = None, on_checkpoint: Callable[[], None] | None = None) -> Path:
        """Train to `cfg.steps`, resuming from the folder's checkpoint; returns the exported model."""
        self.try_resume()
        for name in self.STATE:
            if isinstance(getattr(self, name), torch.nn.Module):
                getattr(self, name).train()
        while self.step < self.cfg.steps:
            if self.should_stop():
                self.save_checkpoint()
                raise InterruptedError(f"stopped at step {self.step}; checkpoint saved")
            self.losses.append(self.train_step())
            if self.progress and (self.step % 10 == 0 or self.step == self.cfg.steps):
                recent = self.losses[-10:]
                self.progress(self.step, self.cfg.steps, "training",
                              {k: float(np.mean([r[k] for r in recent])) for k in self.LOSS_KEYS})
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                self.save_checkpoint()
                if bundle_to:
                    self.bundle(bundle_to)
                if on_checkpoint:
                    on_checkpoint()
        return self.export()
