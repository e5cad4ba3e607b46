"""Read a multipart/form-data request as it arrives: small fields into memory, one file field straight to a file on
disk, written once. A callback sees the fields sent before the file when the file part begins, so a request whose
name is taken or whose owner is over quota is refused before its (possibly gigabytes of) file is read.

Starlette's own form parsing reads the whole body, spooling files, before a route runs; a route that takes the raw
request and this reader instead holds one chunk in memory at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from app.errors import ApiError

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16


class StreamedForm:
    """The parser's callbacks: collects fields, writes the file part to `target`."""

    def __init__(self, file_field: str, target: Path, before_file: Callable[[dict[str, str]], None]):
        self.file_field, self.target, self.before_file = file_field, target, before_file
        self.fields: dict[str, str] = {}
        self.file_bytes: int | None = None
        self.parts = 0
        self._header_field, self._header_value = b"", b""
        self._name: str | None = None
        self._value = bytearray()
        self._out = None

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError("invalid_input", f"the form has more than {MAX_PARTS} parts")
        self._name, self._value = None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._header_field, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        if self._name == self.file_field:
            if self.file_bytes is not None:
                raise ApiError("invalid_input", f"send one `{self.file_field}` field, not several")
            self.before_file(dict(self.fields))
            self._out = self.target.open("wb")
            self.file_bytes = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._out.write(data[start:end])
            self.file_bytes = (self.file_bytes or 0) + end - start
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise ApiError("invalid_input", f"form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def feed(parser: MultipartParser, chunk: bytes | None) -> None:
    """One chunk into the parser (None: the end); python-multipart's errors on a malformed body become a 422."""
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure is the client's
        raise ApiError("invalid_input", f"the multipart body is malformed ({type(exc).__name__}); send it again "
                       "as multipart/form-data") from None


async def stream_form(request: Request, *, file_field: str, target: Path,
                      before_file: Callable[[dict[str, str]], None]) -> dict[str, str]:
    """Parse the request's multipart body; the file field goes to `target`. Returns the other fields. ApiError
    (4xx) for a body that is not multipart or has no file field; whatever `before_file` raises stops the read."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError("invalid_input", f"send multipart/form-data with a `{file_field}` field (curl -F "
                       f"{file_field}=@archive.zip ...)")
    form = StreamedForm(file_field, target, before_file)
    callbacks = {name: getattr(form, name) for name in (
        "on_part_begin", "on_part_data", "on_part_end", "on_header_field", "on_header_value", "on_header_end",
        "on_headers_finished")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            feed(parser, chunk)
        feed(parser, None)
    finally:
        form.close()
    if form.file_bytes is None:
        raise ApiError("invalid_input", f"the form has no `{file_field}` field; attach the archive as "
                       f"{file_field}=@archive.zip")
    return form.fields
