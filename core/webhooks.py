"""Webhook destinations a job may name: public addresses only, unless the operator allows more.

A webhook is a request the service makes on a user's behalf, so a loopback, link-local, private or otherwise
special address would let a user reach the service itself or its network (SSRF). The destination is checked when
the job is submitted and again, after a fresh DNS lookup, right before delivery; redirects are never followed.
Torch-free: the API and the workers share it.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
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
    return (ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified or (isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None
                                     and special(ip.ipv4_mapped)))


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookRefused(f"webhook host {host!r} does not resolve") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_webhook(url: str, allow: list) -> None:
    """Raise WebhookRefused unless every address `url`'s host resolves to is public or allowed."""
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("a webhook must be an http or https URL with a host")
    host = parts.hostname.lower()
    if host in allow:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for ip in resolve(host, port):
        if special(ip) and not any(isinstance(a, ipaddress._BaseNetwork) and ip in a for a in allow):
            raise WebhookRefused(f"webhook destination {host} ({ip}) is a loopback, private, link-local or "
                                 "reserved address; use a public URL (the operator can allow internal ones "
                                 "with RADSYNTH_WEBHOOK_ALLOW)")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect could lead anywhere: never follow one
        return None


def post_json(url: str, body: bytes, allow: list, timeout: float = 5.0) -> None:
    """Check the destination again (DNS may have changed) and POST `body` without following redirects."""
    check_webhook(url, allow)
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(str(url), data=body, headers={"Content-Type": "application/json"}, method="POST")
    opener.open(req, timeout=timeout).close()


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
