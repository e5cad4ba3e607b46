"""Train a finding-conditional DDPM: AdamW, EMA, clipping, warmup, bf16 autocast, atomic resumable checkpoints."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel

from models.data.augment import augment
from models.data.base import ImageDataset
from models.diffusion.noise_check import NoiseCheck, fit_noise_check
from models.diffusion.pipeline import RadSynthPipeline, new_scheduler
from models.diffusion.unet import FindingUNet, drop_labels, with_null
from models.diffusion.weights import save_copy
from models.distributed import agree, barrier, init_from_env, mean_over_ranks, wrap
from models.io.writers import grid, label_rows, write_png
from models.runtime_info import code_version, hardware, pick_device
from models.training_utils import (
    ProgressFn,
    StepBatches,
    atomic_torch_save,
    batch_indices,
    batch_stream,
    bf16_default,
    load_batch,
    maybe_cache,
    optimise,
    plot_curves,
    rng_state,
    set_rng_state,
    smooth,
    step_generator,
)

CHECKPOINT = "checkpoint.pt"
BUNDLE_STATE = "resume.json"
NOISE_CHECK_IMAGES = 1000  # training images the served roughness limit is fitted on
FeatureFn = Callable[[np.ndarray], np.ndarray]


PREVIEW_STEPS = 20  # preview grids only show what the network draws: a fast sampler's few steps


@dataclass
class GeneratorConfig:
    """Hyperparameters of a generator training run (all recorded in the model's metadata)."""

    resolution: int = 64
    block_out_channels: Sequence[int] = (32, 64, 128, 128)
    layers_per_block: int = 2
    attention_head_dim: int = 8
    norm_num_groups: int | None = None  # None: the largest group count <= 32 that divides every width
    steps: int = 10_000
    batch_size: int = 32
    lr: float = 2e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 500
    lr_decay_from: int | None = None  # global step where a cosine decay of the learning rate starts (None: constant)
    lr_decay_steps: int = 2000  # the decay's length; the rate then stays at lr * lr_final_ratio
    lr_final_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    label_dropout: float = 0.15
    augment: bool = True
    augment_gamma: float = 0.15  # gamma jitter 1 +- this (exposure curve), on top of affine and contrast jitter
    prediction_type: str = "v_prediction"  # or "epsilon"; v-prediction fixed the noisy output of the 3D model
    min_snr_gamma: float | None = 5.0  # min-SNR-gamma loss weighting (Hang et al. 2023); None: plain MSE
    snapshot_every: int = 0  # keep an fp16 copy of the EMA weights every N steps (for curves against time)
    seed: int = 0
    num_workers: int = 0  # DataLoader processes decoding ahead of the loop (0: decode in the training process)
    checkpoint_every: int = 500
    sample_every: int = 1000
    samples_per_finding: int = 4
    fid_every: int = 0
    fid_samples: int = 200
    num_workers: int = 0
    device: str | None = None
    bf16: bool | None = None  # bfloat16 autocast of the UNet; None: on GPUs and AMX CPUs (bf16_default)
    dataset_name: str = ""
    extra: dict = field(default_factory=dict)

    def unet_kwargs(self) -> dict:
        levels = len(self.block_out_channels)
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if levels >= 3:  # attention at the second-lowest resolution, as in the DDPM paper's 16x16
            down[-2] = "AttnDownBlock2D"
            up[1] = "AttnUpBlock2D"
        return {"sample_size": self.resolution, "block_out_channels": tuple(self.block_out_channels),
                "layers_per_block": self.layers_per_block, "down_block_types": tuple(down),
                "up_block_types": tuple(up), "attention_head_dim": self.attention_head_dim,
                "norm_num_groups": self.norm_num_groups or norm_groups(self.block_out_channels)}


def norm_groups(widths: Sequence[int], most: int = 32) -> int:
    """GroupNorm needs a group count dividing every block width: the largest such count up to `most`."""
    common = math.gcd(*widths)
    return max(g for g in range(1, most + 1) if common % g == 0)


def min_snr_weight(alpha_bar: torch.Tensor, gamma: float, v_prediction: bool) -> torch.Tensor:
    """Per-sample loss weight of min-SNR-gamma (Hang et al. 2023), written for the model's own target:
    min(SNR, gamma) / SNR for epsilon, min(SNR, gamma) / (SNR + 1) for v, with SNR = alpha_bar / (1 - alpha_bar)."""
    snr = alpha_bar / (1 - alpha_bar).clamp_min(1e-12)
    clipped = snr.clamp(max=gamma)
    return clipped / (snr + 1) if v_prediction else clipped / snr.clamp_min(1e-12)


def lr_factor(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / max(1, warmup))


def lr_decay(step: int, start: int | None, length: int, final_ratio: float) -> float:
    """Cosine from 1 at `start` to `final_ratio` `length` steps later (1 before `start` or without one)."""
    if start is None or step < start:
        return 1.0
    progress = min(1.0, (step - start) / max(1, length))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class GeneratorTrainer:
    """Owns the model, optimiser, EMA and output folder of one run; `run()` trains to `config.steps`."""

    def __init__(self, train_ds: ImageDataset, out_dir: str | Path, config: GeneratorConfig, *,
                 val_ds: ImageDataset | None = None, features: FeatureFn | None = None,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None):
        self.cfg = config
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(pick_device(config.device))
        self.bf16 = bf16_default(str(self.device)) if config.bf16 is None else config.bf16
        self.train_ds = maybe_cache(train_ds, config.resolution)
        self.labels = list(train_ds.label_names)
        self.label_counts = train_ds.label_counts()
        self.val_ds = val_ds
        self.features = features
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        torch.manual_seed(config.seed)
        self.ranks = init_from_env()
        self.unet = FindingUNet(findings=self.labels, **config.unet_kwargs()).to(self.device)
        self.model = wrap(self.unet, self.ranks)
        self.scheduler = new_scheduler(prediction_type=config.prediction_type)
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.ema = EMAModel(self.unet.parameters(), decay=config.ema_decay, use_ema_warmup=True)
        self.ema.to(self.device)
        self.step = 0
        self.losses: list[float] = []
        self.fid_history: list[dict] = []
        self.grid_made: tuple[int, Path] | None = None  # (step, path) of the last preview grid
        self.started = time.time()
        self.wall_before = 0.0
        self.resume_warmup_from = 0  # a bundle resume starts a fresh optimiser: warm it up again
        self.on_checkpoint: Callable[[], object] | None = None
        self.batches: Iterator[dict] | None = None  # the DataLoader stream (num_workers > 0)
        self.batches_at = 0  # the step its next batch belongs to
        self.served_noise_check: NoiseCheck | None = None

    # -- checkpoints ---------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        state = {"unet": self.unet.state_dict(), "opt": self.opt.state_dict(), "ema": self.ema.state_dict(),
                 "step": self.step, "losses": self.losses, "fid": self.fid_history, "rng": rng_state(),
                 "config": asdict(self.cfg), "labels": self.labels, "wall": self.wall()}
        path = self.out / CHECKPOINT
        atomic_torch_save(state, path)
        return path

    def try_resume(self) -> bool:
        path = self.out / CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["labels"] != self.labels:
            raise ValueError(f"checkpoint in {self.out} was trained on other findings: {state['labels']}")
        self.unet.load_state_dict(state["unet"])
        self.opt.load_state_dict(state["opt"])
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)
        self.step = state["step"]
        self.losses = state["losses"]
        self.fid_history = state["fid"]
        self.wall_before = state.get("wall", 0.0)
        set_rng_state(state["rng"])
        return True

    def resume_from_bundle(self, bundle: str | Path) -> None:
        """Start from a bundled run (see `bundle`): online (else EMA) and EMA weights, step count, loss history.

        The optimiser's moments are not bundled (they would triple its size); they rebuild within the warmup.
        """
        bundle = Path(bundle)
        state = json.loads((bundle / BUNDLE_STATE).read_text())
        if state["labels"] != self.labels:
            raise ValueError(f"bundle {bundle} was trained on other findings: {state['labels']}")
        ema = FindingUNet.from_pretrained(bundle / "unet", local_files_only=True, low_cpu_mem_usage=False,
                                          torch_dtype=torch.float32)
        # A bundle may carry its EMA weights only (what a commit should hold); training then goes on from them.
        online = FindingUNet.from_pretrained(bundle / "online", local_files_only=True, low_cpu_mem_usage=False,
                                             torch_dtype=torch.float32) if (bundle / "online").exists() else ema
        self.unet.load_state_dict(online.state_dict())
        self.ema = EMAModel(ema.parameters(), decay=self.cfg.ema_decay, use_ema_warmup=True)
        self.ema.optimization_step = state["step"]
        self.ema.to(self.device)
        self.step = state["step"]
        self.losses = state["losses"]
        self.wall_before = state["wall_s"]
        self.resume_warmup_from = self.step

    def bundle(self, dest: str | Path) -> Path:
        """Write a servable model folder carrying the EMA weights, plus the online weights and the state a fresh
        machine needs to resume (`--init-from`); both in float16, which halves what a commit carries."""
        dest = Path(dest)
        self.served_pipeline().save(dest, metadata=self.metadata())
        save_copy(self.unet, dest / "online", half=True)
        state = {"step": self.step, "labels": self.labels, "losses": self.losses, "wall_s": round(self.wall(), 1),
                 "config": asdict(self.cfg)}
        (dest / BUNDLE_STATE).write_text(json.dumps(state, default=str))
        return dest

    def snapshot(self) -> Path:
        """An fp16 copy of the EMA UNet at this step, for measuring quality against training time later."""
        folder = self.out / "snapshots" / f"step_{self.step:07d}"
        save_copy(self.ema_pipeline().unet, folder, half=True)
        (folder / "time.json").write_text(json.dumps({"step": self.step, "wall_s": round(self.wall(), 1)}))
        return folder

    def wall(self) -> float:
        return self.wall_before + time.time() - self.started

    # -- one step --------------------------------------------------------------------------------------
    def train_step(self) -> float:
        """One optimiser step on this rank's share of the global batch; returns the share's loss."""
        cfg = self.cfg
        positions = self.ranks.share(cfg.batch_size)
        batch = self.next_batch()
        gens = [step_generator(cfg.seed, self.step, stream=1 + p) for p in positions]  # per sample: rank-free
        images, labels = batch["image"], with_null(batch["labels"])
        if cfg.augment:
            images = torch.cat([augment(images[i:i + 1], generator=g, gamma=cfg.augment_gamma)
                                for i, g in enumerate(gens)])
        labels = torch.cat([drop_labels(labels[i:i + 1], cfg.label_dropout, generator=g) for i, g in enumerate(gens)])
        noise = torch.stack([torch.randn(images.shape[1:], generator=g) for g in gens])
        steps = self.scheduler.config.num_train_timesteps
        t = torch.cat([torch.randint(0, steps, (1,), generator=g) for g in gens])
        images, noise, t, labels = (x.to(self.device) for x in (images, noise, t, labels))
        noisy = self.scheduler.add_noise(images, noise, t)
        for group in self.opt.param_groups:
            group["lr"] = (cfg.lr * lr_factor(self.step - self.resume_warmup_from, cfg.warmup_steps)
                           * lr_decay(self.step, cfg.lr_decay_from, cfg.lr_decay_steps, cfg.lr_final_ratio))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            pred = self.model(noisy, t, labels)
        loss = self.loss(pred.float(), images, noise, t)
        value = optimise(self.unet, self.opt, self.ema, loss, cfg.grad_clip)
        self.step += 1
        return mean_over_ranks(self.ranks, value)

    def next_batch(self) -> dict:
        """This rank's share of the batch of the current step: decoded by `num_workers` DataLoader processes ahead
        of the loop (a stream that restarts at the current step after a resume), or here when there are none."""
        cfg = self.cfg
        if cfg.num_workers == 0:
            every = batch_indices(len(self.train_ds), cfg.batch_size, self.step, cfg.seed)
            return load_batch(self.train_ds, [every[p] for p in self.ranks.share(cfg.batch_size)])
        if self.batches is None or self.batches_at != self.step:
            sampler = StepBatches(len(self.train_ds), cfg.batch_size, cfg.seed, self.ranks.share(cfg.batch_size),
                                  self.step, cfg.steps)
            self.batches = batch_stream(self.train_ds, sampler, workers=cfg.num_workers,
                                        pin_memory=self.device.type == "cuda")
            self.batches_at = self.step
        self.batches_at += 1
        return next(self.batches)

    def loss(self, pred: torch.Tensor, images: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """MSE to the target of the prediction type, weighted per sample by min-SNR-gamma when set."""
        v_pred = self.cfg.prediction_type == "v_prediction"
        target = self.scheduler.get_velocity(images, noise, t) if v_pred else noise
        per_sample = ((pred - target) ** 2).mean(dim=(1, 2, 3))
        if self.cfg.min_snr_gamma:
            per_sample = per_sample * min_snr_weight(self.scheduler.alphas_cumprod.to(t.device)[t],
                                                     self.cfg.min_snr_gamma, v_pred)
        return per_sample.mean()

    # -- evaluation and outputs ------------------------------------------------------------------------
    def ema_pipeline(self) -> RadSynthPipeline:
        """A pipeline over a copy of the UNet carrying the EMA weights."""
        unet = FindingUNet.from_config(self.unet.config).to(self.device)
        self.ema.copy_to(unet.parameters())
        return RadSynthPipeline(unet=unet.eval(), scheduler=self.scheduler)

    def served_pipeline(self) -> RadSynthPipeline:
        """The EMA pipeline as the service runs it: with a noise check fitted on (up to 1,000 of) the training
        images. Training-time samples and FID use the raw `ema_pipeline`, so the curve measures the network."""
        pipe = self.ema_pipeline()
        if self.served_noise_check is None and len(self.train_ds) >= 20:
            self.served_noise_check = fit_noise_check(real_images(self.train_ds, NOISE_CHECK_IMAGES),
                                                      size=self.cfg.resolution, dataset=cfg_dataset(self.cfg))
        pipe.noise_check = self.served_noise_check
        return pipe

    def sample_grid(self, pipe: RadSynthPipeline) -> Path:
        """The preview grid at this step (one labelled row per finding present, `samples_per_finding` each, from
        the raw EMA network: no redraws), made once per step and reported row by row with a time estimate."""
        if self.grid_made is not None and self.grid_made[0] == self.step:
            return self.grid_made[1]
        k = self.cfg.samples_per_finding
        present = [name for name in self.labels if self.label_counts.get(name, 0) > 0]
        rows, started = [], time.time()
        for j, name in enumerate(present):
            left = f", about {(time.time() - started) / j * (len(present) - j):.0f} s left" if j else ""
            self.report(f"sampling preview grid: finding {j + 1} of {len(present)}{left}")
            out = pipe(name, k, seeds=[1000 * j + i for i in range(k)], num_inference_steps=PREVIEW_STEPS)
            rows.extend(list(out.images))
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        write_png(path, label_rows(grid(rows, cols=k), present), text={"findings": present, "step": self.step,
                                                                      "radsynth_artifact": "training preview grid"})
        (self.out / "samples" / "rows.json").write_text(json.dumps(present))
        self.grid_made = (self.step, path)
        return path

    def measure_fid(self, pipe: RadSynthPipeline) -> dict:
        from models.metrics.fid import fid_kid_from_features

        real = real_images(self.val_ds, self.cfg.fid_samples)
        n = len(real)
        counts = real_label_mix(self.val_ds, n)
        fake = []
        seed = 10_000
        for name, count in counts.items():
            if count:
                fake.append(pipe(name, count, seeds=list(range(seed, seed + count)), num_inference_steps=25).images)
                seed += count
        fake_arr = np.concatenate(fake)
        result = fid_kid_from_features(self.features(real), self.features(fake_arr))
        result["step"] = self.step
        return result

    def write_plots(self) -> None:
        steps = list(range(1, len(self.losses) + 1))
        sm = smooth(self.losses)
        plot_curves(self.out / "loss.png", {"loss (smoothed)": list(zip(steps, sm, strict=True))},
                    title="denoising loss", ylabel="MSE", log=True)
        if self.fid_history:
            plot_curves(self.out / "fid.png", {"FID": [(h["step"], h["fid"]) for h in self.fid_history]},
                        title="FID vs held-out (domain features)", ylabel="FID")
            plot_curves(self.out / "kid.png", {"KID": [(h["step"], h["kid_mean"]) for h in self.fid_history]},
                        title="KID vs held-out (domain features)", ylabel="KID")
            (self.out / "fid.json").write_text(json.dumps(self.fid_history, indent=2))

    def report(self, message: str, **metrics) -> None:
        if self.progress:
            self.progress(self.step, self.cfg.steps, message, metrics)

    # -- the loop --------------------------------------------------------------------------------------
    def run(self, *, resume: bool = True) -> Path:
        """Train (resuming from the folder's checkpoint if present) and write the final model folder.

        Under torchrun every rank trains; rank 0 alone samples, measures, checkpoints and exports."""
        cfg = self.cfg
        main = self.ranks.main
        if resume and self.try_resume():  # first: every report carries the step it resumed at, never 0
            self.report(f"resumed at step {self.step}")
        spread = self.ranks.describe(cfg.batch_size)
        self.report(f"training on {spread['ranks']} rank(s), backend {spread['backend']}, global batch "
                    f"{spread['global_batch']} ({spread['per_rank_batch']} per rank)")
        self.unet.train()
        while self.step < cfg.steps:
            if agree(self.ranks, self.should_stop()):
                if main:
                    self.save_checkpoint()
                raise InterruptedError(f"stopped at step {self.step}; checkpoint saved")
            self.losses.append(self.train_step())
            if not main:
                continue
            if self.step % 10 == 0 or self.step == cfg.steps:
                self.report("training", loss=float(np.mean(self.losses[-10:])))
            if cfg.sample_every and self.step % cfg.sample_every == 0:
                self.sample_grid(self.ema_pipeline())
            if cfg.fid_every and self.features and self.val_ds and self.step % cfg.fid_every == 0:
                self.report("measuring FID/KID")
                self.fid_history.append(self.measure_fid(self.ema_pipeline()))
            if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                self.snapshot()
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save_checkpoint()
                self.write_plots()
                if self.on_checkpoint:
                    self.on_checkpoint()
        final = self.export() if main else self.out / "model"
        barrier(self.ranks)
        return final

    def metadata(self) -> dict:
        return {
            "dataset": cfg_dataset(self.cfg), "images": len(self.train_ds), "images_per_finding": self.label_counts,
            "steps": self.step, "epochs": round(self.step * self.cfg.batch_size / max(1, len(self.train_ds)), 2),
            "hardware": hardware() | {"bf16": self.bf16}, "wall_time_s": round(self.wall(), 1),
            "code_version": code_version(),
            "config": asdict(self.cfg), "final_loss": float(np.mean(self.losses[-100:])) if self.losses else None,
            "fid_history": self.fid_history, "distributed": self.ranks.describe(self.cfg.batch_size),
        }

    def export(self) -> Path:
        pipe = self.served_pipeline()
        final = self.out / "model"
        meta = self.metadata()
        pipe.save(final, metadata=meta)
        (final / "training.json").write_text(json.dumps(meta, indent=2, default=str))
        self.write_plots()
        if self.cfg.sample_every:  # the grid of this step if the loop made one, from the raw EMA network
            shutil.copyfile(self.sample_grid(self.ema_pipeline()), final / "samples.png")
        return final


def cfg_dataset(cfg: GeneratorConfig) -> str:
    return cfg.dataset_name or "unnamed"


def real_images(ds: ImageDataset, n: int) -> np.ndarray:
    """The first `n` images of a dataset in [0, 1] (N, H, W), in a fixed order."""
    n = min(n, len(ds))
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(n)])


def real_label_mix(ds: ImageDataset, n: int) -> dict[str, int]:
    """How many of the first `n` images carry each label combination's primary label (for matched FID)."""
    counts: dict[str, int] = {}
    for record in ds.records[:n]:
        primary = record.labels[0] if record.labels else ds.label_names[-1]
        counts[primary] = counts.get(primary, 0) + 1
    return counts
