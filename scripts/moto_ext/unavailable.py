"""APIs a test makes answer as where they are missing or denied, for the fail-closed tests.

`POST /moto-api/amikeeper/unavailable?apis=ec2:DescribeImageReferences,imagebuilder,...` makes
those APIs unavailable (an empty `apis` restores them): DescribeImageReferences answers
`InvalidAction` (image_references), Image Builder `AccessDeniedException` (imagebuilder), and any
other `service:Operation` (e.g. `autoscaling:DescribeAutoScalingGroups`) the service's own
access-denied error: `UnauthorizedOperation` for EC2, `AccessDenied` for the query protocols
(Auto Scaling, CloudFormation), `AccessDeniedException` for JSON ones (SSM).
"""

from __future__ import annotations

import uuid
from typing import Iterable
from urllib.parse import parse_qs

from . import wsgi
from .wsgi import Environ, StartResponse

# The endpoint that sets the unavailable APIs.
PATH = "/moto-api/amikeeper/unavailable"
# What is unavailable now: `service:Operation` names, or `imagebuilder` for all of Image Builder.
UNAVAILABLE: set[str] = set()


def apply() -> None:
    """Puts the endpoint and the access-denied answers in front of moto."""
    wsgi.intercept(_handle)


def _handle(environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
    if environ.get("PATH_INFO") == PATH:
        return _set_unavailable(environ, start_response)
    service = wsgi.signing_service(environ)
    if UNAVAILABLE and service and service != "imagebuilder":
        operation = wsgi.operation(environ)
        if operation and f"{service}:{operation}" in UNAVAILABLE and operation != "DescribeImageReferences":
            return access_denied(environ, start_response, service, operation)
    return None


def _set_unavailable(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    apis = parse_qs(environ.get("QUERY_STRING", "")).get("apis", [""])[0]
    UNAVAILABLE.clear()
    UNAVAILABLE.update(api for api in apis.split(",") if api)
    return wsgi.json_response(environ, start_response, 200, {"unavailable": sorted(UNAVAILABLE)})


def access_denied(environ: Environ, start_response: StartResponse, service: str, operation: str) -> Iterable[bytes]:
    """AccessDenied in the service's own error format, as for a role without the permission."""
    message = f"User is not authorized to perform: {service}:{operation}"
    if service == "ec2":
        body = (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        )
        return wsgi.xml_response(environ, start_response, 403, body)
    if environ.get("HTTP_X_AMZ_TARGET"):
        body_json = {"__type": "AccessDeniedException", "message": message}
        return wsgi.json_response(environ, start_response, 400, body_json, "AccessDeniedException")
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>"
        f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return wsgi.xml_response(environ, start_response, 403, body)
