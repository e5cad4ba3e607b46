"""Cross-job batching in the real worker: compatible generate jobs waiting behind a busy worker are sampled in one
UNet batch, each still gets its own images (the same as alone), and incompatible jobs run on their own."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.integration.conftest import headers, wait_job

pytestmark = pytest.mark.integration
SLOW = "/generate?finding=mass&n=1&sampler=ddpm&steps=1000&qc=false"


def submit(client, **params) -> str:
    query = {"finding": "mass", "n": 1, "steps": 3, "qc": "false", "format": "png"} | params
    r = client.post("/generate", params=query, headers=headers())
    assert r.status_code == 202, r.text
    return r.json()["id"]


def pixels(client, job: dict) -> list[np.ndarray]:
    names = [f for image in job["result"]["images"] for f in image["files"] if f.endswith(".png")]
    urls = {a["name"]: a["url"] for a in job["artifacts"]}
    return [np.asarray(Image.open(io.BytesIO(client.get(urls[n], headers=headers()).content)), dtype=int)
            for n in names]


def test_waiting_compatible_jobs_share_one_batch(client):
    busy = client.post(SLOW, headers=headers()).json()["id"]
    wait_job(client, busy, until=lambda j: j["status"] == "running")
    compatible = [submit(client, seed=11, n=2), submit(client, finding="effusion", seed=40),
                  submit(client, finding="no finding", seed=11), submit(client, seed=90, qc="true")]
    other_steps = submit(client, steps=4, seed=5)
    with_gif = submit(client, seed=6, gif="true")
    client.post(f"/jobs/{busy}/cancel", headers=headers())
    jobs = {i: wait_job(client, i) for i in [*compatible, other_steps, with_gif]}
    assert all(j["status"] == "succeeded" and j["deliveries"] == 1 for j in jobs.values()), jobs
    for job_id in compatible:
        assert jobs[job_id]["result"]["batch"] == {"jobs": 4, "images": 5}
        assert len(jobs[job_id]["artifacts"]) == jobs[job_id]["params"]["n"] + 1  # its images and its grid
    assert "batch" not in jobs[other_steps]["result"] and "batch" not in jobs[with_gif]["result"]
    assert "qc" in jobs[compatible[3]]["result"]["images"][0]  # QC ran for the job that asked for it

    alone = wait_job(client, submit(client, seed=11, n=2))  # nothing waits now: sampled on its own
    assert "batch" not in alone["result"]
    for batched, single in zip(pixels(client, jobs[compatible[0]]), pixels(client, alone), strict=True):
        assert np.abs(batched - single).max() <= 1  # the same image, up to rounding
    other = pixels(client, jobs[compatible[2]])[0]  # same seed 11, other finding
    assert np.abs(other - pixels(client, alone)[0]).max() > 1


def test_cancelled_batch_members_end_at_the_next_step_and_the_batch_stops_when_all_are(client):
    busy = client.post(SLOW, headers=headers()).json()["id"]
    wait_job(client, busy, until=lambda j: j["status"] == "running")
    slow = {"sampler": "ddpm", "steps": 1000}
    members = [submit(client, seed=21, **slow), submit(client, seed=22, **slow), submit(client, seed=23, **slow)]
    client.post(f"/jobs/{busy}/cancel", headers=headers())
    first = wait_job(client, members[0], until=lambda j: j["status"] == "running" and j["progress"]["step"] > 3)
    assert "batch" in first["progress"]["message"]
    client.post(f"/jobs/{members[1]}/cancel", headers=headers())
    dropped = wait_job(client, members[1], timeout=30)
    assert dropped["status"] == "cancelled" and dropped["artifacts"] == []
    others = [client.get(f"/jobs/{m}", headers=headers()).json() for m in (members[0], members[2])]
    assert [o["status"] for o in others] == ["running", "running"]  # the rest keep sampling
    for m in (members[0], members[2]):
        client.post(f"/jobs/{m}/cancel", headers=headers())
    ended = [wait_job(client, m, timeout=30) for m in (members[0], members[2])]
    assert [e["status"] for e in ended] == ["cancelled", "cancelled"]
    assert all(e["progress"]["step"] < 900 for e in ended)  # stopped, not run to the end
    quick = wait_job(client, submit(client, seed=5, steps=2))  # the worker is free again
    assert quick["status"] == "succeeded"


def test_waiting_generate_jobs_ride_along_in_a_synthesize_jobs_batches(client):
    busy = client.post(SLOW, headers=headers()).json()["id"]
    wait_job(client, busy, until=lambda j: j["status"] == "running")
    body = {"name": "syn-riders", "per_finding": {"mass": 3, "effusion": 2}, "steps": 3,
            "qc": {"min_agreement": None, "reject_copies": False}}
    synth = client.post("/synthesize", json=body, headers=headers())
    assert synth.status_code == 202, synth.text
    riders = [submit(client, seed=11, n=2), submit(client, finding="effusion", seed=40, qc="true")]
    other_steps = submit(client, steps=4, seed=5)
    client.post(f"/jobs/{busy}/cancel", headers=headers())
    done = wait_job(client, synth.json()["id"], timeout=180)
    assert done["status"] == "succeeded", done
    assert done["result"]["images"] == 5 and done["result"]["generate_jobs_batched"] == 2
    jobs = {i: wait_job(client, i) for i in [*riders, other_steps]}
    assert all(j["status"] == "succeeded" and j["deliveries"] == 1 for j in jobs.values()), jobs
    for job_id in riders:
        assert jobs[job_id]["result"]["batch"] == {"jobs": 3, "images": 3, "synthesize": synth.json()["id"]}
        assert jobs[job_id]["finished_at"] <= done["finished_at"]  # delivered before the data set was done
    assert "batch" not in jobs[other_steps]["result"]
    assert "qc" in jobs[riders[1]]["result"]["images"][0]
    alone = wait_job(client, submit(client, seed=11, n=2))
    for batched, single in zip(pixels(client, jobs[riders[0]]), pixels(client, alone), strict=True):
        assert np.abs(batched - single).max() <= 1  # the same images as when sampled alone
