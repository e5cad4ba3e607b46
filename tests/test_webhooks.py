"""Webhooks reach public addresses only, unless the operator allows more, and never follow redirects."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.webhooks import WebhookRefused, check_webhook, parse_allow, post_json


@pytest.mark.parametrize("url", ["http://127.0.0.1:8104/health", "http://localhost/x", "http://10.1.2.3/",
                                 "http://192.168.0.5/", "http://169.254.169.254/latest/meta-data", "http://[::1]/",
                                 "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "ftp://93.184.216.34/"])
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
        with pytest.raises(Exception):  # noqa: B017 - urllib reports the unfollowed redirect as an HTTPError
            post_json(f"http://127.0.0.1:{server.server_port}/hook", b"{}", parse_allow("127.0.0.1"))
    finally:
        server.shutdown()
    assert hits == ["/hook"]
