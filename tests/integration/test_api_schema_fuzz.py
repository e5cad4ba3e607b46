"""Schemathesis, bounded profile: every operation of openapi/openapi.json against the real API and Redis, all
checks but one (see scripts/api_fuzz.py), stateful phase included (it follows the schema's links from a queued
job to polling, cancelling and deleting it); no server error and no response outside the schema."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


@pytest.mark.skipif(shutil.which("schemathesis") is None and not (Path(sys.executable).parent / "schemathesis")
                    .exists(), reason="schemathesis not installed")
def test_schemathesis_finds_no_failures():
    from tests.integration.schema_fuzz import run_schemathesis

    out = run_schemathesis(examples=4, phases="examples,coverage,fuzzing,stateful", seed=1)
    tail = out.stdout[-6000:]
    assert out.returncode == 0, tail
    operations = len([op for ops in json.loads(SCHEMA.read_text())["paths"].values() for op in ops])
    assert f"Selected: {operations}/{operations}" in tail and "Stateful" in tail, tail
