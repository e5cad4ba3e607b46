"""Authorisation matrix over every route in the OpenAPI schema: two owners x every job and artifact, and
requests without or with a wrong key."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import NIH_UPLOAD
from tests.integration.conftest import headers, wait_job

PUBLIC = {("get", "/health"), ("get", "/metrics"), ("get", "/"), ("get", "/ui")}


def routes(client) -> list[tuple[str, str]]:
    schema = client.app.openapi()
    return [(method, path) for path, ops in schema["paths"].items() for method in ops]


def test_every_route_refuses_missing_and_wrong_keys(client):
    checked = 0
    for method, path in routes(client):
        if (method, path) in PUBLIC:
            continue
        url = path.replace("{job_id}", "0" * 32).replace("{name}", "grid.png")
        for h in ({}, {"X-API-Key": "wrong-key-0000000000"}, {"Authorization": "Bearer nope"}):
            r = client.request(method.upper(), url, headers=h)
            assert r.status_code == 401, (method, url, h, r.status_code)
            checked += 1
    assert checked >= 30


def test_no_owner_reaches_another_owners_jobs_or_artifacts(client, service):
    gen = client.post("/generate?finding=mass&n=2&steps=2&qc=false&gif=true", headers=headers("alice")).json()
    with NIH_UPLOAD.open("rb") as fh:
        exp = client.post("/explain", files={"file": ("x.png", fh, "image/png")}, data={"findings": "effusion"},
                          headers=headers("alice")).json()
    jobs = [wait_job(client, j["id"]) for j in (gen, exp)]
    job_routes = [(m, p) for m, p in routes(client) if "{job_id}" in p]
    successes, tried = [], 0
    for job in jobs:
        names = [a["name"] for a in job["artifacts"]] + ["input"]  # the upload itself is never served by name
        for method, path in job_routes:
            for name in names if "{name}" in path else [None]:
                url = path.replace("{job_id}", job["id"]).replace("{name}", name or "")
                r = client.request(method.upper(), url, headers=headers("bob"))
                tried += 1
                if r.status_code != 404:
                    successes.append((method, url, r.status_code))
        listed = client.get("/jobs?limit=200", headers=headers("bob")).json()["items"]
        assert job["id"] not in {j["id"] for j in listed}
    assert successes == [] and tried >= 15
    # Still there for their owner, unharmed by bob's DELETE.
    assert all(client.get(f"/jobs/{j['id']}", headers=headers("alice")).json()["status"] == "succeeded"
               for j in jobs)


def test_artifact_names_never_escape_the_store(client, service):
    job = wait_job(client, client.post("/generate?finding=mass&n=1&steps=2&qc=false",
                                       headers=headers()).json()["id"])
    folder = service["root"] / "var" / "artifacts" / job["id"]
    secret = service["root"] / "secret.txt"
    secret.write_text("outside the store")
    os.symlink(secret, folder / "link.png")
    for name in ("..%2f..%2fsecret.txt", "%2e%2e%2fsecret.txt", "..", "%2e%2e", "link.png", "..%5csecret.txt",
                 "grid.png%00.txt", "%2fetc%2fpasswd"):
        r = client.get(f"/jobs/{job['id']}/artifacts/{name}", headers=headers())
        assert "outside the store" not in r.text, name
        # A bare '..' is resolved by the HTTP client itself, to the job's own record; everything else is 404.
        assert r.status_code == 404 or r.json().get("id") == job["id"], (name, r.status_code)
    assert client.get(f"/jobs/{job['id']}/artifacts/grid.png", headers=headers()).status_code == 200


def test_cors_answers_only_configured_origins(service, monkeypatch):
    """With RADSYNTH_CORS_ORIGINS set, that origin gets CORS headers (preflight and request); any other origin
    gets none, so a browser on another site cannot read the answers. Without the setting, no origin gets them."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import get_settings

    allowed, other = "https://lab.example.org", "https://evil.example.com"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "X-API-Key"}
    for origins in (allowed, ""):
        monkeypatch.setenv("RADSYNTH_CORS_ORIGINS", origins)
        get_settings.cache_clear()
        with TestClient(create_app()) as c:
            for origin in (allowed, other):
                ok = origin == allowed and origins == allowed
                pre = c.options("/generate", headers={"Origin": origin, **preflight})
                got = c.get("/jobs", headers={"Origin": origin, **headers()})
                assert got.status_code == 200
                for r in (pre, got):
                    assert (r.headers.get("access-control-allow-origin") == origin) is ok, (origins, origin, r.headers)
                    assert r.headers.get("access-control-allow-origin") != "*"
    get_settings.cache_clear()


