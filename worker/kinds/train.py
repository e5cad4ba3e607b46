"""Train jobs: a 2D generator, a classifier ensemble or a 3D volume generator on a registered data set,
installed into the owner's models when it ends."""

from __future__ import annotations

import importlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from core.contracts import Artifact, JobRecord, TrainParams
from core.datasets import visible
from core.settings import get_settings
from models.vocabulary.model_kinds import model_kind
from worker import runtime
from worker.context import Context, JobCancelled


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    """Train the job's kind with the worker function its registry entry names; install what it trained."""
    p = TrainParams.model_validate(ctx.job.params)
    s = get_settings()
    entry = visible(s, ctx.job.owner)[p.dataset]
    run_dir = s.data_dir / "runs" / ctx.job.id  # survives redelivery: training resumes from its checkpoint
    kind = model_kind(p.kind)
    runner = import_runner(kind.distributed_runner if p.ranks > 1 else kind.train_runner)
    if not kind.installs_model:
        return runner(ctx, p, entry, run_dir)
    folder, result, files = runner(ctx, p, entry, run_dir)
    target = install_trained_model(folder, p.name, ctx.job)
    runtime.artifact_store().publish_model(target, target.name)  # other hosts sync it from a shared store
    for name, src in files.items():
        shutil.copyfile(src, ctx.workdir / name)
    result |= {"model": p.name, "kind": p.kind, "dataset": p.dataset}
    return result, ctx.store(list(files))


