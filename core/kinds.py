"""The registry of job kinds: what the API accepts and the workers run, declared in one place.

A kind is its parameters model (whose validators are its checks), the queue it runs on, the setting that names
its default model, its output formats and its handler: a dotted path `module:function` that only the worker
imports, so this module (and the API) never reaches torch. Adding a kind is one handler module in
`worker/kinds/` plus one `register(...)` call; kinds from elsewhere (a plugin, a test) load from the modules
named in RADSYNTH_KIND_MODULES.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

from pydantic import BaseModel

from core.contracts import ClassifyParams, ExplainParams, GenerateParams, IngestParams, SynthesizeParams, TrainParams
from core.processes import INTERACTIVE_QUEUE, TRAIN_QUEUE
from models.vocabulary.output_formats import FORMATS_OF

QUEUES = (INTERACTIVE_QUEUE, TRAIN_QUEUE)  # interactive jobs never wait behind training


@dataclass(frozen=True)
class JobKindSpec:
    """One job kind."""

    name: str
    params: type[BaseModel]
    queue: str
    handler: str  # "package.module:function", called with the job's worker Context
    summary: str
    default_model_setting: str | None = None  # the Settings field naming the model a request gets by default
    formats: tuple[str, ...] = ()
    route: str | None = None  # its own route (checks against models, uploads); None: POST /kinds/{kind}/jobs


class UnknownKind(KeyError):
    """A kind that nothing registered."""

    def __str__(self) -> str:
        return f"unknown job kind {self.args[0]!r}; known: {', '.join(names())}"


_KINDS: dict[str, JobKindSpec] = {}
_plugins_loaded = False


def register(spec: JobKindSpec) -> JobKindSpec:
    """Add a kind (or replace one of the same name, for operators who override a handler)."""
    if spec.queue not in QUEUES:
        raise ValueError(f"kind {spec.name}: queue must be one of {QUEUES}, got {spec.queue!r}")
    if ":" not in spec.handler:
        raise ValueError(f"kind {spec.name}: handler must be 'module:function', got {spec.handler!r}")
    _KINDS[spec.name] = spec
    return spec


def load_plugins() -> None:
    """Import the modules in RADSYNTH_KIND_MODULES (comma-separated) once; each registers its kinds."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("RADSYNTH_KIND_MODULES", "").split(","))):
        importlib.import_module(module)


def get(name: str) -> JobKindSpec:
    load_plugins()
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKind(name) from None


def names() -> list[str]:
    load_plugins()
    return sorted(_KINDS)


def queue_of(name: str) -> str:
    return get(name).queue


def handler_of(name: str):
    """The kind's handler function (imports the worker module: call this in workers only)."""
    module, _, function = get(name).handler.partition(":")
    return getattr(importlib.import_module(module), function)


register(JobKindSpec(
    name="generate", params=GenerateParams, queue="interactive", handler="worker.kinds.generate:run",
    summary="synthetic images (2D generators) or volumes (3D generators) of a finding",
    route="/generate", default_model_setting="default_generator",
    formats=tuple(dict.fromkeys(FORMATS_OF["image"] + FORMATS_OF["volume"]))))
register(JobKindSpec(
    name="explain", params=ExplainParams, queue="interactive", handler="worker.kinds.explain:run",
    summary="per-finding probabilities and an attribution heatmap of an uploaded X-ray",
    route="/explain", default_model_setting="default_classifier", formats=("png", "dicom")))
register(JobKindSpec(
    name="classify", params=ClassifyParams, queue="interactive", handler="worker.kinds.classify:run",
    summary="per-finding probabilities of many X-rays (uploaded files or a data set), without attribution",
    route="/classify", default_model_setting="default_classifier"))
register(JobKindSpec(
    name="train", params=TrainParams, queue="train", handler="worker.kinds.train:run",
    route="/train", summary="a generator, classifier or 3D generator trained on a registered data set"))
register(JobKindSpec(
    name="ingest", params=IngestParams, queue="train", handler="worker.kinds.ingest:run", route="/datasets",
    summary="an uploaded archive checked, de-identified and registered as the owner's data set"))
register(JobKindSpec(
    name="synthesize", params=SynthesizeParams, queue="train", handler="worker.kinds.synthesize:run",
    route="/synthesize", default_model_setting="default_generator", formats=("png",),
    summary="a labelled synthetic data set (NIH layout with provenance), registered as the owner's"))
