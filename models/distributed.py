"""torch.distributed for the trainers: one process per GPU (NCCL) or CPU rank (gloo), started by torchrun.

Every rank draws its share of the same global batch: the batch's sample positions come from one seeded epoch
permutation and each position's randomness (augmentation, label dropout, noise, timestep) from a generator keyed
by (seed, step, position). So a run gives the same global batch, and the same weights up to summation order, at
any number of ranks, and resumes with a different one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def describe(self, global_batch: int) -> dict:
        """How a run was spread: ranks, backend and the global batch (what its log and radsynth.json record)."""
        backend = dist.get_backend() if self.world > 1 and dist.is_initialized() else "none (one process)"
        return {"ranks": self.world, "backend": backend, "global_batch": global_batch,
                "per_rank_batch": global_batch // max(1, self.world)}

    def share(self, global_batch: int) -> range:
        """The positions of the global batch this rank trains on (contiguous, equal shares)."""
        if global_batch % self.world:
            raise ValueError(f"the global batch ({global_batch}) must divide evenly over {self.world} ranks")
        per = global_batch // self.world
        return range(self.rank * per, (self.rank + 1) * per)


SINGLE = Ranks()


def init_from_env() -> Ranks:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR...); a plain run is one rank."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return Ranks(dist.get_rank(), dist.get_world_size())


def barrier(ranks: Ranks) -> None:
    if ranks.world > 1:
        dist.barrier()


def agree(ranks: Ranks, flag: bool) -> bool:
    """Rank 0's answer on every rank (a stop request must stop all ranks at the same step)."""
    if ranks.world == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.broadcast(value, src=0)
    return bool(value.item())


def mean_over_ranks(ranks: Ranks, value: float) -> float:
    """The mean of a per-rank number (each rank's share of the global batch is the same size)."""
    if ranks.world == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / ranks.world


def wrap(module: torch.nn.Module, ranks: Ranks) -> torch.nn.Module:
    """The module that trains: DistributedDataParallel across ranks (gradients averaged), else the module."""
    return module if ranks.world == 1 else torch.nn.parallel.DistributedDataParallel(module)
