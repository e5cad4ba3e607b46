"""Hostile HTTP requests from published python-multipart and Starlette advisories, plus oversized and chunked
bodies, sent over a raw socket so that headers and framing are exactly as an attacker would send them.

Used by tests/integration/test_hostile_requests.py and scripts/upload_fuzz.py (which reports the counts).
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from PIL import Image

BOUNDARY = "radsynthboundary"
TRAVERSAL_FILENAME = "a.png\"; filename*=UTF-8''..%2F..%2F..%2Ftmp%2Fradsynth-evil.png"


def small_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (32, 32), 90).save(buf, "PNG")
    return buf.getvalue()


def part(name: str, value: bytes, *, filename: str | None = None, extra_headers: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra_headers}"
    if filename:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def multipart(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    return preamble + b"".join(parts) + f"--{BOUNDARY}--\r\n".encode() + epilogue


@dataclass
class Case:
    """One request: what it reproduces, the request, and the statuses that count as handled."""

    name: str
    advisory: str
    method: str
    path: str
    headers: dict[str, str]
    body: Callable[[], Iterable[bytes]] = lambda: [b""]
    chunked: bool = False
    framed: bool = False  # the body already carries its own (deliberately broken) chunk framing
    expect: tuple[int, ...] = (400, 413, 415, 422)


def cases(api_key: str, max_upload_bytes: int) -> list[Case]:
    """The hostile requests; `max_upload_bytes` is the server's RADSYNTH_MAX_UPLOAD_BYTES."""
    auth = {"X-API-Key": api_key}
    form = {**auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    png = small_png()

    def body(data: bytes) -> Callable[[], list[bytes]]:
        return lambda: [data]

    def stream(total: int, chunk: int = 256 * 1024) -> Callable[[], Iterator[bytes]]:
        def gen() -> Iterator[bytes]:
            yield part("file", b"", filename="big.dcm")[:-2]
            sent = 0
            while sent < total:
                yield b"\0" * chunk
                sent += chunk
        return gen

    return [
        Case("ReDoS in Content-Type options", "GHSA-2jv5-9r88-3w3p (CVE-2024-24762, python-multipart)", "POST",
             "/explain", {**auth, "Content-Type": 'multipart/form-data; boundary=b; !="' + "\\" * 20_000},
             body(b"x")),
        Case("CR/LF flood before the first boundary", "GHSA-59g5-xgcq-4qw3 (CVE-2024-53981, python-multipart)",
             "POST", "/explain", form, body(multipart(part("n_steps", b"8"), preamble=b"\r\n" * 500_000))),
        Case("CR/LF flood after the last boundary", "GHSA-59g5-xgcq-4qw3 (CVE-2024-53981, python-multipart)",
             "POST", "/explain", form, body(multipart(epilogue=b"\r\n" * 500_000))),
        Case("2 MB preamble and epilogue around no file", "GHSA-mj87-hwqh-73pj (python-multipart)", "POST",
             "/explain", form, body(multipart(part("n_steps", b"8"), preamble=b"A" * 2**20, epilogue=b"B" * 2**20))),
        Case("10,000 headers in one part", "GHSA-pp6c-gr5w-3c5g (CVE-2026-42561, python-multipart)", "POST",
             "/explain", form,
             body(multipart(part("file", png, filename="a.png", extra_headers="X-A: b\r\n" * 10_000)))),
        Case("one 1 MB part header", "GHSA-pp6c-gr5w-3c5g (CVE-2026-42561, python-multipart)", "POST", "/explain",
             form, body(multipart(part("file", png, filename="a.png", extra_headers="X-A: " + "b" * 2**20 + "\r\n")))),
        Case("negative Content-Length", "GHSA-v9pg-7xvm-68hf (python-multipart)", "POST", "/explain",
             {**form, "Content-Length": "-1"}, body(b"")),
        Case("quadratic semicolon query string", "GHSA-5rvq-cxj2-64vf (python-multipart)", "POST", "/explain",
             {**auth, "Content-Type": "application/x-www-form-urlencoded"}, body(b"a=1;" * 200_000)),
        Case("semicolon-smuggled form field", "GHSA-6jv3-5f52-599m (python-multipart)", "POST", "/explain",
             {**auth, "Content-Type": "application/x-www-form-urlencoded"}, body(b"n_steps=8;file=x")),
        Case("RFC 2231 filename* path traversal", "PYSEC-2026-3041 (python-multipart)", "POST", "/explain", form,
             body(multipart(part("file", png, filename=TRAVERSAL_FILENAME))), expect=(202,)),
        Case("5,000 form fields", "GHSA-74m5-2c7w-9w3x (CVE-2023-30798, Starlette)", "POST", "/explain", form,
             body(multipart(*(part(f"f{i}", b"1") for i in range(5_000))))),
        Case("2,000 file parts", "GHSA-74m5-2c7w-9w3x (CVE-2023-30798, Starlette)", "POST", "/explain", form,
             body(multipart(*(part("file", b"1", filename=f"{i}.png") for i in range(2_000))))),
        Case("2 MB non-file field", "GHSA-f96h-pmfr-66vw (CVE-2024-47874, Starlette)", "POST", "/explain", form,
             body(multipart(part("findings", b"x" * 2 * 2**20), part("file", png, filename="a.png")))),
        Case("5,000 byte ranges on a static file", "GHSA-7f5h-v6xp-fcq8 (CVE-2025-62727, Starlette)", "GET",
             "/ui/app.js", {"Range": "bytes=" + ",".join(f"{i}-{i}" for i in range(5_000))},
             expect=(200, 206, 400, 416)),
        Case("Content-Length of 10 GB", "oversized body", "POST", "/explain", {**form, "Content-Length": str(10**10)},
             body(b"x" * 1024), expect=(413,)),
        Case("chunked body past the upload limit", "oversized chunked body (no Content-Length)", "POST", "/explain",
             form, stream(max_upload_bytes + 2**20), chunked=True, expect=(413,)),
        Case("chunked body of 0 bytes", "chunked framing", "POST", "/explain", form, lambda: [b""], chunked=True),
        Case("malformed chunk size", "chunked framing", "POST", "/explain", form, lambda: [b"zz\r\nabc\r\n0\r\n\r\n"],
             chunked=True, framed=True, expect=(400,)),
    ]


@dataclass
class Reply:
    status: int
    body: bytes
    seconds: float


def send(host: str, port: int, case: Case, timeout: float = 60) -> Reply:
    """Send the case over a raw socket, writing the body in a thread so a server that answers early (413) and
    closes is read rather than lost to a reset."""
    headers = {"Host": f"{host}:{port}", "Connection": "close", **case.headers}
    chunks = case.body()
    if case.chunked:
        headers["Transfer-Encoding"] = "chunked"
    elif "Content-Length" not in headers:
        chunks = [b"".join(chunks)]
        headers["Content-Length"] = str(len(chunks[0]))
    head = f"{case.method} {case.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock = socket.create_connection((host, port), timeout=timeout)
    start = time.monotonic()

    def write() -> None:
        try:
            sock.sendall(head.encode())
            for chunk in chunks:
                if case.chunked and not case.framed:
                    if chunk:
                        sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    sock.sendall(chunk)
            if case.chunked and not case.framed:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed before the whole body was sent

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
    except OSError:
        pass
    finally:
        sock.close()
    seconds = time.monotonic() - start
    writer.join(5)
    if not data.startswith(b"HTTP/1.1 "):
        return Reply(0, data, seconds)
    return Reply(int(data[9:12]), data.partition(b"\r\n\r\n")[2], seconds)
