"""HTTP servers that run in a thread of the test process itself, on 127.0.0.1.

They answer only while amikeeper has released the GIL: a keeper call that held it would wait on
a server that can never answer, until the SDK's timeouts. So every test that passes through one
shows the GIL released while AWS work runs.
"""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

#: A request's method, path, headers and body to a response's status, headers and body.
Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


@contextmanager
def serving(handler: Handler) -> Iterator[str]:
    """Serves ``handler`` on a free port of 127.0.0.1 for the ``with`` block; yields the URL."""

    class RequestHandler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, response_headers, response = handler(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in response_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response)))
            self.end_headers()
            self.wfile.write(response)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows failures without the access log."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def proxy_to(upstream: str, requests: list[str]) -> Handler:
    """Forwards every request to ``upstream`` unchanged, noting each one's method and path."""

    def forward(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        requests.append(f"{method} {path}")
        passed = {key: value for key, value in headers.items() if key not in ("host", "content-length")}
        request = urllib.request.Request(upstream + path, data=body or None, headers=passed, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, reply, content = response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            status, reply, content = error.code, dict(error.headers.items()), error.read()
        kept = {key: value for key, value in reply.items() if key.lower() not in ("content-length", "transfer-encoding", "connection")}
        return status, kept, content

    return forward


def access_denied(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """What AWS answers a caller without permission, in each protocol the four services speak:
    JSON for SSM (``X-Amz-Target``), EC2's query XML, and the other query services' XML."""
    if "x-amz-target" in headers:
        return 400, {"Content-Type": "application/x-amz-json-1.1"}, (
            b'{"__type": "AccessDeniedException", "message": "User is not authorized to perform this action"}'
        )
    form = urllib.parse.parse_qs(body.decode())
    action = form.get("Action", ["?"])[0]
    if form.get("Version", [""])[0] == "2016-11-15":  # EC2
        return 403, {"Content-Type": "text/xml"}, (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to "
            f"perform this operation ({action}).</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        ).encode()
    return 403, {"Content-Type": "text/xml"}, (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to "
        f"perform {action}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    ).encode()
