"""create_app(): routers, error handlers, CORS. Run with `uvicorn app.main:app`."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import errors
from app.body_limit import BodyLimit
from app.query_check import reject_unknown_query
from app.routes import classify, datasets, dicomweb, explain, generate, health, jobs, kinds, models, synthesize, train
from app.schemas import ErrorBody
from core.settings import get_settings
from models import __version__

log = logging.getLogger("radsynth.api")
FORM_FIELDS_ROOM = 64 * 1024  # multipart headers and the small form fields next to the file
UI_DIR = Path(__file__).resolve().parent / "ui"

DESCRIPTION = """Synthetic chest X-rays from finding-conditional diffusion models, and integrated-gradients
explanations of a classifier ensemble. Every POST answers 202 with a job; poll `GET /jobs/{id}` or stream
`GET /jobs/{id}/events`, then download the artifacts. Errors have the body `{"error": {"code", "message"}}`."""


def create_app() -> FastAPI:
    settings = get_settings()
    settings.check_timeouts()
    app = FastAPIOffline(title="RadSynth", version=__version__, description=DESCRIPTION,
                         dependencies=[Depends(reject_unknown_query)])  # /docs and /redoc assets from the package
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + FORM_FIELDS_ROOM,
                       larger={"/datasets": (settings.max_dataset_bytes + FORM_FIELDS_ROOM,
                                             "RADSYNTH_MAX_DATASET_BYTES"),
                               "/classify": (settings.max_classify_bytes + FORM_FIELDS_ROOM,
                                             "RADSYNTH_MAX_CLASSIFY_BYTES")})
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    if proxies:  # uvicorn runs with --no-proxy-headers: forwarded headers count only from these
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type", "Idempotency-Key"])
    auth_errors = {401: {"model": ErrorBody, "description": "missing or unknown API key"},
                   429: {"model": ErrorBody, "description": "rate limit or job quota reached; see Retry-After"}}
    for module in (generate, explain, classify, train, datasets, synthesize, kinds, jobs, models, dicomweb):
        app.include_router(module.router, responses=auth_errors)
    app.include_router(health.router, responses={503: {"model": ErrorBody, "description": "Redis unreachable"}})
    app.mount("/ui", StaticFiles(directory=UI_DIR), name="ui")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        """The web page (generate, explain, jobs, models)."""
        return FileResponse(UI_DIR / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(UI_DIR / "favicon.svg", media_type="image/svg+xml")

    if not settings.key_owners():
        log.warning("no RADSYNTH_API_KEYS set: single-user mode, every request acts as owner 'local'; "
                    "bind to localhost only")
    return app


app = create_app()
