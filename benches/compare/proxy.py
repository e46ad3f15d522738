#!/usr/bin/env python3
"""A small threaded reverse proxy in front of moto_server, for benches/compare/run.py.

It forwards every request to moto unchanged, after sleeping --delay-ms (to stand in for the
round trip to a real AWS region), and counts requests by AWS operation, so that the AWS calls of
every compared tool are counted the same way, outside the tool.

    proxy.py --upstream-port 5000 --port 0 --delay-ms 50 --port-file /tmp/port
    proxy.py --upstream-port 5000 --throttle --rate-scale 4

With --throttle it also throttles as AWS does (throttle.py: EC2's request token bucket per API
action, Parameter Store's throughput, one bucket for Auto Scaling, ...): a request whose bucket
is empty is answered by the proxy itself, in its service's error format (`RequestLimitExceeded`
for EC2, `Throttling` for the query services, `ThrottlingException` for SSM), and not forwarded.
--rate-scale multiplies every refill rate (bursts stay), to make a long run shorter.

Operation names come from the request itself: `Action=` in the form body or query string
(query protocols: EC2, Auto Scaling, CloudFormation), else the `X-Amz-Target` header (JSON
protocols: SSM), else the `/service/S/operation/Op` path (RPC v2 CBOR). The service is the one in
the SigV4 credential scope of the `Authorization` header. Keys look like `ec2:DescribeImages`.

Control endpoints, answered by the proxy itself and never forwarded or delayed:
    GET  /__counts   -> {"total": N, "by_operation": {"ec2:DescribeImages": n, ...},
                         "throttled": {"ec2:DeregisterImage": n, ...},
                         "passed_by_bucket": {"ec2:DeregisterImage": n, ...},
                         "limits": {"ec2:DeregisterImage": [capacity, refill, documented], ...}}
    POST /__reset    -> zero the counts and fill every bucket again

Only loopback: it listens on 127.0.0.1 and forwards to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from throttle import Limit, Throttle, throttled_reply

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
SCOPE = re.compile(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/aws4_request")
CBOR_PATH = re.compile(r"/service/([^/]+)/operation/([^/?]+)")


class State:
    def __init__(self, upstream_port: int, delay: float, scale: float | None = None) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.scale = scale  # None: no throttling
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.passed: Counter[str] = Counter()
        self.limits: dict[str, Limit] = {}
        self.throttle = Throttle(scale) if scale else None
        self.local = threading.local()

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def admit(self, key: str, params: dict[str, str]) -> bool:
        """Whether the request `key` (`service:Action`) passes its bucket now; counts it."""
        if self.throttle is None:
            return True
        service, action = key.split(":", 1)
        with self.lock:
            passed, bucket = self.throttle.admit(service, action, params, time.monotonic())
            self.limits[bucket] = self.throttle.limit(service, action, params)
            if passed:
                self.passed[bucket] += 1
            else:
                self.throttled[key] += 1
        return passed

    def snapshot(self) -> dict:
        with self.lock:
            return {
                "total": sum(self.counts.values()),
                "by_operation": dict(self.counts.most_common()),
                "throttled": dict(self.throttled.most_common()),
                "passed_by_bucket": dict(self.passed),
                "limits": {b: [lim.capacity, lim.refill, lim.documented] for b, lim in self.limits.items()},
            }

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.throttled.clear()
            self.passed.clear()
            self.limits.clear()
            if self.throttle is not None:
                self.throttle = Throttle(self.throttle.scale)

    def connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=600)
            conn.connect()
            # No Nagle: a small write must not wait for the peer's delayed ACK (40 ms).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.conn = conn
        return conn


def query_params(path: str, headers, body: bytes) -> dict[str, str]:
    """The parameters of a query-protocol request (query string and form body), first values."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    ctype = headers.get("Content-Type", "")
    if body and ("x-www-form-urlencoded" in ctype or not ctype):
        params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    return params


def operation_of(path: str, headers, body: bytes) -> str:
    service = "unknown"
    match = SCOPE.search(headers.get("Authorization", ""))
    if match:
        service = match.group(1)
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    action = None
    query = urlsplit(path).query
    if query:
        action = (parse_qs(query).get("Action") or [None])[0]
    if action is None and body and b"Action=" in body:
        ctype = headers.get("Content-Type", "")
        if "x-www-form-urlencoded" in ctype or not ctype:
            action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [None])[0]
    if action:
        return f"{service}:{action}"
    match = CBOR_PATH.search(path)
    if match:
        return f"{service}:{match.group(2)}"
    return f"{service}:{headers.get('X-Amz-Target') or path.split('?', 1)[0]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive with the clients
    server_version = "bench-proxy"
    state: State  # set on the class by main()

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # No Nagle towards the client either (see State.connection).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self._finish(payload)

    def _finish(self, payload: bytes) -> None:
        """Ends the headers and sends them with the body in one write."""
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length)) if int(length) > 0 else b""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _handle(self) -> None:
        state = self.state
        body = self._read_body()
        path = self.path
        if path == "/__counts":
            self._reply(200, json.dumps(state.snapshot()).encode())
            return
        if path == "/__reset":
            state.reset()
            self._reply(200, b"{}")
            return
        # moto's own control API (reset, ...) is forwarded but not counted or delayed.
        control = path.startswith("/moto-api")
        if not control:
            key = operation_of(path, self.headers, body)
            state.count(key)
            if state.delay > 0:
                time.sleep(state.delay)
            if not state.admit(key, query_params(path, self.headers, body)):
                status, headers, payload = throttled_reply(key.split(":", 1)[0])
                self.send_response_only(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self._finish(payload)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            conn = state.connection(fresh=attempt > 0)
            try:
                conn.request(self.command, path, body=body, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                if attempt == 1:
                    self._reply(502, b'{"error": "upstream failed"}')
                    return
        self.send_response_only(resp.status, resp.reason)
        for key, value in resp.getheaders():
            if key.lower() in HOP_BY_HOP or key.lower() == "content-length":
                continue
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self._finish(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-port", type=int, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--port-file", help="write the port chosen here once listening")
    parser.add_argument("--throttle", action="store_true", help="throttle as AWS does (throttle.py)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="multiply every refill rate (with --throttle)")
    args = parser.parse_args()
    if args.rate_scale <= 0:
        parser.error("--rate-scale must be positive")
    Handler.state = State(args.upstream_port, args.delay_ms / 1000.0, args.rate_scale if args.throttle else None)
    server = Server(("127.0.0.1", args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os

        os.replace(args.port_file + ".tmp", args.port_file)
    throttling = f", throttled as AWS (refill x{args.rate_scale:g})" if args.throttle else ""
    print(f"proxy: 127.0.0.1:{port} -> 127.0.0.1:{args.upstream_port}, +{args.delay_ms:g} ms{throttling}", file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
