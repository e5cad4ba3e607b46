"""Webhook destinations a job may name: public addresses only, unless the operator allows more.

A webhook is a request the service makes on a user's behalf, so any address that is not globally routable
(loopback, private, link-local, shared 100.64.0.0/10, 6to4 and Teredo wrapping such an address, ...) would let a
user reach the service itself or its network (SSRF). The destination is checked when the job is submitted and
again, after a fresh DNS lookup, right before delivery, and the request then connects to the very address that
was checked (a second lookup by the HTTP client could be answered differently: DNS rebinding). Redirects are never
followed. Torch-free: the API and the workers share it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(ValueError):
    """The webhook's destination is not allowed; the message says why and how to allow it."""


def parse_allow(text: str) -> list:
    """RADSYNTH_WEBHOOK_ALLOW: comma-separated host names, addresses or networks (e.g. 127.0.0.1,10.0.0.0/8)."""
    out: list = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            out.append(part.lower())
    return out


def special(ip: IPAddress) -> bool:
    """True for every address that is not globally routable, or that wraps one that is not (IPv4-mapped, 6to4,
    Teredo)."""
    if not ip.is_global or ip.is_multicast:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in SIXTOFOUR:
            return True  # relayed to an IPv4 address chosen by whoever wrote it
        inner = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        return any(addr is not None and special(addr) for addr in inner)
    return False


SIXTOFOUR = ipaddress.ip_network("2002::/16")


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookRefused(f"webhook host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_webhook(url: str, allow: list) -> IPAddress:
    """The address to connect to for `url`; WebhookRefused unless every address its host resolves to is globally
    routable or allowed by the operator."""
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("a webhook must be an http or https URL with a host")
    host = parts.hostname.lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if host in allow:
        return addresses[0]
    for ip in addresses:
        if special(ip) and not any(isinstance(a, ipaddress._BaseNetwork) and ip in a for a in allow):
            raise WebhookRefused(f"webhook destination {host} ({ip}) is not a globally routable address "
                                 "(loopback, private, shared, link-local or reserved); use a public URL (the "
                                 "operator can allow internal ones with RADSYNTH_WEBHOOK_ALLOW)")
    return addresses[0]


class PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to `ip`, with `host` in the Host header: no second DNS lookup."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.ip), self.port), self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `ip`, with `host` for SNI and certificate checks: no second DNS lookup."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.ip = ip

    def connect(self) -> None:
        sock = socket.create_connection((str(self.ip), self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post_json(url: str, body: bytes, allow: list, timeout: float = 5.0) -> int:
    """Check the destination again (DNS may have changed), POST `body` to the address just checked and return the
    status. Redirects are not followed; a 3xx, 4xx or 5xx answer raises OSError."""
    ip = check_webhook(url, allow)
    parts = urlsplit(str(url))
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    conn_type = PinnedHTTPSConnection if secure else PinnedHTTPConnection
    conn = conn_type(parts.hostname or "", port, ip, timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", target, body=body, headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
    finally:
        conn.close()
    if status >= 300:  # a redirect could lead anywhere: never followed
        raise OSError(f"webhook answered HTTP {status}")
    return status


def notify(record) -> None:
    """POST a job's final record to its webhook; failures (a user's endpoint down, or refused) are logged, never
    fatal."""
    import logging

    from core.settings import get_settings

    url = record.params.get("webhook")
    if not url:
        return
    try:
        post_json(str(url), record.model_dump_json().encode(), parse_allow(get_settings().webhook_allow))
    except Exception as exc:  # noqa: BLE001
        logging.getLogger("radsynth.worker").warning("webhook for job %s failed: %s", record.id, type(exc).__name__)
