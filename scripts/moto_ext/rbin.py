"""Recycle Bin answers as an endpoint without it (moto 5.2.5 has no `rbin` backend).

Every request signed for `rbin` gets HTTP 400 `UnknownOperationException` in the restJson error
format (the `x-amzn-ErrorType` header and a `__type` / `message` body), which SDKs do not retry;
plain moto answers an HTML 500, which they retry with back-off.
"""

from __future__ import annotations

from typing import Iterable

from . import wsgi
from .wsgi import Environ, StartResponse

# Services moto 5.2.5 has no backend for, by SigV4 signing name: every request is refused.
REFUSED_JSON_SERVICES = frozenset({"rbin"})


def apply() -> None:
    """Refuses the requests signed for `rbin` in front of moto."""
    wsgi.intercept(_handle)


def _handle(environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
    if wsgi.signing_service(environ) in REFUSED_JSON_SERVICES:
        return wsgi.unknown_operation(environ, start_response)
    return None
