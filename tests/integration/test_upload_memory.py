"""Uploads cost the API memory in proportion to one file, not to a request: /classify checks its files one at a time
from Starlette's spool, and /datasets streams the archive to disk once, refusing a taken name or a full quota
before the archive is read."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.integration.conftest import headers, wait_job

BOUNDARY = "radsynthtestboundary"


def noisy_png(seed: int, side: int = 1200) -> bytes:
    """About a megabyte that does not compress: the upload's bytes, not its pixels, are what is measured."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (side, side), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_classify_holds_one_file_at_a_time(service):
    """A real uvicorn API: its peak memory grows by far less than the request's size (it held every file and the
    zip of them, about three times the request, before)."""
    import os
    import subprocess

    import httpx

    from core.processes import api_command
    from core.redis_server import free_port
    from tests.integration.deployment import wait_until

    port = free_port()
    server = subprocess.Popen(api_command("127.0.0.1", port), env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers(), timeout=120)
    try:
        def up() -> bool:
            try:
                return http.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, what="uvicorn")
        warm = http.post("/classify", files=[("files", ("w.png", noisy_png(99), "image/png"))])
        assert warm.status_code == 202, warm.text  # decoders and de-identification loaded
        before = peak_rss(server.pid)
        files = [("files", (f"{i}.png", noisy_png(i), "image/png")) for i in range(20)]
        sent = sum(len(f[1][1]) for f in files)
        r = http.post("/classify", files=files)
        grew = peak_rss(server.pid) - before
    finally:
        http.close()
        server.terminate()
        server.wait(10)
    assert r.status_code == 202, r.text
    assert sent > 25e6 and grew < sent / 2, (sent, grew)


def send_until_answered(port: int, key: str, name: str, offered: int) -> tuple[int, int, str]:
    """POST /datasets over a raw socket: `name`, then an archive part of `offered` bytes sent a megabyte at a time
    until the server answers. Returns (status, bytes of archive sent, body)."""
    import select
    import socket

    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    request = (f"POST /datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
               f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
               f"Content-Length: {len(head) + offered + len(tail)}\r\n\r\n").encode() + head
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        chunk = b"\0" * (1 << 20)
        while sent < offered:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += len(chunk)
        sock.settimeout(30)
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 10:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, sent, answer.split(b"\r\n\r\n", 1)[1].decode(errors="replace")


def test_a_taken_name_is_refused_before_the_archive_is_read(client, live_api, service):
    from core.settings import get_settings

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("mass/a.png", noisy_png(0, 64))
        zf.writestr("effusion/b.png", noisy_png(1, 64))
    first = client.post("/datasets", data={"name": "taken-name"}, files={"file": ("a.zip", zipped.getvalue())},
                        headers=headers())
    assert first.status_code == 202, first.text
    wait_job(client, first.json()["id"])
    port = int(live_api.rsplit(":", 1)[1])
    status, sent, body = send_until_answered(port, headers()["X-API-Key"], "taken-name", 400 << 20)
    assert status == 409 and "already have a data set named" in body, body
    assert sent < 64 << 20, sent  # 400 MB were offered; the answer came before they were read
    status, _, body = send_until_answered(port, headers()["X-API-Key"], "Bad Name!", 4 << 20)
    assert status == 422 and "name:" in body, body
    scratch = get_settings().data_dir / "tmp"
    assert not [p for p in scratch.rglob("*") if p.is_file()]  # nothing left on disk
