"""The WSGI side of moto_server that the request-level patches hook into.

`intercept(handler)` puts a handler in front of moto's `DomainDispatcherApplication`: the
handler answers a request itself, or returns None to pass it on. The handler installed last
sees a request first.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from werkzeug.wrappers import Response

from .methods import set_methods

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Handler = Callable[[Environ, StartResponse], "Iterable[bytes] | None"]


def intercept(handler: Handler) -> None:
    """Makes moto_server ask `handler` first about every request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    moto_call = DomainDispatcherApplication.__call__

    def _call(self: DomainDispatcherApplication, environ: Environ, start_response: StartResponse) -> Any:
        answer = handler(environ, start_response)
        return answer if answer is not None else moto_call(self, environ, start_response)

    set_methods(DomainDispatcherApplication, __call__=_call)


def json_response(
    environ: Environ, start_response: StartResponse, status: int, body: dict[str, Any], error: str | None = None
) -> Iterable[bytes]:
    """A JSON answer, with `x-amzn-ErrorType` when it is an `error`."""
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if error:
        headers["x-amzn-ErrorType"] = error
    return Response(json.dumps(body), status=status, headers=headers)(environ, start_response)


def xml_response(environ: Environ, start_response: StartResponse, status: int, body: str) -> Iterable[bytes]:
    """An XML answer (the EC2 and query protocols)."""
    return Response(body, status=status, headers={"Content-Type": "text/xml"})(environ, start_response)


def signing_service(environ: Environ) -> str | None:
    """The service a request is signed for (SigV4 credential scope), lowercase."""
    return _credential_scope(environ, 3)


def signing_region(environ: Environ) -> str | None:
    """The region a request is signed for (SigV4 credential scope)."""
    return _credential_scope(environ, 2)


def _credential_scope(environ: Environ, part: int) -> str | None:
    # `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`
    auth = environ.get("HTTP_AUTHORIZATION") or ""
    try:
        return auth.split(",")[0].split()[1].split("/")[part].lower()
    except IndexError:
        return None


def json_body(environ: Environ) -> dict[str, Any]:
    """The request's JSON body ({} when empty)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}


def operation(environ: Environ) -> str | None:
    """The operation a request calls: from `X-Amz-Target` (JSON protocols) or the form body's
    `Action` (EC2, Auto Scaling, CloudFormation); the body is put back for moto to read."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") or parse_qs(
        environ.get("QUERY_STRING", "")
    ).get("Action")
    return action[0] if action else None


def unknown_operation(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """HTTP 400 `UnknownOperationException` in the restJson error format (not retried)."""
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    body = {"__type": "UnknownOperationException", "message": f"The operation {method} {path} is not supported."}
    return json_response(environ, start_response, 400, body, "UnknownOperationException")
