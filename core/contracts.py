"""The only app <-> worker seam: job kinds, parameters and records. Torch-free."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl, field_validator, model_validator

from models.data.formats import DataFormat
from models.vocabulary import counterfactual_defaults
from models.vocabulary.model_kinds import model_kind, train_kind_names
from models.vocabulary.output_formats import ALIASES, OUTPUT_FORMATS, resolve_formats, split_formats
from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, SamplerName, parse_guidance_interval
from models.vocabulary.sampling import GIF_FRAMES, Sampling


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINAL = {JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}


class GenerateParams(BaseModel):
    finding: str = Field(..., description="finding name(s) of the model, e.g. consolidation or effusion+cardiomegaly")
    n: int = Field(4, ge=1, le=64, description="number of images (volumes: at most 8)")
    model: str | None = Field(None, description="generator name (GET /models); default: the bundled one")
    format: list[Literal[OUTPUT_FORMATS + ALIASES]] | None = Field(  # type: ignore[valid-type]
        None, description="output formats, comma-separated or repeated: images png and/or dicom (default both); "
        "volumes (3D models) nifti and/or dicom (one series per volume, zipped; default nifti). `both` means every "
        "format of the model's kind", examples=[["png", "dicom"]])
    sampler: SamplerName = Field(DEFAULT_SAMPLER, description="sampling algorithm")
    steps: int | None = Field(None, ge=1, le=1000, description="sampler steps (default: DPM-Solver++ 15 for "
                              "images, 25 for volumes; ddpm 1000)")
    guidance: float | None = Field(None, ge=0.0, le=20.0, description="classifier-free guidance scale (1 = none; "
                                   "default: the model's own, chosen on its validation split; GET /models)")
    guidance_interval: str | None = Field(
        None, description="where in the noise schedule classifier-free guidance applies, as 'lo:hi' shares of it "
        "(t/T; 0:0.7 leaves the noisiest 30% of steps unguided, 0:1 guides every step); default: the model's own "
        "(GET /models: generate_defaults)", examples=["0:0.7"])
    guidance_rescale: float | None = Field(
        None, ge=0.0, le=1.0, description="guidance rescale (Lin et al. 2024): how far the guided prediction's "
        "spread is brought back to the unguided-by-CFG one's, 0 (plain guidance) to 1; large guidance scales "
        "otherwise over-expose and wash out images; default: the model's own (GET /models: generate_defaults)")
    classifier_guidance: float | None = Field(
        None, ge=0.0, le=50.0, description="classifier-guidance scale from the generator's noise-aware guide "
        "classifier (0 = off; default: the model's own, see GET /models)")
    seed: int | None = Field(None, ge=0, le=2**31 - 1000, description="seed of the first image; image i uses seed+i")
    gif: bool = Field(False, description="also return a denoising GIF")
    qc: bool = Field(True, description="score label agreement and memorisation per image")
    reject_copies: bool = Field(True, description="regenerate images flagged as training copies (only with qc)")
    min_agreement: float | None = Field(None, ge=0.0, le=1.0, description="redraw (up to 3 times) images whose QC "
                                        "probability of a requested finding is below this, and leave out those "
                                        "that stay below it (needs qc, as in POST /synthesize)")
    bits: Literal[8, 16] = Field(8, description="PNG bit depth")
    resolution: int | None = Field(None, ge=16, le=1024, description="image side in pixels: the generator's base "
                                   "size (e.g. 64, a thumbnail) or its super-resolution size (e.g. 256); default: "
                                   "the largest it has (GET /models: resolutions)")
    superres_start: float | None = Field(
        None, gt=0.0, le=1.0, description="where the super-resolution stage starts, as a share of its noise "
        "schedule: 1 from pure noise; e.g. 0.5 from the upsampled base image noised half-way, which keeps its "
        "large shapes and takes about half the time; default: the model's (GET /models: generate_defaults, "
        "docs/realism-card.md)")
    superres_steps: int | None = Field(
        None, ge=1, le=200, description="super-resolution steps (default: the model's, scaled by superres_start)")
    push: str | None = Field(None, max_length=64, description="send every DICOM the job writes to this DICOMweb "
                             "archive (STOW-RS), by the name the deployment gave it (GET /dicomweb)")
    webhook: HttpUrl | None = Field(None, description="URL that receives the job record when it ends")

    @field_validator("format", mode="before")
    @classmethod
    def comma_separated(cls, value: object) -> object:
        """'png,dicom' and ['png,dicom'] are ['png', 'dicom']; a bare string (older clients, stored jobs) too."""
        return split_formats(value) if isinstance(value, str | list | tuple) else value

    @field_validator("guidance_interval", mode="before")
    @classmethod
    def interval_text(cls, value: object) -> object:
        """'0:0.7' or [0, 0.7] (a JSON body) as the canonical 'lo:hi'."""
        if value is None:
            return None
        if isinstance(value, list | tuple):
            value = ":".join(str(x) for x in value)
        lo, hi = parse_guidance_interval(str(value))
        return f"{lo:g}:{hi:g}"

    @model_validator(mode="after")
    def agreement_needs_qc(self) -> GenerateParams:
        if self.min_agreement is not None and not self.qc:
            raise ValueError("min_agreement needs qc=true: the agreement is the QC classifier's probability")
        return self

    def interval(self) -> tuple[float, float] | None:
        """The asked guidance interval as (lo, hi); None: the model's default."""
        return None if self.guidance_interval is None else parse_guidance_interval(self.guidance_interval)

    def sampling(self, steps: int | None = None, precision: str = "fp32") -> Sampling:
        """How this request samples, as the pipeline takes it (`steps`: the job's resolved count)."""
        return Sampling(sampler=self.sampler, steps=steps or self.steps, guidance=self.guidance,
                        guidance_interval=self.interval(), guidance_rescale=self.guidance_rescale,
                        classifier_guidance=self.classifier_guidance,
                        resolution=self.resolution, superres_start=self.superres_start,
                        superres_steps=self.superres_steps, frames=GIF_FRAMES if self.gif else 0,
                        precision=precision)

    def fit_to_model(self, info: dict) -> None:
        """Check these parameters against the generator `info` (its radsynth.json) and resolve the formats; a
        ValueError says what this model cannot give and why."""
        kind, name = model_kind(info), info["name"]
        check_guide_and_size(info, self.classifier_guidance, self.resolution)
        sizes = info.get("resolutions") or [info.get("resolution")]
        one_pass = bool((info.get("superres") or {}).get("one_pass"))
        self.check_superres(name, sizes if kind.makes == "image" and not one_pass else [])
        try:
            self.format = resolve_formats(self.format, kind.makes or "image")  # type: ignore[assignment]
        except ValueError as exc:
            what = ("makes volumes (every volume also comes with mid-slice PNGs and a slice-sweep GIF)"
                    if kind.makes == "volume" else "makes 2D images")
            raise ValueError(f"{name} {what}: {exc}") from exc
        if kind.one_finding and "+" in self.finding:
            raise ValueError(f"{name} generates one finding per {kind.makes}; got {self.finding}")
        for option, why in kind.generate_refuses.items():
            if getattr(self, option):
                raise ValueError(f"{name}: {why}; leave out {option}")
        if kind.max_images is not None and self.n > kind.max_images:
            raise ValueError(f"n must be at most {kind.max_images} for {kind.label}s (got {self.n})")
        if not kind.qc:
            self.qc = False  # per-image label agreement and copy checks are 2D; the model card measures volumes

    def check_superres(self, name: str, sizes: list[int]) -> None:
        """superres_start and superres_steps tune a super-resolution stage: refuse them where none runs."""
        given = [k for k in ("superres_start", "superres_steps") if getattr(self, k) is not None]
        if not given:
            return
        if len(sizes) < 2:
            raise ValueError(f"{name} has no super-resolution stage that takes steps (none, or a one-pass detail "
                             f"network), so leave out {' and '.join(given)}")
        if self.resolution is not None and self.resolution != max(sizes):
            raise ValueError(f"{' and '.join(given)} tune the super-resolution stage, which runs only at "
                             f"resolution={max(sizes)}; got resolution={self.resolution}")


