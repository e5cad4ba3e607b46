"""One Settings object for API and workers, read from RADSYNTH_* environment variables only."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DATASET = Path(__file__).resolve().parent.parent / "datasets" / "nih-cxr14-64"  # top level, not a package
DEMO_VOLUMES = DEMO_DATASET.parent / "adrenalmnist3d_64.npz"
VOLUME_FORMATS = ("medmnist3d", "volumes")  # 3D data: a MedMNIST3D npz, or a folder with labels.csv


class Settings(BaseSettings):
    """Every setting has a working default for a single-user local install."""

    model_config = SettingsConfigDict(env_prefix="RADSYNTH_", extra="ignore")

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for the broker and job records")
    data_dir: Path = Field(Path("var"), description="artifacts, uploads and trained models live here")
    model_dirs: str = Field("", description="extra model folders, separated by ':'")
    default_generator: str = Field("nih-cxr14", description="generator used when a request names none")
    default_classifier: str = Field("nih-cxr14-256-classifier", description="classifier used by /explain and /classify")
    api_keys: str = Field("", description="'key:owner,key2:owner2'; empty = single-user mode on localhost")
    datasets: str = Field("", description="extra training data roots: 'name=path[:format],...' (formats: nih, "
                          "medmnist, dicom_folder, image_folder; 3D: medmnist3d, volumes)")
    cors_origins: str = Field("", description="comma-separated origins allowed by CORS")
    max_upload_bytes: int = Field(32 * 2**20, description="largest accepted upload")
    max_pixels: int = Field(8192 * 8192, description="largest decoded image (rows x columns x frames)")
    max_dataset_bytes: int = Field(4 * 2**30, description="largest data-set archive (POST /datasets), uploaded "
                                   "and unpacked")
    max_datasets_per_owner: int = Field(20, description="data sets one owner may keep")
    max_synthesize_images: int = Field(20_000, description="most images one POST /synthesize may ask for")
    max_classify_files: int = Field(200, description="most files one POST /classify may upload (a data set "
                                    "classifies any number)")
    max_classify_bytes: int = Field(256 * 2**20, description="largest POST /classify request, all files together")
    max_deliveries: int = Field(3, description="a job is failed after this many deliveries (crash loops)")
    max_tasks_per_child: int = Field(200, description="a pool process is replaced after this many jobs (0 = never)")
    heartbeat_timeout: float = Field(120.0, description="seconds without a heartbeat before a running job is "
                                     "requeued (its worker died); beats come every quarter of this")
    task_soft_time_limit: int = Field(4 * 3600 - 300, description="seconds before a job is asked to stop")
    task_time_limit: int = Field(4 * 3600, description="seconds before a job is killed")
    visibility_timeout: int = Field(5 * 3600, description="Redis redelivery timeout; must exceed task_time_limit")
    rate_limit_per_minute: int = Field(120, description="requests per minute per API key (0 = off)")
    auth_failures_per_minute: int = Field(20, description="failed authentications per minute from one client "
                                          "address before every request from it gets 429 (0 = off)")
    max_event_streams_per_owner: int = Field(10, description="open GET /jobs/{id}/events streams one owner may "
                                             "hold on one API process (each holds a Redis connection)")
    trusted_proxies: str = Field("", description="addresses (or networks) of reverse proxies whose "
                                 "X-Forwarded-For / X-Forwarded-Proto are believed, comma-separated; empty: none, "
                                 "so a client cannot choose the address it is throttled under")
    webhook_allow: str = Field("", description="webhook destinations allowed although internal: host names, "
                               "addresses or networks, comma-separated (e.g. 127.0.0.1,10.0.0.0/8); others must "
                               "be public addresses")
    upload_grace_s: float = Field(3600, description="an upload no job refers to is deleted after this many seconds")
    max_train_steps: int = Field(50_000, description="most optimiser steps (classifier: epochs) one training job "
                                 "may ask for")
    max_train_resolution: int = Field(256, description="largest image side (3D: voxels per side) a training job "
                                      "may ask for")
    max_train_batch_size: int = Field(128, description="largest batch a training job may ask for")
    max_train_ranks: int = Field(8, description="most torchrun processes one generator training job may ask for "
                                 "(one per GPU of a worker host; CPU ranks where there is none)")
    max_active_jobs: int = Field(50, description="queued+running jobs per owner before 429 (0 = off)")
    generate_default_steps: int | None = Field(None, ge=1, le=1000, description="sampler steps when a request names "
                                               "none; unset: the sampler's own (DPM-Solver++: 15 for images, 25 for "
                                               "volumes; DDPM: always 1000)")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="UNet arithmetic when sampling: bf16 autocast "
                                               "is about 2x faster on GPUs and AMX CPUs (docs/benchmarks.md)")
    compile: bool = Field(False, description="torch.compile + channels_last for 2D generators: with bf16, "
                          "2.2-3.4x faster than fp32 eager on AMX CPUs (docs/benchmarks.md), after 1-2 min of "
                          "compilation per new batch size, so it pays off on long-running workers")
    batch_max_images: int = Field(32, description="most images sampled in one UNet batch when several compatible "
                                  "generate jobs wait (1 = no cross-job batching)")
    synthesize_batch: int = Field(16, ge=1, le=1024, description="images of a synthetic data set per UNet batch "
                                  "(waiting generate jobs fill the rest up to batch_max_images)")
    batch_wait: float = Field(0.1, description="seconds a generate job waits for companions when none are queued")
    warm_up: bool = Field(True, description="load the default models in each worker process at start")
    dicomweb_targets: str = Field("", description="DICOMweb archives a job may push its DICOM to (push=<name>): "
                                  'JSON such as {"pacs": {"url": "http://orthanc:8042/dicom-web", "username": '
                                  '"radsynth", "password": "..."}} (or "token" for a bearer token); a request '
                                  "names a target, never a URL")
    store: Literal["local", "s3"] = Field("local", description="artifact and model store: a local folder or S3")
    s3_bucket: str = Field("", description="bucket of the S3 store (credentials: the usual AWS_* variables)")
    s3_prefix: str = Field("radsynth/", description="key prefix inside the bucket")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint (MinIO, Ceph...); empty = AWS")
    s3_region: str = Field("", description="S3 region; empty = the AWS default")

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def trained_models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    def model_search_dirs(self) -> list[Path]:
        extra = [Path(p) for p in self.model_dirs.split(":") if p]
        return [*extra, self.trained_models_dir]  # operator models before trained ones: their names stay theirs

    @field_validator("dicomweb_targets")
    @classmethod
    def targets_parse(cls, value: str) -> str:
        """A malformed archive list stops the service at start, with the reason, not a request later."""
        from core.dicomweb import parse_targets

        parse_targets(value)
        return value

    def dicomweb(self) -> dict:
        """The configured DICOMweb targets by name (core.dicomweb.DicomwebTarget)."""
        from core.dicomweb import parse_targets

        return parse_targets(self.dicomweb_targets)

    def key_owners(self) -> dict[str, str]:
        pairs = [p.split(":", 1) for p in self.api_keys.split(",") if p.strip()]
        return {k.strip(): v.strip() for k, v in pairs}

    def default_model(self, role: str) -> str:
        """The model a request that names none gets: the default generator (2D or 3D) or classifier."""
        return {"generator": self.default_generator}.get(role, self.default_classifier)

    def dataset_roots(self) -> dict[str, tuple[Path, str | None]]:
        roots: dict[str, tuple[Path, str | None]] = {"nih-demo": (DEMO_DATASET, "nih"),
                                                     "adrenal3d-demo": (DEMO_VOLUMES, "medmnist3d")}
        for part in self.datasets.split(","):
            if "=" in part:
                name, spec = part.split("=", 1)
                path, _, fmt = spec.partition(":") if spec.count(":") else (spec, "", "")
                roots[name.strip()] = (Path(path.strip()), fmt.strip() or None)
        return roots

    def check_timeouts(self) -> None:
        """Refuse configurations where Redis would redeliver a job that is still running."""
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("RADSYNTH_TASK_SOFT_TIME_LIMIT must be below RADSYNTH_TASK_TIME_LIMIT")
        if self.heartbeat_timeout < 4:
            raise ValueError("RADSYNTH_HEARTBEAT_TIMEOUT must be at least 4 s (heartbeats come every quarter of it)")
        if self.visibility_timeout <= self.task_time_limit:
            raise ValueError(
                f"RADSYNTH_VISIBILITY_TIMEOUT ({self.visibility_timeout}s) must exceed RADSYNTH_TASK_TIME_LIMIT "
                f"({self.task_time_limit}s), or Redis redelivers jobs that are still running")


@lru_cache
def get_settings() -> Settings:
    return Settings()
