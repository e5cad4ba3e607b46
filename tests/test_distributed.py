"""Training under torch.distributed on CPU (gloo): two ranks give the single-process run with the same global
batch, and every sample of an epoch is drawn exactly once across ranks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from core.redis_server import free_port
from models.distributed import Ranks
from models.training_utils import batch_indices
from tests.conftest import NIH

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


def dying_rank_main(rank: int, world: int, port: int, out: str) -> None:
    """Rank 1 dies (as a killed process would) after step 3; rank 0 must fail, not hang."""
    import sys

    from models.data.nih import NIHChestXray
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    config = GeneratorConfig(**(TINY | {"steps": 50, "checkpoint_every": 2}))
    trainer = GeneratorTrainer(NIHChestXray(NIH, "train", 16), out, config)
    if rank == 1:
        trainer.should_stop = lambda: False
        original = trainer.train_step

        def step_then_die() -> float:
            if trainer.step == 3:
                os._exit(1)
            return original()

        trainer.train_step = step_then_die
    try:
        trainer.run(resume=False)
    except Exception as exc:  # noqa: BLE001 - rank 0 records how it ended
        with open(os.path.join(out, "rank0.txt"), "w") as fh:
            fh.write(type(exc).__name__)
        sys.exit(3)


def test_a_killed_rank_fails_the_run_cleanly_and_it_resumes_on_another_rank_count(tmp_path):
    import multiprocessing
    import time

    out = tmp_path / "run"
    out.mkdir()
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=dying_rank_main, args=(r, 2, port, str(out))) for r in range(2)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode is not None for p in procs), "a rank hung after its peer died"
    assert procs[1].exitcode == 1 and procs[0].exitcode != 0
    assert time.monotonic() - t0 < 120
    assert (out / "checkpoint.pt").exists()

    from models.data.nih import NIHChestXray
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    saved = torch.load(out / "checkpoint.pt", weights_only=False)["step"]
    assert saved == 2
    resumed = GeneratorTrainer(NIHChestXray(NIH, "train", 16), out, GeneratorConfig(**(TINY | {"steps": 5})))
    resumed.run()  # one rank now
    assert resumed.step == 5 and len(resumed.losses) == 5