def check_guide_and_size(info: dict, classifier_guidance: float | None, resolution: int | None) -> None:
    """Classifier guidance needs the generator's guide; an image resolution must be one the generator makes."""
    name = info["name"]
    if classifier_guidance and not info.get("guide"):
        raise ValueError(f"{name} has no guide classifier, so classifier_guidance must be 0 or left out; "
                         "GET /models shows which generators have one")
    sizes = info.get("resolutions") or [info.get("resolution")]
    if resolution is not None and model_kind(info).makes == "image" and resolution not in sizes:
        raise ValueError(f"{name} makes {' or '.join(map(str, sizes))}-px images; resolution={resolution} is not "
                         "one of them")


ExplainMethod = Literal["ig", "smoothgrad", "counterfactual", "both"]  # both: integrated gradients + counterfactual


class ExplainParams(BaseModel):
    upload: str = Field(..., description="stored upload id")
    source_format: Literal["png", "jpeg", "dicom"]
    findings: list[str] | None = None
    method: ExplainMethod = "ig"
    n_steps: int = Field(50, ge=4, le=500)
    baseline: Literal["black", "blur"] = "black"
    model: str | None = None
    generator: str | None = Field(None, description="the generator a counterfactual regenerates with; default: "
                                  "the bundled one")
    strength: float = Field(counterfactual_defaults.STRENGTH, gt=0.0, le=1.0,
                            description="how far a counterfactual noises the upload (share of the schedule)")
    push: str | None = Field(None, max_length=64, description="send every DICOM the job writes to this DICOMweb "
                             "archive (STOW-RS), by the name the deployment gave it (GET /dicomweb)")
    webhook: HttpUrl | None = None


