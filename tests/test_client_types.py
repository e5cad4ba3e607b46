"""The Python client's typed results match the service's OpenAPI schema field for field, so a field added to or
removed from the API without the client fails here."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from radsynth_client import Artifact, Dataset, Job, Progress

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "openapi" / "openapi.json").read_text())


@pytest.mark.parametrize("cls, name", [(Job, "JobOut"), (Artifact, "Artifact"), (Progress, "Progress"),
                                       (Dataset, "DatasetInfo")])
def test_each_typed_result_has_the_schemas_fields(cls, name):
    schema = SCHEMA["components"]["schemas"][name]
    declared = {f.name for f in fields(cls)} - {"client"}
    assert declared == set(schema["properties"]), f"{cls.__name__} vs {name}"
    for f in fields(cls):
        if f.name in schema.get("required", []):
            assert f.default is MISSING and f.default_factory is MISSING, f"{f.name} is required by {name}"


def test_a_job_reads_its_json_and_names_what_it_lacks():
    job = Job.from_json({"id": "j1", "kind": "generate", "status": "succeeded", "params": {}, "created_at": 1.0,
                         "url": "/jobs/j1", "events_url": "/jobs/j1/events", "new_field": 3,
                         "artifacts": [{"name": "a.png", "media_type": "image/png", "size": 3, "url": "/x"}],
                         "progress": {"step": 1, "total": 2, "message": "m"}})
    assert job.done and job.artifact("a.png").size == 3 and job.progress.total == 2
    with pytest.raises(KeyError, match="a.png"):
        job.artifact("b.png")
