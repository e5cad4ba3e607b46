"""Domain errors raised by the ML library on bad input, each with a stable code.

The service maps these codes to HTTP statuses in one place (`app/errors.py`).
"""

from __future__ import annotations


class InputError(ValueError):
    """Base class: the input cannot be used; `code` is stable and `str(err)` says what to fix."""

    code = "invalid_input"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"


class UnsupportedTransferSyntaxError(InputError):
    code = "unsupported_transfer_syntax"


class CorruptImageError(InputError):
    code = "corrupt_image"


class ImageTooLargeError(InputError):
    code = "image_too_large"
