"""Refuse request bodies over the upload limit before they are read, whether they state a Content-Length or not.

Starlette parses a whole multipart body (spooling it to disk) before a route runs, so a limit checked inside the
route comes too late: a 10 GB chunked upload would be written to disk first. This ASGI middleware answers 413 at
once for a stated length over the limit, and stops reading a chunked body the moment it passes the limit.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised from receive() once a body passes the limit; whatever the app makes of it, the reply is a 413."""


class BodyLimit:
    """`max_bytes` for every request, except the exact paths in `larger` (path -> (limit, setting to raise it))."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, tuple[int, str]] | None = None) -> None:
        self.app, self.max_bytes, self.larger = app, max_bytes, larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.larger.get(scope["path"].rstrip("/"), (self.max_bytes, "RADSYNTH_MAX_UPLOAD_BYTES"))
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(send, limit, setting)
            return
        received, over, started = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # the app's own reply to the aborted read (a 400 or 500) is replaced by the 413
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        if over and not started:
            await self._refuse(send, limit, setting)

    @staticmethod
    async def _refuse(send: Send, limit: int, setting: str) -> None:
        body = json.dumps({"error": {"code": "upload_too_large", "message": f"the request body is larger than "
                                     f"{limit} bytes; send a smaller file (the limit is {setting} plus room for "
                                     "the form fields)"}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