def test_failed_logins_are_throttled_per_client_address(service, monkeypatch):
    """After RADSYNTH_AUTH_FAILURES_PER_MINUTE wrong keys from one address, every request from it gets 429 (even
    with a right key, so guessing stops paying) while other addresses are unaffected."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import get_settings

    monkeypatch.setenv("RADSYNTH_AUTH_FAILURES_PER_MINUTE", "5")
    get_settings.cache_clear()
    try:
        app = create_app()
        with TestClient(app, client=("203.0.113.7", 5000)) as attacker, \
                TestClient(app, client=("203.0.113.8", 5000)) as neighbour:
            codes = [attacker.get("/jobs", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(8)]
            assert codes == [401] * 5 + [429] * 3, codes
            blocked = attacker.get("/jobs", headers=headers())
            assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
            assert neighbour.get("/jobs", headers=headers()).status_code == 200
    finally:
        get_settings.cache_clear()


def test_models_belong_to_their_owners_and_bundled_names_cannot_be_taken(client, service):
    import hashlib

    def digest(folder) -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()

    classifier = service["models"] / "tiny-clf"
    before = digest(classifier)
    for key in (None, "take-over"):
        extra = {"Idempotency-Key": key} if key else {}
        r = client.post("/train", json={"kind": "classifier", "dataset": "fixtures", "resolution": 16, "steps": 1,
                                        "name": "tiny-clf"}, headers=headers("bob", **extra))
        assert r.status_code == 409, (key, r.text)

    body = {"kind": "generator", "dataset": "fixtures", "resolution": 16, "steps": 2, "batch_size": 4,
            "name": "bobs-gen", "channels": [8, 16]}
    job = wait_job(client, client.post("/train", json=body, headers=headers("bob")).json()["id"], owner="bob",
                   timeout=240)
    assert job["status"] == "succeeded", job
    assert digest(classifier) == before  # nothing bob did touched the service's classifier

    def names(owner: str) -> dict[str, dict]:
        return {m["name"]: m for m in client.get("/models", headers=headers(owner)).json()}

    assert names("bob")["bobs-gen"]["origin"] == "yours" and "bobs-gen" not in names("alice")
    use = "/generate?finding=mass&model=bobs-gen&n=1&steps=2&qc=false"
    assert client.post(use, headers=headers("alice")).status_code == 422
    assert client.get("/models/bobs-gen/samples.png", headers=headers("alice")).status_code == 404
    assert client.patch("/models/bobs-gen", json={"shared": True}, headers=headers("alice")).status_code == 404

    shared = client.patch("/models/bobs-gen", json={"shared": True}, headers=headers("bob"))
    assert shared.status_code == 200 and shared.json()["shared"] is True
    assert names("alice")["bobs-gen"]["origin"] == "shared"
    r = client.post(use, headers=headers("alice"))
    assert r.status_code == 202 and wait_job(client, r.json()["id"])["status"] == "succeeded"
    # alice's names are her own: the same name in her namespace is free, and a retry keeps its first job
    mine = client.post("/train", json=body | {"steps": 1}, headers=headers("alice", **{"Idempotency-Key": "a1"}))
    assert mine.status_code == 202, mine.text
    again = client.post("/train", json=body | {"steps": 1}, headers=headers("alice", **{"Idempotency-Key": "a1"}))
    assert again.status_code == 202 and again.json()["id"] == mine.json()["id"]
    assert wait_job(client, mine.json()["id"], timeout=240)["status"] == "succeeded"
    assert names("alice")["bobs-gen"]["origin"] == "yours" and names("bob")["bobs-gen"]["origin"] == "yours"


def clear_login_throttles() -> None:
    from core.jobs import JobStore
    from core.settings import get_settings

    r = JobStore.from_url(get_settings().redis_url).r
    for key in r.scan_iter(match="*authfail*", count=1000):
        r.delete(key)


def test_a_client_cannot_choose_its_address_with_forwarded_headers(service):
    """uvicorn once trusted X-Forwarded-For from loopback: a local client rotated addresses to dodge the failed-login
    throttle. With no trusted proxy configured, every request to the real server (started by the run command's own
    api_command) counts against the address it really came from."""
    import os
    import subprocess
    import urllib.error
    import urllib.request

    from core.processes import api_command
    from core.redis_server import free_port
    from tests.integration.deployment import wait_until

    port = free_port()
    env = os.environ | {"RADSYNTH_AUTH_FAILURES_PER_MINUTE": "5"}
    server = subprocess.Popen(api_command("127.0.0.1", port), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])

    def status(key: str, forwarded: str) -> int:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/jobs",
                                     headers={"X-API-Key": key, "X-Forwarded-For": forwarded})
        try:
            urllib.request.urlopen(req, timeout=10).close()
            return 200
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    try:
        wait_until(lambda: status(headers()["X-API-Key"], "198.51.100.250") == 200, 30, what="uvicorn")
        codes = [status(f"{i:04d}-wrong-key", f"198.51.100.{i + 1}") for i in range(8)]
    finally:
        server.terminate()
        server.wait(10)
        clear_login_throttles()
    assert codes == [401] * 5 + [429] * 3, codes


def test_a_trusted_proxy_forwards_addresses_and_key_prefixes_are_throttled_too(service, monkeypatch):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from core.settings import get_settings

    monkeypatch.setenv("RADSYNTH_AUTH_FAILURES_PER_MINUTE", "5")
    monkeypatch.setenv("RADSYNTH_TRUSTED_PROXIES", "192.0.2.10")
    get_settings.cache_clear()
    try:
        app = create_app()
        with TestClient(app, client=("192.0.2.10", 5000)) as proxy, \
                TestClient(app, client=("203.0.113.9", 5000)) as direct:
            forwarded = [proxy.get("/jobs", headers={"X-API-Key": f"w{i}", "X-Forwarded-For": "203.0.113.50"})
                         .status_code for i in range(6)]
            assert forwarded == [401] * 5 + [429]  # counted against the forwarded address, not the proxy's
            assert proxy.get("/jobs", headers={**headers(), "X-Forwarded-For": "203.0.113.51"}).status_code == 200
            spoofed = [direct.get("/jobs", headers={"X-API-Key": f"v{i}", "X-Forwarded-For": f"203.0.113.{60 + i}"})
                       .status_code for i in range(6)]
            assert spoofed == [401] * 5 + [429]  # not a trusted proxy: its own address counts
        # One key's prefix guessed from many addresses: throttled by the prefix.
        clients = [TestClient(app, client=(f"198.51.100.{i}", 5000)) for i in range(8)]
        codes = [c.get("/jobs", headers={"X-API-Key": f"samepref-guess-{i}"}).status_code
                 for i, c in enumerate(clients)]
        assert codes == [401] * 5 + [429] * 3, codes
    finally:
        get_settings.cache_clear()
        clear_login_throttles()
