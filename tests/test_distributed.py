"""Training under torch.distributed on CPU (gloo): two ranks give the single-process run with the same global
batch, and every sample of an epoch is drawn exactly once across ranks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from models.distributed import Ranks
from models.training_utils import batch_indices
from tests.conftest import NIH
from worker.redis_server import free_port

TINY = {"resolution": 16, "block_out_channels": (8, 16), "layers_per_block": 1, "norm_num_groups": 4,
        "attention_head_dim": 4, "batch_size": 8, "warmup_steps": 2, "sample_every": 0, "augment": True,
        "lr": 2e-3, "checkpoint_every": 100, "steps": 4}


def train(out: str) -> tuple[list[float], dict]:
    from models.data.nih import NIHChestXray
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    torch.set_num_threads(1)
    trainer = GeneratorTrainer(NIHChestXray(NIH, "train", 16), out, GeneratorConfig(**TINY))
    trainer.run(resume=False)
    return trainer.losses, {k: v.clone() for k, v in trainer.unet.state_dict().items()}


def rank_main(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    losses, state = train(out)
    if rank == 0:
        torch.save(state, os.path.join(out, "state.pt"))
        with open(os.path.join(out, "losses.json"), "w") as fh:
            json.dump(losses, fh)
    torch.distributed.destroy_process_group()


def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path):
    single_losses, single_state = train(str(tmp_path / "single"))
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(rank_main, args=(2, free_port(), str(out)), nprocs=2, join=True)
    ddp_state = torch.load(out / "state.pt")
    ddp_losses = json.loads((out / "losses.json").read_text())
    np.testing.assert_allclose(ddp_losses, single_losses, rtol=1e-4)
    worst = max(float((ddp_state[k] - v).abs().max()) for k, v in single_state.items())
    assert worst < 1e-3, worst  # summation order only: below half of one optimiser step at lr 2e-3
    assert (out / "model" / "radsynth.json").exists()  # rank 0 exported


def test_every_sample_is_drawn_once_per_epoch_across_ranks():
    n, batch, world = 24, 6, 3
    drawn = []
    for step in range(n // batch):  # one epoch
        every = batch_indices(n, batch, step, seed=5)
        for rank in range(world):
            drawn += [every[p] for p in Ranks(rank, world).share(batch)]
    assert sorted(drawn) == list(range(n))
    with pytest.raises(ValueError, match="divide evenly"):
        Ranks(0, 4).share(6)
