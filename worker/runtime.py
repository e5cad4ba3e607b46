"""Per-worker-process state: settings, stores, and models loaded once and cached (never per task)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from core.artifacts import ArtifactStore
from core.jobs import JobStore
from core.settings import get_settings
from core.stores import open_store

_lock = threading.Lock()
_models: OrderedDict[tuple, object] = OrderedDict()
CACHE_SIZE = 6


@lru_cache
def job_store() -> JobStore:
    return JobStore.from_url(get_settings().redis_url)


def artifact_store() -> ArtifactStore:
    return open_store(get_settings())


def device() -> str:
    from models.runtime_info import pick_device

    return pick_device()


def cached(kind: str, folder: Path, loader):
    """Load `folder` with `loader` once per process; the key includes its config's mtime (retrained = reload)."""
    meta = folder / "radsynth.json"
    key = (kind, str(folder.resolve()), meta.stat().st_mtime_ns if meta.exists() else 0)
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    value = loader(folder)
    with _lock:
        _models[key] = value
        while len(_models) > CACHE_SIZE:
            _models.popitem(last=False)
    return value


def generator(folder: Path):
    from models.diffusion.pipeline import RadSynthPipeline

    def load(f: Path) -> RadSynthPipeline:
        pipe = RadSynthPipeline.load(f, device=device())
        if get_settings().compile:
            from models.diffusion.speed import optimize_unet

            optimize_unet(pipe.unet, channels_last=True, compile=True)
        return pipe

    return cached("generator", folder, load)


def volume_generator(folder: Path):
    from models.volumes.latent3d import load_volume_pipeline

    return cached("volume generator", folder, lambda f: load_volume_pipeline(f, device=device()))


def classifier(folder: Path):
    from models.classifier.ensemble import ClassifierEnsemble

    return cached("classifier", folder, lambda f: ClassifierEnsemble.load(f, device=device()))


def qc_context(generator_folder: Path):
    """The QC checker of a generator: its index plus the classifier it was built with (or the default)."""
    from models.catalog import resolve_model
    from models.qc.context import QCContext, load_index, qc_classifier_name

    settings = get_settings()
    name = qc_classifier_name(generator_folder, settings.default_classifier)
    clf_folder = resolve_model(name, kind="classifier", extra=settings.model_search_dirs())
    index = cached("qc-index", generator_folder, load_index)
    return QCContext(classifier(clf_folder), index, clf_folder.name)


def find_model(name: str | None, kind: str, owner: str | None = None) -> Path:
    """A model folder by name as `owner` sees it ("generator" also finds 3D volume generators), or the configured
    default."""
    from models.catalog import resolve_model, service_kinds

    s = get_settings()
    default = s.default_model(kind)
    kinds = service_kinds(kind)
    try:
        return resolve_model(name or default, kind=kinds, extra=s.model_search_dirs(), owner=owner)
    except ValueError:
        # Trained on another host: fetch it from the shared store (a no-op for the local store).
        if not artifact_store().sync_models(s.trained_models_dir, force=True):
            raise
        return resolve_model(name or default, kind=kinds, extra=s.model_search_dirs(), owner=owner)
