"""Training under torch.distributed on CPU (gloo): two ranks give the single-process run with the same global
batch, and every sample of an epoch is drawn exactly once across ranks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from core.redis_server import free_port
from models.distributed import Ranks
from models.training_utils import batch_indices
from tests.conftest import ADRENAL, NIH

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


SR_TINY = {"resolution": 32, "crop": 16, "block_out_channels": (8, 16), "batch_size": 4, "steps": 3,
           "warmup_steps": 1, "lr": 2e-3, "checkpoint_every": 100}


def train_superres(out: str) -> tuple[list[float], dict]:
    from models.data.nih import NIHChestXray
    from models.diffusion.superres_train import SuperResConfig, SuperResPairs, SuperResTrainer

    torch.set_num_threads(1)
    trainer = SuperResTrainer(SuperResPairs(NIHChestXray(NIH, "train", 32), 32, 4), out, SuperResConfig(**SR_TINY))
    trainer.run()
    return trainer.losses, {k: v.clone() for k, v in trainer.unet.state_dict().items()}


def train_classifier(out: str) -> tuple[list[float], dict]:
    """A one-member ensemble without dropout (its masks are per rank); 'losses' are the validation AUROC per epoch,
    computed on the trained weights."""
    from models.classifier.train import ClassifierConfig, train_classifier
    from models.data.nih import NIHChestXray

    torch.set_num_threads(1)
    seen: list[float] = []
    cfg = ClassifierConfig(resolution=16, members=1, width=4, epochs=2, batch_size=8, dropout=0.0, bootstrap=10)
    folder, _ = train_classifier(NIHChestXray(NIH, "train", 16), NIHChestXray(NIH, "val", 16), out, cfg,
                                 progress=lambda s, n, m, metrics: seen.append(metrics["val_auroc"]))
    from models.classifier.ensemble import ClassifierEnsemble

    if not (Path(out) / "model" / "radsynth.json").exists():  # a rank other than 0 writes nothing
        return seen, {}
    state = ClassifierEnsemble.load(folder).members[0].state_dict()
    return seen, {k: v.float() for k, v in state.items() if v.is_floating_point()}


def train_guide_tiny(out: str) -> tuple[list[float], dict]:
    """The noise-aware guide; its weights are saved in float16, so they compare at float16's resolution."""
    from models.data.nih import NIHChestXray
    from models.diffusion.guide import load_guide
    from models.diffusion.guide_train import train_guide

    torch.set_num_threads(1)
    folder = train_guide(NIHChestXray(NIH, "train", 16), out, steps=3, batch_size=8, lr=2e-3, widths=(8, 16),
                         groups=4, dropout=0.0, precision="fp32")
    training = Path(out) / "training.json"
    if not training.exists():  # a rank other than 0 writes nothing
        return [], {}
    losses = [json.loads(training.read_text())["final_loss"]]  # the mean of the 3 global-batch losses
    return losses, {k: v.float() for k, v in load_guide(folder, "cpu").state_dict().items()}


def train_volumes(out: str) -> tuple[list[float], dict]:
    """The 3D generator on AdrenalMNIST3D volumes at 8^3 (flips and label dropout on)."""
    from models.volumes.sources import open_volume_source
    from models.volumes.train3d import train_volume_generator

    torch.set_num_threads(1)
    src = open_volume_source(ADRENAL, "train", 8)
    pipe, summary = train_volume_generator(src.volumes[:16], src.labels[:16], src.findings, size=8, steps=3,
                                           batch_size=4, channels=(4, 8), lr=2e-3, warmup_steps=1, flip=True,
                                           bf16=False)
    return summary["losses"], {k: v.clone() for k, v in pipe.unet.state_dict().items()}


TRAINERS = {"generator": train, "superres": train_superres, "classifier": train_classifier,
            "guide": train_guide_tiny, "generator3d": train_volumes}
WEIGHT_TOLERANCE = {"guide": 2e-3}  # float16 on disk
EXPORTED = {"guide": "training.json", "generator3d": None}  # the 3D trainer returns the model; its callers save


def rank_main(rank: int, world: int, port: int, out: str, which: str = "generator") -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    losses, state = TRAINERS[which](out)
    if rank == 0:
        torch.save(state, os.path.join(out, "state.pt"))
        with open(os.path.join(out, "losses.json"), "w") as fh:
            json.dump(losses, fh)
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("which", ["generator", "superres", "classifier", "guide", "generator3d"])
def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path, which):
    single_losses, single_state = TRAINERS[which](str(tmp_path / "single"))
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(rank_main, args=(2, free_port(), str(out), which), nprocs=2, join=True)
    ddp_state = torch.load(out / "state.pt")
    ddp_losses = json.loads((out / "losses.json").read_text())
    np.testing.assert_allclose(ddp_losses, single_losses, rtol=1e-4)
    diffs = torch.cat([(ddp_state[k] - v).abs().flatten() for k, v in single_state.items()])
    # Summation order only. Adam turns a gradient that is nearly zero (a bias just before a GroupNorm) into a
    # full-size step whose sign that order decides, so a few weights may differ by up to a step (lr 2e-3);
    # training on another batch would move almost every weight by that much.
    tolerance = WEIGHT_TOLERANCE.get(which, 1e-4)
    share = float((diffs > tolerance).float().mean())
    assert share < 0.01, f"{share:.2%} of the weights differ by more than {tolerance}"
    assert float(diffs.median()) < 1e-6
    exported = EXPORTED.get(which, "model/radsynth.json")
    assert exported is None or (out / exported).exists()  # rank 0 exported
    if which == "generator":  # the model says how it was trained: ranks, backend, global batch
        spread = json.loads((out / "model" / "radsynth.json").read_text())["distributed"]
        assert spread["ranks"] == 2 and spread["backend"] == "gloo" and spread["per_rank_batch"] * 2 == \
            spread["global_batch"]


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
