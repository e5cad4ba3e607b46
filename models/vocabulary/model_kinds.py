"""What each kind of model makes and trains on, declared once (torch-free).

Routes, workers, the CLI and the page ask this registry instead of comparing kind names: whether a model makes 2D
images or 3D volumes (and so which output formats, options and checks apply), what data a kind trains on, which
request options only it takes, and which worker function trains it. A new kind is one `register(ModelKind(...))`
call; a model's radsynth.json records its kind's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from models.vocabulary.output_formats import DEFAULT_FORMATS, FORMATS_OF, Shape


@dataclass(frozen=True)
class ModelKind:
    """One kind of model (or of training job, for kinds that install no model)."""

    name: str
    label: str  # how messages and the page name it
    makes: Shape | None = None  # "image" or "volume" for generators; None: it makes no scans
    trains_on: Shape = "image"  # what a data set must hold to train it
    train_runner: str = ""  # "module:function" the worker calls to train it (ctx, params, dataset entry, run dir)
    distributed_runner: str = ""  # the same with `ranks` > 1 torchrun processes; empty: one process only
    train_options: tuple[str, ...] = ()  # TrainParams fields only this kind takes
    installs_model: bool = True  # False: the job reports a study and installs nothing
    generate_refuses: Mapping[str, str] = field(default_factory=dict)  # GenerateParams field -> why it is refused
    max_images: int | None = None  # most scans one generate job may ask for
    one_finding: bool = False  # one finding per scan (no "a+b" mixes)
    qc: bool = False  # per-image QC (label agreement, copy check) applies

    @property
    def is_generator(self) -> bool:
        return self.makes is not None

    @property
    def formats(self) -> tuple[str, ...]:
        """Output formats its scans can be written in."""
        return FORMATS_OF[self.makes] if self.makes else ()

    @property
    def default_formats(self) -> tuple[str, ...]:
        return DEFAULT_FORMATS[self.makes] if self.makes else ()


KINDS: dict[str, ModelKind] = {}


def register(kind: ModelKind) -> ModelKind:
    """Add (or replace) a kind."""
    KINDS[kind.name] = kind
    return kind


class UnknownModelKind(KeyError):
    """A kind nothing registered."""


def model_kind(of: str | Mapping) -> ModelKind:
    """The kind named `of`, or the kind a model's radsynth.json (a mapping with "kind") records."""
    name = of if isinstance(of, str) else of.get("kind", "")
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownModelKind(f"unknown model kind {name!r}; known: {', '.join(KINDS)}") from None


def generator_kinds() -> tuple[str, ...]:
    """Kinds that answer POST /generate."""
    return tuple(k.name for k in KINDS.values() if k.is_generator)


def makes_volumes(info: Mapping) -> bool:
    """Whether a model (its radsynth.json) makes 3D volumes."""
    kind = KINDS.get(info.get("kind", ""))
    return kind is not None and kind.makes == "volume"


def makes_images(info: Mapping) -> bool:
    """Whether a model (its radsynth.json) makes 2D images."""
    kind = KINDS.get(info.get("kind", ""))
    return kind is not None and kind.makes == "image"


def train_kind_names() -> tuple[str, ...]:
    """Every kind POST /train accepts."""
    return tuple(KINDS)


GENERATOR = register(ModelKind(
    "generator", "2D image generator", makes="image", trains_on="image", qc=True,
    train_runner="worker.kinds.train:train_generator_job",
    distributed_runner="worker.kinds.train_torchrun:train_generator_torchrun"))
VOLUME_GENERATOR = register(ModelKind(
    "generator3d", "3D volume generator", makes="volume", trains_on="volume", train_options=("latent",),
    train_runner="worker.kinds.train:train_volume_job", max_images=8, one_finding=True,
    generate_refuses={"gif": "gif (a denoising GIF) is for 2D models; every volume comes with a slice-sweep GIF",
                      "guidance_interval": "guidance_interval is for 2D models: a volume is guided at every step",
                      "guidance_rescale": "guidance_rescale is for 2D models: a volume's guidance is not rescaled"}))
CLASSIFIER = register(ModelKind(
    "classifier", "classifier ensemble", trains_on="image", train_runner="worker.kinds.train:train_classifier_job"))
AUGMENTATION_STUDY = register(ModelKind(
    "augmentation_study", "augmentation study", trains_on="image", installs_model=False,
    train_options=("synthetic", "ratios", "test_share"),
    train_runner="worker.kinds.train:augmentation_study_job"))
