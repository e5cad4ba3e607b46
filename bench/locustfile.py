"""Locust users for bench/bench_api_throughput.py: submit small generate jobs, poll them, download an image.

The API key and a finished job's artifact URL come from the environment (the benchmark sets them).
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

KEY = os.environ.get("RADSYNTH_BENCH_KEY", "")
ARTIFACT = os.environ.get("RADSYNTH_BENCH_ARTIFACT", "")


class Researcher(HttpUser):
    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        self.client.headers["X-API-Key"] = KEY
        self.jobs: list[str] = []

    @task(1)
    def submit(self) -> None:
        r = self.client.post("/generate", params={"finding": "consolidation", "n": 1, "steps": 2, "qc": "false",
                                                  "seed": random.randrange(10**6)}, name="submit")
        if r.status_code == 202:
            self.jobs.append(r.json()["id"])

    @task(4)
    def poll(self) -> None:
        if self.jobs:
            self.client.get(f"/jobs/{random.choice(self.jobs[-20:])}", name="poll")

    @task(2)
    def download(self) -> None:
        self.client.get(ARTIFACT, name="download")
