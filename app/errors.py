"""One place that maps domain errors to HTTP statuses and a uniform error body."""

from __future__ import annotations

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Stable error codes -> HTTP status.
STATUS = {
    "unsupported_format": 415,
    "unsupported_transfer_syntax": 415,
    "corrupt_image": 422,
    "image_too_large": 413,
    "upload_too_large": 413,
    "invalid_input": 422,
    "invalid_parameter": 422,
    "unknown_finding": 422,
    "unknown_model": 422,
    "unknown_dataset": 422,
    "model_exists": 409,
    "not_found": 404,
    "unauthorized": 401,
    "rate_limited": 429,
    "too_many_jobs": 429,
    "conflict": 409,
    "unavailable": 503,
}


class ApiError(Exception):
    """Raised by routes; rendered as {"error": {"code", "message"}} with the mapped status."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None, status: int | None = None):
        super().__init__(message)
        self.code, self.message, self.headers = code, message, headers
        self.status = status or STATUS.get(code, 400)


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def readable(errors: list[dict]) -> str:
    parts = []
    for err in errors:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body", "query"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(redis.RedisError)
    async def store_unreachable(_: Request, exc: redis.RedisError) -> JSONResponse:
        """Any route that reaches a Redis that is down answers 503 with Retry-After, never a 500."""
        return JSONResponse(error_body("unavailable", "the job store (Redis) is unreachable; try again shortly"),
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse(error_body("invalid_parameter", readable(exc.errors()), details=details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # Starlette could not parse the JSON or multipart body
            return JSONResponse(error_body("invalid_parameter", f"{exc.detail}: send a JSON object (or, for "
                                           "/explain, multipart/form-data with a 'file' part)"), status_code=422)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers or None)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette lists only the first matching route's)."""
    from starlette.routing import Match

    routes = request.app.router.routes
    return [method for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)]