class ClassifyParams(BaseModel):
    """Images to classify without attribution: uploaded files (stored together as one archive, in the order
    sent) or every image of a data set."""

    upload: str | None = Field(None, description="stored upload id of the files, zipped in the order sent")
    files: int = Field(0, ge=0, description="how many files the upload holds")
    dataset: str | None = Field(None, description="instead of files: a data set (GET /datasets), every image")
    model: str | None = None
    keep_names: bool = Field(False, description="uploaded files: return each file's name as sent in the `file` "
                             "column (off by default: a file name can carry a patient's name)")
    webhook: HttpUrl | None = None

    @model_validator(mode="after")
    def one_source(self) -> ClassifyParams:
        if (self.upload is None) == (self.dataset is None):
            raise ValueError("send files or name a dataset, not both")
        return self


class IngestParams(BaseModel):
    """An uploaded data-set archive to unpack, check and register as the owner's data set `name`."""

    upload: str = Field(..., description="stored upload id (POST /datasets stores it)")
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$", description="the data set's name")
    format: DataFormat | None = Field(
        None, description="the layout (default: recognised from the files)")


class SynthesisQC(BaseModel):
    min_agreement: float | None = Field(None, ge=0.0, le=1.0, description="keep an image only if the QC "
                                        "classifier's probability for its finding is at least this (else redraw)")
    reject_copies: bool = Field(True, description="redraw images flagged as copies of training images")


