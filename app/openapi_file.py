"""The committed OpenAPI document (openapi/openapi.json) and how it is rendered from the app."""

from __future__ import annotations

import json
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def render() -> str:
    from app.main import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"
