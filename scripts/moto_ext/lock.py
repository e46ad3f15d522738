"""One request at a time: every request runs under REQUEST_LOCK.

moto_server serves each request on its own thread, and moto's models (and these patches) read
and change plain dicts and lists without locks: DeregisterImage looking at every image while
another request deregisters one failed with "dictionary changed size during iteration" (HTTP 500
after the image was gone), and two PutParameter or CreateLaunchTemplateVersion calls at once
could get the same version number. In AWS each call is atomic; here each request runs under one
lock, so concurrent clients still interleave their calls, but never inside one. Apply it last, so
that the lock is outermost.
"""

from __future__ import annotations

import threading
from typing import Any

from .methods import set_methods
from .wsgi import Environ, StartResponse

REQUEST_LOCK = threading.RLock()


def apply() -> None:
    """Makes moto_server's application serve one request at a time."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    unlocked_call = DomainDispatcherApplication.__call__

    def _call(self: DomainDispatcherApplication, environ: Environ, start_response: StartResponse) -> Any:
        with REQUEST_LOCK:
            # The body is read out under the lock too: a response iterable may be lazy.
            response = unlocked_call(self, environ, start_response)
            try:
                return list(response)
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()

    set_methods(DomainDispatcherApplication, __call__=_call)