def install_trained_model(folder: Path, name: str, job: JobRecord) -> Path:
    """Move a trained model into the owner's namespace of the trained-models folder, recording its owner.

    It never replaces a folder another job created (a name taken meanwhile fails this job instead); only a
    redelivery of this same job may replace what its earlier delivery installed."""
    from models.catalog import owned_folder_name
    from models.errors import InputError

    s = get_settings()
    target = s.trained_models_dir / owned_folder_name(job.owner, name)
    staging = s.trained_models_dir / f".{target.name}.{job.id}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    info = json.loads((staging / "radsynth.json").read_text())
    info |= {"created": time.time(), "trained_by_job": job.id, "owner": job.owner, "model_name": name,
             "shared": False}
    (staging / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    if target.exists():
        previous = json.loads((target / "radsynth.json").read_text()) if (target / "radsynth.json").exists() else {}
        if previous.get("trained_by_job") != job.id:
            shutil.rmtree(staging, ignore_errors=True)
            raise InputError(f"you already have a model named {name!r} (trained by another job); train again "
                             "with another name")
        shutil.rmtree(target)
    staging.rename(target)
    return target


def import_runner(path: str) -> Callable:
    """The function a "module:function" path names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def image_splits(p: TrainParams, entry) -> tuple:
    """The data set's train and val splits at the job's resolution, restricted to its findings."""
    from models.data.registry import open_dataset

    train = open_dataset(entry.path, "train", p.resolution, fmt=entry.format)
    val = open_dataset(entry.path, "val", p.resolution, fmt=entry.format)
    if p.findings:
        train.restrict(p.findings)
        val.restrict(p.findings)
    return train, val


def train_generator_job(ctx: Context, p: TrainParams, entry, run_dir: Path):
    """Train a 2D generator in this process; (model folder, result, files to attach)."""
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    train, val = image_splits(p, entry)

    cfg = GeneratorConfig(resolution=p.resolution, steps=p.steps, batch_size=p.batch_size,
                          block_out_channels=tuple(p.channels or (32, 64, 128, 128)), layers_per_block=1,
                          sample_every=max(1, p.steps) if p.preview else 0,
                          checkpoint_every=max(1, min(250, p.steps // 4 or 1)),
                          samples_per_finding=2, dataset_name=p.dataset)
    trainer = GeneratorTrainer(train, run_dir, cfg, val_ds=val,
                               progress=lambda s, t, m, _: ctx.progress(s, t, m),
                               should_stop=ctx.check_cancel)
    try:
        folder = trainer.run(resume=True)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    files = {"loss.png": run_dir / "loss.png", "training.json": folder / "training.json"}
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if grids:
        files["samples.png"] = grids[-1]
    result = {"steps": trainer.step, "final_loss": float(sum(trainer.losses[-20:]) / max(1, len(trainer.losses[-20:]))),
              "distributed": trainer.ranks.describe(cfg.batch_size)}
    return folder, result, files


def train_classifier_job(ctx: Context, p: TrainParams, entry, run_dir: Path):
    """Train a classifier ensemble; (model folder, result, files to attach)."""
    from models.classifier.train import ClassifierConfig, train_classifier

    train, val = image_splits(p, entry)

    cfg = ClassifierConfig(resolution=p.resolution, epochs=p.steps, batch_size=p.batch_size, dataset_name=p.dataset,
                           bootstrap=200)
    folder, report = train_classifier(train, val, run_dir, cfg, progress=lambda s, t, m, _: ctx.progress(s, t, m))
    files = {"report.json": run_dir / "report.json"}
    return folder, {"val_auroc": {k: v["auroc"] for k, v in report["val"].items()}}, files


def train_volume_job(ctx, p, entry, run_dir: Path) -> tuple[Path, dict, dict[str, Path]]:
    """Train a 3D generator on a volume data set; returns (model folder, result, files to attach)."""
    root, fmt = entry.path, entry.format
    from models.volumes.sources import open_volume_source
    from models.volumes.train3d import save_volume_model, train_volume_generator

    ctx.progress(0, p.steps, "reading volumes")
    src = open_volume_source(root, "train", p.resolution, fmt=fmt,
                             progress=lambda i, n: ctx.progress(0, p.steps, f"reading volumes {i}/{n}"))
    channels = tuple(p.channels or ((32, 64) if p.latent else (16, 32, 64)))
    try:
        if p.latent:
            from models.volumes.latent3d import train_latent_volume_generator

            pipe, summary = train_latent_volume_generator(
                src.volumes, src.labels, src.findings, ae_steps=p.steps, steps=p.steps, batch_size=p.batch_size,
                channels=channels, should_stop=ctx.check_cancel,
                progress=lambda stage, s, t, _: ctx.progress(s, t, f"training the {stage}")
                if s % 5 == 0 or s == t else None)
        else:
            pipe, summary = train_volume_generator(
                src.volumes, src.labels, src.findings, size=p.resolution, steps=p.steps, batch_size=p.batch_size,
                channels=channels, device=runtime.device(),
                progress=lambda s, t, loss: ctx.progress(s, t, "training") if s % 5 == 0 or s == t else None,
                should_stop=ctx.check_cancel)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    ctx.progress(p.steps, p.steps, "sampling previews")
    folder = save_volume_model(pipe, run_dir / "model", dataset=p.dataset, voxel_mm=src.voxel_mm, summary=summary)
    (folder / "training.json").write_text(json.dumps(summary, indent=2))
    files = {"samples.png": folder / "samples.png", "loss.png": folder / "loss.png",
             "training.json": folder / "training.json"}
    return folder, {"steps": p.steps, "final_loss": summary["final_loss"], "volumes": len(src.volumes)}, files


def augmentation_study_job(ctx: Context, p: TrainParams, real, run_dir: Path):
    """Classifiers on real only, real + synthetic at each ratio and synthetic only; tested on real test patients."""
    synthetic = visible(get_settings(), ctx.job.owner)[p.synthetic or ""]
    from models.data.registry import open_dataset, open_splits
    from models.errors import InputError
    from models.workflows.augmentation_study import StudyConfig, run_study

    try:
        splits = open_splits(real.path, p.resolution, fmt=real.format, test_share=p.test_share)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    syn = open_dataset(synthetic.path, "all", p.resolution, fmt=synthetic.format)
    cfg = StudyConfig(ratios=tuple(p.ratios or (0.5, 1.0)), seeds=tuple(range(p.seeds)), resolution=p.resolution,
                      epochs=p.steps, batch_size=p.batch_size, findings=p.findings)
    report = run_study(splits, syn, run_dir, cfg, progress=lambda d, t, m: ctx.progress(d, t, m))
    for name in ("study.json", "study.png"):
        shutil.copyfile(run_dir / name, ctx.workdir / name)
    verdicts = {f: e["verdict"] for f, e in report["per_finding"].items()}
    auroc = {f: {a: round(v["auroc"], 4) for a, v in e["arms"].items()} for f, e in report["per_finding"].items()}
    result = {"kind": p.kind, "dataset": p.dataset, "synthetic": p.synthetic, "verdicts": verdicts,
              "test_auroc": auroc, "test_patients": report["test_patients"], "arms": report["arms"],
              "test_positives": {f: e["test_positives"] for f, e in report["per_finding"].items()}}
    return result, ctx.store(["study.json", "study.png"])
