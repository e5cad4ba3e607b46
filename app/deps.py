"""Dependencies: settings, stores, the Celery client, and authentication (API key -> owner)."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Header, Request

from app.errors import ApiError
from core.artifacts import ArtifactStore
from core.jobs import JobStore
from core.settings import Settings, get_settings
from core.stores import open_store

LOCAL_OWNER = "local"


@lru_cache
def _store(url: str) -> JobStore:
    return JobStore.from_url(url)


def settings_dep() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def store_dep(settings: SettingsDep) -> JobStore:
    return _store(settings.redis_url)


def artifacts_dep(settings: SettingsDep) -> ArtifactStore:
    return open_store(settings)


StoreDep = Annotated[JobStore, Depends(store_dep)]
ArtifactsDep = Annotated[ArtifactStore, Depends(artifacts_dep)]


def match_key(presented: str, keys: dict[str, str]) -> str | None:
    """Compare against every key in constant time; never stop early."""
    owner = None
    for key, who in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            owner = who
    return owner


def owner_dep(request: Request, settings: SettingsDep, store: StoreDep,
              x_api_key: Annotated[str | None, Header(description="API key")] = None,
              authorization: Annotated[str | None, Header(description="Bearer API key")] = None) -> str:
    keys = settings.key_owners()
    if not keys:
        owner = LOCAL_OWNER
    else:
        presented = x_api_key or (authorization[7:].strip() if authorization and
                                  authorization.lower().startswith("bearer ") else None)
        client = f"authfail:{request.client.host if request.client else 'unknown'}"
        throttle_failed_logins(store, client, settings.auth_failures_per_minute, count=False)
        if not presented:
            raise ApiError("unauthorized", "send your API key in the X-API-Key header or as 'Authorization: Bearer'",
                           headers={"WWW-Authenticate": "Bearer"})
        prefix = key_prefix_bucket(presented)
        throttle_failed_logins(store, prefix, settings.auth_failures_per_minute, count=False)
        owner = match_key(presented, keys)
        if owner is None:
            throttle_failed_logins(store, prefix, settings.auth_failures_per_minute, count=True, raise_=False)
            throttle_failed_logins(store, client, settings.auth_failures_per_minute, count=True)
            raise ApiError("unauthorized", "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    try:
        wait = store.hit_rate(owner, settings.rate_limit_per_minute)
    except Exception:
        wait = None  # Redis down: the route itself answers 503
    if wait is not None:
        raise ApiError("rate_limited", f"more than {settings.rate_limit_per_minute} requests a minute; retry later",
                       headers={"Retry-After": str(max(1, wait))})
    return owner


KEY_PREFIX_CHARS = 8


def key_prefix_bucket(presented: str) -> str:
    """The failed-login bucket of a presented key's first characters (hashed: no key text is stored), so that
    guessing one key's rest from many addresses is throttled too."""
    digest = hashlib.sha256(presented[:KEY_PREFIX_CHARS].encode()).hexdigest()[:16]
    return f"authfail-key:{digest}"


def throttle_failed_logins(store: JobStore, bucket: str, limit: int, *, count: bool, raise_: bool = True) -> None:
    """429 for a client address (or key prefix) that failed to authenticate `limit` times this minute (every
    request from it, so that guessing keys stops paying); `count` records one more failure first."""
    try:
        wait = store.hit_rate(bucket, limit) if count else store.over_rate(bucket, limit)
    except Exception:
        return  # Redis down: the route itself answers 503
    if wait is not None and raise_:
        what = "with keys like yours" if bucket.startswith("authfail-key:") else "from your address"
        raise ApiError("rate_limited", f"too many failed authentications {what}; retry in {wait} s",
                       headers={"Retry-After": str(max(1, wait))})


OwnerDep = Annotated[str, Depends(owner_dep)]


IDEMPOTENCY_HEADER = Header(alias="Idempotency-Key", min_length=1, max_length=200,
                            description="a retried POST with the same key (1-200 characters) returns the same job")
