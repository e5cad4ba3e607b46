"""The committed OpenAPI file matches the app, and documents every route with its errors."""

from __future__ import annotations

import json

from app.openapi_file import TARGET, render


def test_openapi_file_is_current():
    assert TARGET.exists(), "run: python -m scripts.export_openapi"
    assert json.loads(TARGET.read_text()) == json.loads(render()), "stale: run python -m scripts.export_openapi"


def test_every_route_documents_errors_and_the_issue_paths_exist():
    spec = json.loads(render())
    paths = spec["paths"]
    for path in ("/generate", "/explain", "/classify", "/train", "/jobs", "/jobs/{job_id}",
                 "/jobs/{job_id}/artifacts/{name}", "/jobs/{job_id}/events", "/models", "/findings", "/health",
                 "/metrics"):
        assert path in paths, path
    for path, ops in paths.items():
        for method, op in ops.items():
            codes = [c for c in op["responses"] if c.startswith(("4", "5"))]
            assert codes, f"{method.upper()} {path} documents no error responses"
            assert op.get("operationId") and op.get("summary") or op.get("description"), (path, method)
    assert paths["/generate"]["post"]["responses"]["202"]