class SynthesizeParams(BaseModel):
    """A labelled synthetic data set: how many images of which findings, from which generator, checked how."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$", description="the new data set's name")
    model: str | None = Field(None, description="generator (GET /models); default: the bundled one")
    per_finding: dict[str, int] | None = Field(
        None, description="images per finding, e.g. {\"consolidation\": 2000, \"mass\": 2000}",
        examples=[{"consolidation": 200, "mass": 200}])
    balance_to: int | None = Field(None, ge=1, le=100_000, description="instead of per_finding: enough images "
                                   "of each of the model's findings to bring `dataset` up to this many")
    dataset: str | None = Field(None, description="the data set balance_to counts in (GET /datasets)")
    qc: SynthesisQC = SynthesisQC()
    sampler: SamplerName = DEFAULT_SAMPLER
    steps: int | None = Field(None, ge=1, le=1000)
    guidance: float | None = Field(None, ge=0.0, le=20.0, description="classifier-free guidance (default: the "
                                   "model's own)")
    classifier_guidance: float | None = Field(None, ge=0.0, le=50.0)
    resolution: int | None = Field(None, ge=16, le=1024)
    bits: Literal[8, 16] = 8
    seed: int | None = Field(None, ge=0, le=2**31 - 10_000_000)
    webhook: HttpUrl | None = None

    @model_validator(mode="after")
    def one_way_to_count(self) -> SynthesizeParams:
        if (self.per_finding is None) == (self.balance_to is None):
            raise ValueError("give either per_finding (images per finding) or balance_to with dataset")
        if self.balance_to is not None and not self.dataset:
            raise ValueError("balance_to needs dataset: the data set whose counts are topped up")
        if self.per_finding is not None:
            if not self.per_finding or any(n < 1 for n in self.per_finding.values()):
                raise ValueError("per_finding needs at least one finding, each with 1 or more images")
        return self


MAX_UNET_LEVELS = 6  # 64 px halves to 2 px after 5 downsamplings


class TrainParams(BaseModel):
    kind: Literal[train_kind_names()] = Field(  # type: ignore[valid-type]
        ..., description="what to train: a 2D generator, a classifier ensemble, a 3D volume generator, or an "
        "augmentation study (classifiers on `dataset` alone, with `synthetic` at `ratios`, and on `synthetic` "
        "alone, over `seeds`; tested on the held-out patients of `dataset`)")
    dataset: str = Field("nih-demo", description="a data set: the service's or one you uploaded (GET /datasets)")
    findings: list[str] | None = Field(None, description="restrict to these findings (default: all)")
    resolution: int = Field(64, ge=16, le=512, description="image size in pixels (3D: voxels per side, 16-64)")
    steps: int = Field(500, ge=1, le=1_000_000, description="generator optimiser steps / classifier epochs")
    batch_size: int = Field(32, ge=1, le=1024)
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$", description="model name, unique (a study's "
                      "label; a study installs no model)")
    channels: list[int] | None = Field(None, max_length=MAX_UNET_LEVELS,
                                       description="generator UNet widths, one per level, at most "
                                       f"{MAX_UNET_LEVELS} (default 32,64,128,128; 3D 16,32,64)")
    preview: bool = Field(True, strict=True, description="generator: sample a preview grid (2 images per finding, "
                          "20 steps) at the end, shown as samples.png; false skips it")
    latent: bool = Field(False, strict=True, description="generator3d only: latent diffusion (an autoencoder "
                         "compresses each volume 4x per side, trained for `steps` steps first; the DDPM then trains "
                         "on its latents)")
    synthetic: str | None = Field(None, description="augmentation_study: the synthetic data set (POST /synthesize)")
    ratios: list[float] | None = Field(None, description="augmentation_study: synthetic images per real training "
                                       "image, each arm beside real only (default [0.5, 1])")
    seeds: int = Field(3, ge=1, le=10, description="augmentation_study: seeds per arm")
    test_share: float | None = Field(None, ge=0.05, le=0.5, description="augmentation_study: share of the real "
                                     "data set's patients held out for testing (default: its own split, 10%); a "
                                     "rare finding needs at least 5 test positives for a verdict")
    ranks: int = Field(1, ge=1, le=64, description="generator: train with this many torchrun processes on the "
                       "worker host (one per GPU; gloo CPU ranks without GPUs); the global batch stays batch_size")
    webhook: HttpUrl | None = None

    @model_validator(mode="after")
    def kind_options(self) -> TrainParams:
        """Options only some kinds take are refused elsewhere, naming the kinds that take them."""
        kind = model_kind(self.kind)
        for option in ("synthetic", "ratios", "test_share", "latent"):
            if getattr(self, option) and option not in kind.train_options:
                takers = [k for k in train_kind_names() if option in model_kind(k).train_options]
                raise ValueError(f"{option} is for kind {' or '.join(takers)}, not {self.kind}")
        if "synthetic" in kind.train_options:
            if not self.synthetic:
                raise ValueError(f"an {self.kind} needs synthetic: the name of a synthetic data set")
            if self.ratios is not None and (not self.ratios or any(not 0 < r <= 20 for r in self.ratios)):
                raise ValueError("ratios: one or more synthetic-per-real ratios, each above 0 and at most 20")
        if self.latent and self.resolution % 16:
            raise ValueError(f"a latent 3D generator needs a resolution that is a multiple of 16 (the autoencoder "
                             f"compresses 4x; got {self.resolution})")
        return self

    def check_dataset(self, dataset: str, holds: str) -> None:
        """ValueError unless a data set holding `holds` ("image" or "volume") can train this kind at these sizes."""
        kind = model_kind(self.kind)
        if kind.trains_on != holds:
            fitting = [k for k in train_kind_names() if model_kind(k).trains_on == holds]
            wants = ("a 3D dataset (format medmnist3d or volumes), e.g. adrenal3d-demo" if kind.trains_on == "volume"
                     else "a 2D image dataset")
            held = "volumes" if holds == "volume" else "2D images"
            raise ValueError(f"dataset {dataset!r} holds {held}; a {self.kind} ({kind.label}) trains on {wants}; "
                             f"kinds that train on it: {', '.join(fitting)}")
        if holds != "volume":
            return
        if self.resolution > 64 or self.resolution % 8:
            raise ValueError(f"resolution for a 3D generator: a multiple of 8 from 16 to 64 voxels per side (got "
                             f"{self.resolution})")
        if self.channels and (not 2 <= len(self.channels) <= 4 or any(c % 8 or c > 128 for c in self.channels)):
            raise ValueError("channels for a 3D generator: 2 to 4 widths, each a multiple of 8 up to 128, e.g. "
                             "[16, 32, 64]")
        if self.findings:
            raise ValueError("findings cannot be restricted for 3D data sets; leave it out")

    @model_validator(mode="after")
    def within_host_bounds(self) -> TrainParams:
        """The operator's bounds (RADSYNTH_MAX_TRAIN_STEPS, _RESOLUTION, _BATCH_SIZE), sized for the host."""
        from core.settings import get_settings

        settings = get_settings()
        if self.ranks > 1 and not model_kind(self.kind).distributed_runner:
            takers = [k for k in train_kind_names() if model_kind(k).distributed_runner]
            raise ValueError(f"ranks > 1 (torchrun) is for kind {' or '.join(takers)}; {self.kind} trains in the "
                             "worker")
        if self.batch_size % self.ranks:
            raise ValueError(f"batch_size {self.batch_size} must divide evenly over {self.ranks} ranks")
        for field, limit in (("steps", settings.max_train_steps), ("resolution", settings.max_train_resolution),
                             ("batch_size", settings.max_train_batch_size), ("ranks", settings.max_train_ranks)):
            if getattr(self, field) > limit:
                raise ValueError(f"{field} must be at most {limit} on this service (got {getattr(self, field)}); "
                                 f"the operator can raise RADSYNTH_MAX_TRAIN_{field.upper()}")
        return self


class Progress(BaseModel):
    step: int = 0
    total: int = 0
    message: str = ""
    eta_s: float | None = None
    queue_position: int | None = None


class Artifact(BaseModel):
    name: str
    media_type: str
    size: int
    url: str


class JobError(BaseModel):
    code: str
    message: str


class JobView(BaseModel):
    """What anyone allowed to see a job sees (everything but its owner)."""

    id: str
    kind: str = Field(description="the job kind (core/kinds.py), e.g. generate, explain or train")
    status: JobStatus
    params: dict
    progress: Progress = Progress()
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    deliveries: int = 0
    cancel_requested: bool = False
    result: dict | None = None
    artifacts: list[Artifact] = []
    error: JobError | None = None


class JobRecord(JobView):
    """The stored record: the view plus its owner and the bookkeeping of crash recovery."""

    owner: str
    generation: int = 0  # bumped when a job is requeued after its worker died; older messages are ignored
    heartbeat_at: float | None = None
    runner: str | None = None  # host:pid of the process running it
    already_running: bool = Field(False, exclude=True)  # set by JobStore.start, never stored
