"""Open the configured artifact and model store once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.artifacts import ArtifactStore, LocalArtifactStore
from core.settings import Settings


@lru_cache(maxsize=8)
def _open(kind: str, artifacts_dir: Path, cache_dir: Path, bucket: str, prefix: str, endpoint: str,
          region: str) -> ArtifactStore:
    if kind == "s3":
        if not bucket:
            raise ValueError("RADSYNTH_STORE=s3 needs RADSYNTH_S3_BUCKET")
        from core.s3_store import S3Store

        return S3Store(bucket, cache_dir, prefix=prefix, endpoint_url=endpoint, region=region)
    return LocalArtifactStore(artifacts_dir)


def open_store(settings: Settings) -> ArtifactStore:
    """The store named by the settings (a local folder unless RADSYNTH_STORE=s3)."""
    return _open(settings.store, settings.artifacts_dir, settings.cache_dir, settings.s3_bucket, settings.s3_prefix,
                 settings.s3_endpoint_url, settings.s3_region)
