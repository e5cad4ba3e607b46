"""Webhooks reach public addresses only, unless the operator allows more, and never follow redirects."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.webhooks import WebhookRefused, check_webhook, parse_allow, post_json


@pytest.mark.parametrize("url", ["http://127.0.0.1:8104/health", "http://localhost/x", "http://10.1.2.3/",
                                 "http://192.168.0.5/", "http://169.254.169.254/latest/meta-data", "http://[::1]/",
                                 "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "ftp://93.184.216.34/",
                                 "http://100.100.100.200/latest/meta-data", "http://100.64.0.1/",
                                 "http://[2002:7f00:1::]/", "http://[2002:5db8:d822::]/",
                                 "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://198.18.0.1/"])
def test_internal_destinations_are_refused(url):
    with pytest.raises(WebhookRefused):
        check_webhook(url, [])


def test_public_and_allowed_destinations_pass():
    check_webhook("https://93.184.216.34/hook", [])
    check_webhook("http://127.0.0.1:9000/hook", parse_allow("127.0.0.1"))
    check_webhook("http://10.20.30.40/hook", parse_allow("10.0.0.0/8"))
    with pytest.raises(WebhookRefused, match="RADSYNTH_WEBHOOK_ALLOW"):
        check_webhook("http://10.20.30.40/hook", parse_allow("10.0.0.0/16"))


def test_redirects_are_never_followed():
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(307)
            self.send_header("Location", "/internal-target")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(OSError, match="HTTP 307"):
            post_json(f"http://127.0.0.1:{server.server_port}/hook", b"{}", parse_allow("127.0.0.1"))
    finally:
        server.shutdown()
    assert hits == ["/hook"]


def test_delivery_connects_to_the_address_that_was_checked(monkeypatch):
    """DNS rebinding: a name that resolves to an allowed address when checked and to another one a moment later.
    The request must go to the checked address, with one lookup, and carry the name in its Host header."""
    import socket

    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real, lookups = socket.getaddrinfo, []

    def rebinding(host, port, *args, **kwargs):
        if host != "hook.example":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.9.9.9"  # the second answer points elsewhere
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        status = post_json(f"http://hook.example:{server.server_port}/hook?x=1", b"{}", parse_allow("127.0.0.1/32"))
    finally:
        server.shutdown()
    assert status == 204 and lookups == ["hook.example"] and hosts == [f"hook.example:{server.server_port}"]
